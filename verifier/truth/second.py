"""Second order (``--order 2``): Hessian entries from engines that differentiate their own
gradients (protocol method ``second_derivatives(output, variables)``, a list of rows).

The truth is SymEngine's second derivative checked against the op table's (the chain rule
applied to the chain rule, oracles.paths.hessian). The bound is first-order in the rounding
of every factor, 16·(2L + 2)·u·Σ|terms| (a rule's derivative counted as the terms an engine
forms differentiating it, oracles.dual.AbsDual: they may cancel), plus the Hessian's
sensitivity to the rounding of each intermediate the engine's derivative graph starts from (``rounding_wobble``: x**(x**x)
at 1e-14 multiplies the rounding of x**x by 1/(x**x - 1)), plus 2^-20 of the terms' scale
and of the first-order scale of the paths (an engine also rounds, and cancels, inside its
own derivative graph, which we do not model): order 2 catches missing and wrong terms, not
precision.

Near a kink the built-in ops that have one (abs, relu, maximum, minimum, leaky_relu, clamp) are
piecewise linear (``Kink.linear``; an engine's own kinked op is not judged there): their
own second derivative is 0 on each side, and the Hessian is a polynomial of degree ≤ 2 in
each kink's one-sided slope t ∈ [0, 1] (an adjoint is affine in it, a product of two
tangents at most quadratic). Its values on the grid t ∈ {0, ½, 1} bound it over the whole box
(``kink_envelope``), so a point that rounding could carry across a kink is still decided.
An op that is C1 where its second derivative jumps (elu at 0, ``Op.second_kink``) is not:
there, and within rounding reach of there, the check is undecided.
Every undecided reference names its cause (verifier.model.UNDECIDED_CAUSES).
"""
from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any, Mapping

from oracles import paths as paths_oracle, symbolic
from oracles.base import OracleError
from oracles.paths import Edge, LocalGraph
from verifier.floor.ir import Node, size, variables
from verifier.floor.numtext import exact, short
from verifier.model import Case, EngineRun, Reference, Verdict, worst_check
from verifier.truth.bounds import (C2, PRECISIONS, RHO, Precision, forward_radius, near_kinks, near_second_kinks,
                                   node_sides, rounding_sites, side_partials, worst_sides)
from verifier.truth.judge import AGREE_DIGITS, DEEP_DPS, UNSTABLE, check_value, judge, premise, reference, to_float

__all__ = ["second_reference", "second_judge", "pair", "rounding_wobble", "kink_envelope", "rule_quotients"]

RELATIVE_FLOOR = 2.0 ** -20
GRID_KINKS = 4      # 3**4 = 81 Hessians over the kink grid at most
MAX_SITES = 40      # beyond, rounding sites are bumped in this many groups
GRID = (0, 0.5, 1)
LEBESGUE = 1.25     # max over [0, 1] of Σ|Lagrange basis| on the nodes 0, ½, 1


def pair(v: str, w: str) -> str:
    return f"{v},{w}"


def _undecided(case: Case, dtype: str, reason: str, cause: str, **kw) -> Reference:
    return Reference(case, dtype, "undecided", reason, cause=cause, **kw)


