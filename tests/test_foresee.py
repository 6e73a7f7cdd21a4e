"""What the generator passes over (verifier.truth.judge.foresee) is what the reference
cannot decide, for a reason of magnitudes."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from verifier.floor.ir import apply, var
from verifier.model import Case
from verifier.search.strategies import cases
from verifier.truth.judge import foresee, reference

x, y = var("x"), var("y")


def test_a_pole_within_rounding_reach_is_foreseen():
    case = Case(apply("reciprocal", apply("gelu", x)), {"x": -10.0})   # the usual gelu(-10) may round to 0
    assert foresee(case)[0] == "near-pole"
    assert (reference(case).status, reference(case).cause) == ("undecided", "near-pole")


def test_an_adjoint_below_the_float_range_is_foreseen_though_a_float_shows_it_as_zero():
    # sigmoid' · log1p' = 1e-171 · 1e-171: the adjoint into sinh is 5e-343, 0.0 as a float
    case = Case(apply("sigmoid", apply("log1p", apply("sinh", y))), {"y": 394.8})
    assert foresee(case)[0] == "subnormal"
    assert reference(case).cause == "subnormal"


def test_an_ordinary_point_passes():
    assert foresee(Case(apply("tanh", apply("mul", x, y)), {"x": 0.5, "y": -3.0})) is None


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(cases(max_nodes=8, judgeable=False))
def test_foreseen_is_what_the_reference_does_not_decide(case):
    why = foresee(case)
    ref = reference(case)
    if why is not None:
        assert (ref.status, ref.cause) == ("undecided", why[0]), (str(case.expr), case.point, why)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(cases(max_nodes=8))
def test_the_generator_draws_no_point_it_foresees_no_verdict_at(case):
    assert foresee(case) is None
