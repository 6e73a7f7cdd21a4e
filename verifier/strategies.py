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
from .ops import OPS, SCALAR_OPS, UnknownOp

__all__ = ["cases", "values", "VAR_NAMES", "check_ops"]

VAR_NAMES = ("x", "y", "z", "w", "u", "v", "s", "t")
_SPECIAL = (0.0, 1.0, -1.0, 0.5, 2.0, -2.0, math.pi / 2, -math.pi / 2, math.pi, 1e-8, -1e-8, 3.0)
_EXPONENTS = (2.0, 3.0, -1.0, 0.5, -0.5, 1.5, 4.0, -2.0, 1.0 / 3.0, 2.5)
_LIMITS = {"float64": (300, 700.0), "float32": (30, 80.0)}   # decades, exp overflow edge


def check_ops(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise UnknownOp(f"unknown op {unknown[0]!r} (known: {', '.join(sorted(SCALAR_OPS))})")
    return list(dict.fromkeys(names))


def _round(x: float, dtype: str) -> float:
    return float(np.float32(x)) if dtype == "float32" else x


@st.composite
def _scaled(draw, lo: int, hi: int) -> float:
    mantissa = draw(st.floats(1.0, 9.999, allow_nan=False))
    return mantissa * 10.0 ** draw(st.integers(lo, hi)) * draw(st.sampled_from((1, -1)))


def values(dtype: str = "float64", ties: Sequence[float] = ()) -> st.SearchStrategy[float]:
    """Ordinary numbers first (they shrink best), then the regimes where engines break."""
    decades, edge = _LIMITS[dtype]
    regimes = [
        st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False),
        st.sampled_from(_SPECIAL),
        _scaled(-decades, -4),                         # tiny
        _scaled(4, decades),                           # large
        st.floats(edge - 40, edge) | st.floats(-edge, -edge + 40),   # exp / sigmoid overflow edge
    ]
    if ties:  # equal and adjacent values: the kinks of max, abs(x - y), relu(x - c)
        near = st.sampled_from(tuple(ties)).flatmap(
            lambda t: st.sampled_from((t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf))))
        regimes.insert(1, near)
    return st.one_of(regimes).map(lambda x: _round(x, dtype))


def _constants(dtype: str, ties: Sequence[float]) -> st.SearchStrategy[float]:
    nice = st.sampled_from((1.0, 2.0, 0.5, -1.0, 3.0, 10.0, 0.1, -0.5))
    return st.one_of(nice, values(dtype, ties))


def _valid(op_name: str, args: list[float], dtype: str) -> bool:
    """Defined, finite and representable, partials included: a point we can judge."""
    op = SCALAR_OPS[op_name]
    info = np.finfo(dtype)
    if not op.domain(*args):
        return False
    with np.errstate(all="ignore"):
        ans = float(op.forward(F64, *map(np.float64, args)))
    # partials at 20 digits: mpmath's exponent range shows what float64 would flush to 0
    m = precise(20)
    exact = [m.float(a) for a in args]
    parts = [rule(m, *exact, op.forward(m, *exact)) for rule in op.partials if rule]
    for x in [ans, *parts]:
        if not m.ctx.isfinite(x) or abs(x) > float(info.max) / 1e6:
            return False
        if x != 0 and abs(x) < float(info.tiny) * 1e6:
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
        drawn.append(draw(values(dtype, drawn)))
    point = dict(zip(names, drawn))
    variables_ = [(var(n), point[n]) for n in names]
    shared: list[tuple[Node, float]] = []       # op nodes built so far: reusing one makes a DAG

    def leaf() -> tuple[Node, float]:
        k = draw(st.integers(0, 9))
        if k >= 8 and shared:
            return shared[draw(st.integers(0, len(shared) - 1))]
        if k >= 6:
            c = draw(_constants(dtype, drawn))
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
        options = [(o, xs) for o, xs in options if not all(x[0].op == "const" for x in xs)
                   and _valid(o, [x[1] for x in xs], dtype)]
        if not options:
            return a                       # nothing applies at these values: keep the argument
        op, xs = options[draw(st.integers(0, len(options) - 1))]
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
