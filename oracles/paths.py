"""The seed's chain rule at high precision: Σ over output→input paths of Π local partials.

The local graph (every node's value and every edge's local partial, from the op table's
rules at 50 digits) is built once; the gradient is then either the explicit sum over paths
(the seed's picture, kept for reports) or, when there are more paths than ``PATH_CAP``, the
same sum factored by dynamic programming — never a hang.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import mpmath

from oracles.base import Estimate, OracleError, OutsideDomain
from oracles.dual import Dual, DualMath, derivative
from verifier.floor.ir import Node, toposort
from verifier.floor.mathns import midpoint, precise
from verifier.floor.ops import Op
from verifier.floor.vocabulary import BUILTIN

__all__ = ["LocalGraph", "local_graph", "stable_graph", "accumulate", "adjoints",
           "largest_products", "count_paths",
           "enumerate_paths", "gradient", "PATH_CAP",
           "tangents", "rule_derivatives", "as_numbers", "hessian", "hessian_terms"]

PATH_CAP = 20_000
DPS_LEVELS = (50, 120, 400)
TRUST = 1e-30                      # relative agreement asked of two precision levels
Edge = tuple[Node, int]            # (consumer, argument index)


@dataclass(frozen=True)
class LocalGraph:
    order: list[Node]              # arguments before consumers; order[-1] is the output
    values: dict[Node, Any]
    partials: dict[Edge, Any]      # d consumer / d consumer.src[i]; parameters are absent
    m: Any
    ops: Mapping[str, Op] = BUILTIN   # the vocabulary its rules came from
    # nodes whose value is known not to be exactly its number here (a ball's midpoint:
    # 1 + 1e-96 at 192 bits is held as 1, a float, yet no float engine has it exactly)
    inexact: frozenset = frozenset()
    # the same graph on balls, when it was made from them (oracles.enclosure.as_precise):
    # what ``rule_derivatives`` computes on, far cheaper than mpmath
    balls: Any = field(default=None, compare=False, repr=False)

    @property
    def dps(self) -> int:
        return self.m.dps

    @property
    def out(self) -> Node:
        return self.order[-1]


_HUGE = 10 ** 1000   # far past float64's 1.8e308, and past the 700-decade spans we compute at


def local_graph(out: Node, point: Mapping[str, float], dps: int = 50,
                bump: Mapping[Node, Any] | None = None, ops: Mapping[str, Op] = BUILTIN, m: Any = None) -> LocalGraph:
    """Values and local partials. ``bump`` multiplies chosen nodes' values by (1 + ε) as
    they are computed — a rounding error injected there — which is how verifier.truth.bounds
    measures the gradient's sensitivity to each rounding. ``m``: the namespace, when not
    mpmath at ``dps`` digits (the ball namespace of oracles.enclosure)."""
    m = m or precise(dps)
    values: dict[Node, Any] = {}
    partials: dict[Edge, Any] = {}
    order = toposort(out)
    for n in order:
        if n.op == "var":
            values[n] = m.float(point[n.arg])
        elif n.op == "const":
            values[n] = m.float(n.arg)
        else:
            op = ops[n.op]
            args = [values[s] for s in n.src]
            if not op.domain(*args):
                raise OutsideDomain(n.op, tuple(args))
            values[n] = op.forward(m, *args)
            if getattr(m, "rigorous", False):
                values[n] = _centered(m, op, n, args, values[n])
            if not isinstance(values[n], float) and abs(values[n]) > _HUGE:   # (a float is bounded)
                # no float engine holds this (the range checks would refuse it anyway), and
                # mpmath would go on: cos of e^(1e300) wants π to 1e300 digits, forever
                raise OracleError(f"{n.op} reaches {m.ctx.nstr(values[n], 3)}: beyond any float range")
        exact = values[n]
        if bump and n in bump:
            values[n] *= 1 + bump[n]
        if not n.is_leaf:
            op, args, ans = ops[n.op], [values[s] for s in n.src], values[n]
            for i, rule in enumerate(op.partials):
                if rule is not None:
                    partials[(n, i)] = m.float(rule(m, *args, ans))
            if bump and n in bump and op.ans_partials:
                # an engine that computes this partial from its rounded output (1 - tanh²)
                # moves it by this much more: the difference is taken at full precision
                for i, rule in enumerate(op.ans_partials):
                    if rule is not None:
                        partials[(n, i)] += m.float(rule(m, *args, ans)) - m.float(rule(m, *args, exact))
    return LocalGraph(order, values, partials, m, ops)


def _centered(m, op: Op, n: Node, args: list, ball: Any) -> Any:
    """A node whose differentiable arguments are one node (x - x, x / x, maximum(x, x)) on
    balls: Arb takes the two balls as independent, and x - x of a ball is a ball around 0,
    not 0. The mean value form knows they are one: f(x, x) lies in f(c, c) + g'·(x − c), c the
    centre, g' the sum of the partials over the ball — exactly 0 for x - x, 1 for x / x."""
    own = [i for i in range(len(n.src)) if i not in op.params]
    if len(own) < 2 or len({n.src[i] for i in own}) > 1:
        return ball
    x = args[own[0]]
    centre = m.float(x.mid())
    at = [centre if i in own else a for i, a in enumerate(args)]
    slope = sum((m.float(op.partials[i](m, *args, ball)) for i in own), m.float(0))
    return ball.intersection(m.float(op.forward(m, *at)) + slope * (x - centre))


