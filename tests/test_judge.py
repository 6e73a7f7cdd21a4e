"""Verdicts at the points where naive tolerances go wrong."""
import math

import pytest
from hypothesis import given, settings

from oracles import numeric
from verifier.floor.ir import apply, const, var
from verifier.truth.judge import judge, reference
from verifier.model import Case
from verifier.model import EngineRun
from verifier.search.strategies import cases

x, y = var("x"), var("y")


def verdict(expr, point, grads, value=None, dtype="float64"):
    return judge(reference(Case(expr, point), dtype), EngineRun("ok", tuple(grads), value))


def test_correct_float64_rounding_is_not_flagged_where_the_truth_is_tiny():
    # tanh'(20) = 1 - tanh(20)² rounds to 0 in float64; the truth is 1.7e-17
    assert verdict(apply("tanh", x), {"x": 20.0}, [0.0]).kind == "agree"


def test_a_variable_exponent_rounds_y_minus_1_inside_its_rule():
    # torch's y·x^(y-1) at x = 1e16, y = 1e-8: y - 1 rounds, and x^(y-1) makes that 37 units
    e = apply("powv", x, y)
    ref = reference(Case(e, {"x": 1e16, "y": 1e-8}))
    assert judge(ref, EngineRun("ok", (1.0000003684136846e-24, ref.truth["y"]))).kind == "agree"
    assert judge(ref, EngineRun("ok", (1.0000003684136828e-24 * (1 + 1e-13), ref.truth["y"]))).kind == "mismatch"


def test_a_forward_value_that_only_second_order_rounding_explains_is_not_a_mismatch():
    # log(tan(atan(|expm1(-40)|)))² : tan(atan(1)) rounds to 1 - 1.1e-16, and the square of
    # its log is 1.2e-32 where the truth is 1.8e-35 — the square's derivative there is ~0
    inner = apply("log", apply("tan", apply("atan", apply("abs", apply("expm1", x)))))
    e = apply("pow", inner, const(2.0))
    ref = reference(Case(e, {"x": -40.0}))
    assert ref.value < 1e-34 and ref.value_unstable
    assert judge(ref, EngineRun("ok", (0.0,), 1.232595164407831e-32)).kind in ("agree", "undecided")
    # at -660 the exact value is e^-1320, past the float range: no verdict at all
    ref = reference(Case(e, {"x": -660.0}))
    assert (ref.status, ref.cause) == ("undecided", "subnormal")
    # where rounding is first order, a wrong value is still a mismatch
    ref = reference(Case(apply("sin", x), {"x": 0.5}))
    assert not ref.value_unstable
    assert judge(ref, EngineRun("ok", (ref.truth["x"],), math.sin(0.5) * (1 + 1e-12))).kind == "mismatch"


def test_float32_level_error_is_flagged_on_a_well_conditioned_expression():
    e = apply("sin", apply("mul", x, y))
    ref = reference(Case(e, {"x": 0.7, "y": 1.3}))
    g = [ref.truth["x"] * (1 + 6e-8), ref.truth["y"]]
    assert judge(ref, EngineRun("ok", tuple(g))).kind == "mismatch"


def test_kink_accepts_any_subgradient_and_rejects_others():
    e = apply("relu", x)
    assert verdict(e, {"x": 0.0}, [0.0]).kind == "kink"
    assert verdict(e, {"x": 0.0}, [0.5]).kind == "kink"
    assert verdict(e, {"x": 0.0}, [2.0]).kind == "mismatch"


def test_tie_in_maximum_accepts_any_split_of_the_gradient_and_nothing_else():
    # at a tie the partials are (t, 1 - t): each alone in [0, 1] is not enough (#22), so
    # "every tied argument gets the full gradient" and "neither gets it" are mismatches
    e = apply("maximum", x, y)
    for g in ([1.0, 0.0], [0.5, 0.5], [0.0, 1.0]):
        assert verdict(e, {"x": 1.0, "y": 1.0}, g).kind == "kink"
    for g in ([2.0, 0.0], [-0.5, 1.0], [1.0, 1.0], [0.0, 0.0]):
        assert verdict(e, {"x": 1.0, "y": 1.0}, g).kind == "mismatch"


def test_rounding_that_can_cross_a_kink_widens_the_interval():
    # max(expm1(log x), x) at x = 6.7e28: exactly the first is x - 1 < x, in float64 they tie
    e = apply("sqrt", apply("maximum", apply("expm1", apply("log", x)), y))
    p = {"x": 6.694684856796296e+28, "y": 6.694684856796296e+28}
    ref = reference(Case(e, p))
    assert ref.kinks == ("maximum",)
    assert judge(ref, EngineRun("ok", (1.9324351804967674e-15, 0.0))).kind == "kink"