def second_reference(case: Case, dtype: str = "float64") -> Reference:
    prec = PRECISIONS[dtype]
    first = reference(case, dtype)
    if first.status != "ok":
        # every undecided first-order reference names its cause; an oracle disagreement leaves
        # no truth to differentiate
        return _undecided(case, dtype, first.reason, first.cause or "no-truth", valid=first.valid)
    if first.value_unstable:
        # rounding moves a local partial by more than 10% (cos of a rounded 1e270): the
        # engine's values are not near the truth's, and the bound below is a linearization
        return _undecided(case, dtype, "ill-conditioned: rounding moves a local partial by more than 10%",
                          "ill-conditioned")
    g = premise(case, dtype).g   # the first-order truth's graph (the balls' midpoints): it succeeded for `first`
    kinks = near_kinks(g, forward_radius(g, prec.u))
    worst = worst_sides(g, kinks)
    refused = _refusal(g, kinks, worst, prec)
    if refused:
        return _undecided(case, dtype, *refused)
    truth = _witnessed(case, g, kinks, prec)
    if isinstance(truth, Reference):
        return truth
    g, rules, table, low, high, oracles = truth
    scale = paths_oracle.hessian(g, absolute=True, override=worst, rules=rules)
    # the rounding of the terms an engine forms differentiating each rule, which may cancel
    # (d/dx of x/(x² + y²) is 1/h² - 2x²/h⁴, 0 at x = y): the first term of the bound
    terms = paths_oracle.hessian(g, absolute=True, override=worst,
                                 rules=paths_oracle.rule_derivatives(g, None, set(), absolute=True)[0])
    first_scale = _first_order_scale(g, worst)
    for k in table:
        size_k = max(abs(low[k]), abs(high[k]), scale[k], first_scale[k])
        if size_k > prec.max / 4:
            return _undecided(case, dtype, f"d²/d{k[0]}d{k[1]} is {g.m.ctx.nstr(size_k, 2)} in size: past the "
                              f"{dtype} range", "out-of-range")
    lost = _underflow(g, rules, worst, prec)
    for k in table:
        # a term lost to underflow matters only above the floor every bound has anyway
        if lost[k] > UNSTABLE * scale[k] and 2 * lost[k] > prec.tiny:
            return _undecided(case, dtype, f"d²/d{k[0]}d{k[1]}: a term of it passes through a quantity below "
                              f"the normal {dtype} range", "out-of-range")
    try:
        wobble = rounding_wobble(case, g, prec, worst, rules)
    except (OracleError, ArithmeticError) as e:   # an ε-sized rounding error already leaves a domain
        return _undecided(case, dtype, f"ill-conditioned: rounding alone goes {e}", "ill-conditioned")
    for k, x in _textbook_wobble(g, prec, worst).items():
        wobble[k] += x
    L = max(size(case.expr), 1)
    # a Hessian is no better conditioned than the gradient it differentiates: the gradient's
    # relative rounding (sin of a rounded x³) carries over; an ill-conditioned gradient's
    # bound says nothing, and its share is in the wobble, measured
    rel = min(1.0, max((first.bound[v] / abs(t) for v, t in first.truth.items()
                        if t and not first.unstable.get(v)), default=0.0))
    bound = {pair(*k): to_float(16 * (2 * L + 2) * prec.u * max(scale[k], terms[k]) + wobble[k] + 2 * lost[k]
                                + (RELATIVE_FLOOR + 16 * rel) * (scale[k] + first_scale[k])) + 4 * prec.tiny
             for k in table}
    unstable = {pair(*k): bool(wobble[k] > UNSTABLE * (scale[k] + first_scale[k]) and wobble[k] > 4 * prec.tiny)
                for k in table}
    if any(b > prec.max / 4 for b in bound.values()):
        return _undecided(case, dtype, "rounding alone may carry a second derivative past the "
                          f"{dtype} range", "out-of-range")
    floats = {name: {pair(*k): to_float(x) for k, x in d.items()} for name, d in
              (("truth", table), ("low", low), ("high", high))}
    return Reference(case, dtype, "ok", **floats, bound=bound, unstable=unstable,
                     kinks=tuple(n.op for n in kinks), oracles=oracles)


def _refusal(g: LocalGraph, kinks: list[Node], worst: Mapping[Edge, Any], prec: Precision
             ) -> tuple[str, str] | None:
    """(reason, cause) when no second derivative can be judged here, before any is computed."""
    if len(kinks) > GRID_KINKS:
        return f"{len(kinks)} kinks at this point (at most {GRID_KINKS} at order 2)", "too-many-kinks"
    bent = sorted({n.op for n in kinks if not g.ops[n.op].kink.linear})
    if bent:
        return (f"at a kink of {', '.join(bent)}, which is not piecewise linear: the second derivative "
                "is not a number there", "near-kink")
    jumps = sorted({n.op for n in near_second_kinks(g, forward_radius(g, prec.u))})
    if jumps:
        return (f"at the point where the second derivative of {', '.join(jumps)} jumps: it has no value there",
                "near-kink")
    rules = paths_oracle.rule_derivatives(g, None, set())[0]
    # a parameter's column is no curvature: leaky_relu's slope a is a constant leaf
    curved = sorted({n.op for n in kinks if any(h for row in rules[n].values() for j, h in row.items()
                                                if j not in g.ops[n.op].params)})
    if curved:
        return (f"at a kink of {', '.join(curved)}, which is curved on a side: the second derivative "
                "is not a number there", "near-kink")
    why = _overflow(g, rules, worst, prec)
    return (why, "out-of-range") if why else None