# below any float's reach (the smallest subnormal is 5e-324): two values this small agree
# for every engine, whatever digits they hold. A high-precision number: 1e-330 as a Python
# float is 0.0, and the test would never pass
_NEGLIGIBLE = mpmath.mpf("1e-330")


def stable_graph(out: Node, point: Mapping[str, float], ops: Mapping[str, Op] = BUILTIN) -> LocalGraph:
    """The local graph at the fewest digits for which value and gradient stop moving.

    Fifty digits are not always enough: sin(sqrt(z)**2) at z = 1e256 needs ~300, because a
    50-digit rounding of sqrt(z)**2 moves sin's argument by 1e206. Each level is checked
    against one with 20 more digits."""
    # Exact floats span 600 decades; x + y - x at x = 1e139, y = 0.4 needs 140 digits more
    # than the 50 we want left, and two levels that are both too short agree on the same wrong
    # answer. So the first level covers the dynamic range of the values themselves.
    rough = local_graph(out, point, DPS_LEVELS[0], ops=ops)
    mags = [abs(x) for x in rough.values.values() if x]
    span = int(rough.m.ctx.log10(max(mags) / min(mags))) if mags else 0
    for dps in sorted({max(level, DPS_LEVELS[0] + min(span, 700)) for level in DPS_LEVELS}):
        g, h = local_graph(out, point, dps, ops=ops), local_graph(out, point, dps + 20, ops=ops)
        a, b = accumulate(g), accumulate(h)
        pairs = [(g.values[g.out], h.values[h.out])] + [(a[v], b[v]) for v in a]
        if all(abs(x - y) <= TRUST * max(abs(x), abs(y)) or (abs(x) < _NEGLIGIBLE and abs(y) < _NEGLIGIBLE)
               for x, y in pairs):
            return h
    raise OracleError(f"no stable value at {dps + 20} digits")


def accumulate(g: LocalGraph, override: Mapping[Edge, Any] | None = None, absolute: bool = False
               ) -> dict[str, Any]:
    """Σ_paths Π partials for every variable, by reverse accumulation over the DAG.

    ``override`` replaces chosen edge partials (the kink analysis); ``absolute`` sums
    Π|partial| instead (the scale a float computation of the sum is rounded against).
    """
    adj = adjoints(g, override, absolute)
    return {n.arg: adj.get(n, g.m.float(0)) for n in g.order if n.op == "var"}


def adjoints(g: LocalGraph, override: Mapping[Edge, Any] | None = None, absolute: bool = False
             ) -> dict[Node, Any]:
    """d output / d node for every node the output depends on (reverse accumulation)."""
    m = g.m
    adj: dict[Node, Any] = {g.out: m.float(1)}
    for n in reversed(g.order):
        a = adj.get(n)
        if a is None or n.is_leaf:
            continue
        for i, s in enumerate(n.src):
            d = override.get((n, i), g.partials.get((n, i))) if override else g.partials.get((n, i))
            if d is None:
                continue
            term = a * (abs(d) if absolute else d)
            adj[s] = adj[s] + term if s in adj else term
    return adj


def largest_products(g: LocalGraph) -> list[Any]:
    """The largest |product of partials| along any part of a path that starts at the output
    (the seed's walk, reverse mode) or at a variable (forward mode): an engine multiplies
    these even when the summed gradient is modest, and an overflow there is not its fault."""
    down: dict[Node, Any] = {g.out: g.m.float(1)}
    for n in reversed(g.order):
        for i, s in enumerate(n.src):
            d = g.partials.get((n, i))
            if d is not None and n in down:
                down[s] = max(down.get(s, 0), down[n] * abs(d))
    up: dict[Node, Any] = {}
    for n in g.order:
        if n.op == "var":
            up[n] = g.m.float(1)
        for i, s in enumerate(n.src):
            d = g.partials.get((n, i))
            if d is not None and s in up:
                up[n] = max(up.get(n, 0), up[s] * abs(d))
    return list(down.values()) + list(up.values())


