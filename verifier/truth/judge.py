"""Ground truth, per-point tolerance, verdicts.

``reference(case)`` asks the oracles — it never sees the engine, so it can be computed once
and reused across engines, shrinking steps and replays. ``judge(ref, run)`` compares one
engine run with it. Verdicts (DESIGN §6): agree, mismatch, nonfinite, crash, timeout, kink,
undecided, oracle-disagreement — plus ``inconsistent`` for engines whose answer changes when
the same graph is built twice (state leaking between calls).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from typing import Any

from oracles import paths as paths_oracle, symbolic
from oracles.base import OracleError
from oracles.numeric import analytic, complex_step, mpmath_diff, richardson
from verifier.floor.ir import size, variables
from verifier.floor.numtext import exact, short
from verifier.model import Case, Check, EngineRun, Reference, Verdict, worst_check
from verifier.truth.bounds import (C1, C2, MAX_KINKS, PRECISIONS, RHO, forward_radius, kink_interval, near_kinks,
                                   nonlinear, sensitivity, worst_sides)

__all__ = ["reference", "judge", "check_value", "to_float"]

AGREE_DIGITS = 25      # symbolic and paths must agree to this many digits of the scale
DEEP_DPS = 420         # enough for any cancellation that still matters above float64's tiny
UNSTABLE = 1e-2        # rounding moves the gradient by >1% of its scale: no honest verdict


def to_float(x) -> float:
    try:
        return float(x)
    except (OverflowError, ValueError):
        return math.inf if x > 0 else -math.inf


def _undecided(case: Case, dtype: str, reason: str, **kw) -> Reference:
    return Reference(case, dtype, "undecided", reason, **kw)


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
    disagreement: str = ""


def _ranges(g, prec) -> str:
    """Why a float engine cannot hold this computation, or "" if it can."""
    # values, partials, adjoints: a float engine must hold each of them (an adjoint of 1e-409
    # on the way to a gradient of 1e-296 flushes to 0 in reverse mode)
    for x in chain(g.values.values(), g.partials.values(), paths_oracle.adjoints(g).values()):
        if abs(x) > prec.max / 4 or (x != 0 and abs(x) < prec.tiny * 2 ** 10):
            return f"an intermediate quantity leaves the normal {prec.name} range"
    # and the chain rule's partial products, in the order path and forward engines form them
    if max(paths_oracle.largest_products(g)) > prec.max / 4:
        return f"a chain-rule product overflows {prec.name}"
    return ""


def _truth(case: Case, g, prec) -> _Truth | str:
    """Paths' answer (an interval at kinks) checked against a second witness; a string
    says why no verdict is possible."""
    out, point = case.expr, case.point
    r = forward_radius(g, prec.u)
    kinks = near_kinks(g, r)
    if len(kinks) > MAX_KINKS:
        return f"{len(kinks)} kinks at this point (at most {MAX_KINKS} analysed)"
    truth = paths_oracle.accumulate(g)
    lo, hi = kink_interval(g, kinks) if kinks else (truth, truth)
    scale = paths_oracle.accumulate(g, worst_sides(g, kinks), absolute=True)
    if max(scale.values(), default=0) > prec.max / 4:
        return f"the gradient leaves the {prec.name} range"
    t = _Truth(g, truth, lo, hi, scale, kinks, r, {"paths": {v: to_float(x) for v, x in truth.items()}})
    try:
        witness = symbolic.gradient(out, point, dps=g.dps, ops=case.ops)
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


def _float_witnesses(case: Case, oracles: dict) -> None:
    """The float64 numerical derivatives a user would compute by hand, for the report: they
    inform, they never decide (a difference quotient is good to ~1e-8 at best)."""
    try:
        oracles["richardson"] = {v: float(x) for v, x in richardson(case.expr, case.point, case.ops).grad.items()}
        if analytic(case.expr, case.ops):
            oracles["complex_step"] = {v: float(x) for v, x in complex_step(case.expr, case.point, case.ops).grad.items()}
    except (OracleError, ArithmeticError, ValueError, TypeError):
        pass


def reference(case: Case, dtype: str = "float64") -> Reference:
    prec = PRECISIONS[dtype]
    out, point = case.expr, case.point
    try:
        g = paths_oracle.stable_graph(out, point, case.ops)
    except OracleError as e:
        # outside a domain, an engine may raise or return nan: nothing to hold against it
        return _undecided(case, dtype, str(e), valid=not str(e).startswith("outside the domain"))
    except ArithmeticError as e:   # mpmath's exponent range too (exp(exp(1e308))): no truth here
        return _undecided(case, dtype, f"no high-precision value: {type(e).__name__}")
    why = _ranges(g, prec)
    if why:
        return _undecided(case, dtype, why)
    t = _truth(case, g, prec)
    if isinstance(t, _Truth) and t.disagreement and g.dps < DEEP_DPS:
        # two precision levels can agree on the same wrong answer (log of a tanh that is
        # 1 - 1e-291 needs 291 digits): before blaming an oracle, both look again, deeper
        try:
            t = _truth(case, paths_oracle.local_graph(out, point, DEEP_DPS, ops=case.ops), prec)
        except (OracleError, ArithmeticError) as e:
            t = f"no deeper look possible: {e}"
    if isinstance(t, str):
        return _undecided(case, dtype, t)
    if t.disagreement:
        if "mpmath" not in t.oracles:
            try:
                t.oracles["mpmath"] = {k: to_float(x) for k, x in mpmath_diff(out, point, dps=t.g.dps, ops=case.ops).grad.items()}
            except OracleError:
                pass
        return Reference(case, dtype, "oracle-disagreement", t.disagreement,
                         truth={k: to_float(x) for k, x in t.truth.items()}, oracles=t.oracles)
    g = t.g
    _float_witnesses(case, t.oracles)
    try:
        wobble = {v: C2 * RHO * prec.u * s for v, s in sensitivity(out, point, g, prec, t.kinks).items()}
    except (OracleError, ArithmeticError) as e:  # an ε-sized rounding error already leaves a domain
        return _undecided(case, dtype, f"ill-conditioned: rounding alone goes {e}")
    floor = 4 * prec.tiny
    L = max(size(out), 1)
    bound = {v: to_float(C1 * prec.u * L * t.scale[v] + wobble[v]) + floor for v in t.truth}
    unstable = {v: bool(wobble[v] > UNSTABLE * t.scale[v]) and wobble[v] > floor for v in t.truth}
    # the forward value's radius is first order too: log(tan(atan(1)))² rounds to 1.2e-32
    # where its derivative 2·log(…) is 0, an error the radius cannot see
    value_unstable = nonlinear(g, t.radius, t.kinks)
    if value_unstable:
        unstable = {v: True for v in t.truth}
    value = g.values[out]
    return Reference(
        case, dtype, "ok", value=to_float(value),
        value_bound=to_float(C1 * t.radius[out] + RHO * prec.u * abs(value)) + floor, value_unstable=value_unstable,
        truth={v: to_float(x) for v, x in t.truth.items()}, low={v: to_float(x) for v, x in t.lo.items()},
        high={v: to_float(x) for v, x in t.hi.items()}, bound=bound, unstable=unstable,
        kinks=tuple(n.op for n in t.kinks), oracles=t.oracles, scale={v: to_float(x) for v, x in t.scale.items()})


def check_value(ref: Reference, v: str, actual: float) -> Check:
    t, lo, hi, b = ref.truth[v], ref.low[v], ref.high[v], ref.bound[v]
    kw = dict(expected=t, actual=actual, bound=b, low=lo if lo != hi else None, high=hi if lo != hi else None)
    if not math.isfinite(actual):
        return Check(v, "nonfinite", **kw)
    miss = max(lo - actual, actual - hi, 0.0)
    if miss <= b:
        return Check(v, "kink" if lo != hi else "agree", **kw)
    return Check(v, "undecided" if ref.unstable[v] else "mismatch", **kw)


def judge(ref: Reference, run: EngineRun) -> Verdict:
    if not ref.valid:
        return Verdict(ref.status, ref.reason)
    if run.status != "ok":
        kind = {"malformed": "mismatch"}.get(run.status, run.status)
        return Verdict(kind, run.message, where=run.where, origin=run.origin)
    if ref.status != "ok":
        return Verdict(ref.status, ref.reason)
    names = variables(ref.case.expr)
    checks = [check_value(ref, v, g) for v, g in zip(names, run.grads)]
    if run.value is not None and ref.value is not None:
        miss = abs(run.value - ref.value)
        kind = ("agree" if miss <= ref.value_bound else "nonfinite" if not math.isfinite(run.value)
                else "undecided" if ref.value_unstable else "mismatch")
        checks.insert(0, Check(None, kind, ref.value, run.value, ref.value_bound))
    worst = worst_check(checks)
    reason = ""
    if worst.verdict in ("mismatch", "nonfinite"):
        what = "the forward value" if worst.variable is None else f"d/d{worst.variable}"
        reason = f"{what}: engine {exact(worst.actual)}, expected {exact(worst.expected)} (bound {short(worst.bound)})"
    elif worst.verdict == "undecided":
        reason = "ill-conditioned: rounding alone moves the gradient by more than 1% of its scale"
    elif worst.verdict == "kink":
        reason = f"at a kink of {', '.join(sorted(set(ref.kinks)))}"
    return Verdict(worst.verdict, reason, tuple(checks))
