"""After blame, drop the bystanders: ops of a reproducer that the fault does not need.

Hypothesis shrinks toward a small expression, not toward the one that names the fault: it
keeps ``x/maximum(x, x)`` when div's rule is what overflows and ``x/x`` shows it as well. So
once a finding is blamed, each op that is not the culprit is taken out in turn — the node
replaced by one of its arguments, or by a fresh variable holding its value — and a removal
is kept when the smaller case still gives the same signature. Repeated to a fixpoint, in a
fixed order (deterministic), within a budget of checks (blame's own checks counted).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from verifier.floor.ir import Node, evaluate, toposort, var, variables
from verifier.floor.mathns import F64
from verifier.floor.program import is_tensor_program
from verifier.model import Case, Verdict
from verifier.search.blame import Blame, blame, signature

__all__ = ["simplify", "BUDGET"]

BUDGET = 60   # checks, blame's included: a finding is kept whole even when this runs out


class _Spent(Exception):
    pass


class _Counted:
    def __init__(self, check: Callable[[Case], Verdict], budget: int):
        self.check, self.left = check, budget

    def __call__(self, case: Case) -> Verdict:
        if self.left <= 0:
            raise _Spent
        self.left -= 1
        return self.check(case)


def simplify(case: Case, verdict: Verdict, culprit: Blame, check: Callable[[Case], Verdict],
             budget: int = BUDGET, dtype: str = "float64") -> tuple[Case, Verdict, Blame]:
    """The smallest case reachable by removing non-culprit ops that keeps the signature of
    ``(verdict, culprit)``, with its verdict and blame. Scalar expressions only: a tensor
    program is returned as it is (removing a reshape or a reduction changes every shape).
    ``dtype``: the engine's; a variable that stands for a removed op holds a number of it."""
    if is_tensor_program(case.expr, case.point) or verdict.case is not None:
        return case, verdict, culprit
    want = signature(verdict, culprit)
    counted = _Counted(check, budget)
    try:
        while True:
            smaller = _one_removal(case, verdict, culprit, want, counted, dtype)
            if smaller is None:
                return case, verdict, culprit
            case, verdict, culprit = smaller
    except _Spent:
        return case, verdict, culprit


def _one_removal(case: Case, verdict: Verdict, culprit: Blame, want: str,
                 check: _Counted, dtype: str) -> tuple[Case, Verdict, Blame] | None:
    order = toposort(case.expr)
    keep = order[culprit.node] if culprit.node is not None and culprit.node < len(order) else None
    for n in reversed(order):   # the outermost first: a consumer above the culprit goes whole
        if n.is_leaf or n is keep:
            continue
        for smaller in _without(case, n, dtype):
            got = check(smaller)
            if got.kind != verdict.kind:
                continue
            b = blame(smaller, got, check)
            if signature(got, b) == want:
                return smaller, got, b
    return None


def _without(case: Case, n: Node, dtype: str) -> list[Case]:
    """``case`` with ``n`` replaced by each distinct non-constant argument, then by a fresh
    variable holding its value in the engine's dtype (a float32 engine is never given a
    point it cannot hold: its rounding would be the finding)."""
    out = []
    for s in dict.fromkeys(s for s in n.src if s.op != "const"):
        out.append(_replaced(case, n, s, {}))
    with np.errstate(all="ignore"):
        value = float(np.dtype(dtype).type(evaluate(n, case.point, F64, ops=case.ops)[n]))
    if np.isfinite(value):
        name = next(f"u{i}" for i in range(1, 1000) if f"u{i}" not in case.point)
        out.append(_replaced(case, n, var(name), {name: value}))
    return [c for c in out if c is not None]


def _replaced(case: Case, n: Node, by: Node, extra: dict[str, float]) -> Case | None:
    memo: dict[Node, Node] = {}
    for m in toposort(case.expr):
        memo[m] = by if m is n else m if m.is_leaf else Node(m.op, tuple(memo[s] for s in m.src), m.arg)
    expr = memo[case.expr]
    if expr.is_leaf:
        return None   # nothing left to differentiate
    point = {**case.point, **extra}
    return Case(expr, {v: point[v] for v in variables(expr)}, ops=case.ops)