def count_paths(out: Node) -> dict[str, int]:
    """Paths from the output to each variable, counted without walking them."""
    order = toposort(out)
    count: dict[Node, int] = {out: 1}
    for n in reversed(order):
        c = count.get(n, 0)
        for s in n.src:
            count[s] = count.get(s, 0) + c
    return {n.arg: count.get(n, 0) for n in order if n.op == "var"}


def enumerate_paths(g: LocalGraph, variable: str, cap: int = PATH_CAP) -> list[tuple[list[Edge], Any]]:
    """Every path from the output to ``variable`` with its product: the seed's picture."""
    if count_paths(g.out).get(variable, 0) > cap:
        raise OracleError(f"more than {cap} paths to {variable}")
    found: list[tuple[list[Edge], Any]] = []
    stack: list[tuple[Node, list[Edge], Any]] = [(g.out, [], g.m.float(1))]
    while stack:
        n, path, prod = stack.pop()
        if n.op == "var" and n.arg == variable:
            found.append((path, prod))
            continue
        for i, s in enumerate(n.src):
            d = g.partials.get((n, i))
            if d is not None:
                stack.append((s, path + [(n, i)], prod * d))
    return found


def gradient(out: Node, point: Mapping[str, float], ops: Mapping[str, Op] = BUILTIN) -> Estimate:
    g = stable_graph(out, point, ops)
    counts = count_paths(out)
    if max(counts.values(), default=0) <= PATH_CAP:
        grads = {}
        for v in counts:
            total = g.m.float(0)
            for _, prod in enumerate_paths(g, v):
                total += prod
            grads[v] = total
        note = f"{sum(counts.values())} paths enumerated"
    else:
        grads = accumulate(g)
        note = f"{sum(counts.values())} paths > cap {PATH_CAP}: summed by dynamic programming"
    return Estimate("paths", grads, value=g.values[out], note=note)


def tangents(g: LocalGraph, v: str) -> dict[Node, Any]:
    """d node / d v for every node (forward accumulation)."""
    m = g.m
    zero = m.float(0)
    t: dict[Node, Any] = {}
    for n in g.order:
        if n.is_leaf:
            t[n] = m.float(1) if n.op == "var" and n.arg == v else zero
        else:
            t[n] = m.ctx.fsum(g.partials[(n, i)] * t[s] for i, s in enumerate(n.src) if (n, i) in g.partials)
    return t


def rule_derivatives(g: LocalGraph, eta, kinked: set[Node], absolute: bool = False, balls: bool = False):
    """Exactly (dual numbers at the graph's precision), for every op node n:
    H[n][i][j] = d partial_i / d arg_j (total: the rule's ans moves with the argument),
    A[n][i] = d partial_i / d ans, for the table's form and for the textbook ans-form,
    Jp[(n, j)] = d value / d arg_j for parameter arguments (pow's exponent).
    (``eta`` is unused: kept so callers need not change.) With ``absolute``, each derivative
    is the sum of the sizes of its terms as the rule's own arithmetic forms them (AbsDual):
    what an engine that differentiates the rule rounds against.

    Computed on the balls the graph came from, when it has them, and given as numbers of
    ``g.m`` — or, with ``balls``, as the balls themselves (``as_numbers`` turns them into
    numbers later, for a caller that may not need to). A derivative whose ball is not
    finite (an op's own inf) is had from mpmath after all."""
    if g.balls is not None:
        with g.balls.m.working():
            rules = _rule_derivatives(g.balls, kinked, absolute)
        if all(b.is_finite() for b in _each(rules)):
            return rules if balls else as_numbers(rules, g.m)
    return _rule_derivatives(g, kinked, absolute)


def _each(rules):
    H, A, Jp = rules
    yield from (h for per in H.values() for row in per.values() for h in row.values())
    yield from (x for per in A.values() for pair in per.values() for x in pair)
    yield from Jp.values()


def as_numbers(rules, m):
    """``rule_derivatives``' balls as numbers of the mpmath namespace ``m`` (numbers stay)."""
    def mid(b):
        return midpoint(b, m) if hasattr(b, "mid") else b
    H, A, Jp = rules
    return ({n: {i: {j: mid(h) for j, h in row.items()} for i, row in per.items()} for n, per in H.items()},
            {n: {i: (mid(a), mid(b)) for i, (a, b) in per.items()} for n, per in A.items()},
            {e: mid(d) for e, d in Jp.items()})


