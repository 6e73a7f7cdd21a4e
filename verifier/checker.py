"""One engine, checked case by case: reference (cached) + engine run + judge."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .engines import engine_dtype, engine_name
from .executor import make_executor
from .judge import Case, Verdict, judge, reference

__all__ = ["Checker"]


class Checker:
    """Checks cases against one engine. References are cached per (expression, point):
    shrinking and blame revisit the same sub-expressions at the same points many times."""

    def __init__(self, engine: Any, timeout: float | None = None, cache: int = 4096, tensor: bool = False,
                 order: int = 1, forward: bool = False):
        self.engine = engine
        self.order = order
        self.forward = forward      # also judge forward_gradients (verifier.forward)
        self.name = engine_name(engine)
        self.dtype = engine_dtype(engine)
        self.tensor = tensor
        self.executor = make_executor(engine, timeout)
        self._refs: OrderedDict[tuple, Any] = OrderedDict()
        self._cache = cache

    def reference(self, case: Case, lowered: Any = None) -> Any:
        """A Reference, or for tensor programs a TensorReference (the lowered one inside;
        ``lowered`` is the case's element DAG when the caller has it already)."""
        key = (case.expr, tuple(sorted((k, np.shape(v), np.asarray(v, dtype=np.float64).tobytes())
                                       for k, v in case.point.items())))
        ref = self._refs.get(key)
        if ref is None:
            if self.order == 2:
                from .second import second_reference
                ref = second_reference(case, self.dtype)
            elif self.tensor:
                from .tensor.judge import tensor_reference
                ref = tensor_reference(case, self.dtype, lowered)
            else:
                ref = reference(case, self.dtype)
            self._refs[key] = ref
            if len(self._refs) > self._cache:
                self._refs.popitem(last=False)
        else:
            self._refs.move_to_end(key)
        return ref

    def check(self, case: Case) -> Verdict:
        verdict = self._check(case)
        if self.forward and self.order == 1:
            from .forward import forward_verdict
            verdict = forward_verdict(self, case, self.reference(case), verdict)
        return verdict

    def _check(self, case: Case) -> Verdict:
        ref = self.reference(case)
        if self.order == 2:
            from .second import second_judge
            return second_judge(ref, self.executor.run(case.expr, case.point, mode="second"))
        run = self.executor.run(case.expr, case.point)
        if self.tensor:
            from .tensor.jacobian import check_rows
            from .tensor.judge import tensor_judge
            return check_rows(case, tensor_judge(ref, run), self.reference,
                              lambda row: self.executor.run(row.expr, row.point))
        return judge(ref, run)

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> "Checker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