def test_outside_the_domain_nothing_is_held_against_the_engine():
    v = judge(reference(Case(apply("log", x), {"x": -1.0})), EngineRun("crash", message="ValueError"))
    assert v.kind == "undecided" and "domain" in v.reason


def test_nonfinite_gradient_where_the_truth_is_finite():
    assert verdict(apply("sqrt", x), {"x": 4.0}, [math.nan]).kind == "nonfinite"


def test_wrong_forward_value_is_reported_as_such():
    v = verdict(apply("exp", x), {"x": 1.0}, [math.e], value=3.0)
    assert v.kind == "mismatch" and v.failing.variable is None


def test_catastrophic_cancellation_needs_more_digits_and_gets_them():
    # x - y - y - (x + sqrt(2y)) at x = 7.6e139 needs ~190 digits to see y at all
    e = apply("sub", apply("sub", apply("sub", x, y), y), apply("add", x, apply("sqrt", apply("add", y, y))))
    ref = reference(Case(e, {"x": 7.594430950652872e+139, "y": 0.3822508767002937}))
    assert ref.status == "ok"
    assert ref.truth["y"] == pytest.approx(-2 - 1 / math.sqrt(2 * 0.3822508767002937), rel=1e-15)


@settings(max_examples=150)
@given(cases(max_nodes=6))
def test_oracles_agree_with_each_other(case):
    """symbolic and paths agree at 50+ digits; numeric witnesses agree where they apply."""
    ref = reference(case)
    if ref.status != "ok" or ref.kinks:
        return
    sym = ref.oracles.get("symbolic")
    for v, t in ref.truth.items():
        if sym is not None:   # to 25 digits of the scale Σ|path products|, the judge's criterion
            assert abs(sym[v] - t) <= 1e-20 * ref.scale[v] + 1e-300
    if numeric.analytic(case.expr) and all(abs(x) < 1e3 for x in case.point.values()):
        cs = numeric.complex_step(case.expr, case.point)
        for v, t in ref.truth.items():
            # the complex step is float64 forward mode: its error is relative to the scale
            # Σ|path products|, not to the truth (hypot(x, r) - r at r = 9e98 cancels to 0 in
            # it, where the truth is 2.2e100 and the scale 7e296)
            if not ref.unstable[v] and math.isfinite(cs.grad[v]):
                assert abs(cs.grad[v] - t) <= 1e-6 * (ref.scale[v] + abs(t) + 1)


def test_a_value_beyond_any_float_range_is_undecided_at_once():
    # cos of e^(e^(e^7)) = cos(10^(10^1400)): mpmath would want π to that many digits
    e = apply("cos", apply("exp", apply("exp", apply("exp", x))))
    ref = reference(Case(e, {"x": 7.0}))
    assert ref.status == "undecided" and "beyond any float range" in ref.reason


def test_the_complex_step_is_exact_at_tiny_arguments():
    # a step floored at 1e-230 was 1e-2 of x = 1e-228: log' came out 0.99997e228
    from oracles.numeric import complex_step
    for x0 in (1e-228, 1e-300, 1e-3, 1e300):
        assert complex_step(apply("log", x), {"x": x0}).grad["x"] == pytest.approx(1 / x0, rel=1e-14)
    assert complex_step(apply("exp", x), {"x": 0.0}).grad["x"] == 1.0
    # numpy's complex log1p is log(1 + z): its real part at 1e-12 was 9e-5 off, and log of it
    # carried that into the derivative
    d = complex_step(apply("log", apply("log1p", x)), {"x": 1e-12}).grad["x"]
    assert d == pytest.approx(1 / (math.log1p(1e-12) * (1 + 1e-12)), rel=1e-14)
    d = complex_step(apply("log", apply("expm1", x)), {"x": 1e-12}).grad["x"]
    assert d == pytest.approx(math.exp(1e-12) / math.expm1(1e-12), rel=1e-14)
    # hypot squared its complex arguments unscaled: z² underflowed at z = 1.2e-198 (and
    # overflows past 1e154), and hypot(z, z)' came out 0
    for z0 in (1.237536147495623e-198, 1e200, -3.0):
        d = complex_step(apply("hypot", x, x), {"x": z0}).grad["x"]
        assert d == pytest.approx(math.copysign(math.sqrt(2), z0), rel=1e-15)
    # c/(x + ih) with c = 8e-295: at h = 1e-30·x the imaginary part underflowed to 0 inside
    # numpy's complex division (it stays subnormal at 1e-20·x: 1e-10 off)
    c, x0 = 7.808227841123445e-295, 2.8164664734862657e-156
    d = complex_step(apply("div", const(c), x), {"x": x0}).grad["x"]
    assert d == pytest.approx(-c / x0 ** 2, rel=1e-8)
