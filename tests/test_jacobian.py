"""Full Jacobians of small outputs: one one-hot cotangent per output element."""
import numpy as np
import pytest
from hypothesis import given, settings

from verifier.search.campaign import Options, run_campaign
from verifier.checking.checker import Checker
from verifier.engines import load_engine
from verifier.floor.ir import evaluate, var
from verifier.floor.mathns import F64
from verifier.model import Case
from verifier.engines.mutants import MUTANTS
from verifier.model import EngineRun
from verifier.checking.jacobian import MAX_ROWS, check_rows, row_cases
from verifier.truth.tensor_judge import tensor_judge, tensor_reference
from verifier.truth.lower import lower_elements
from verifier.floor.program import forward, reduce_with, tapply
from verifier.search.tensor_strategies import tensor_cases

z = var("z")
SOFTMAX = Case(reduce_with(tapply("softmax", z, axis=-1), np.array([1.0, -1.0, 0.5])),
               {"z": np.array([0.3, -1.2, 2.0])})


def test_one_row_per_output_element_with_a_one_hot_cotangent():
    rows = row_cases(SOFTMAX)
    assert [index for index, _ in rows] == [(0,), (1,), (2,)]
    for index, row in rows:
        w = row.expr.src[0].src[1]
        flat = np.array(w.arg[1])
        assert flat[index[0]] == 1.0 and np.count_nonzero(flat) == 1
        assert row.point is SOFTMAX.point


def test_no_rows_for_a_scalar_output_or_a_large_one():
    scalar = Case(reduce_with(tapply("sum", z), np.array(2.0)), {"z": np.ones(3)})
    large = Case(reduce_with(tapply("exp", z), np.ones(MAX_ROWS + 1)), {"z": np.ones(MAX_ROWS + 1)})
    assert row_cases(scalar) == [] and row_cases(large) == []
    assert row_cases(Case(tapply("sum", z), {"z": np.ones(3)})) == []   # not sum(out * W)


@settings(max_examples=40)
@given(tensor_cases())
def test_each_row_lowers_to_its_element_of_the_unreduced_output(case):
    out = case.expr.src[0].src[0]
    values = forward(out, case.point)[out]
    for index, lw in lower_elements(out, case.point):
        with np.errstate(all="ignore"):
            got = float(evaluate(lw.out, lw.point, F64)[lw.out])
        assert got == pytest.approx(float(values[index]), rel=1e-9, abs=1e-12, nan_ok=True)
        assert lw.shapes == {k: np.shape(v) for k, v in case.point.items()}


def test_the_builtin_engine_gets_every_row_right():
    with Checker(load_engine("builtin", tensor=True), None, tensor=True) as checker:
        assert checker.check(SOFTMAX).kind == "agree"


def _sparse():
    return MUTANTS["t-softmax-sparse-cotangent"].make()


def test_a_bug_only_one_hot_cotangents_show_is_found_by_the_rows():
    with Checker(_sparse(), None, tensor=True) as checker:
        vjp = tensor_judge(checker.reference(SOFTMAX), checker.executor.run(SOFTMAX.expr, SOFTMAX.point))
        assert vjp.kind == "agree"      # the random cotangent has no zero: the shortcut is never taken
        verdict = checker.check(SOFTMAX)
    assert verdict.kind == "mismatch"
    assert verdict.reason.startswith("Jacobian row out[0]")
    assert verdict.case is not None and verdict.case.expr is row_cases(SOFTMAX)[0][1].expr


def test_rows_are_skipped_when_the_random_cotangent_already_failed():
    calls = []
    failing = tensor_judge(tensor_reference(SOFTMAX), EngineRun("ok", (np.zeros(3),), 0.0))
    assert failing.kind == "mismatch"
    assert check_rows(SOFTMAX, failing, lambda row, lw: calls.append(row), calls.append) is failing
    assert calls == []


def test_a_campaign_reports_the_row_with_its_own_oracles():
    m = MUTANTS["t-softmax-sparse-cotangent"]
    r = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, max_nodes=6, stop_after=1, **m.options))
    assert r.discrepancies, "the sparse-cotangent softmax survived"
    f = r.discrepancies[0]
    assert f.culprit_op == "softmax" and f.nodes <= 4
    assert "Jacobian row" in f.message
    # the finding shows the one-hot program it judged: its oracles give the expected value
    assert f.oracles and all(v == pytest.approx(f.expected, rel=1e-6, abs=1e-12) for v in f.oracles.values())


def test_reports_show_the_shapes_the_cotangent_and_the_tensor_structure(tmp_path):
    from verifier.interfaces.output import Output
    from verifier.report import render_all
    m = MUTANTS["t-softmax-sparse-cotangent"]
    r = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, max_nodes=6, stop_after=1, **m.options),
                     Output(tmp_path, overwrite=True))
    render_all(r, tmp_path)
    f = r.discrepancies[0]
    shape = "×".join(map(str, f.shapes[next(iter(f.point))]))
    text = (tmp_path / "summary.md").read_text()
    page = (tmp_path / "index.html").read_text()
    assert f"({shape}) = " in text and f"({shape}) = " in page
    assert "<mtable>" in page                          # W drawn as a matrix in the formula
    assert "a constant parameter" not in page          # tensor edges are structure, not constants
    assert "No structured expression" not in page


def test_a_cotangent_that_broadcasts_against_the_output_gets_no_rows():
    # sum(softmax(z) * W) with W of shape (2, 2) against an output of shape (2, 1): legal, and
    # one-hot Ws of that shape are not the output's elements
    case = Case(reduce_with(tapply("softmax", z, axis=0), np.array([[1.0, -0.5], [2.0, 0.75]])),
                {"z": np.array([[0.3], [-1.2]])})
    assert len(row_cases(case)) == 4
    with Checker(load_engine("builtin", tensor=True), None, tensor=True) as checker:
        assert checker.check(case).kind == "agree"
