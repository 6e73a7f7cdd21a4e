"""Tensor programs: lowering, the builtin array engines, and the planted tensor bugs."""
import json

import numpy as np
import pytest
from hypothesis import given, settings

from verifier.search.campaign import Options, run_campaign
from verifier.engines import load_engine
from verifier.floor.ir import evaluate, var
from verifier.model import Case
from verifier.floor.mathns import F64
from verifier.engines.mutants import MUTANTS
from verifier.model import EngineRun
from verifier.floor.serial import expr_from_json, expr_to_json, loads, point_from_json, point_to_json
from verifier.truth.tensor_judge import tensor_judge, tensor_reference
from verifier.truth.lower import lower
from verifier.floor.program import forward, reduce_with, tapply
from verifier.search.tensor_strategies import tensor_cases

x, y = var("x"), var("y")


@settings(max_examples=80)
@given(tensor_cases())
def test_lowering_computes_what_numpy_computes(case):
    lw = lower(case.expr, case.point)
    with np.errstate(all="ignore"):
        lowered = float(evaluate(lw.out, lw.point, F64)[lw.out])
    assert lowered == pytest.approx(float(forward(case.expr, case.point)[case.expr]), rel=1e-9, abs=1e-12)


@settings(max_examples=60)
@given(tensor_cases())
def test_tensor_programs_round_trip_through_json(case):
    doc = loads(json.dumps({"expr": expr_to_json(case.expr), "point": point_to_json(case.point)}))
    assert expr_from_json(doc["expr"]) is case.expr
    back = point_from_json(doc["point"])
    assert all(np.array_equal(back[k], v) and np.shape(back[k]) == np.shape(v) for k, v in case.point.items())


@pytest.mark.parametrize("spec", ["builtin", "builtin-paths"])
def test_builtin_array_engines_have_no_discrepancy(spec):
    r = run_campaign(load_engine(spec, tensor=True), Options(examples=150, seed=5, tensor=True, max_nodes=6))
    assert not r.discrepancies, [f.expression for f in r.discrepancies]
    assert r.verdicts["agree"] > 0.7 * r.examples


TENSOR_MUTANTS = [n for n, m in MUTANTS.items() if m.options.get("tensor")]


@pytest.mark.parametrize("name", TENSOR_MUTANTS)
def test_planted_tensor_bug_is_found_small_and_blamed(name):
    m = MUTANTS[name]
    # the selftest's budget, 500 examples
    r = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, max_nodes=6, stop_after=1, **m.options))
    assert r.discrepancies, f"{name} survived"
    f = r.discrepancies[0]
    assert f.kind in m.kinds   # wrong shapes may break numpy downstream: crash is allowed by the record
    assert f.nodes <= 4, f.expression
    if m.culprits:
        assert f.culprit_op in m.culprits
    assert f.shapes, "a tensor finding names the shapes"


def test_wrong_gradient_shape_names_both_shapes():
    p = {"x": np.ones((2, 3)), "y": np.ones(3)}
    case = Case(reduce_with(tapply("add", x, y), np.ones((2, 3))), p)
    v = tensor_judge(tensor_reference(case), EngineRun("ok", (np.ones((2, 3)), np.ones((2, 3)))))
    assert v.kind == "mismatch" and "(2, 3)" in v.reason and "(3,)" in v.reason


def test_nan_through_the_unselected_branch_is_nonfinite():
    p = {"x": np.array([1.0, -1.0])}
    case = Case(reduce_with(tapply("where", x, tapply("sqrt", x), x), np.ones(2)), p)
    ref = tensor_reference(case)
    assert tensor_judge(ref, EngineRun("ok", (np.array([0.5, 1.0]),))).kind == "agree"
    assert tensor_judge(ref, EngineRun("ok", (np.array([0.5, np.nan]),))).kind == "nonfinite"


def test_every_tied_element_getting_the_full_gradient_is_a_mismatch_an_even_split_a_kink():
    # ties of max_reduce may split the incoming gradient any way that sums to it (#22): the
    # builtin engine's even split is a kink; giving each tied element all of it is not
    from verifier.checking.checker import Checker
    case = Case(reduce_with(tapply("max_reduce", x, axis=None, keepdims=False), np.array(1.0)),
                {"x": np.array([1.0, 1.0])})
    with Checker(MUTANTS["t-max-ties-full"].make(), None, tensor=True) as checker:
        v = checker.check(case)
    assert v.kind == "mismatch" and "must sum to 1" in v.reason and "engine gave (1, 1)" in v.reason, v.reason
    with Checker(load_engine("builtin", tensor=True), None, tensor=True) as checker:
        v = checker.check(case)
    assert v.kind == "kink" and [c.actual for c in v.checks if c.variable] == [0.5, 0.5]
