"""Numerical derivatives from the forward function alone.

- ``richardson``: central differences in float64, extrapolated (Ridders' tableau), with the
  tableau's own error estimate; the classic gradcheck, done carefully.
- ``complex_step``: Im f(x + ih) / h — no subtraction, so exact to float64 rounding; valid
  only when every op is analytic (no abs/relu/max), which the op table says.
- ``mpmath``: ``mpmath.diff`` on the forward evaluated at high precision: the numerical
  witness used to break a tie when symbolic and paths disagree.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from verifier.ir import Node, evaluate, toposort, variables
from verifier.mathns import F64, precise
from verifier.ops import get_op

from .base import Estimate, OracleError

__all__ = ["richardson", "complex_step", "mpmath_diff", "analytic"]


def analytic(out: Node) -> bool:
    return all(n.is_leaf or get_op(n.op).analytic for n in toposort(out))


def _f64(out: Node, point: Mapping[str, float], name: str):
    def f(x):
        return evaluate(out, point, F64, leaf=lambda n: x if n.op == "var" and n.arg == name
                        else np.float64(point[n.arg] if n.op == "var" else n.arg))[out]
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


def richardson(out: Node, point: Mapping[str, float]) -> Estimate:
    grads, errs = {}, {}
    with np.errstate(all="ignore"):
        for v in variables(out):
            x = float(point[v])
            grads[v], errs[v] = _ridders(_f64(out, point, v), x, 0.1 * max(abs(x), 1e-3))
    return Estimate("richardson", grads, error=errs)


def complex_step(out: Node, point: Mapping[str, float]) -> Estimate:
    if not analytic(out):
        raise OracleError("complex step needs analytic ops")
    grads = {}
    with np.errstate(all="ignore"):
        for v in variables(out):
            x = float(point[v])
            h = 1e-30 * max(abs(x), 1e-200)
            grads[v] = float(np.imag(_f64(out, point, v)(complex(x, h)))) / h
    return Estimate("complex_step", grads)


def mpmath_diff(out: Node, point: Mapping[str, float], dps: int = 50) -> Estimate:
    m = precise(2 * dps)
    ctx = m.ctx
    order = toposort(out)
    grads, errs = {}, {}
    for v in variables(out):
        def f(x):
            values = {}
            for n in order:
                if n.op == "var":
                    values[n] = x if n.arg == v else ctx.mpf(point[n.arg])
                elif n.op == "const":
                    values[n] = ctx.mpf(n.arg)
                else:
                    values[n] = get_op(n.op).forward(m, *(values[s] for s in n.src))
            return values[out]
        x = ctx.mpf(point[v])
        # step far below any feature of the function, far above 2·dps-digit rounding
        h = ctx.mpf(10) ** (-dps // 2) * (abs(x) or 1)
        try:
            d = ctx.diff(f, x, h=h)
        except TypeError:  # a step left the real domain (mpmath went complex)
            raise OracleError("mpmath: a step leaves the real domain") from None
        if not isinstance(d, ctx.mpf):
            raise OracleError("mpmath: a step leaves the real domain")
        grads[v] = d
        # what a difference quotient can resolve: rounding of f at 2·dps digits over h
        errs[v] = float(ctx.mpf(10) ** (-2 * dps) * (abs(f(x)) + 1) / h)
    return Estimate("mpmath", grads, error=errs)
