"""How far a correct engine's float result may be from the truth, at this point.

Two quantities, both from the high-precision local graph:

- the forward error radius ``r(n)`` of every node (first-order running error analysis:
  ``r(n) = Σ|∂n/∂src| r(src) + ρ·u·|n|``): it decides which kinks a float engine might see
  from either side, and bounds the forward value;
- the gradient's sensitivity to each rounding the engine makes in its forward pass
  (``sensitivity``): the derivative of the whole gradient with respect to a relative error
  injected at each inexact op result. This covers what a plain condition number misses:
  tan' at an argument that carries a rounding error of 1e-13, or the partial of a rule that
  reads a value rounded upstream.

``bound = C1·u·L·Σ_paths Π|∂| + C2·RHO·u·sensitivity + floor``: the first term covers the
rounding of each partial and of the chain rule's products and sums (a path of length ≤ L
rounds at most ~L times). The constants are generous on purpose: a float64 bound ~1e-13
relative still sits six orders of magnitude below float32-level error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from oracles.paths import Edge, LocalGraph, accumulate, local_graph
from .ir import Node
from .ops import get_op

__all__ = ["Precision", "PRECISIONS", "forward_radius", "near_kinks", "kink_interval", "rounding_sites",
           "worst_sides",
           "sensitivity"]

RHO = 4          # units of roundoff one op may cost (libm calls are within 1-2 ulp)
C1, C2 = 8, 2    # safety factors: on the path-length term, and for second-order effects
MAX_KINKS = 8    # 2**8 vertex combinations at most


@dataclass(frozen=True)
class Precision:
    name: str
    u: float        # unit roundoff
    tiny: float     # smallest normal
    max: float      # largest finite


PRECISIONS = {k: Precision(k, float(np.finfo(k).eps) / 2, float(np.finfo(k).tiny), float(np.finfo(k).max))
              for k in ("float64", "float32")}


def forward_radius(g: LocalGraph, u: float) -> dict[Node, Any]:
    r: dict[Node, Any] = {}
    m = g.m
    for n in g.order:
        if n.is_leaf:
            r[n] = m.float(0)  # points and constants are exactly representable
            continue
        acc = RHO * u * abs(g.values[n])
        for i, s in enumerate(n.src):
            d = g.partials.get((n, i))
            if d is not None and r[s]:
                acc += lipschitz(g, (n, i)) * r[s]
        r[n] = acc
    return r


def lipschitz(g: LocalGraph, edge: Edge) -> Any:
    """|local partial| — at a kinked op, the larger of its sides: a rounding error may carry
    the argument across the kink (relu of a value that float rounds to the other sign)."""
    n, i = edge
    d = abs(g.partials[edge])
    kink = get_op(n.op).kink
    return max(d, abs(kink.left[i]), abs(kink.right[i])) if kink else d


def worst_sides(g: LocalGraph, kinks: list[Node]) -> dict[Edge, Any]:
    """Kink edges set to their largest |side|: for scales that must hold on every side."""
    return {e: lipschitz(g, e) for e in g.partials if e[0] in kinks}


def near_kinks(g: LocalGraph, r: Mapping[Node, Any]) -> list[Node]:
    """Kinked nodes whose switch is zero, or within rounding reach of zero."""
    hits = []
    for n in g.order:
        if n.is_leaf:
            continue
        kink = get_op(n.op).kink
        if kink is None:
            continue
        s = kink.switch(*(g.values[a] for a in n.src))
        if abs(s) <= sum(r[a] for a in n.src):
            hits.append(n)
    return hits


def kink_interval(g: LocalGraph, kinks: list[Node]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lowest and highest gradient over every choice of one-sided partials at the kinks.

    The gradient is affine in each kink's local partial (a path crosses a node once), so
    over the box of convex combinations its extremes are at the vertices."""
    lo: dict[str, Any] = {}
    hi: dict[str, Any] = {}
    for mask in range(1 << len(kinks)):
        override: dict[Edge, Any] = {}
        for j, n in enumerate(kinks):
            kink = get_op(n.op).kink
            side = kink.right if mask >> j & 1 else kink.left
            for i, d in enumerate(side):
                override[(n, i)] = g.m.float(d)
        for v, x in accumulate(g, override).items():
            lo[v] = x if v not in lo else min(lo[v], x)
            hi[v] = x if v not in hi else max(hi[v], x)
    return lo, hi


# selections and sign flips: a float engine computes these without rounding
_EXACT_OPS = frozenset({"neg", "abs", "relu", "maximum", "minimum"})


def rounding_sites(g: LocalGraph, prec: Precision) -> list[Node]:
    """Where a float engine rounds: op results that are not exact, and fractional
    constants (they stand for rounding inside rules that use them, like pow's c - 1)."""
    cast = np.float32 if prec.name == "float32" else float

    def representable(x) -> bool:
        try:
            return bool(cast(x) == x)
        except (OverflowError, ValueError):
            return False

    sites = []
    for n in g.order:
        if n.op == "var" or n.op in _EXACT_OPS:
            continue
        if n.op == "const":
            if not float(n.arg).is_integer():
                sites.append(n)
        elif not (representable(g.values[n]) and all(representable(g.values[s]) for s in n.src)):
            sites.append(n)
    return sites


def sensitivity(out: Node, point: Mapping[str, float], g: LocalGraph, prec: Precision,
                kinks: list[Node]) -> dict[str, Any]:
    """Σ over rounding sites of |∂ gradient / ∂ (relative error injected at the site)|.

    Each site is bumped alone by a tiny ε at high precision and the whole gradient
    recomputed (values downstream and every partial that reads them): a deterministic
    first-order worst case, so errors cannot cancel by luck of random signs. The gradient
    error of a float engine is then at most about RHO·u times this, plus the rounding of
    partials and of the chain-rule products and sums (the path-length term)."""
    base = accumulate(g)
    kink_edges = {e: d for e, d in g.partials.items() if e[0] in kinks}
    eps = g.m.ctx.mpf(10) ** (-(g.dps // 2))
    total = {v: g.m.float(0) for v in base}
    for site in rounding_sites(g, prec):
        bumped = local_graph(out, point, dps=g.dps, bump={site: eps})
        bumped.partials.update(kink_edges)   # a kink's side is the interval's business
        for v, x in accumulate(bumped).items():
            total[v] += abs(x - base[v]) / eps
    return total
