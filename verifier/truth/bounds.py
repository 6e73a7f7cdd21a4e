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

import math
from contextlib import nullcontext
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, Mapping

import numpy as np

from oracles.paths import (Edge, LocalGraph, accumulate, adjoints, as_numbers, largest_products, rule_derivatives,
                           tangents)
from verifier.floor.ir import Node
from verifier.floor.mathns import midpoint, precise

__all__ = ["Precision", "PRECISIONS", "to_float", "subnormal", "ranges", "forward_radius", "near_kinks",
           "near_second_kinks", "near_cuts", "near_poles",
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


def to_float(x) -> float:
    try:
        return float(x)
    except (OverflowError, ValueError):
        return math.inf if x > 0 else -math.inf


def subnormal(x, prec) -> bool:
    """Nonzero and below the normal range (``Precision.normal_min``)."""
    return x != 0 and abs(x) < prec.normal_min


def ranges(g: LocalGraph, prec: Precision) -> tuple[str, str] | None:
    """Why a float engine cannot hold this computation — (reason, cause) — or None if it can.

    Values, partials, adjoints: a float engine must hold each of them (an adjoint of 1e-409
    on the way to a gradient of 1e-296 flushes to 0 in reverse mode). Each leaf's adjoint —
    a variable's gradient; a constant's, which goes nowhere — may be below the normal range:
    there it is a zero to every engine, which the bound's floor allows. (Not the output's
    value: (tanh(u)^x) at u = 20.09, x = 1e58 is e^(-7.5e40), but tanh(u) rounds to 1 and the
    float value is 1 — an error no first-order radius sees.) And the chain rule's partial
    products, in the order path and forward engines form them."""
    adj = adjoints(g)
    results = {id(a) for n, a in adj.items() if n.is_leaf}
    for x in chain(g.values.values(), g.partials.values(), adj.values()):
        size = abs(to_float(x))   # as a float: the thresholds are far from where rounding matters
        if size > prec.max / 4:
            return f"an intermediate quantity leaves the normal {prec.name} range", "out-of-range"
        if size < prec.normal_min and (size != 0 or x != 0) and id(x) not in results:
            return f"an intermediate quantity is subnormal in {prec.name}", "subnormal"
    if max(largest_products(g)) > prec.max / 4:
        return f"a chain-rule product overflows {prec.name}", "out-of-range"
    return None


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
        if not abs(s) > sum(r[a] for a in n.src):   # (on balls: unless surely out of reach)
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
            if q == math.inf:   # no pole where the op is (pow's c·x^(c-1) for c ≥ 1)
                continue
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
        if not abs(q) > reach:   # (on balls: unless surely out of reach)
            hits.append(n)
    return hits


def _value_rounding(g: LocalGraph, n: Node) -> Any:
    """``Op.value_rounding`` at this node: units of |value| a float engine may be off by
    beyond one rounding (0 for a leaf, or an op that rounds once)."""
    rounding = None if n.is_leaf else g.ops[n.op].value_rounding
    if rounding is None:
        return 0
    return _units(g, lambda m, values: rounding(m, *(values[s] for s in n.src), values[n]))


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
        if rounding == "inexact" or n in g.inexact or not (representable(g.values[n])
                                                           and all(representable(g.values[s]) for s in n.src)):
            # a transcendental result is never taken as exact: at 72 digits expm1(-660) *is*
            # -1, a float, while the engine's value is off by 1e-287
            sites.append(n)
    return sites


def sensitivity(out: Node, point: Mapping[str, float], g: LocalGraph, prec: Precision,
                kinks: list[Node], rules=None) -> dict[str, Any]:
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
        g = replace(g, partials={**g.partials, **worst_sides(g, kinks)})
    adj = adjoints(g)
    rules = rules or rule_derivatives(g, None, kinked)
    names = [n.arg for n in g.order if n.op == "var"]
    fast = _vector_sensitivity(g, adj, rules, sites, kinked, names)
    if fast is not None:
        return {v: m.float(x) for v, x in zip(names, fast)}
    H, A, Jp = as_numbers(rules, m)
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


# The same sum in float64, every variable at once (numpy vectors over the variables): one
# pass over the graph where the loop above makes one per variable, which made the bound the
# costliest part of a tensor program's reference. It must stay an upper bound of the exact
# sum: each signed quantity is computed with its twin of absolute values (the same sums of
# |terms|), and |exact − float| ≤ γ·twin for γ = depth·u (the classic bound for sums of
# products), so |x| + γ·twin is used wherever the loop takes |x|. Inputs and every absolute
# twin must stay within 10^±150 (nonzero), and every product is of two such numbers: none
# can underflow or overflow. Where one would, or where the allowance is more than a
# thousandth of the sum (cancellation took the float's digits: the exact sum is far
# smaller), the exact loop above answers instead.
_RANGE = (1e-150, 1e150)
_SLACK = 1e-3


def _vector_sensitivity(g: LocalGraph, adj, rules, sites, kinked, names) -> Any:
    H, A, Jp = rules
    lo, hi = _RANGE
    V = len(names)

    def num(x) -> float | None:
        if x == 0 or (hasattr(x, "mid") and 0 in x):   # a ball around 0 is a zero (as_numbers)
            return 0.0
        f = float(x)      # 1e-400 is 0.0 here: out of the window, not a zero
        return f if lo <= abs(f) <= hi else None

    def fits(a: np.ndarray) -> bool:
        a = np.abs(a)
        return bool(np.all((a == 0) | ((a >= lo) & (a <= hi))))
    try:
        p = {e: num(d) for e, d in g.partials.items()}
        p.update({e: num(d) for e, d in Jp.items() if e not in p})
        a_ = {n: num(x) for n, x in adj.items()}
        h = {n: {i: {j: num(x) for j, x in row.items()} for i, row in per.items()} for n, per in H.items()}
        own_rules = {n: {i: (num(t), num(b)) for i, (t, b) in per.items()} for n, per in A.items()}
        site = [(s, num(abs(g.values[s]) * (1 + _value_rounding(g, s)))) for s in sites]
        inner_r = {(n, i): num(_inner_rounding(g, n, i)) for n in h for i in h[n]}
    except (OverflowError, ValueError, TypeError):
        return None
    found = [*p.values(), *a_.values(), *(x for per in h.values() for row in per.values() for x in row.values()),
             *(x for per in own_rules.values() for pair in per.values() for x in pair), *(c for _, c in site),
             *inner_r.values()]
    if any(x is None for x in found):
        return None
    gamma = 4 * (len(g.order) + 4) * float(np.finfo(np.float64).eps)
    zero = np.zeros(V)
    T: dict[Node, np.ndarray] = {}
    Ta: dict[Node, np.ndarray] = {}
    index = {v: k for k, v in enumerate(names)}
    for n in g.order:
        if n.is_leaf:
            t = zero.copy()
            if n.op == "var":
                t[index[n.arg]] = 1.0
            T[n], Ta[n] = t, t
            continue
        edges = [(p[(n, i)], s) for i, s in enumerate(n.src) if (n, i) in p]
        T[n] = sum((d * T[s] for d, s in edges), zero)
        Ta[n] = sum((abs(d) * Ta[s] for d, s in edges), zero)
        if not fits(Ta[n]):
            return None
    seed: dict[Node, list] = {}
    own: dict[Node, list] = {}
    inner = zero.copy()
    for n in g.order:
        a = a_.get(n)
        if n.is_leaf or not a or n in kinked:
            continue
        for i, s in enumerate(n.src):
            if (n, i) not in g.partials:
                continue
            w, wa = a * T[s], abs(a) * Ta[s]
            if not fits(wa):
                return None
            for j, x in h[n][i].items():
                acc = seed.setdefault(n.src[j], [zero, zero])
                acc[0], acc[1] = acc[0] + w * x, acc[1] + wa * abs(x)
            table, textbook = own_rules[n][i]
            o = own.setdefault(n, [zero, zero, zero])
            o[0], o[1], o[2] = o[0] + w * table, o[1] + w * textbook, o[2] + wa * max(abs(table), abs(textbook))
            wd = wa * abs(p[(n, i)])
            if not fits(wd):
                return None
            inner = inner + (np.abs(w) * abs(p[(n, i)]) + gamma * wd) * inner_r[(n, i)]
    if not all(fits(o[2]) for o in own.values()):
        return None
    swept = {n: list(v) for n, v in seed.items()}
    for n in reversed(g.order):
        z = swept.get(n)
        if z is None or n.is_leaf:
            continue
        if not fits(z[1]):
            return None
        for j, s in enumerate(n.src):
            d = p.get((n, j))
            if d is not None:
                acc = swept.setdefault(s, [zero, zero])
                acc[0], acc[1] = acc[0] + z[0] * d, acc[1] + z[1] * abs(d)
    total, plain = inner, inner
    for s, c in site:
        z, za = swept.get(s, [zero, zero])
        if not fits(za):
            return None
        o = own.get(s)
        outs = [(o[0], o[2]), (o[1], o[2])] if o else [(zero, zero)]
        total = total + c * np.max([np.abs(z + x) + gamma * (za + xa) for x, xa in outs], axis=0)
        plain = plain + c * np.max([np.abs(z + x) for x, _ in outs], axis=0)
    total = total * (1 + gamma)
    if not bool(np.all(np.isfinite(total))) or bool(np.any(total > (1 + _SLACK) * plain)):
        return None
    return total


NONLINEAR = 0.1   # a partial that moves by 10% within its arguments' rounding radius


def nonlinear(g: LocalGraph, r: Mapping[Node, Any], kinks: list[Node], rules=None) -> bool:
    """Whether rounding can move some local partial by more than NONLINEAR of itself: then
    the first-order bound describes nothing (float32's exp(14.83) carries an error of 0.125,
    and cos of it is anyone's guess), and a check that fails it is undecided."""
    H, _, _ = rules or rule_derivatives(g, None, set(kinks))
    tiny = g.m.ctx.mpf(10) ** -300
    for n, per in H.items():
        for i, row in per.items():
            spread = sum(abs(h) * r[n.src[j]] for j, h in row.items())
            if spread > NONLINEAR * abs(g.partials[(n, i)]) + tiny:
                return True
    return _far_reach(g, r, set(kinks))


FAR = 1e-3   # an argument radius past which a partial is evaluated where rounding may take it


def _far_reach(g: LocalGraph, r: Mapping[Node, Any], kinked: set[Node]) -> bool:
    """Whether a partial moves by more than NONLINEAR of itself at the ends of an argument's
    radius, for radii past FAR. The derivative test above is first order, and blind where the
    partial's own derivative vanishes: sin(atan2(y, 0)·y) at y = -5.7e161 has its argument at
    an exact multiple of 2π, where cos is 1 and flat, while one rounding of π/2 moves it by
    1e146 — any cos at all. The radius there is 2⁻⁵¹ of the argument, which keeps it a
    multiple of 2π (and so would any float fraction of it): the partial is also looked at
    1/π of the way.
    Evaluated on the balls the graph came from where it has them."""
    b = g.balls if g.balls is not None else g
    with (b.m.working() if b is not g else nullcontext()):
        for n in g.order:
            if n.is_leaf or n in kinked:
                continue
            params = g.ops[n.op].params
            for j, s in enumerate(n.src):
                if j not in params and r[s] > FAR and any(
                        _moves(b, n, j, step * b.m.float(r[s])) for step in (1, -1, 1 / b.m.pi, -1 / b.m.pi)):
                    return True
    return False


def _moves(g: LocalGraph, n: Node, j: int, shift: Any) -> bool:
    """Whether a partial of ``n`` moves by more than NONLINEAR of itself when its argument
    ``j`` moves by ``shift`` (or leaves the op's domain, where it has none)."""
    op, m = g.ops[n.op], g.m
    args = [g.values[s] for s in n.src]
    args[j] = args[j] + shift
    try:
        if not op.domain(*args):
            return True
        ans = op.forward(m, *args)
        return any(not abs(m.float(rule(m, *args, ans)) - g.partials[(n, i)]) <= NONLINEAR * abs(g.partials[(n, i)])
                   for i, rule in enumerate(op.partials) if rule is not None)
    except (ValueError, ZeroDivisionError, OverflowError, ArithmeticError):
        return True


def _inner_rounding(g: LocalGraph, n: Node, i: int) -> Any:
    """Relative error, in units of roundoff, that a rule makes inside itself beyond what its
    inputs carry (``Op.rule_rounding``: pow's rule for its base, erf' = e^(-x²), a partial
    that is a sum of terms near its zero)."""
    rounding = g.ops[n.op].rule_rounding
    if rounding is None or rounding[i] is None:
        return 0
    return _units(g, lambda m, values: rounding[i](m, *(values[s] for s in n.src)))


def _units(g: LocalGraph, f) -> Any:
    """``f(m, values)``, a number of units a rounding model gives, as a number of ``g.m``:
    on balls where the graph is or has them (mpmath's exp of a large argument at high
    precision is slow, and these estimates need few digits). A model written for numbers
    may give no finite ball (``x / d if d else 0`` where d's ball holds 0): then it is
    evaluated in mpmath at 30 digits, on the balls' midpoints (at the graph's own digits, up to
    2466 of them, mpmath's exp of a large argument took seconds)."""
    balls = g.balls if g.balls is not None else g if getattr(g.m, "rigorous", False) else None
    if balls is None:
        return f(g.m, g.values)
    with balls.m.working():
        x = balls.m.float(f(balls.m, balls.values))
    if x.is_finite():
        return x if balls is g else midpoint(x, g.m)
    mp = precise(30)
    return g.m.float(f(mp, {n: midpoint(v, mp) for n, v in balls.values.items()}))


def _edges(g: LocalGraph, n: Node):
    return (((n, i), g.partials[(n, i)]) for i in range(len(n.src)) if (n, i) in g.partials)
