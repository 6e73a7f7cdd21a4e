"""Ground truth, per-point tolerance, verdicts.

``reference(case)`` asks the oracles — it never sees the engine, so it can be computed once
and reused across engines, shrinking steps and replays. ``judge(ref, run)`` compares one
engine run with it. Verdicts (DESIGN §6): agree, mismatch, nonfinite, crash, timeout, kink,
undecided, oracle-disagreement — plus ``inconsistent`` for engines whose answer changes when
the same graph is built twice (state leaking between calls).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from oracles import paths as paths_oracle, symbolic
from oracles.base import OracleError
from oracles.enclosure import Enclosure, NoEnclosure, as_precise, enclose, hull, interval
from oracles.numeric import analytic, complex_step, mpmath_diff, richardson
from verifier.floor.ir import evaluate, size, toposort, variables
from verifier.floor.mathns import F64
from verifier.floor.numtext import exact, short
from verifier.model import Case, Check, EngineRun, Reference, Verdict, worst_check
from verifier.truth.bounds import (C1, C2, MAX_KINKS, PRECISIONS, RHO, forward_radius, kink_vertices, near_cuts,
                                   near_kinks, near_poles, nonlinear, ranges, sensitivity, subnormal, to_float,
                                   vertex_box, worst_sides)
from verifier.truth.hull import outside

__all__ = ["reference", "premise", "foresee", "judge", "check_value", "to_float", "subnormal", "rule_constraint", "kink_sides",
           "joint_reason", "plain"]

AGREE_DIGITS = 25      # symbolic and paths must agree to this many digits of the scale
DEEP_DPS = 420         # enough for any cancellation that still matters above float64's tiny
DEEP_BITS = 1400       # the same, in bits: where the enclosure starts for that second look
UNSTABLE = 1e-2        # rounding moves the gradient by >1% of its scale: no honest verdict


def _undecided(case: Case, dtype: str, reason: str, cause: str, **kw) -> Reference:
    return Reference(case, dtype, "undecided", reason, cause=cause, **kw)


@dataclass(frozen=True)
class _No:
    """Why no verdict is possible: the reason in words, and its cause (UNDECIDED_CAUSES);
    ``valid`` False outside a domain (where no finding is possible either)."""
    reason: str
    cause: str
    valid: bool = True


@dataclass(frozen=True)
class _Premise:
    """What a verdict stands on, before any oracle is asked: the enclosure, its midpoints as
    the bound's graph, the forward radius, the kinks within rounding reach."""
    enclosure: Enclosure
    g: Any
    radius: dict
    kinks: list


@dataclass
class _Truth:
    g: Any
    truth: dict
    lo: dict
    hi: dict
    scale: dict
    kinks: list
    radius: dict
    oracles: dict
    vertices: list
    enclosure: dict          # variable -> (lo, hi): certified
    bits: int                # of the balls
    disagreement: str = ""


def _ranges(g, prec) -> _No | None:
    """Why a float engine cannot hold this computation (``bounds.ranges``), or None."""
    why = ranges(g, prec)
    return _No(*why) if why else None


def premise(case: Case, dtype: str = "float64") -> _Premise | _No:
    """The enclosure and the facts about magnitudes that decide whether any verdict is
    possible — outside a domain, outside the float range, an argument within rounding reach
    of a pole or of a cut, too many kinks — or why none is (a ``_No``). The generator asks
    it too (``foresee``), so it is kept for the last few cases: the reference then finds it."""
    key = (case.expr, tuple(sorted(case.point.items())), case.ops, dtype)
    found = _PREMISES.get(key)
    if found is None:
        found = _PREMISES[key] = _premise(case, PRECISIONS[dtype])
        if len(_PREMISES) > 64:
            _PREMISES.popitem(last=False)
    return found


_PREMISES: OrderedDict = OrderedDict()