def _witnessed(case: Case, g: LocalGraph, kinks: list[Node], prec: Precision):
    """The op table's Hessian (over the kink envelope), checked against SymEngine's; at a kink
    SymEngine may have no number (a Dirac delta), and the table stands alone. A Reference
    says why there is no truth."""
    dtype = prec.name
    for attempt in (g, None):
        if attempt is None:   # both look again, deeper: SymEngine's 1 - tanh² may have cancelled
            g = paths_oracle.local_graph(case.expr, case.point, max(DEEP_DPS, g.dps), ops=case.ops)
        rules = paths_oracle.rule_derivatives(g, None, set())[0]
        try:
            table = paths_oracle.hessian(g, rules=rules)
            scale = paths_oracle.hessian(g, absolute=True, rules=rules)
        except (OracleError, ArithmeticError, ValueError) as e:
            return _undecided(case, dtype, f"no second-order truth here: {e}", "no-truth")
        low, high = kink_envelope(g, kinks, rules) if kinks else (table, table)
        oracles = {"paths": {pair(*k): to_float(x) for k, x in table.items()}}
        try:
            sym = symbolic.hessian(case.expr, case.point, g.dps, case.ops)
            if not all(g.m.ctx.isfinite(x) for x in sym.values()):
                raise ValueError("not a finite number")
        except (OracleError, ArithmeticError, ValueError, TypeError) as e:
            if kinks:
                return g, rules, table, low, high, oracles
            return _undecided(case, dtype, f"no second-order truth here: {e}", "no-truth")
        oracles["symbolic"] = {pair(*k): to_float(x) for k, x in sym.items()}
        # at a kink SymEngine takes a side of its own (sign(0) = 0): any point of the envelope
        tol = {k: scale[k] * g.m.ctx.mpf(10) ** -AGREE_DIGITS + prec.tiny for k in table}
        bad = [k for k in table if not low[k] - tol[k] <= sym[k] <= high[k] + tol[k]]
        if not bad:
            return g, rules, table, low, high, oracles
    k = bad[0]
    if kinks:   # the envelope is the table's alone: SymEngine's kink conventions may differ
        return _undecided(case, dtype, f"at a kink of {', '.join(sorted({n.op for n in kinks}))}: "
                          f"d²/d{k[0]}d{k[1]} has no second witness", "near-kink")
    return Reference(case, dtype, "oracle-disagreement",
                     f"d²/d{k[0]}d{k[1]}: symbolic {to_float(sym[k]):.17g} vs paths {to_float(table[k]):.17g}",
                     oracles=oracles)


def kink_envelope(g: LocalGraph, kinks: list[Node], rules) -> tuple[dict, dict]:
    """Lowest and highest Hessian over every convex combination of the kinks' one-sided
    slopes. Multi-quadratic in the slopes, so it equals its interpolant on the 3^k grid, and
    the interpolant strays from the grid's mid-range c by at most 1.25^k times the grid's
    half-spread r: [c - 1.25^k·r, c + 1.25^k·r] holds it."""
    seen: dict[tuple[str, str], list] = {}
    for ts in product(GRID, repeat=len(kinks)):
        override: dict[Edge, Any] = {}
        for n, t in zip(kinks, ts):
            left, right = (side_partials(g, n, side) for side in node_sides(g, n))
            for e, a in left.items():
                override[e] = a + t * (right[e] - a)
        for k, x in paths_oracle.hessian(g, override=override, rules=rules).items():
            seen.setdefault(k, []).append(x)
    widen = g.m.float(LEBESGUE) ** len(kinks)
    low, high = {}, {}
    for k, xs in seen.items():
        c, r = (max(xs) + min(xs)) / 2, (max(xs) - min(xs)) / 2
        low[k], high[k] = c - widen * r, c + widen * r
    return low, high


def _overflow(g: LocalGraph, rules, worst: Mapping[Edge, Any], prec: Precision) -> str:
    """Why an engine's derivative graph overflows here, or "": every derivative of a local
    partial, and every partial product of a term, must fit (log'' = -1/x² at x = 1e-160)."""
    hi = prec.max / 4
    if any(abs(h) > hi for per in rules.values() for row in per.values() for h in row.values()):
        return f"a derivative of a local partial overflows {prec.name}"
    for v, w, n, i, j, a, dv, h, dw in paths_oracle.hessian_terms(g, True, worst, rules):
        if max(a * h, h * dv, h * dw, a * h * dv, a * h * dw, h * dv * dw, a * dv * h * dw) > hi:
            return f"a term of d²/d{v}d{w} overflows {prec.name} on the way (through {n.op})"
    return ""


