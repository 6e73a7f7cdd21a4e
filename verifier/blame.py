"""Which op to blame: the lowest node where the engine's derivative departs from the truth.

Every node of a DAG roots a sub-expression of its own. Checked bottom-up, the first
sub-expression the engine gets wrong has only correct sub-expressions below it, so the error
enters at its root op. That op is then checked alone, on fresh variables holding the same
values: wrong alone means its local rule is wrong; right alone means the engine goes wrong
when it combines (a shared argument not accumulated, a backward pass out of order).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .ir import Node, apply, evaluate, toposort, var, variables
from .judge import Case, Verdict
from .mathns import F64
from .ops import get_op
from .tensor.program import is_tensor_program

__all__ = ["Blame", "blame"]


@dataclass(frozen=True)
class Blame:
    op: str | None
    node: int | None      # position of the culprit in toposort(expr), for drawing
    how: str              # local-rule | composition | forward | crash | unknown
    detail: str = ""


class _ScalarView:
    """Sub-expressions and ops-alone of a scalar case."""

    def __init__(self, case: Case):
        self.point = case.point

    def sub(self, n: Node) -> Case:
        return Case(n, {v: self.point[v] for v in variables(n)})

    def local(self, n: Node) -> Case:
        """``n``'s op on a fresh variable per argument position (``x*x`` becomes ``a0*a1``:
        no sharing left), each holding that argument's float64 value."""
        with np.errstate(all="ignore"):
            values = evaluate(n, self.point, F64)
        args, local_point = [], {}
        for i, s in enumerate(n.src):
            if i in get_op(n.op).params or s.op == "const":
                args.append(s)
            else:
                local_point[f"a{i}"] = float(values[s])
                args.append(var(f"a{i}"))
        return Case(apply(n.op, *args), local_point)


class _TensorView:
    """The same for tensor programs: a sub-program is reduced with a fixed cotangent of its
    own shape, and an op alone gets fresh tensor variables holding its arguments' values."""

    def __init__(self, case: Case):
        from .tensor import program
        self.p = program
        self.point = case.point
        self.values = program.forward(case.expr, case.point)

    def _reduced(self, n: Node, point) -> Case:
        shape = self.values[n].shape if n in self.values else self.p.forward(n, point)[n].shape
        if shape == ():
            return Case(n, point)
        w = np.resize(np.array(_COTANGENT), shape) if shape else np.array(1.0)
        return Case(self.p.reduce_with(n, w), point)

    def sub(self, n: Node) -> Case:
        return self._reduced(n, {v: self.point[v] for v in variables(n)})

    def local(self, n: Node) -> Case:
        args, local_point = [], {}
        for i, s in enumerate(n.src):
            if s.op in ("const", "tconst") or (s.op == "var" and i in _nondiff(n)):
                args.append(s)
                if s.op == "var":
                    local_point[s.arg] = self.point[s.arg]
            else:
                local_point[f"a{i}"] = self.values[s]
                args.append(var(f"a{i}"))
        return self._reduced(self.p.tapply(n.op, *args, **self.p.params_of(n)), local_point)


_COTANGENT = (1.0, -0.75, 1.25, 0.5, -1.5, 2.0)


def _nondiff(n: Node) -> tuple[int, ...]:
    from .tensor.ops import get_tensor_op
    return get_tensor_op(n.op).nondiff


PRECISION = 1e-5   # right to five digits yet beyond the bound: precision lost, not a wrong rule


def blame(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame:
    found = _locate(case, verdict, check)
    bad = verdict.failing
    if (verdict.kind == "mismatch" and bad is not None and bad.expected
            and abs(bad.actual - bad.expected) <= PRECISION * abs(bad.expected)):
        rel = abs(bad.actual - bad.expected) / abs(bad.expected)
        return Blame(found.op, found.node, "precision",
                     f"right to {PRECISION:.0e}, but a relative error of {rel:.1e} is more than "
                     f"this dtype's rounding allows here (bound {bad.bound / abs(bad.expected):.1e})")
    return found


def _locate(case: Case, verdict: Verdict, check: Callable[[Case], Verdict]) -> Blame:
    order = toposort(case.expr)
    if verdict.kind == "crash" and verdict.where in {n.op for n in order}:
        k = next(i for i, n in enumerate(order) if n.op == verdict.where)
        return Blame(verdict.where, k, "crash", f"the engine raised inside {verdict.where}")
    if verdict.kind == "timeout":
        ops = [n for n in order if not n.is_leaf]
        return Blame(ops[0].op if len(ops) == 1 else None, None, "timeout")
    view = _TensorView(case) if is_tensor_program(case.expr, case.point) else _ScalarView(case)
    for k, n in enumerate(order):
        if n.is_leaf:
            continue
        sub = verdict if n is case.expr else check(view.sub(n))
        if not sub.is_discrepancy:
            continue
        failing = sub.failing
        if failing is not None and failing.variable is None:
            return Blame(n.op, k, "forward", f"the forward value of {n.op} is wrong")
        local = view.local(n)
        if local.expr is n or check(local).is_discrepancy:
            return Blame(n.op, k, "local-rule", f"{n.op} is wrong on its own")
        shared = len(set(n.src)) < len(n.src) or _shares(n)
        return Blame(n.op, k, "composition",
                     f"{n.op} is right alone but wrong here: "
                     + ("its arguments share a node — gradients from several paths must add up"
                        if shared else "the backward pass combines its arguments wrongly"))
    return Blame(None, None, "unknown", "no sub-expression fails alone")


def _shares(n: Node) -> bool:
    seen: set[Node] = set()
    for s in n.src:
        below = set(toposort(s))
        if below & seen:
            return True
        seen |= below
    return False