def foresee(case: Case, dtype: str = "float64") -> tuple[str, str] | None:
    """(cause, reason) when no verdict is possible at ``case`` for a reason of magnitudes,
    else None: what the generator passes over (verifier.search.strategies)."""
    p = premise(case, dtype)
    return (p.cause, p.reason) if isinstance(p, _No) else None


def _premise(case: Case, prec) -> _Premise | _No:
    try:
        enc = enclose(case.expr, case.point, case.ops)
    except NoEnclosure as e:
        return _No(str(e), "no-enclosure")
    except OracleError as e:
        # outside a domain, an engine may raise or return nan: nothing to hold against it
        domain = str(e).startswith("outside the domain")
        return _No(str(e), "outside-domain" if domain else "out-of-range" if "float range" in str(e) else "no-truth",
                   valid=not domain)
    except ArithmeticError as e:
        return _No(f"no high-precision value: {type(e).__name__}", "out-of-range")
    g = as_precise(enc)
    why = _ranges(g, prec)
    if why:
        return why
    r = forward_radius(g, prec.u)
    cuts = near_cuts(g, r)
    if cuts:
        return _No(f"at a cut of {cuts[0].op}, where its value jumps: rounding may carry its arguments across",
                   "near-kink")
    poles = near_poles(g, r)
    if poles:
        return _No(f"near a pole: rounding may carry the argument of {poles[0].op} onto its pole",
                   "near-pole")
    kinks = near_kinks(g, r)
    if len(kinks) > MAX_KINKS:
        return _No(f"{len(kinks)} kinks at this point (at most {MAX_KINKS} analysed)", "too-many-kinks")
    return _Premise(enc, g, r, kinks)


def _truth(case: Case, p: _Premise, prec) -> _Truth | _No:
    """Paths' answer (vertices at kinks) checked against a second witness; a ``_No`` says
    why no verdict is possible. The bound's analysis runs on ``p.g``, the enclosure's
    midpoints."""
    out, point = case.expr, case.point
    e, g, r, kinks = p.enclosure, p.g, p.radius, p.kinks
    truth = paths_oracle.accumulate(g)
    vertices = kink_vertices(g, kinks) if kinks else [truth]
    lo, hi = vertex_box(vertices)
    scale = paths_oracle.accumulate(g, worst_sides(g, kinks), absolute=True)
    if max(scale.values(), default=0) > prec.max / 4:
        return _No(f"the gradient leaves the {prec.name} range", "out-of-range")
    balls = hull(e)
    t = _Truth(g, truth, lo, hi, scale, kinks, r, {"paths": {v: to_float(x) for v, x in truth.items()}}, vertices,
               {v: interval(b) for v, b in balls.items()}, e.prec)
    try:
        witness = symbolic.gradient(out, point, dps=g.dps, ops=case.ops, bits=e.prec)
        t.oracles["symbolic"] = {v: to_float(x) for v, x in witness.grad.items()}
    except (OracleError, ZeroDivisionError, ValueError):
        # no symbolic answer: a high-precision difference quotient is the second witness
        try:
            witness = mpmath_diff(out, point, dps=g.dps, ops=case.ops) if not kinks else None
        except OracleError:
            witness = None
        if witness is not None:
            t.oracles["mpmath"] = {v: to_float(x) for v, x in witness.grad.items()}
    if witness is None:
        return t
    for v in truth:
        tol = scale[v] * g.m.ctx.mpf(10) ** -AGREE_DIGITS + prec.tiny + witness.error.get(v, 0)
        s = witness.grad[v]
        if not lo[v] - tol <= s <= hi[v] + tol:
            t.disagreement = f"d/d{v}: {witness.oracle} {to_float(s):.17g} vs paths {to_float(truth[v]):.17g}"
            return t
    return t


