"""Blame names the right op and the right cause (issue #22, item 7 and the blame side of 5).

Each test reproduces a wrong blame of before with a faulty engine (tests/faulty_engines.py)
or a mutant, through the real checker: the op, the cause and the signature must be right."""
import faulty_engines as F
import numpy as np
import pytest

from verifier.checking.checker import Checker
from verifier.engines.mutants.scalar import SCALAR
from verifier.engines.mutants.tensor import TENSOR
from verifier.floor.ir import apply, show, size, var
from verifier.floor.program import reduce_with, tapply
from verifier.model import Case, Check, Verdict
from verifier.search.blame import Blame, blame, origin_of, signature
from verifier.search.reduce import BUDGET, simplify
from verifier.truth.leaks import unselected_leak

MUTANT = {m.name: m for m in SCALAR}
x, y = var("x"), var("y")


def _blamed(engine, case: Case) -> tuple[Verdict, Blame, str]:
    with Checker(engine, 5.0) as checker:
        verdict = checker.check(case)
        assert verdict.is_discrepancy, verdict
        b = blame(case, verdict, checker.check)
    return verdict, b, signature(verdict, b)


# ── 1. signatures name the op ─────────────────────────────────────────────────────────────

def test_the_same_bug_in_two_ops_is_two_signatures_each_naming_its_op():
    # before: both "mismatch:composition", so minimum's bug hid under maximum's finding
    _, b_max, s_max = _blamed(F.TieZero(), Case(apply("maximum", x, x), {"x": 1.5}))
    _, b_min, s_min = _blamed(F.TieZero(), Case(apply("minimum", x, x), {"x": 1.5}))
    assert (b_max.op, b_min.op) == ("maximum", "minimum")
    assert s_max != s_min and "maximum" in s_max and "minimum" in s_min, (s_max, s_min)


def test_signature_names_the_op_of_a_composition_and_of_a_precision_blame():
    v = Verdict("mismatch")
    assert signature(v, Blame("minimum", 1, "composition")) == "mismatch:composition:minimum"
    assert signature(v, Blame("log", 1, "precision")) == "mismatch:precision:log"
    assert signature(Verdict("mismatch", mode="forward"), Blame("div", 1, "local-rule")) == "mismatch:div:forward"


@pytest.mark.parametrize("name, cases, probe", [
    ("overwrite", [apply("add", x, x), apply("mul", x, x), apply("mul", apply("sin", x), x)], "add"),
    ("leaves-first", [apply("atan", apply("atan", x)), apply("exp", apply("exp", x)),
                      apply("div", apply("sin", x), x)], "add+mul")])
def test_an_engine_wide_fault_is_one_signature_that_names_ops(name, cases, probe):
    sigs = {_blamed(MUTANT[name].make(), Case(e, {"x": 0.3}))[2] for e in cases}
    assert len(sigs) == 1 and next(iter(sigs)).endswith(probe), sigs


# ── 2. precision only when it is precision ────────────────────────────────────────────────

def test_a_rule_one_part_in_a_million_off_here_and_1_percent_off_elsewhere_is_not_precision():
    verdict, b, sig = _blamed(F.LogEpsilon(), Case(apply("log", x), {"x": 1.0}))
    bad = verdict.failing
    assert abs(bad.actual - bad.expected) < 1e-5 * abs(bad.expected)   # what made it "precision"
    assert (b.op, b.how) == ("log", "local-rule"), b
    assert "beyond float32 rounding" in b.detail and sig == "mismatch:log"


def test_a_rule_rounded_to_float32_is_still_precision():
    _, b, sig = _blamed(MUTANT["exp-float32"].make(), Case(apply("exp", x), {"x": 0.3}))
    assert (b.op, b.how, sig) == ("exp", "precision", "mismatch:precision:exp"), b


def test_a_dropped_term_is_a_missing_term_not_precision():
    # leaves-first drops tanh's path in x + tanh(x) at x = 7: 1 for 1 + 3.3e-6, a relative
    # error under 1e-5 that was labelled precision
    verdict, b, _ = _blamed(MUTANT["leaves-first"].make(), Case(apply("add", x, apply("tanh", x)), {"x": 7.0}))
    assert verdict.failing.actual == 1.0
    assert b.how == "composition", b
    assert "a term is missing: the path x → tanh → add contributes 3.3e-06" in b.detail, b.detail


