"""Second order (``--order 2``): Hessian entries from engines that differentiate their own
gradients (protocol method ``second_derivatives(output, variables)``, a list of rows).

The truth is SymEngine's second derivative checked against the op table's (the chain rule
applied to the chain rule, oracles.paths.hessian). The bound is first-order in the rounding
of every factor, 16·(2L + 2)·u·Σ|terms|, plus 2^-20 of the terms' scale and of the
first-order scale of the paths (an engine also rounds, and cancels, inside its own
derivative graph, which we do not model): order 2 catches missing and wrong terms, not
precision. Only points that are first-order sound (decided, smooth, well-conditioned) are
judged: a Hessian at a kink is a distribution, not a number.
"""
from __future__ import annotations

from typing import Any

from oracles import paths as paths_oracle, symbolic
from oracles.base import OracleError
from verifier.floor.ir import size, variables
from verifier.floor.numtext import exact, short
from verifier.model import Case, EngineRun, Reference, Verdict, worst_check
from verifier.truth.bounds import PRECISIONS
from verifier.truth.judge import AGREE_DIGITS, DEEP_DPS, check_value, judge, reference, to_float

__all__ = ["second_reference", "second_judge", "pair"]

RELATIVE_FLOOR = 2.0 ** -20


def pair(v: str, w: str) -> str:
    return f"{v},{w}"


def second_reference(case: Case, dtype: str = "float64") -> Reference:
    prec = PRECISIONS[dtype]
    out, point = case.expr, case.point
    first = reference(case, dtype)
    if first.status != "ok" or first.kinks or any(first.unstable.values()):
        # second derivatives only where the first are sound, smooth and well-conditioned
        why = first.reason or ("at a kink: the second derivative is not a number there" if first.kinks
                               else "ill-conditioned at first order")
        return Reference(case, dtype, "undecided", why, valid=first.valid)
    g = paths_oracle.stable_graph(out, point, case.ops)   # it succeeded for the first-order reference
    why = ""
    if not paths_oracle.hessian_terms_in_range(g, prec.tiny * 2 ** 10, prec.max / 4):
        why = f"a derivative of a local partial leaves the normal {dtype} range"
    # a derivative graph multiplies partials by partials (atan'' goes through -ans/y with
    # ans = 1e-160 and y = 1e160): their squares must fit too
    lo, hi = (prec.tiny * 2 ** 10) ** 0.5, (prec.max / 4) ** 0.5
    if not why and any(d != 0 and not lo <= abs(d) <= hi for d in g.partials.values()):
        why = f"a product of two local partials leaves the normal {dtype} range"
    if why:
        return Reference(case, dtype, "undecided", why)
    for attempt in (g, None):
        if attempt is None:   # both look again, deeper: SymEngine's 1 - tanh² may have cancelled
            g = paths_oracle.local_graph(out, point, max(DEEP_DPS, g.dps), ops=case.ops)
        try:
            table = paths_oracle.hessian(g)
            scale = paths_oracle.hessian(g, absolute=True)
            sym = symbolic.hessian(out, point, g.dps, case.ops)
        except (OracleError, ArithmeticError, ValueError) as e:
            return Reference(case, dtype, "undecided", f"no second-order truth here: {e}")
        oracles = {"paths": {pair(*k): to_float(x) for k, x in table.items()},
                   "symbolic": {pair(*k): to_float(x) for k, x in sym.items()}}
        bad = [k for k, x in table.items()
               if abs(x - sym[k]) > scale[k] * g.m.ctx.mpf(10) ** -AGREE_DIGITS + prec.tiny]
        if not bad:
            break
    else:
        k = bad[0]
        return Reference(case, dtype, "oracle-disagreement",
                         f"d²/d{k[0]}d{k[1]}: symbolic {to_float(sym[k]):.17g} vs paths {to_float(table[k]):.17g}",
                         oracles=oracles)
    L = max(size(out), 1)
    # an engine rounds inside its derivative graph too (a subnormal -ans/y there), where no
    # model of ours looks: the bound never drops below 2^-20 of the terms' scale — a missing
    # term is an error of order one, still a million times larger
    first_scale = _first_order_scale(g)
    # a Hessian is no better conditioned than the gradient it differentiates: the gradient's
    # relative rounding (sin of a rounded x³) carries over
    rel = min(1.0, max((first.bound[v] / abs(t) for v, t in first.truth.items() if t), default=0.0))
    bound = {pair(*k): to_float(16 * (2 * L + 2) * prec.u * scale[k]
                          + (RELATIVE_FLOOR + 16 * rel) * (scale[k] + first_scale[k])) + 4 * prec.tiny
             for k in table}
    truth = {pair(*k): to_float(x) for k, x in table.items()}
    return Reference(case, dtype, "ok", truth=truth, low=dict(truth), high=dict(truth), bound=bound,
                     unstable={k: False for k in truth}, oracles=oracles)


def _first_order_scale(g) -> dict[tuple[str, str], Any]:
    """Σ over edges |adjoint · partial · d src/dv · d src/dw|: the size of what an engine's
    derivative graph handles on the way to a second derivative (σ'' near 0 is the small
    difference of terms of this size, whatever form the engine differentiates)."""
    flow = paths_oracle.LocalGraph(g.order, g.values, {e: abs(d) for e, d in g.partials.items()}, g.m, g.ops)
    adj = paths_oracle.adjoints(flow)
    names = [n.arg for n in g.order if n.op == "var"]
    tan = {v: paths_oracle.tangents(flow, v) for v in names}
    out = {}
    for v in names:
        for w in names:
            out[(v, w)] = g.m.ctx.fsum(abs(adj.get(n, 0) * d * tan[v][n.src[i]] * tan[w][n.src[i]])
                                       for (n, i), d in g.partials.items())
    return out


def second_judge(ref: Reference, run: EngineRun) -> Verdict:
    if run.status != "ok" or ref.status != "ok" or not ref.valid:
        return judge(ref, run)
    names = variables(ref.case.expr)
    labels = [pair(v, w) for v in names for w in names]
    checks = [check_value(ref, k, x) for k, x in zip(labels, run.grads)]
    worst = worst_check(checks)
    reason = ""
    if worst.verdict in ("mismatch", "nonfinite"):
        v, w = worst.variable.split(",")
        reason = (f"d²/d{v}d{w}: engine {exact(worst.actual)}, expected {exact(worst.expected)} "
                  f"(bound {short(worst.bound)})")
    return Verdict(worst.verdict, reason, tuple(checks))
