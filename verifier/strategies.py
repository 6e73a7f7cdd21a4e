"""Hypothesis strategies: expression DAGs with sharing, at points that stress them.

A case is built bottom-up, the float value of every node known as it is made: an op is
applied only where it is defined (log of a positive value, pow's base in its domain, no
overflow), so no example is thrown away. Arguments are drawn from everything built so far
— most recent first, which gives deep compositions — and a binary op may take the same
node twice (``x*x``), which is how shared sub-expressions and several paths arise.

Shrinking works on Hypothesis' choice sequence: fewer steps means fewer nodes, "ordinary"
magnitudes come first in every ``one_of``, and constants shrink toward 1 and 2.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from hypothesis import reject, strategies as st

from .ir import Node, apply, const, var, variables
from .judge import Case
from .mathns import F64, precise
from .ops import SCALAR_OPS, UnknownOp

__all__ = ["cases", "values", "VAR_NAMES", "check_ops"]

VAR_NAMES = ("x", "y", "z", "w", "u", "v", "s", "t")
_SPECIAL = (0.0, 1.0, -1.0, 0.5, 2.0, -2.0, math.pi / 2, -math.pi / 2, math.pi, 1e-8, -1e-8, 3.0)
_EXPONENTS = (2.0, 3.0, -1.0, 0.5, -0.5, 1.5, 4.0, -2.0, 1.0 / 3.0, 2.5)
_LIMITS = {"float64": (300, 700.0), "float32": (30, 80.0)}   # decades, exp overflow edge


def check_ops(names: Sequence[str]) -> list[str]:
    from .tensor.ops import TENSOR_OPS
    unknown = [n for n in names if n not in TENSOR_OPS]
    if unknown:
        raise UnknownOp(f"unknown op {unknown[0]!r} (known: {', '.join(sorted(TENSOR_OPS))})")
    return list(dict.fromkeys(names))


def _round(x: float, dtype: str) -> float:
    return float(np.float32(x)) if dtype == "float32" else x


@st.composite
def _scaled(draw, lo: int, hi: int) -> float:
    mantissa = draw(st.floats(1.0, 9.999, allow_nan=False))
    return mantissa * 10.0 ** draw(st.integers(lo, hi)) * draw(st.sampled_from((1, -1)))


_REGIME_NAMES = ("ordinary", "tie", "special", "tiny", "large", "edge")
_REGIME = st.sampled_from(_REGIME_NAMES)   # ordinary first: it shrinks best
_NEAR = st.sampled_from((None, math.inf, -math.inf))   # the same value, the next up, the next down
_NICE = st.sampled_from((1.0, 2.0, 0.5, -1.0, 3.0, 10.0, 0.1, -0.5))
_STRATEGIES: dict[str, dict[str, st.SearchStrategy[float]]] = {}


def _regimes(dtype: str) -> dict[str, st.SearchStrategy[float]]:
    """Built once per dtype: Hypothesis strategies are costly to construct, cheap to draw."""
    if dtype not in _STRATEGIES:
        decades, edge = _LIMITS[dtype]
        _STRATEGIES[dtype] = {
            "ordinary": st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False),
            "special": st.sampled_from(_SPECIAL),
            "tiny": _scaled(-decades, -4),
            "large": _scaled(4, decades),
            "edge": st.floats(edge - 40, edge) | st.floats(-edge, -edge + 40),   # exp / sigmoid overflow
        }
    return _STRATEGIES[dtype]


def draw_value(draw, dtype: str = "float64", ties: Sequence[float] = ()) -> float:
    """Ordinary numbers first, then the regimes where engines break; ``ties`` are values
    drawn before, so equal and adjacent values make the kinks of max, abs(x - y), relu(x - c)."""
    regime = draw(_REGIME)
    if regime == "tie":
        if not ties:
            regime = "ordinary"
        else:
            t = ties[draw(st.integers(0, len(ties) - 1))]
            toward = draw(_NEAR)
            return _round(t if toward is None else math.nextafter(t, toward), dtype)
    return _round(draw(_regimes(dtype)[regime]), dtype)


@st.composite
def values(draw, dtype: str = "float64", ties: Sequence[float] = ()) -> float:
    return draw_value(draw, dtype, ties)


def _draw_constant(draw, dtype: str, ties: Sequence[float]) -> float:
    return draw(_NICE) if draw(st.booleans()) is False else draw_value(draw, dtype, ties)


def _valid(op_name: str, args: list[float], dtype: str) -> bool:
    """Defined, finite and representable, partials included: a point we can judge."""
    op = SCALAR_OPS[op_name]
    info = np.finfo(dtype)
    if not op.domain(*args):
        return False
    hi, lo = float(info.max) / 1e6, float(info.tiny) * 1e6
    with np.errstate(all="ignore"):
        xs = [np.float64(a) for a in args]
        ans = op.forward(F64, *xs)
        parts = [rule(F64, *xs, ans) for rule in op.partials if rule]
    for x in [ans, *parts]:
        x = float(x)
        if not math.isfinite(x) or abs(x) > hi or (x != 0 and abs(x) < lo):
            return False
    if any(float(p) == 0 for p in parts):
        # a partial of exactly 0 may be one float64 flushed (atan' at 1e300 is 1e-600):
        # mpmath's exponent range tells, at 20 digits
        m = precise(20)
        exact = [m.float(a) for a in args]
        for rule in op.partials:
            if rule is not None:
                d = rule(m, *exact, op.forward(m, *exact))
                if d != 0 and abs(d) < lo:
                    return False
    return True


@st.composite
def cases(draw, ops: Sequence[str] = tuple(SCALAR_OPS), max_nodes: int = 12, n_vars: int = 3,
          dtype: str = "float64") -> Case:
    """An expression of at most ``max_nodes`` ops over ``n_vars`` variables, and a point."""
    ops = [o for o in check_ops(ops) if o in SCALAR_OPS]
    unary = [o for o in ops if SCALAR_OPS[o].arity - len(SCALAR_OPS[o].params) == 1]
    binary = [o for o in ops if o not in unary]
    names = VAR_NAMES[:max(1, min(n_vars, len(VAR_NAMES)))]
    drawn: list[float] = []
    for name in names:
        drawn.append(draw_value(draw, dtype, drawn))
    point = dict(zip(names, drawn))
    variables_ = [(var(n), point[n]) for n in names]
    shared: list[tuple[Node, float]] = []       # op nodes built so far: reusing one makes a DAG

    def leaf() -> tuple[Node, float]:
        k = draw(st.integers(0, 9))
        if k >= 8 and shared:
            return shared[draw(st.integers(0, len(shared) - 1))]
        if k >= 6:
            c = _draw_constant(draw, dtype, drawn)
            return const(c), c
        return variables_[k % len(variables_)]

    def build(budget: int) -> tuple[Node, float]:
        if budget == 0:
            return leaf()
        if binary and (not unary or draw(st.booleans())):
            k = draw(st.integers(0, budget - 1))
            a = build(k)
            b = a if draw(st.booleans()) else build(budget - 1 - k)   # the same node twice: x*x
            options = [(o, [a, b]) for o in binary]
        else:
            a = build(budget - 1)
            exponent = draw(st.sampled_from(_EXPONENTS))
            options = [(o, [a, (const(exponent), exponent)] if SCALAR_OPS[o].params else [a])
                       for o in unary]
        # draw an op, then take the first that applies from there on: validity is checked
        # for the one or two ops tried, not the whole vocabulary
        start = draw(st.integers(0, len(options) - 1))
        for o, xs in options[start:] + options[:start]:
            if not all(x[0].op == "const" for x in xs) and _valid(o, [x[1] for x in xs], dtype):
                op = o
                break
        else:
            return a                       # nothing applies at these values: keep the argument
        with np.errstate(all="ignore"):
            ans = float(SCALAR_OPS[op].forward(F64, *(np.float64(x[1]) for x in xs)))
        node = (apply(op, *(x[0] for x in xs)), _round(ans, dtype))
        shared.append(node)
        return node

    # sampled_from is uniform (integers favours 1) and still shrinks toward the first, 1
    out = build(draw(st.sampled_from(range(1, max_nodes + 1))))[0]
    if out.is_leaf:
        reject()  # every op fell outside its domain here: rare, and no case beats a fake one
    return Case(out, {v: point[v] for v in variables(out)})
