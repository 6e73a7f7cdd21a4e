"""Certified enclosures: the path-product sum in ball arithmetic (python-flint's arb).

Every node's value and every local partial is computed from the op table's rules on balls
[mid ± rad] that Arb proves hold the exact real results, and so are the adjoints summed
from them: the gradient ball holds the exact Σ_paths Π partials at the exact float point,
whatever the computation rounded. The working precision doubles until every ball is
narrow — ``RELATIVE`` of its value, or below ``NEGLIGIBLE`` — up to ``CAP`` bits; a ball
still wide there is no enclosure (``NoEnclosure``), and the case is undecided for that reason.

What this proves rests on the op table's rules being the derivatives of its forwards: the
symbolic oracle, evaluated on balls too (oracles.symengine_backend), is the check that
SymPy's derivative of the expression agrees with the ball.

At a tie (a kink the point is exactly on, or too close to call) the exact derivative does
not exist; ``hull`` encloses every gradient the one-sided partials give there (the vertices
the judge takes the convex hull of).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

from oracles.base import OracleError, OutsideDomain
from oracles.paths import LocalGraph, accumulate, local_graph
from verifier.floor.ir import Node
from verifier.floor.mathns import ball, midpoint, precise
from verifier.floor.ops import Op
from verifier.floor.vocabulary import BUILTIN

__all__ = ["Enclosure", "NoEnclosure", "enclose", "as_precise", "hull", "interval", "narrow", "START", "CAP"]

START, CAP = 192, 8192     # bits: 57 digits to begin with, 2466 at most
RELATIVE = 2.0 ** -110     # 33 digits: the midpoints then serve as the truth's high-precision values
MAX_TIES = 8               # 2**8 side choices at most (the judge's MAX_KINKS)
NEGLIGIBLE = "1e-330"      # below any float's reach (5e-324): a ball this small is a zero to every engine


class NoEnclosure(OracleError):
    """The balls could not be made narrow within ``CAP`` bits."""


@dataclass(frozen=True)
class Enclosure:
    graph: LocalGraph               # values and partials as balls, in the ball namespace ``graph.m``
    gradient: dict[str, Any]        # variable -> ball holding the exact derivative
    value: Any                      # ball holding the exact value
    ties: tuple[Node, ...] = ()     # kinked nodes whose switch ball holds 0: their partials are any side
    sides: tuple[dict, ...] = ()    # the gradient each choice of sides at the ties gives (``_sides``)

    @property
    def prec(self) -> int:
        return self.graph.m.prec


@functools.cache
def _negligible():
    from flint import arb
    return arb(NEGLIGIBLE)   # a ball: as a Python float 1e-330 is 0.0


def narrow(b) -> bool:
    """Finite, and narrow enough to stand for its exact value: ``RELATIVE`` of it, or below
    any float's reach."""
    if not b.is_finite():
        return False
    rad = b.rad()
    return rad <= _negligible() or rad <= abs(b.mid()) * RELATIVE


def enclose(out: Node, point: Mapping[str, float], ops: Mapping[str, Op] = BUILTIN, start: int = START,
            cap: int = CAP) -> Enclosure:
    """The gradient of ``out`` at ``point`` as balls, at the fewest bits (doubling from
    ``start``) that make every value, partial and derivative narrow. An OracleError where an
    op is outside its domain; ``NoEnclosure`` where ``cap`` bits do not suffice."""
    prec = start
    while True:
        m = ball(prec)
        with m.working():
            try:
                g = local_graph(out, point, ops=ops, m=m)
            except OutsideDomain as e:
                # log of a ball around a tiny positive value may not be certainly defined
                # until more bits narrow the ball
                if prec >= cap or all(a.is_exact() for a in e.args_given):
                    raise
                prec = min(2 * prec, cap)
                continue
            grad = accumulate(g)
            ties, known = _ties(g)
            # a tie's partial is a ball over both sides by right: what must be narrow there
            # is the gradient each side gives (the judge takes their hull)
            partials = [b for (n, _), b in g.partials.items() if n not in ties]
            sides = _sides(g, ties, grad)
            results = [b for p in sides for b in p.values()]
            decided = all(narrow(b) for b in (*g.values.values(), *partials, *results))
            # a ball around 0 that is not an exact 0 may be a value too small to tell from one
            # at these bits — (1 - 7.5e-18)^1e58 is e^(-7.5e40 ± 10), a ball around 0 at 192
            # bits: a float engine's 1 there is no fault of its own, and only the value tells
            # (local_graph makes x - x an exact 0): more bits, and at the cap it is a zero
            unsure = any(0 in b and not b.is_exact() for b in (*g.values.values(), *partials))
            if decided and ((known and not unsure) or prec >= cap):
                return Enclosure(g, grad, g.values[g.out], tuple(ties), tuple(sides))
        if prec >= cap:   # (ties unknown at the cap were accepted above)
            raise NoEnclosure(f"no enclosure narrow enough within {cap} bits")
        prec = min(2 * prec, cap)