def _rule_derivatives(g: LocalGraph, kinked: set[Node], absolute: bool):
    m = g.m
    dm = DualMath(m, absolute)
    H: dict[Node, dict[int, dict[int, Any]]] = {}
    A: dict[Node, dict[int, Any]] = {}
    Jp: dict[Edge, Any] = {}
    for n in g.order:
        if n.is_leaf or n in kinked:
            continue
        op = g.ops[n.op]
        args = [g.values[s] for s in n.src]
        ans = g.values[n]
        rules = [(i, r) for i, r in enumerate(op.partials) if r is not None]
        H[n] = {i: {} for i, _ in rules}
        for j in range(len(args)):
            if j in op.params and float(args[j]).is_integer():
                # an integer exponent is exact: no rounding moves it (and x**c at x < 0
                # has no derivative in c)
                Jp[(n, j)] = m.float(0)
                for i, _ in rules:
                    H[n][i][j] = m.float(0)
                continue
            duals = [Dual(a, 1 if k == j else 0) for k, a in enumerate(args)]
            ans_d = op.forward(dm, *duals)
            if j in op.params:
                Jp[(n, j)] = m.float(derivative(ans_d))
            for i, rule in rules:
                H[n][i][j] = m.float(derivative(rule(dm, *duals, ans_d)))
        A[n] = {}
        plain = [Dual(a, 0) for a in args]
        for i, rule in rules:
            table = m.float(derivative(rule(dm, *plain, Dual(ans, 1))))
            textbook = table
            if op.ans_partials and op.ans_partials[i] is not None:
                textbook = m.float(derivative(op.ans_partials[i](dm, *plain, Dual(ans, 1))))
            A[n][i] = (table, textbook)   # an engine computes the partial one way or the other
    return H, A, Jp


def hessian_terms(g: LocalGraph, absolute: bool = False, override: Mapping[Edge, Any] | None = None,
                  rules: Mapping[Node, Any] | None = None):
    """The terms of ``hessian``, one by one: (v, w, n, i, j, adjoint, d src_i/dv, d partial_(n,i)/d arg_j,
    d arg_j/dw), every factor in absolute value with ``absolute``. What an engine multiplies on
    the way to a second derivative, for a caller that checks each factor's range."""
    H = rules if rules is not None else rule_derivatives(g, None, set())[0]
    partials = {**g.partials, **override} if override else g.partials
    # the scale takes no cancellation: adjoints and tangents as Σ_paths Π|partial| too (d/dz of
    # z/|z| is 2500 - 2500 exactly; an engine sees the rounding of that difference)
    if absolute:
        partials = {e: abs(d) for e, d in partials.items()}
    flow = replace(g, partials=partials) if absolute or override else g
    adj = adjoints(flow)
    names = [n.arg for n in g.order if n.op == "var"]
    tan = {v: tangents(flow, v) for v in names}
    for v in names:
        for w in names:
            for n in g.order:
                a = adj.get(n)
                if n.is_leaf or not a:
                    continue
                for i in H[n]:
                    dv = tan[v][n.src[i]]
                    if not dv:
                        continue
                    for j, h in H[n][i].items():
                        dw = tan[w][n.src[j]]          # 0 for a constant (pow's exponent)
                        if dw:
                            yield v, w, n, i, j, a, dv, abs(h) if absolute else h, dw


def hessian(g: LocalGraph, absolute: bool = False, override: Mapping[Edge, Any] | None = None,
            rules: Mapping[Node, Any] | None = None) -> dict[tuple[str, str], Any]:
    """Second derivatives from the op table: the chain rule applied to the chain rule.

    d²out/dv dw = Σ over edges e = (n, i) and arguments j of n: adjoint(n) · d src_i/dv ·
    d partial_(n,i) / d arg_j · d arg_j/dw (plus the adjoint's own dependence on w, which is
    the same sum seen from the other side: the expression is symmetric in v and w). With
    ``absolute``, every term in absolute value: the scale a float computation rounds against.
    ``override`` replaces chosen edge partials (one side of each kink, as ``accumulate``);
    ``rules``, the first result of ``rule_derivatives(g, ...)``, when the caller has it:
    it depends on the values only, so a sweep over kink sides computes it once."""
    names = [n.arg for n in g.order if n.op == "var"]
    terms: dict[tuple[str, str], list] = {(v, w): [] for v in names for w in names}
    for v, w, _, _, _, a, dv, h, dw in hessian_terms(g, absolute, override, rules):
        terms[(v, w)].append(a * dv * h * dw)
    return {k: g.m.ctx.fsum(t) if t else g.m.float(0) for k, t in terms.items()}
