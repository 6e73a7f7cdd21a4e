"""One engine, checked case by case: reference (cached) + engine run + judge."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .engines import engine_dtype, engine_name
from .executor import make_executor
from .judge import Case, Reference, Verdict, judge, reference

__all__ = ["Checker"]


class Checker:
    """Checks cases against one engine. References are cached per (expression, point):
    shrinking and blame revisit the same sub-expressions at the same points many times."""

    def __init__(self, engine: Any, timeout: float | None = None, cache: int = 4096):
        self.engine = engine
        self.name = engine_name(engine)
        self.dtype = engine_dtype(engine)
        self.executor = make_executor(engine, timeout)
        self._refs: OrderedDict[tuple, Reference] = OrderedDict()
        self._cache = cache

    def reference(self, case: Case) -> Reference:
        key = (case.expr, tuple(sorted(case.point.items())))
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = reference(case, self.dtype)
            if len(self._refs) > self._cache:
                self._refs.popitem(last=False)
        else:
            self._refs.move_to_end(key)
        return ref

    def check(self, case: Case) -> Verdict:
        ref = self.reference(case)
        return judge(ref, self.executor.run(case.expr, case.point))

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> "Checker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