def _bound(case: Case, g, t: _Truth, prec) -> tuple[dict[str, Any], bool] | _No:
    """The rounding term of the bound per variable (``sensitivity``), and whether rounding
    can move a local partial past the first-order picture (``nonlinear``). Both read the
    derivatives of every rule at the point (``rules``: on the balls the graph came from)."""
    rules = paths_oracle.rule_derivatives(g, None, set(t.kinks), balls=True)
    try:
        size = sensitivity(case.expr, case.point, g, prec, t.kinks, rules)
    except (OracleError, ArithmeticError) as e:  # an ε-sized rounding error already leaves a domain
        return _No(f"ill-conditioned: rounding alone goes {e}", "ill-conditioned")
    # the forward value's radius is first order too: log(tan(atan(1)))² rounds to 1.2e-32
    # where its derivative 2·log(…) is 0, an error the radius cannot see
    return {v: C2 * RHO * prec.u * s for v, s in size.items()}, nonlinear(g, t.radius, t.kinks, rules)


def witnesses(case: Case) -> dict[str, dict[str, float]]:
    """The float64 numerical derivatives a user would compute by hand, for a finding's report:
    they inform, they never decide (a difference quotient is good to ~1e-8 at best), so they
    are computed when a finding is written, not for every case (a lowered transformer block
    costs a second of difference quotients)."""
    found: dict[str, dict[str, float]] = {}
    try:
        found["richardson"] = {v: float(x) for v, x in richardson(case.expr, case.point, case.ops).grad.items()}
        if analytic(case.expr, case.ops):
            found["complex_step"] = {v: float(x) for v, x in complex_step(case.expr, case.point, case.ops).grad.items()}
    except (OracleError, ArithmeticError, ValueError, TypeError):
        pass
    return found


def reference(case: Case, dtype: str = "float64") -> Reference:
    prec = PRECISIONS[dtype]
    out, point = case.expr, case.point
    p = premise(case, dtype)
    if isinstance(p, _No):
        return _undecided(case, dtype, p.reason, p.cause, valid=p.valid)
    t = _truth(case, p, prec)
    if isinstance(t, _Truth) and t.disagreement and p.enclosure.prec < DEEP_BITS:
        # the witness may need more digits than the balls did (its own cancellation): before
        # blaming an oracle, both look again, deeper
        try:
            deep = enclose(out, point, case.ops, start=DEEP_BITS)
            g = as_precise(deep)
            r = forward_radius(g, prec.u)
            t = _truth(case, _Premise(deep, g, r, near_kinks(g, r)), prec)
        except (OracleError, ArithmeticError) as e:
            t = _No(f"no deeper look possible: {e}", "no-truth")
    if isinstance(t, _No):
        return _undecided(case, dtype, t.reason, t.cause)
    if t.disagreement:
        if "mpmath" not in t.oracles:
            try:
                t.oracles["mpmath"] = {k: to_float(x) for k, x in mpmath_diff(out, point, dps=t.g.dps, ops=case.ops).grad.items()}
            except OracleError:
                pass
        return Reference(case, dtype, "oracle-disagreement", t.disagreement,
                         truth={k: to_float(x) for k, x in t.truth.items()}, oracles=t.oracles)
    g = t.g
    why = _bound(case, g, t, prec)
    if isinstance(why, _No):
        return _undecided(case, dtype, why.reason, why.cause)
    wobble, value_unstable = why
    floor = 4 * prec.tiny
    L = max(size(out), 1)
    bound = {v: to_float(C1 * prec.u * L * t.scale[v] + wobble[v]) + floor for v in t.truth}
    unstable = {v: bool(wobble[v] > UNSTABLE * t.scale[v]) and wobble[v] > floor for v in t.truth}
    if value_unstable:
        unstable = {v: True for v in t.truth}
    value = g.values[out]
    return Reference(
        case, dtype, "ok", value=to_float(value),
        value_bound=to_float(C1 * t.radius[out] + RHO * prec.u * abs(value)) + floor, value_unstable=value_unstable,
        truth={v: to_float(x) for v, x in t.truth.items()}, low={v: to_float(x) for v, x in t.lo.items()},
        high={v: to_float(x) for v, x in t.hi.items()}, bound=bound, unstable=unstable,
        kinks=tuple(n.op for n in t.kinks), oracles=t.oracles, scale={v: to_float(x) for v, x in t.scale.items()},
        vertices=tuple({v: to_float(x) for v, x in vx.items()} for vx in t.vertices) if len(t.vertices) > 1 else (),
        enclosure=t.enclosure, precision=t.bits)


