"""Numerical derivatives from the forward function alone.

- ``richardson``: central differences in float64, extrapolated (Ridders' tableau), with the
  tableau's own error estimate; the classic gradcheck, done carefully.
- ``complex_step``: Im f(x + ih) / h — no subtraction, so exact to float64 rounding; valid
  only when every op is analytic (no abs/relu/max), which the op table says.
- ``mpmath``: ``mpmath.diff`` on the forward evaluated at high precision, its step shrunk
  until two quotients agree: the numerical witness when the symbolic oracle cannot answer.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from oracles.base import Estimate, OracleError
from verifier.floor.ir import Node, evaluate, toposort, variables
from verifier.floor.mathns import C128, F64, precise
from verifier.floor.ops import Op
from verifier.floor.vocabulary import BUILTIN

__all__ = ["richardson", "complex_step", "mpmath_diff", "analytic"]

_TINY = float(np.finfo(np.float64).tiny)


def analytic(out: Node, ops: Mapping[str, Op] = BUILTIN) -> bool:
    return all(n.is_leaf or ops[n.op].analytic for n in toposort(out))


def _f64(out: Node, point: Mapping[str, float], name: str, ns=F64, ops: Mapping[str, Op] = BUILTIN):
    def f(x):
        return evaluate(out, point, ns, leaf=lambda n: x if n.op == "var" and n.arg == name
                        else np.float64(point[n.arg] if n.op == "var" else n.arg), ops=ops)[out]
    return f


def _ridders(f, x: float, h: float, steps: int = 8, shrink: float = 1.6) -> tuple[float, float]:
    """Ridders' extrapolation of central differences: (estimate, error estimate)."""
    c2 = shrink * shrink
    table = [[(f(x + h) - f(x - h)) / (2 * h)]]
    best, err = table[0][0], math.inf
    for i in range(1, steps):
        h /= shrink
        row = [(f(x + h) - f(x - h)) / (2 * h)]
        fac = c2
        for j in range(1, i + 1):
            row.append((row[j - 1] * fac - table[i - 1][j - 1]) / (fac - 1))
            fac *= c2
            e = max(abs(row[j] - row[j - 1]), abs(row[j] - table[i - 1][j - 1]))
            if e <= err:
                err, best = e, row[j]
        if abs(row[i] - table[i - 1][i - 1]) >= 2 * err:
            break
        table.append(row)
    return float(best), float(err)


def richardson(out: Node, point: Mapping[str, float], ops: Mapping[str, Op] = BUILTIN) -> Estimate:
    grads, errs = {}, {}
    with np.errstate(all="ignore"):
        for v in variables(out):
            x = float(point[v])
            grads[v], errs[v] = _ridders(_f64(out, point, v, ops=ops), x, 0.1 * max(abs(x), 1e-3))
    return Estimate("richardson", grads, error=errs)


def complex_step(out: Node, point: Mapping[str, float], ops: Mapping[str, Op] = BUILTIN) -> Estimate:
    if not analytic(out, ops):
        raise OracleError("complex step needs analytic ops")
    grads = {}
    with np.errstate(all="ignore"):
        for v in variables(out):
            x = float(point[v])
            # 1e-20 of x: the error is (h/x)² = 1e-40 of the result, and products with h
            # underflow 1e10 times later than at 1e-30 (c/x with c = 8e-295 came out 0).
            # Relative to x, not floored at 1e-230 (log'(1e-228) was 3e-5 off), but never
            # below the smallest normal float (still 1e-8 of x at 1e-300)
            h = max(1e-20 * abs(x), _TINY) if x else 1e-230
            grads[v] = float(np.imag(_f64(out, point, v, C128, ops)(complex(x, h)))) / h
    return Estimate("complex_step", grads)


MPMATH_LEVELS = 6          # steps tried per variable, each 10^-(dps/2) times the last


def _quotient(out: Node, order: list[Node], point: Mapping[str, float], v: str, dps: int, h_exp: int,
              ops: Mapping[str, Op]):
    """mpmath's central difference in ``v`` with the step 10^-h_exp·min(|x|, 1), at enough
    digits that x ± h is exact and 2·dps digits are left of f: (estimate, rounding error)."""
    x0 = point[v]
    mag = max(0, math.ceil(math.log10(abs(x0)))) if x0 else 0
    m = precise(2 * dps + mag + max(0, h_exp - dps // 2))
    ctx = m.ctx

    def f(x):
        values = {}
        for n in order:
            if n.op == "var":
                values[n] = x if n.arg == v else ctx.mpf(point[n.arg])
            elif n.op == "const":
                values[n] = ctx.mpf(n.arg)
            else:
                values[n] = ops[n.op].forward(m, *(values[s] for s in n.src))
        return values[out]

    x = ctx.mpf(x0)
    h = ctx.mpf(10) ** -h_exp * min(abs(x) or 1, 1)
    try:
        d = ctx.diff(f, x, h=h)
    except TypeError:  # a step left the real domain (mpmath went complex)
        raise OracleError("mpmath: a step leaves the real domain") from None
    if not isinstance(d, ctx.mpf):
        raise OracleError("mpmath: a step leaves the real domain")
    # what a difference quotient can resolve: rounding of f at m's digits over h
    return d, ctx.mpf(10) ** (-m.dps) * (abs(f(x)) + 1) / h


def mpmath_diff(out: Node, point: Mapping[str, float], dps: int = 50, ops: Mapping[str, Op] = BUILTIN) -> Estimate:
    """Central differences at high precision, with steps shrunk until two agree.

    No step fits every function: a step relative to |x| (1e-25·|x|) spans 1e273 periods of
    sin(x) at x = 1e299, and even an absolute one is too long for sin(x/z) in z at x = 4e299,
    whose period in z is 1e-297 (its scale is set by another variable). So each step is
    10^-(dps/2) times the previous one (with digits added to match) until two quotients
    agree to dps/2 digits: two steps both longer than the function's features do not agree
    by chance, and the error of the shorter one is far below their difference."""
    order = toposort(out)
    grads, errs = {}, {}
    step = dps // 2
    for v in variables(out):
        prev, prev_rounding = _quotient(out, order, point, v, dps, step, ops)
        for level in range(1, MPMATH_LEVELS):
            d, rounding = _quotient(out, order, point, v, dps, step * (level + 1), ops)
            if abs(d - prev) <= abs(d) * d.context.mpf(10) ** -step + rounding + prev_rounding:
                break
            prev, prev_rounding = d, rounding
        else:
            raise OracleError(f"mpmath: no two of {MPMATH_LEVELS} steps agree in d/d{v}")
        grads[v] = d
        errs[v] = float(rounding)
    return Estimate("mpmath", grads, error=errs)