def as_precise(e: Enclosure, dps: int = 50) -> LocalGraph:
    """The enclosure's midpoints as an mpmath local graph: what the bound's analysis
    (verifier.truth.bounds) computes on. At least ``dps`` digits and 20 more than the values
    span (x + y − x at x = 1e139 is y only with 139 digits more), at most as many as the balls
    carry: bits taken to tell a zero from a tiny value (up to 8192) are not needed there, and
    mpmath at 2466 digits made a tensor program's bound ten times slower."""
    g = e.graph
    m = precise(min(g.m.dps, max(dps, 20 + _span(g.values.values()))))
    values = {n: midpoint(b, m) for n, b in g.values.items()}
    partials = {k: midpoint(b, m) for k, b in g.partials.items() if k[0] not in e.ties}
    for n in e.ties:
        # a tie's partial ball spans its sides ([0, 1]): its midpoint is no side at all. The
        # rule on the midpoints takes one, as mpmath's truth did (step(0) = 0)
        op, args = g.ops[n.op], [values[s] for s in n.src]
        partials.update({(n, i): m.float(rule(m, *args, values[n])) for i, rule in enumerate(op.partials) if rule})
    return LocalGraph(g.order, values, partials, m, g.ops,
                      frozenset(n for n, b in g.values.items() if not b.is_exact()), balls=g)


def _span(balls) -> int:
    """Decimal orders of magnitude between the largest and smallest nonzero midpoints."""
    exps = [b.mid()._mpf_ for b in balls if not b.is_zero() and 0 not in b]
    exps = [exp + bc for _, _, exp, bc in exps]
    return int((max(exps) - min(exps)) * math.log10(2)) + 1 if exps else 0


def hull(e: Enclosure) -> dict[str, Any]:
    """Per variable, a ball holding the exact derivative — at ties, every gradient that a
    choice of one-sided partials gives (``truth.bounds.kink_vertices`` on the balls)."""
    with e.graph.m.working():
        return {v: _union([p[v] for p in e.sides]) for v in e.sides[0]}


def _ties(g: LocalGraph) -> tuple[list[Node], bool]:
    """Kinked nodes whose switch's ball holds 0, and whether each of them is known to be a
    tie: its switch exactly 0, or its arguments one node (maximum(a, a)). An unknown one may
    be a tie or a value too close to call at these bits (maximum(x, 1 + x) at x = 1e83 at 192
    bits): more bits tell, and only at the cap is it taken as a tie."""
    ties, known = [], True
    for n in g.order:
        kink = None if n.is_leaf else g.ops[n.op].kink
        if kink is None:
            continue
        switch = g.m.float(kink.switch(*(g.values[a] for a in n.src)))
        if 0 in switch:
            ties.append(n)
            known = known and (switch.is_zero() or len(set(n.src)) < len(n.src))
    return ties, known


def _sides(g: LocalGraph, ties: list[Node], gradient: dict[str, Any]) -> list[dict[str, Any]]:
    """The gradients to enclose: one per choice of sides at the ties; the gradient itself
    where there is none, or more than MAX_TIES (its tie partials are balls over both sides,
    so it holds every choice, loosely)."""
    return _vertices(g, ties) if 0 < len(ties) <= MAX_TIES else [gradient]


def _vertices(g: LocalGraph, kinks: list[Node]) -> list[dict[str, Any]]:
    out = []
    sides = [g.ops[n.op].kink.sides(*(g.values[a] for a in n.src)) for n in kinks]
    for mask in range(1 << len(kinks)):
        override = {}
        for j, n in enumerate(kinks):
            params = g.ops[n.op].params
            side = sides[j][mask >> j & 1]
            override.update({(n, i): g.m.float(d) for i, d in enumerate(side) if i not in params})
        out.append(accumulate(g, override))
    return out


def _union(balls: list) -> Any:
    out = balls[0]
    for b in balls[1:]:
        out = out.union(b)
    return out


def interval(b) -> tuple[float, float]:
    """A ball as two floats that hold it: each end rounded outward."""
    lo, hi = b.lower(), b.upper()
    f, g = float(lo), float(hi)
    if f > lo:
        f = math.nextafter(f, -math.inf)
    if g < hi:
        g = math.nextafter(g, math.inf)
    return f, g

