"""Certified enclosures (oracles.enclosure): ball arithmetic holds the exact derivative.

The cross-check is mpmath, the oracle the balls replaced: where its 100-digit answer is
trustworthy (it agrees with itself at 140 digits), the ball must contain it."""
from __future__ import annotations

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings

from oracles import paths
from oracles.base import OracleError
from oracles.enclosure import CAP, NoEnclosure, enclose, hull, interval
from verifier.engines import load_engine
from verifier.floor.ir import apply, const, var
from verifier.floor.mathns import ball, precise
from verifier.floor.serial import expr_from_json, point_from_json
from verifier.floor.vocabulary import BUILTIN
from verifier.model import Case, EngineRun
from verifier.search.campaign import Options, run_campaign
from verifier.search.strategies import cases
from verifier.truth.judge import judge, reference

x, y = var("x"), var("y")


def _mpmath(out, point, dps):
    g = paths.local_graph(out, point, dps)
    return paths.accumulate(g), g


def _inside(b, v) -> bool:
    lo, hi = b.lower(), b.upper()
    m = precise(200).ctx
    return m.mpf(lo.mid()._mpf_) <= v <= m.mpf(hi.mid()._mpf_)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(cases(max_nodes=8))
def test_the_enclosure_contains_mpmaths_100_digit_gradient(case):
    try:
        e = enclose(case.expr, case.point, case.ops)
        a, g100 = _mpmath(case.expr, case.point, 100)
        b, _ = _mpmath(case.expr, case.point, 140)
    except (OracleError, ArithmeticError):
        return
    for v, ball_ in e.gradient.items():
        if e.ties:
            continue   # a tie's partial is a ball over both sides: mpmath took one side
        trusted = abs(a[v] - b[v]) <= mpmath.mpf(10) ** -80 * max(abs(b[v]), mpmath.mpf(10) ** -300)
        if trusted:
            assert _inside(ball_, a[v]), (str(case.expr), case.point, v, ball_, a[v])


@pytest.mark.parametrize("name", sorted(n for n, op in BUILTIN.items() if op.arity - len(op.params) == 1
                                        and not op.params))
def test_every_unary_op_is_enclosed_on_balls(name):
    """The op table's forward and partials on balls hold mpmath's 100-digit values."""
    op = BUILTIN[name]
    for t in (-3.7, -0.45, 0.3, 1.7, 12.5):
        if not op.domain(t):
            continue
        m = ball(256)
        mp = precise(100)
        with m.working():
            value = op.forward(m, m.float(t))
            partial = m.float(op.partials[0](m, m.float(t), value))
        want = op.forward(mp, mp.float(t))
        assert _inside(value, want), (name, t, value, want)
        d = op.partials[0](mp, mp.float(t), want)
        assert _inside(partial, d), (name, t, partial, d)


def test_more_bits_until_the_balls_are_narrow():
    # x + y - x at x = 1e139 keeps y only with 139 digits more than y needs
    e = apply("sub", apply("add", x, y), x)
    enc = enclose(e, {"x": 1e139, "y": 0.4})
    assert enc.prec > 192
    lo, hi = interval(enc.value)
    assert lo <= 0.4 <= hi and hi - lo < 1e-15
    with pytest.raises(NoEnclosure):
        enclose(e, {"x": 1e139, "y": 0.4}, cap=192)


def test_a_near_tie_is_told_apart_by_more_bits_and_a_true_tie_is_a_tie():
    near = apply("maximum", x, apply("add", const(1.0), x))      # 1 + x > x, by 1 in 1e83
    enc = enclose(near, {"x": 1e83})
    assert not enc.ties and interval(enc.gradient["x"]) == (1.0, 1.0)
    tie = apply("maximum", apply("sin", x), apply("sin", x))
    assert enclose(tie, {"x": 0.7}).ties
    # each side's gradient is enclosed: at a tie of relu the hull holds 0 and the slope
    kinked = apply("relu", apply("sub", apply("sin", x), apply("sin", apply("add", x, const(0.0)))))
    enc = enclose(kinked, {"x": 0.7})
    lo, hi = interval(hull(enc)["x"])
    assert lo <= 0.0 <= hi and hi - lo < 1e-15


def test_outside_the_domain_is_an_oracle_error_not_a_wide_ball():
    with pytest.raises(OracleError, match="outside the domain of log"):
        enclose(apply("log", x), {"x": -1.0})
    assert CAP >= 4096


def test_no_enclosure_within_the_cap_is_undecided_with_that_reason(monkeypatch):
    import verifier.truth.judge as judge_module
    monkeypatch.setattr(judge_module, "enclose", lambda out, point, ops, start=192: enclose(out, point, ops, cap=192))
    ref = judge_module.reference(Case(apply("sub", apply("add", x, y), x), {"x": 1e139, "y": 0.4}))
    assert (ref.status, ref.cause) == ("undecided", "no-enclosure"), ref.reason


def test_a_mismatch_carries_the_certified_enclosure_it_is_proven_by():
    ref = reference(Case(apply("tanh", x), {"x": 0.5}))
    exact = 1 / mpmath.cosh(mpmath.mpf(0.5)) ** 2
    lo, hi = ref.enclosure["x"]
    assert lo <= exact <= hi and 0 < hi - lo < 1e-15 and ref.precision >= 192
    wrong = float(exact) * (1 + 1e-9)
    verdict = judge(ref, EngineRun("ok", (wrong,)))
    check = verdict.failing
    assert verdict.kind == "mismatch" and check.enclosure == (lo, hi)
    assert not (lo - check.bound <= wrong <= hi + check.bound)


def test_a_planted_bug_is_reported_with_its_enclosure():
    result = run_campaign(load_engine("mutant:tanh-rule"), Options(examples=200, seed=0, ops=("tanh", "add", "mul"),
                                                                   check_timeout=None))
    found = [f for f in result.discrepancies if f.kind == "mismatch" and f.enclosure]
    assert found, [(f.kind, f.message) for f in result.discrepancies]
    f = found[0]
    lo, hi = f.enclosure
    assert f.precision_bits >= 192 and lo <= hi
    assert f.actual < lo - f.bound or f.actual > hi + f.bound
    # the exact derivative, by hand at 100 digits, is inside
    exact, _ = _mpmath(expr_from_json(f.expr), point_from_json(f.point), 100)
    assert lo <= exact[f.variable] <= hi