def _underflow(g: LocalGraph, rules, worst: Mapping[Edge, Any], prec: Precision) -> dict:
    """Σ|terms| that pass through a quantity below the normal range: a derivative of a local
    partial, a product of factors, or what differentiating a quotient inside a rule makes
    (atan'' goes through -ans/y with ans = 1e-160, y = 1e160). Flushed or gradually
    underflowing, such a term is off by at most twice itself."""
    lo = prec.tiny * 2 ** 10
    lost = {(v, w): g.m.float(0) for v in _variables_of(g) for w in _variables_of(g)}
    quotients = rule_quotients(g)
    for v, w, n, i, j, a, dv, h, dw in paths_oracle.hessian_terms(g, True, worst, rules):
        parts = [h, a * h, h * dv, h * dw, a * h * dv, a * h * dw, h * dv * dw, a * dv * h * dw]
        for q1, q2 in quotients[(n, i)]:
            parts += [q2, a * q2, a * dv * q1, a * dv * q2]
        if any(0 < x < lo for x in parts):
            lost[(v, w)] += a * dv * h * dw
    return lost


def _arith(f):
    return lambda self, o: _Probe(f(self.v, _raw(o)), self.seen)


def _compare(f):
    return lambda self, o: f(self.v, _raw(o))


class _Probe:
    """A value that notes, for every division a/b it takes part in, |a/b| and |a/b²|: what
    reverse mode multiplies an adjoint by to differentiate the quotient (d(a/b)/db = -(a/b)/b)."""
    __slots__ = ("v", "seen")

    def __init__(self, v, seen: list):
        self.v, self.seen = v, seen

    def _div(self, a, b) -> "_Probe":
        q = a / b
        self.seen.append((abs(q), abs(q / b)))
        return _Probe(q, self.seen)

    def __truediv__(self, o):
        return self._div(self.v, _raw(o))

    def __rtruediv__(self, o):
        return self._div(_raw(o), self.v)

    def __neg__(self):
        return _Probe(-self.v, self.seen)

    def __abs__(self):
        return _Probe(abs(self.v), self.seen)

    __add__, __radd__ = _arith(lambda a, b: a + b), _arith(lambda a, b: b + a)
    __sub__, __rsub__ = _arith(lambda a, b: a - b), _arith(lambda a, b: b - a)
    __mul__, __rmul__ = _arith(lambda a, b: a * b), _arith(lambda a, b: b * a)
    __gt__, __lt__ = _compare(lambda a, b: a > b), _compare(lambda a, b: a < b)
    __ge__, __le__ = _compare(lambda a, b: a >= b), _compare(lambda a, b: a <= b)


def _raw(x):
    return x.v if isinstance(x, _Probe) else x


class _ProbeMath:
    """The graph's math namespace on _Probe values: each function is the precise one."""

    def __init__(self, m, seen: list):
        self._m, self._seen = m, seen

    def __getattr__(self, name):
        f = getattr(self._m, name)
        if not callable(f):
            return f
        return lambda *a: _Probe(f(*(_raw(x) for x in a)), self._seen)


def rule_quotients(g: LocalGraph) -> dict[Edge, list]:
    """For every edge, (|a/b|, |a/b²|) of each division its rule takes at this point. A rule
    the probe cannot run is taken as one quotient 1/(1/partial): the partial squared."""
    out: dict[Edge, list] = {}
    for (n, i), d in g.partials.items():
        seen: list = []
        try:
            args = [_Probe(g.values[s], seen) for s in n.src]
            g.ops[n.op].partials[i](_ProbeMath(g.m, seen), *args, _Probe(g.values[n], seen))
        except Exception:   # noqa: BLE001 — any rule the probe cannot follow: the cautious form
            seen = [(abs(d), d * d)]
        out[(n, i)] = seen
    return out


def _variables_of(g: LocalGraph) -> list[str]:
    return [n.arg for n in g.order if n.op == "var"]