def check_value(ref: Reference, v: str, actual: float) -> Check:
    t, lo, hi, b = ref.truth[v], ref.low[v], ref.high[v], ref.bound[v]
    enclosure, kinked = ref.enclosure.get(v), lo != hi
    kw = dict(expected=t, actual=actual, bound=b, low=lo if kinked else None, high=hi if kinked else None,
              enclosure=enclosure)
    if not math.isfinite(actual):
        return Check(v, "nonfinite", **kw)
    if enclosure:
        # missed against the certified interval too, so that a mismatch is a proof: the exact
        # value is in [lo, hi] and the engine's is farther than the bound from all of it
        lo, hi = min(lo, enclosure[0]), max(hi, enclosure[1])
    miss = max(lo - actual, actual - hi, 0.0)
    if miss <= b:
        return Check(v, "kink" if kinked else "agree", **kw)
    return Check(v, "undecided" if ref.unstable[v] else "mismatch", **kw)


def judge(ref: Reference, run: EngineRun) -> Verdict:
    if not ref.valid:
        return Verdict(ref.status, ref.reason, cause=ref.cause)
    if run.status != "ok":
        kind = {"malformed": "mismatch"}.get(run.status, run.status)
        return Verdict(kind, run.message, where=run.where, origin=run.origin)
    if ref.status != "ok":
        return Verdict(ref.status, ref.reason, cause=ref.cause)
    names = variables(ref.case.expr)
    checks = [check_value(ref, v, g) for v, g in zip(names, run.grads)]
    if run.value is not None and ref.value is not None:
        miss = abs(run.value - ref.value)
        kind = ("agree" if miss <= ref.value_bound else "nonfinite" if not math.isfinite(run.value)
                else "undecided" if ref.value_unstable else "mismatch")
        checks.insert(0, Check(None, kind, ref.value, run.value, ref.value_bound))
    worst = worst_check(checks)
    if worst.verdict in ("agree", "kink"):
        joint = _joint(ref, dict(zip(names, run.grads)), checks)
        if joint is not None:
            return joint
    reason, cause = "", ""
    if worst.verdict in ("mismatch", "nonfinite") and worst.low is not None and worst.variable is not None:
        # at a kink the truth is an interval: say which, and the rule that makes it
        rules = ", ".join(f"{_at(op, *kink_sides(ref, op))} ({rule_constraint(op, *kink_sides(ref, op))})"
                          for op in sorted(set(ref.kinks)))
        reason = (f"d/d{worst.variable}: engine {exact(worst.actual)}, expected between {exact(worst.low)} and "
                  f"{exact(worst.high)} (bound {short(worst.bound)}), at {rules}")
    elif worst.verdict in ("mismatch", "nonfinite"):
        what = "the forward value" if worst.variable is None else f"d/d{worst.variable}"
        reason = f"{what}: engine {exact(worst.actual)}, expected {exact(worst.expected)} (bound {short(worst.bound)})"
    elif worst.verdict == "undecided":
        reason = "ill-conditioned: rounding alone moves the gradient by more than 1% of its scale"
        cause = "ill-conditioned"
    elif worst.verdict == "kink":
        reason = f"at a kink of {', '.join(sorted(set(ref.kinks)))}"
    return Verdict(worst.verdict, reason, tuple(checks), cause=cause)


