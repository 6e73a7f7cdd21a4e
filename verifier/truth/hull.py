"""Is a gradient within the bound of the convex hull of the kink vertices?

At kinks a correct engine's gradient is the chain rule applied to some convex combination of
each kink's one-sided partials; the gradient is affine in each of them, so the set of such
answers lies in the convex hull of the vertices (one per choice of sides). The judge asks
whether the engine's vector lies within the per-variable bound of that hull (box tolerance).

Never a false alarm: "outside" is only ever said with a proof. For one kink (a segment) the
test is exact rational arithmetic in closed form; for several, a small LP finds a separating
direction and that direction is then checked exactly — an LP's tolerance can miss a
violation (the engine passes), it cannot invent one. What it can miss: a vector outside the
hull by less than ~1e-7 of the vertices' spread (a few bounds past a face); each variable
alone is still held to its bound by the box test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np

__all__ = ["Outside", "outside", "varying"]


@dataclass(frozen=True)
class Outside:
    """A proof that the gradient is outside: the hull point nearest it found (in units of
    the bound, the largest coordinate miss), and that miss per variable."""
    nearest: dict[str, float]
    miss: dict[str, float]          # |gradient - nearest| / bound, per variable


def varying(vertices: Sequence[Mapping[str, float]]) -> list[str]:
    """The variables whose value differs between vertices (the others are one number)."""
    if not vertices:
        return []
    first = vertices[0]
    return [v for v in first if any(p[v] != first[v] for p in vertices[1:])]


def outside(vertices: Sequence[Mapping[str, float]], grad: Mapping[str, float],
            bound: Mapping[str, float]) -> Outside | None:
    """None when ``grad`` is within ``bound`` of the hull in the varying coordinates (or no
    decision can be proven); else the proof. The caller has checked each coordinate alone
    (the box), which settles the coordinates that do not vary."""
    names = varying(vertices)
    if len(names) < 2:
        return None
    numbers = [grad[v] for v in names] + [bound[v] for v in names] + [p[v] for p in vertices for v in names]
    if not all(math.isfinite(x) for x in numbers) or any(bound[v] <= 0 for v in names):
        return None
    points = list({tuple(p[v] for v in names): None for p in vertices})
    g = [grad[v] for v in names]
    b = [bound[v] for v in names]
    nearest = _segment(points, g, b) if len(points) == 2 else _polytope(points, g, b)
    if nearest is None:
        return None
    return Outside({v: x for v, x in zip(names, nearest)},
                   {v: abs(x - gv) / bv for v, x, gv, bv in zip(names, nearest, g, b)})


def _segment(points, g, b) -> list[float] | None:
    """One kink: the points p0 + t·(p1 - p0), t in [0, 1]. Each coordinate allows an
    interval of t; the gradient is inside iff the intervals meet within [0, 1] (exact)."""
    p0, p1 = ([Fraction(x) for x in p] for p in points)
    lo, hi = Fraction(0), Fraction(1)
    for a, c, gj, bj in zip(p0, p1, map(Fraction, g), map(Fraction, b)):
        d = c - a
        if d == 0:
            if abs(a - gj) > bj:
                break
            continue
        t1, t2 = sorted(((gj - bj - a) / d, (gj + bj - a) / d))
        lo, hi = max(lo, t1), min(hi, t2)
    else:
        if lo <= hi:
            return None
    t = _closest_t([float(x) for x in p0], [float(x) for x in p1], g, b)
    return [a + t * (c - a) for a, c in zip(points[0], points[1])]


def _closest_t(p0, p1, g, b) -> float:
    """t in [0, 1] minimising max_j |p0_j + t·d_j - g_j| / b_j: the optimum of a maximum of
    V-shaped lines is at an end or where two of them cross (a weighted 1-centre)."""
    lines = [(abs(c - a) / bj, (gj - a) / (c - a)) for a, c, gj, bj in zip(p0, p1, g, b) if c != a]

    def worst(t: float) -> float:
        return max(k * abs(t - m) for k, m in lines)
    candidates = {0.0, 1.0}
    for i, (k1, m1) in enumerate(lines):
        for k2, m2 in lines[i + 1:]:
            candidates.add(min(1.0, max(0.0, (k1 * m1 + k2 * m2) / (k1 + k2))))
    return min(sorted(candidates), key=worst)


def _polytope(points, g, b) -> list[float] | None:
    """Several kinks. In units of the bound, u_i = (p_i - g)/b, the gradient is outside iff
    some direction w has max_i w·u_i + Σ|w_j| < 0. An LP finds the best w: each coordinate
    divided by its spread R_j (the units of the bound span twelve decades and more, which an
    LP solver's tolerances cannot take), min s with |Σ λ_i ũ_i|_j ≤ 1/R_j + s over the
    simplex; its dual is that w, scaled. The w is then checked in exact arithmetic."""
    # scipy is imported here, not at the top: only points at two or more kinks need an LP,
    # and importing scipy.optimize costs ~0.3 s that every other check would pay
    from scipy.optimize import linprog

    m, n = len(points), len(g)
    u = np.array([[(p[j] - g[j]) / b[j] for j in range(n)] for p in points])   # m × n
    spread = np.maximum(np.max(np.abs(u), axis=0), 1.0)
    scaled = u / spread
    a_ub = np.vstack([np.hstack([scaled.T, -np.ones((n, 1))]), np.hstack([-scaled.T, -np.ones((n, 1))])])
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=a_ub, b_ub=np.r_[1.0 / spread, 1.0 / spread],
                  A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0],
                  bounds=[(0, None)] * m + [(0, None)], method="highs")
    if res.status != 0 or res.x[-1] <= 0:
        return None
    marg = -np.asarray(res.ineqlin.marginals)
    w = (marg[:n] - marg[n:]) / spread
    if not any(_proves(sign * w, points, g, b) for sign in (1.0, -1.0)):
        return None
    lam = np.clip(res.x[:m], 0.0, None)
    lam = lam / lam.sum()
    return [float(sum(lam[i] * points[i][j] for i in range(m))) for j in range(n)]


def _proves(w, points, g, b) -> bool:
    """Every point within the bound of the hull q has Σ_j w_j (q_j - g_j)/b_j ≤
    max_i w·u_i + Σ|w_j|; if that is below 0, the gradient (where the sum is 0) is none of them."""
    if not all(math.isfinite(x) for x in w) or not any(w):
        return False
    wf = [Fraction(float(x)) for x in w]
    gf, bf = [Fraction(x) for x in g], [Fraction(x) for x in b]
    top = max(sum(wj * (Fraction(p[j]) - gf[j]) / bf[j] for j, wj in enumerate(wf)) for p in points)
    return top + sum(abs(wj) for wj in wf) < 0
