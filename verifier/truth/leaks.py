"""The NaN leak through ``where``'s unselected branch, read off the program.

``where(c > 0, sqrt(c), b)`` at c = -1 does not depend on ``sqrt(c)``; but an engine computes
that branch anyway, and a backward pass that multiplies the zero cotangent it gets by
sqrt'(-1) = NaN (0·NaN = NaN, 0·inf = NaN) leaks NaN into the gradient. This says which op of
an unselected branch has a derivative that is not finite there, for the verdict's reason and
for blame.
"""
from __future__ import annotations

import math

import numpy as np

from verifier.floor.ir import Node, toposort, variables
from verifier.floor.mathns import F64
from verifier.floor.ops import Op
from verifier.model import Case
from verifier.truth.judge import plain
from verifier.truth.lower import Lowered, lower

__all__ = ["unselected_leak", "leak_in", "ZERO_TIMES_INF"]

ZERO_TIMES_INF = ("0·inf: the unselected branch's derivative is not finite and was multiplied by a "
                  "zero cotangent")


def unselected_leak(case: Case) -> tuple[str, str] | None:
    """(op, one line) for the first op, deepest first, of a ``where``'s unselected branch whose
    local derivative is not finite where that branch is unselected, on a path to a variable;
    None if there is none (or the case is not a tensor program that lowers)."""
    try:
        lowered = lower(case.expr, case.point, case.ops.tensor)
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None
    return leak_in(lowered, case.ops)


def leak_in(lowered: Lowered, ops, element: str | None = None) -> tuple[str, str] | None:
    """``unselected_leak`` for a program already lowered (``ops``: the case's vocabulary);
    ``element``: only a leak that reaches this element variable (``x_0_1``)."""
    for root in lowered.unselected:
        found = _first_nonfinite(root, lowered.point, ops, element)
        if found:
            return found
    return None


def _first_nonfinite(root: Node, point, ops, element: str | None) -> tuple[str, str] | None:
    values: dict[Node, float] = {}
    origin: dict[Node, Node] = {}     # where a non-finite value was first made
    with np.errstate(all="ignore"):
        for n in toposort(root):
            if n.is_leaf:
                values[n] = float(point[n.arg]) if n.op == "var" else float(n.arg)
                continue
            op: Op = ops[n.op]
            args = [values[s] for s in n.src]
            ans = float(op.forward(F64, *args))
            values[n] = ans
            bad_args = [origin[s] for s in n.src if s in origin]
            if not math.isfinite(ans):
                origin[n] = bad_args[0] if bad_args else n
            for i, rule in enumerate(op.partials):
                reached = variables(n.src[i])
                if rule is None or not reached or (element is not None and element not in reached):
                    continue
                if math.isfinite(float(rule(F64, *args, ans))):
                    continue
                if bad_args:
                    src = bad_args[0]
                    made = ", ".join(plain(values[s]) for s in src.src)
                    return n.op, (f"{ZERO_TIMES_INF} ({src.op} at {made} is {plain(values[src])}, and "
                                  f"{n.op}'s derivative, which reads it, is not finite)")
                at = ", ".join(plain(a) for a in args)
                return n.op, f"{ZERO_TIMES_INF} ({n.op}'s derivative at {at} is not finite)"
    return None