def _joint(ref: Reference, grads: dict[str, float], checks: list[Check]) -> Verdict | None:
    """At kinks, the whole gradient must lie within the bound of the hull of the vertices:
    at a tie of maximum each partial alone may be anything in [0, 1], but together they
    must sum to 1. Asked only when every variable passed alone (the box)."""
    if not ref.vertices:
        return None
    found = outside(ref.vertices, grads, ref.bound)
    if found is None:
        return None
    # the check that decides the verdict is the variable that misses the hull most: its
    # expected value is its coordinate of the nearest hull point found (severity > 1)
    worst = max(found.miss, key=found.miss.get)
    failing = Check(worst, "mismatch", found.nearest[worst], grads[worst], ref.bound[worst])
    checks = [failing if c.variable == worst else c for c in checks]
    return Verdict("mismatch", joint_reason(ref, grads, list(found.miss)), tuple(checks))


def plain(x: float) -> str:
    """A number as a maintainer writes it: exact, and 1 rather than 1.0."""
    text = exact(x)
    return text[:-2] if text.endswith(".0") else text


def kink_sides(ref: Reference, op: str) -> tuple[tuple, tuple]:
    """The one-sided partials of ``op``'s differentiable arguments at its node nearest its
    kink in the reference's expression (leaky_relu's left side is its slope there)."""
    spec = ref.case.ops[op]
    with np.errstate(all="ignore"):
        values = evaluate(ref.case.expr, ref.case.point, F64, ops=ref.case.ops)
    nodes = [n for n in toposort(ref.case.expr) if n.op == op]
    n = min(nodes, key=lambda n: abs(float(spec.kink.switch(*(values[a] for a in n.src)))))
    sides = spec.kink.sides(*(values[a] for a in n.src))
    return tuple(tuple(float(d) for i, d in enumerate(side) if i not in spec.params) for side in sides)


def rule_constraint(op: str, left: tuple, right: tuple) -> str:
    """What a correct engine's local partials satisfy at this op's kink, in a maintainer's
    words, from its one-sided partials (the convex combinations of ``left`` and ``right``)."""
    if len(left) == 1:
        lo, hi = sorted((left[0], right[0]))
        return f"{op}' must lie between {plain(lo)} and {plain(hi)}"
    if sum(left) == sum(right):
        return f"the partials must sum to {plain(sum(left))}"
    return (f"the partials must lie between ({', '.join(map(plain, left))}) and "
            f"({', '.join(map(plain, right))})")


def _at(op: str, left: tuple, right: tuple) -> str:
    return f"a tie of {op}" if len(left) > 1 else f"the kink of {op}"


def joint_reason(ref: Reference, grads: dict[str, float], names: list[str]) -> str:
    """Why the engine's vector is outside: the op's rule when the op is the whole expression
    on distinct variables (the gradient is its partials), else the hull the gradient must be in."""
    kinked = sorted(set(ref.kinks))
    gave = [plain(grads[v]) for v in names]
    root = ref.case.expr
    alone = (len(ref.kinks) == 1 and root.op == ref.kinks[0] and all(s.op == "var" for s in root.src)
             and len(set(root.src)) == len(root.src))
    if alone:
        sides = kink_sides(ref, root.op)
        return f"at {_at(root.op, *sides)} {rule_constraint(root.op, *sides)}; engine gave {' and '.join(gave)}"
    rules = "; ".join(f"{rule_constraint(op, *kink_sides(ref, op))}" for op in kinked)
    what = f"({', '.join(f'd/d{v}' for v in names)})"
    points = list({tuple(p[v] for v in names): None for p in ref.vertices})
    shown = ", ".join(f"({', '.join(map(plain, p))})" for p in points[:4]) + (", …" if len(points) > 4 else "")
    if len(ref.kinks) == 1:
        where = f"at {_at(kinked[0], *kink_sides(ref, kinked[0]))} ({rules})"
        inside = f"on the segment from {shown.replace('), (', ') to (', 1)}"
    else:
        where = f"at {len(ref.kinks)} kinks of {', '.join(kinked)} ({rules})"
        inside = f"in the convex hull of {shown}"
    return f"{where} the gradient {what} must lie {inside}, within the bound; engine gave ({', '.join(gave)})"