def test_an_accumulation_fault_names_the_missing_term():
    _, b, _ = _blamed(MUTANT["overwrite"].make(), Case(apply("add", x, x), {"x": 0.3}))
    assert "a term is missing: the path x → add contributes 1" in b.detail, b.detail
    _, b, _ = _blamed(MUTANT["double-visit"].make(),
                      Case(apply("mul", apply("sin", x), apply("sin", x)), {"x": 0.3}))
    assert "counted twice" in b.detail, b.detail


# ── 3. one crash root cause, its trigger named ────────────────────────────────────────────

def test_a_crash_on_the_same_node_given_twice_is_one_root_cause_named_as_such():
    # before: crash:maximum, crash:add, crash:mul — three findings for one engine line
    blames = [_blamed(F.SameNodeTwice(), Case(e, {"x": 0.5}))
              for e in (apply("maximum", apply("log", x), apply("log", x)), apply("add", x, x),
                        apply("mul", apply("sin", x), apply("sin", x)))]
    assert len({s for _, _, s in blames}) == 1, [s for _, _, s in blames]
    assert blames[0][2].startswith("crash:ValueError@faulty_engines.py:"), blames[0][2]
    assert [b.op for _, b, _ in blames] == ["maximum", "add", "mul"]
    for _, b, _ in blames:
        assert b.how == "crash" and "crashes when an op is given the same node twice" in b.detail, b


def test_crashes_from_one_engine_line_share_a_signature_whatever_op_raised():
    def never(case):   # blame of a crash whose op is named needs no check but the trigger's
        return Verdict("agree")
    sigs = set()
    for op, expr in (("log", apply("log", x)), ("exp", apply("exp", x))):
        v = Verdict("crash", "ValueError: bad input", where=op, origin="my_engine.py:88")
        b = blame(Case(expr, {"x": 0.5}), v, never)
        assert (b.op, b.how) == (op, "crash") and "my_engine.py:88" in b.detail
        sigs.add(signature(v, b))
    assert sigs == {"crash:ValueError@my_engine.py:88"}
    # without the runner's origin, the line the message ends with
    assert origin_of(Verdict("crash", "KeyError: 'a' (engine.py:12)")) == "engine.py:12"


# ── 4. a nonfinite gradient from an overflowing intermediate ──────────────────────────────

CASE_OVERFLOW = Case(apply("div", x, apply("maximum", x, x)), {"x": 1e200})


def test_a_nan_from_an_overflowing_rule_names_the_rule_and_the_intermediate():
    verdict, b, sig = _blamed(F.DivOverflow(), CASE_OVERFLOW)
    assert verdict.kind == "nonfinite"
    assert (b.op, sig) == ("div", "nonfinite:div"), b
    assert "div's rule overflows: y·y = inf at y = 1e+200" in b.detail, b.detail


# ── 5. after blame, the bystanders go ─────────────────────────────────────────────────────

def test_simplify_drops_the_op_the_fault_does_not_need():
    calls = []
    with Checker(F.DivOverflow(), 5.0) as checker:
        def check(case):
            calls.append(case)
            return checker.check(case)
        verdict = checker.check(CASE_OVERFLOW)
        b = blame(CASE_OVERFLOW, verdict, checker.check)
        case, v, b2 = simplify(CASE_OVERFLOW, verdict, b, check)
        again = simplify(CASE_OVERFLOW, verdict, b, checker.check)
    assert show(case.expr) == "x/x" and size(case.expr) == 1, show(case.expr)
    assert signature(v, b2) == signature(verdict, b) and b2.op == "div"
    assert len(calls) <= BUDGET
    assert again[0] == case   # deterministic


def test_simplify_keeps_the_culprit_and_stops_within_its_budget():
    case = Case(apply("tanh", apply("sin", apply("mul", x, y))), {"x": 0.5, "y": 0.75})
    with Checker(MUTANT["tanh-rule"].make(), 5.0) as checker:
        verdict = checker.check(case)
        b = blame(case, verdict, checker.check)
        small, v, b2 = simplify(case, verdict, b, checker.check)
        spent = simplify(case, verdict, b, checker.check, budget=1)
    assert small.expr.op == "tanh" and size(small.expr) == 1 and b2.op == "tanh", show(small.expr)
    assert spent[0] == case   # one check buys no removal: the case comes back as it was


