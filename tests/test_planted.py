"""The tool exists to find wrong derivatives: every planted bug is found, shrunk, blamed."""
import pytest

from verifier.engines.mutants import MUTANTS
from verifier.search.campaign import Options, run_campaign

# one or two per bug class, found within a second: the gate. Every scalar mutant runs in the
# slow sweep (and in `adverify selftest`, benchmarks/detection.py).
QUICK = ("abs-one", "div-sign", "mul-swapped", "abs-ratio", "max-tie-zero", "min-tie-zero", "exp-float32", "float32-grads",
         "overwrite", "arg-dict", "leaves-first", "interned-leaves", "stale-tape",
         "gelu-tanh-derivative", "softplus-overflow")
SCALAR = [name for name, m in MUTANTS.items() if not m.options]


def _found_shrunk_and_blamed(name: str, max_nodes: int = 4) -> None:
    m = MUTANTS[name]
    result = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, stop_after=1))
    assert result.discrepancies, f"{name} survived 500 examples"
    f = result.discrepancies[0]
    assert f.kind in m.kinds
    assert f.nodes <= max_nodes, f.expression
    if m.culprits is None:
        # no op to name (blamed_right is None): in these scalar mutants the fault is in leaf or
        # state handling (merged leaves, a stale tape), every op is right on its own, and a
        # right blame says so: a composition fault, never an op's rule
        # (#22: state kept between calls, seen as a second identical build answering
        # differently, may be named as that: "inconsistent")
        assert f.blame in ("composition", "inconsistent"), (f.culprit_op, f.blame, f.message)
        if m.bug_class == "identical leaves merged":
            assert "identical leaves merged" in f.message, f.message
        if f.kind == "inconsistent":   # stale state: the same graph twice, two answers
            assert "second identical graph" in f.message, f.message
    else:
        assert m.blamed_right(f.culprit_op, f.blame) is True, (f.culprit_op, f.blame)
    if m.culprits == ():   # a composition fault: blame still points at the node where it shows
        assert f.culprit_op is not None


@pytest.mark.parametrize("name", QUICK)
def test_planted_bug_is_found_shrunk_and_blamed(name):
    _found_shrunk_and_blamed(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SCALAR if n not in QUICK])
def test_every_planted_bug_is_found(name):
    _found_shrunk_and_blamed(name, max_nodes=5)


def test_a_dropped_chain_factor_is_blamed_on_the_op_that_drops_it():
    # sin's backward ignores its upstream gradient: sin alone (upstream 1) is right, so the
    # fault shows first in sin's consumer, which is right alone too
    f = run_campaign(MUTANTS["sin-chain"].make(), Options(examples=500, seed=0, stop_after=1)).discrepancies[0]
    assert (f.culprit_op, f.blame) == ("sin", "local-rule"), f.expression
    assert "upstream gradient" in f.message


@pytest.mark.parametrize("name", ["interned-leaves", "shared-constants"])
def test_merged_leaves_are_named_as_such_not_as_a_wrong_rule(name):
    f = run_campaign(MUTANTS[name].make(), Options(examples=500, seed=0, stop_after=1)).discrepancies[0]
    assert f.blame == "composition" and "identical leaves merged" in f.message, f.message
    assert "rule is right" in f.message or "right alone" in f.message


def test_reuse_bug_reproducer_shows_the_reuse():
    f = run_campaign(MUTANTS["overwrite"].make(), Options(examples=300, seed=1, stop_after=1)).discrepancies[0]
    assert "shared" in f.message or "share" in f.message
    assert any(f.steps[0].count(v) == 2 for v in f.point)   # e.g. %1 = mul(x, x)


def test_float32_precision_loss_is_one_finding_classified_as_precision():
    r = run_campaign(MUTANTS["float32-grads"].make(), Options(examples=300, seed=0))
    precision = [f for f in r.discrepancies if f.blame == "precision"]
    assert len(precision) == 1


def test_a_wrong_rule_at_equal_values_is_still_the_rule_not_merged_leaves():
    # x - y at x == y: sub-sign's d/dy is wrong whether or not the leaves are one variable,
    # so the merged-leaves explanation (right as one variable, right apart) must not apply
    from verifier.checking.checker import Checker
    from verifier.floor.ir import apply, var
    from verifier.model import Case
    from verifier.search.blame import blame
    case = Case(apply("sub", var("x"), var("y")), {"x": 2.0, "y": 2.0})
    with Checker(MUTANTS["sub-sign"].make(), 5.0) as checker:
        verdict = checker.check(case)
        assert verdict.is_discrepancy
        b = blame(case, verdict, checker.check)
    assert (b.op, b.how) == ("sub", "local-rule"), b
    with Checker(MUTANTS["interned-leaves"].make(), 5.0) as checker:
        verdict = checker.check(case)
        b = blame(case, verdict, checker.check)
    assert b.how == "composition" and "x and y both hold 2" in b.detail, b


def test_a_gradient_flushed_by_float32_storage_is_precision_a_rule_that_flushes_is_not():
    # float32-grads flushes d(x²)/dx = 1.7e-120 to 0: pow fails alone as every op would, and
    # only the float32 rounding of x*0.1's gradient tells storage from a wrong pow rule;
    # sigmoid-overflow's rule flushes by itself in float64 and stays a local rule
    from verifier.checking.checker import Checker
    from verifier.floor.ir import apply, const, var
    from verifier.model import Case
    from verifier.search.blame import blame
    for name, case, how in [
            ("float32-grads", Case(apply("pow", var("x"), const(2.0)), {"x": 8.646e-121}), "precision"),
            ("sigmoid-overflow", Case(apply("sigmoid", var("x")), {"x": -500.0}), "local-rule")]:
        with Checker(MUTANTS[name].make(), 5.0) as checker:
            verdict = checker.check(case)
            assert verdict.is_discrepancy and verdict.failing.actual == 0.0
            assert blame(case, verdict, checker.check).how == how, name
