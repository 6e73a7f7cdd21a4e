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

from oracles.paths import Edge, LocalGraph, accumulate, adjoints, rule_derivatives, tangents
from verifier.floor.ir import Node

__all__ = ["Precision", "PRECISIONS", "forward_radius", "near_kinks", "near_second_kinks", "near_cuts", "near_poles",
           "node_sides",
           "side_partials", "kink_interval", "kink_vertices", "vertex_box",
           "rounding_sites",
           "worst_sides", "nonlinear",
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

    @property
    def normal_min(self) -> float:
        """Below this a nonzero value is taken as subnormal: with 10 bits to spare, since an
        engine that flushes subnormals to zero, or holds them to fewer digits, has no float
        there (one policy for every mode: scalar, tensor, unselected branches)."""
        return self.tiny * 2 ** 10


PRECISIONS = {k: Precision(k, float(np.finfo(k).eps) / 2, float(np.finfo(k).tiny), float(np.finfo(k).max))
              for k in ("float64", "float32")}


def forward_radius(g: LocalGraph, u: float) -> dict[Node, Any]:
    r: dict[Node, Any] = {}
    m = g.m
    for n in g.order:
        if n.is_leaf:
            r[n] = m.float(0)  # points and constants are exactly representable
            continue
        acc = RHO * u * abs(g.values[n]) * (1 + _value_rounding(g, n))
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
    if g.ops[n.op].kink is None:
        return d
    left, right = node_sides(g, n)
    return max(d, abs(left[i]), abs(right[i]))


def node_sides(g: LocalGraph, n: Node) -> tuple[tuple, tuple]:
    """The one-sided partials (left, right) of kinked node ``n`` at its arguments' values."""
    return g.ops[n.op].kink.sides(*(g.values[a] for a in n.src))


def side_partials(g: LocalGraph, n: Node, side: tuple) -> dict[Edge, Any]:
    """One side of a kinked node as edge partials; a parameter's entry (clamp's bounds) is a
    coefficient of the piece, no edge."""
    params = g.ops[n.op].params
    return {(n, i): g.m.float(d) for i, d in enumerate(side) if i not in params}


def worst_sides(g: LocalGraph, kinks: list[Node]) -> dict[Edge, Any]:
    """Kink edges set to their largest |side|: for scales that must hold on every side."""
    return {e: lipschitz(g, e) for e in g.partials if e[0] in kinks}


def _near(g: LocalGraph, r: Mapping[Node, Any], where: str) -> list[Node]:
    """Nodes whose op's ``where`` quantity (kink, second_kink, cut) is zero, or within
    rounding reach of zero."""
    hits = []
    for n in g.order:
        if n.is_leaf:
            continue
        record = getattr(g.ops[n.op], where)
        switch = getattr(record, "switch", record)
        if switch is None:
            continue
        s = switch(*(g.values[a] for a in n.src))
        if abs(s) <= sum(r[a] for a in n.src):
            hits.append(n)
    return hits


def near_kinks(g: LocalGraph, r: Mapping[Node, Any]) -> list[Node]:
    """Kinked nodes whose switch is zero, or within rounding reach of zero."""
    return _near(g, r, "kink")


def near_second_kinks(g: LocalGraph, r: Mapping[Node, Any]) -> list[Node]:
    """Nodes at (or within rounding reach of) a point where their op's second derivative
    jumps (``Op.second_kink``: elu at 0)."""
    return _near(g, r, "second_kink")


def near_cuts(g: LocalGraph, r: Mapping[Node, Any]) -> list[Node]:
    """Nodes whose arguments rounding may carry across a cut, where the op's value jumps
    (``Op.cut``: atan2 on the negative x axis)."""
    return _near(g, r, "cut")


def near_poles(g: LocalGraph, r: Mapping[Node, Any]) -> list[Node]:
    """Nodes whose arguments rounding may carry onto a pole of their op (``Op.pole``: 1/x
    of a value whose radius reaches 0, gelu(-10) that the usual form rounds to 0): there a
    float engine's inf or nan is no fault of its own. How far the pole's quantity moves is
    measured by moving each argument by its radius (div's pole moves with y, not with x)."""
    hits = []
    for n in g.order:
        pole = None if n.is_leaf else g.ops[n.op].pole
        if pole is None or not any(r[a] for a in n.src):
            continue
        args = [g.values[a] for a in n.src]
        try:
            q = pole(*args)
            reach = 0
            for i, a in enumerate(n.src):
                if r[a]:
                    reach += max(abs(pole(*args[:i], args[i] + sign * r[a], *args[i + 1:]) - q)
                                 for sign in (1, -1))
        except (ValueError, OverflowError, ArithmeticError):
            # the pole's quantity cannot be had where rounding may carry the arguments (tan's
            # cos(x) of an x whose radius passes the float range): any value is in reach
            hits.append(n)
            continue
        if abs(q) <= reach:
            hits.append(n)
    return hits


def _value_rounding(g: LocalGraph, n: Node) -> Any:
    """``Op.value_rounding`` at this node: units of |value| a float engine may be off by
    beyond one rounding (0 for a leaf, or an op that rounds once)."""
    rounding = None if n.is_leaf else g.ops[n.op].value_rounding
    if rounding is None:
        return 0
    return rounding(g.m, *(g.values[s] for s in n.src), g.values[n])


def kink_vertices(g: LocalGraph, kinks: list[Node]) -> list[dict[str, Any]]:
    """The gradient for every choice of one-sided partials at the kinks, each choice once.

    The gradient is affine in each kink's local partial (a path crosses a node once), so
    over the box of convex combinations — every answer a correct engine may give — it stays
    in the convex hull of these vertices, and its extremes per variable are among them."""
    seen: dict[tuple, dict[str, Any]] = {}
    sides = [node_sides(g, n) for n in kinks]
    for mask in range(1 << len(kinks)):
        override: dict[Edge, Any] = {}
        for j, n in enumerate(kinks):
            override.update(side_partials(g, n, sides[j][mask >> j & 1]))
        vertex = accumulate(g, override)
        seen.setdefault(tuple(vertex.values()), vertex)
    return list(seen.values())


def kink_interval(g: LocalGraph, kinks: list[Node]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lowest and highest gradient over every choice of one-sided partials at the kinks."""
    return vertex_box(kink_vertices(g, kinks))


def vertex_box(vertices: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The lowest and highest value of each variable over the vertices."""
    lo = {v: min(p[v] for p in vertices) for v in vertices[0]}
    hi = {v: max(p[v] for p in vertices) for v in vertices[0]}
    return lo, hi


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
        if n.op == "var":
            continue
        if n.op == "const":
            if not float(n.arg).is_integer():
                sites.append(n)
            continue
        rounding = g.ops[n.op].rounding   # the op's record: never, correct or inexact
        if rounding == "never":
            continue
        if rounding == "inexact" or not (representable(g.values[n])
                                         and all(representable(g.values[s]) for s in n.src)):
            # a transcendental result is never taken as exact: at 72 digits expm1(-660) *is*
            # -1, a float, while the engine's value is off by 1e-287
            sites.append(n)
    return sites


def sensitivity(out: Node, point: Mapping[str, float], g: LocalGraph, prec: Precision,
                kinks: list[Node]) -> dict[str, Any]:
    """Σ over rounding sites m of |∂ gradient / ∂ε_m|, ε_m a relative error injected at m.

    A rounding error at m moves every value downstream of m, and so every local partial
    that reads one of them; the gradient moves by Σ_e (∂G/∂d_e)·δd_e, with ∂G_v/∂d_e =
    adjoint(consumer)·tangent(argument, v). Collected as seeds on the nodes the partials
    read and swept back to every m in one reverse pass per variable, this is the exact
    first-order sensitivity — deterministic, so errors cannot cancel by luck — in
    O(variables × edges). Two choices an engine makes are taken at their worst rather than
    summed (where summed, they can cancel): whether a partial is computed from the op's
    rounded output (1 - tanh²) or not, and — near a kink — which side it takes: kink edges
    carry their largest side, so a branch that rounding may select is measured too."""
    m = g.m
    sites = rounding_sites(g, prec)
    kinked = set(kinks)
    if kinked:
        g = LocalGraph(g.order, g.values, {**g.partials, **worst_sides(g, kinks)}, g.m, g.ops)
    adj = adjoints(g)
    H, A, Jp = rule_derivatives(g, None, kinked)
    names = [n.arg for n in g.order if n.op == "var"]
    zero = m.float(0)
    total = {}
    for v in names:
        tangent = tangents(g, v)
        seed: dict[Node, Any] = {}
        own: dict[Node, list] = {}
        inner = zero
        for n in g.order:
            a = adj.get(n)
            if n.is_leaf or not a or n in kinked:
                continue
            for (k, i), d in _edges(g, n):
                w = a * tangent[n.src[i]]          # ∂G_v / ∂ d_(n,i)
                if not w:
                    continue
                for j, h in H[n][i].items():
                    seed[n.src[j]] = seed.get(n.src[j], zero) + w * h
                table, textbook = A[n][i]
                o = own.setdefault(n, [zero, zero])
                o[0] += w * table
                o[1] += w * textbook
                inner += abs(w * d) * _inner_rounding(g, n, i)
        swept = dict(seed)
        for n in reversed(g.order):
            z = swept.get(n)
            if not z or n.is_leaf:
                continue
            for j, s in enumerate(n.src):
                d = g.partials.get((n, j), Jp.get((n, j)))
                if d is not None:
                    swept[s] = swept.get(s, zero) + z * d
        # a site whose value a float engine may get wrong by more than one rounding (an op's
        # value_rounding: gelu for x << 0, a fused op of the engine's own) moves it that much more
        total[v] = inner + m.ctx.fsum(abs(g.values[s]) * (1 + _value_rounding(g, s))
                                      * max(abs(swept.get(s, zero) + o) for o in own.get(s, [zero]))
                                      for s in sites)
    return total


NONLINEAR = 0.1   # a partial that moves by 10% within its arguments' rounding radius


def nonlinear(g: LocalGraph, r: Mapping[Node, Any], kinks: list[Node]) -> bool:
    """Whether rounding can move some local partial by more than NONLINEAR of itself: then
    the first-order bound describes nothing (float32's exp(14.83) carries an error of 0.125,
    and cos of it is anyone's guess), and a check that fails it is undecided."""
    H, _, _ = rule_derivatives(g, None, set(kinks))
    tiny = g.m.ctx.mpf(10) ** -300
    for n, per in H.items():
        for i, row in per.items():
            spread = sum(abs(h) * r[n.src[j]] for j, h in row.items())
            if spread > NONLINEAR * abs(g.partials[(n, i)]) + tiny:
                return True
    return False


def _inner_rounding(g: LocalGraph, n: Node, i: int) -> Any:
    """Relative error, in units of roundoff, that a rule makes inside itself beyond what its
    inputs carry (``Op.rule_rounding``: pow's rule for its base, erf' = e^(-x²), a partial
    that is a sum of terms near its zero)."""
    rounding = g.ops[n.op].rule_rounding
    if rounding is None or rounding[i] is None:
        return 0
    return rounding[i](g.m, *(g.values[s] for s in n.src))


def _edges(g: LocalGraph, n: Node):
    return (((n, i), g.partials[(n, i)]) for i in range(len(n.src)) if (n, i) in g.partials)