# ── 6. inconsistent is not a composition fault ────────────────────────────────────────────

def test_an_inconsistent_answer_is_blamed_as_such_not_as_path_accumulation():
    verdict, b, sig = _blamed(F.Flaky(), Case(apply("mul", apply("sin", x), x), {"x": 0.5}))
    assert verdict.kind == "inconsistent"
    assert (b.op, b.how, b.detail) == (None, "inconsistent", "two identical builds gave different answers")
    assert sig == "inconsistent"


# ── 7. where's NaN leak ───────────────────────────────────────────────────────────────────

def test_nan_through_the_unselected_branch_of_where_is_zero_times_inf_on_both_ops():
    c, b_ = var("c"), var("b")
    expr = reduce_with(tapply("where", c, tapply("sqrt", c), b_), np.ones(2))
    case = Case(expr, {"c": np.array([-1.0, 4.0]), "b": np.array([0.5, 0.25])})
    assert unselected_leak(case)[0] == "sqrt"
    verdict = Verdict("nonfinite", "d/dc[0]: engine nan, expected 0", checks=(Check("c", "nonfinite", 0.0, float("nan")),))
    blamed = blame(case, verdict, lambda _: pytest.fail("a leak is named without checking"))
    assert (blamed.op, blamed.how) == ("sqrt", "zero-times-inf"), blamed
    assert blamed.detail.startswith("0·inf: the unselected branch's derivative is not finite and was "
                                    "multiplied by a zero cotangent")
    assert signature(verdict, blamed) == "nonfinite:where+sqrt"
    # selected everywhere it is not finite: no leak to name
    fine = Case(expr, {"c": np.array([1.0, 4.0]), "b": np.array([0.5, 0.25])})
    assert unselected_leak(fine) is None


def test_a_mismatch_that_the_same_case_does_not_repeat_is_state_not_a_rule():
    # stale-tape keeps adjoints between calls: before, the op checked alone after the failing
    # case inherited them and was blamed "atan is wrong on its own"
    case = Case(apply("atan", apply("mul", x, x)), {"x": 0.5})
    with Checker(MUTANT["stale-tape"].make(), 5.0) as checker:
        verdict = next(v for v in (checker.check(case) for _ in range(4)) if v.kind == "mismatch")
        b = blame(case, verdict, checker.check)
    assert (b.op, b.how) == (None, "inconsistent") and "keeps state between calls" in b.detail, b
    assert signature(verdict, b) == "mismatch:state"


def test_the_leak_of_a_real_engine_is_blamed_on_its_op_and_where():
    # before: "where (composition) — the backward pass combines its arguments wrongly"
    leaky = next(m for m in TENSOR if m.name == "t-where-nan-leak").make()
    c, b_ = var("c"), var("b")
    case = Case(reduce_with(tapply("where", c, tapply("sqrt", c), b_), np.ones(2)),
                {"c": np.array([-1.0, 4.0]), "b": np.array([0.5, 0.25])})
    with Checker(leaky, 5.0, tensor=True) as checker:
        verdict = checker.check(case)
        assert verdict.kind == "nonfinite", verdict
        b = blame(case, verdict, checker.check)
    assert (b.op, b.how) == ("sqrt", "zero-times-inf") and signature(verdict, b) == "nonfinite:where+sqrt", b
    assert "0·inf" in verdict.reason + b.detail


def test_a_crash_outside_any_op_call_is_signed_by_its_line_and_blamed_on_the_lowest_crashing_node():
    _, b, sig = _blamed(F.Raises(), Case(apply("mul", apply("sin", x), x), {"x": 0.5}))
    assert sig.startswith("crash:RuntimeError@faulty_engines.py:"), sig
    # sin(x) alone crashes too: the lowest sub-expression that does is blamed, not the root
    assert (b.op, b.how) == ("sin", "crash") and "in gradients(), in sin's backward" in b.detail, b
