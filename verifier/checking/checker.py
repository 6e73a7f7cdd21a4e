"""One engine, checked case by case in one mode (checking.modes): references cached, the
engine asked through an executor, the answer judged."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from verifier.checking.executor import make_executor
from verifier.checking.modes import Executor, Mode, mode_for
from verifier.engines import engine_dtype, engine_name
from verifier.floor.ir import Node
from verifier.model import Case, EngineRun, Verdict
from verifier.truth.lower import Lowered

__all__ = ["Checker", "Strict"]


class Checker:
    """Checks cases against one engine. References are cached per (expression, point):
    shrinking and blame revisit the same sub-expressions at the same points many times.
    ``tensor``, ``order`` and ``forward`` build the mode as the command line's options do;
    ``mode`` gives it directly. ``strict_determinism``: two identical builds that answer
    differently are ``inconsistent`` even within the bound (else a ``nondeterministic`` note)."""

    def __init__(self, engine: Any, timeout: float | None = None, cache: int = 4096, tensor: bool = False,
                 order: int = 1, forward: bool = False, mode: Mode | None = None,
                 strict_determinism: bool = False):
        self.engine = engine
        self.name = engine_name(engine)
        self.dtype = engine_dtype(engine)
        self.timeout = timeout
        self.strict_determinism = strict_determinism
        self.executor = make_executor(engine, timeout)
        self._refs: OrderedDict[tuple, Any] = OrderedDict()
        self._cache = cache
        self.mode = mode or mode_for(tensor=tensor, order=order, forward=forward)

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        # another mode may build other references for the same case (order 2, tensor)
        self._mode = mode
        self.clear_cache()

    @property
    def tensor(self) -> bool:
        return self.mode.tensor

    @property
    def order(self) -> int:
        return self.mode.order

    @property
    def forward(self) -> bool:
        return self.mode.forward

    @forward.setter
    def forward(self, on: bool) -> None:
        self.mode = mode_for(tensor=self.tensor, order=self.order, forward=on)

    def reference(self, case: Case, lowered: Lowered | None = None) -> Any:
        """The mode's reference: a Reference, or for tensor programs a TensorReference (the
        lowered one inside; ``lowered`` is the case's element DAG when the caller has it already)."""
        key = (case.expr, tuple(sorted((k, np.shape(v), np.asarray(v, dtype=np.float64).tobytes())
                                       for k, v in case.point.items())))
        ref = self._refs.get(key)
        if ref is None:
            ref = self.mode.reference(case, self.dtype, lowered)
            self._refs[key] = ref
            if len(self._refs) > self._cache:
                self._refs.popitem(last=False)
        else:
            self._refs.move_to_end(key)
        return ref

    def check(self, case: Case) -> Verdict:
        asked: Executor = Strict(self.executor) if self.strict_determinism else self.executor
        return self.mode.check(case, asked, self.reference)

    def mode_record(self) -> dict[str, Any]:
        """What a replay must re-check a finding as (``Finding.mode``, the replay file's mode)."""
        return {"order": self.order, "forward": self.forward, "tensor": self.tensor, "dtype": self.dtype,
                "check_timeout": self.timeout, "strict_determinism": self.strict_determinism}

    def clear_cache(self) -> None:
        """Forget every reference: the cache only memoises, so no verdict changes."""
        self._refs.clear()

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> "Checker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Strict:
    """An executor whose engine must answer the same twice: a second identical build that
    differs at all is ``inconsistent`` (``--strict-determinism``), as the runner once said."""

    def __init__(self, executor: Executor):
        self.executor = executor

    def run(self, expr: Node, point: Mapping[str, Any], mode: str = "reverse") -> EngineRun:
        run = self.executor.run(expr, point, mode=mode)
        if run.again is None:
            return run
        if tuple(run.again) != tuple(run.grads):
            why = f"a second identical graph gave gradients {list(run.again)} instead of {list(run.grads)}"
        else:
            why = f"a second identical graph gave the value {run.again_value!r} instead of {run.value!r}"
        return replace(run, status="inconsistent", message=why, again=None, again_value=None)