def rounding_wobble(case: Case, g: LocalGraph, prec: Precision, override: Mapping[Edge, Any], rules
                    ) -> dict[tuple[str, str], Any]:
    """How far the Hessian moves when each rounding site (bounds.rounding_sites) carries a
    relative error of ±ρ·u, summed over sites, times C2. Measured, not derived: the local
    graph is rebuilt with the error injected (paths.local_graph's ``bump``) and the Hessian
    recomputed at full precision, one site (or, past MAX_SITES, one group of sites with
    alternating signs) at a time — x**(x**x) at 1e-14 moves by 2.5e-6 of itself for one
    rounding of x**x. Kink edges keep the caller's sides."""
    base = paths_oracle.hessian(g, override=override, rules=rules)
    sites = rounding_sites(g, prec)
    groups = [sites[k::MAX_SITES] for k in range(min(len(sites), MAX_SITES))]
    eps = g.m.float(RHO * prec.u)
    total = {k: g.m.float(0) for k in base}
    for group in groups:
        worst = {k: g.m.float(0) for k in base}
        for sign in (1, -1):
            bump = {s: sign * eps * (-1) ** idx for idx, s in enumerate(group)}
            b = paths_oracle.local_graph(case.expr, case.point, g.dps, bump=bump, ops=case.ops)
            moved = paths_oracle.hessian(b, override=override)
            for k, x in moved.items():
                worst[k] = max(worst[k], abs(x - base[k]))
        for k in total:
            total[k] += worst[k]
    return {k: C2 * x for k, x in total.items()}


def _textbook_wobble(g: LocalGraph, prec: Precision, override: Mapping[Edge, Any]) -> dict:
    """What the bumped graph cannot see: an engine that differentiates the textbook form of a
    partial (1 - tanh², read off its rounded output) multiplies the derivative of that form
    by its own rounded partial — 1 - tanh²(-274) is 0 in float, not 1e-238 — so each such
    term moves by |d form/d ans| times the partial's float error (the form's 1 ± ans cancels
    to an absolute u, besides the rounding of ans)."""
    H, A, _ = paths_oracle.rule_derivatives(g, None, set())
    out = {(v, w): g.m.float(0) for v in _variables_of(g) for w in _variables_of(g)}
    seen = set()
    for v, w, n, i, j, a, dv, h, dw in paths_oracle.hessian_terms(g, True, override, H):
        if not g.ops[n.op].ans_partials or (v, w, n, i) in seen or n not in A:
            continue
        seen.add((v, w, n, i))
        table, textbook = (abs(x) for x in A[n][i])
        err = RHO * prec.u * (textbook * abs(g.values[n]) + abs(g.partials[(n, i)]) + 1)
        out[(v, w)] += C2 * a * dv * dw * max(table, textbook) * err
    return out


def _first_order_scale(g: LocalGraph, override: Mapping[Edge, Any]) -> dict[tuple[str, str], Any]:
    """Σ over edges |adjoint · partial · d src/dv · d src/dw|: the size of what an engine's
    derivative graph handles on the way to a second derivative (σ'' near 0 is the small
    difference of terms of this size, whatever form the engine differentiates)."""
    partials = {e: abs(d) for e, d in {**g.partials, **override}.items()}
    flow = replace(g, partials=partials)
    adj = paths_oracle.adjoints(flow)
    names = _variables_of(g)
    tan = {v: paths_oracle.tangents(flow, v) for v in names}
    out = {}
    for v in names:
        for w in names:
            out[(v, w)] = g.m.ctx.fsum(abs(adj.get(n, 0) * d * tan[v][n.src[i]] * tan[w][n.src[i]])
                                       for (n, i), d in partials.items())
    return out


def second_judge(ref: Reference, run: EngineRun) -> Verdict:
    if run.status != "ok" or ref.status != "ok" or not ref.valid:
        return judge(ref, run)   # it passes on the reference's cause
    names = variables(ref.case.expr)
    labels = [pair(v, w) for v in names for w in names]
    checks = [check_value(ref, k, x) for k, x in zip(labels, run.grads)]
    worst = worst_check(checks)
    reason, cause = "", ""
    if worst.verdict in ("mismatch", "nonfinite"):
        v, w = worst.variable.split(",")
        reason = (f"d²/d{v}d{w}: engine {exact(worst.actual)}, expected {exact(worst.expected)} "
                  f"(bound {short(worst.bound)})")
    elif worst.verdict == "undecided":
        v, w = worst.variable.split(",")
        reason, cause = f"ill-conditioned: rounding alone moves d²/d{v}d{w} by more than 1% of its scale", "ill-conditioned"
    elif worst.verdict == "kink":
        reason = f"at a kink of {', '.join(sorted(set(ref.kinks)))}"
    return Verdict(worst.verdict, reason, tuple(checks), cause=cause)
