"""--forward: forward mode judged against the oracles and against the engine's reverse mode."""
import json
import time

import numpy as np
import pytest
from optional import require

from verifier.checking.checker import Checker
from verifier.engines import load_engine
from verifier.engines.builtin import BuiltinEngine
from verifier.engines.mutants import MUTANTS
from verifier.floor.ir import apply, const, var
from verifier.interfaces.cli import main
from verifier.model import Case, Check, Verdict
from verifier.search.campaign import Options, run_campaign
from verifier.truth.forward import combine_modes

x, y = var("x"), var("y")


# ── the planted forward-mode bug ─────────────────────────────────────────────────────────

def test_planted_forward_mode_bug_is_found_only_with_forward():
    m = MUTANTS["div-jvp-sign"]
    found = run_campaign(m.make(), Options(examples=300, seed=0, forward=True, stop_after=1))
    assert found.options["forward"] is True
    [f] = found.discrepancies
    assert f.signature == "mismatch:div:forward" and f.culprit_op == "div" and f.blame == "local-rule"
    assert f.message.startswith("forward mode: ")
    assert f.nodes <= 3, f.expression
    modes = {c["mode"]: c["verdict"] for c in f.checks if c.get("mode") and c["variable"] == f.variable}
    assert modes == {"reverse": "agree", "forward": "mismatch"}   # reverse mode is right there
    # the same engine, the same examples, reverse mode only: nothing to see
    blind = run_campaign(m.make(), Options(examples=300, seed=0))
    assert blind.examples == 300 and not blind.discrepancies


def test_a_reverse_fault_keeps_its_signature_and_comes_first():
    r = run_campaign(MUTANTS["div-sign"].make(), Options(examples=300, seed=0, forward=True, stop_after=1))
    assert [f.signature for f in r.discrepancies] == ["mismatch:div"]


# ── correct engines: forward and reverse agree with the oracles and with each other ──────

# examples per engine: JAX retraces every JVP, so it gets fewer and runs with the slow tests
CORRECT = {"builtin": 200, "torch": 100, "jax": 100, "autograd": 150}

# forward-mode faults of the real engines that docs/findings.md "Forward mode" explains, as
# (culprit op, kind): torch's JVP of maximum/minimum cancels (other_t + mask·(self_t - other_t))
# and its JVP of atan2 divides by x² + y², which underflows (forward-torch-004), autograd's JVP
# of abs overflows (g·x/|x|) and its JVP of where takes g.shape of a float tangent. Anything
# else is new.
KNOWN_FORWARD = {"torch": {("maximum", "mismatch"), ("minimum", "mismatch"), ("atan2", "nonfinite")},
                 "autograd": {("abs", "nonfinite"), ("where", "crash")}}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "jax" else n for n in CORRECT])
def test_correct_engines_forward_mode_has_no_discrepancy(name):
    if name != "builtin":
        require(name)
    ops = None
    if name == "autograd":
        # autograd's expit, erf and hypot have no JVP rule: every forward check with them
        # crashes (test_autograd_sigmoid_has_no_forward_rule, docs/findings.md "Forward mode"
        # and "Issue 17")
        ops = tuple(o for o in load_engine(name).ops if o not in ("sigmoid", "erf", "hypot"))
    r = run_campaign(load_engine(name), Options(examples=CORRECT[name], seed=1, forward=True, ops=ops,
                                                check_timeout=20.0))
    assert r.examples == CORRECT[name]
    forward = [(f.signature, f.expression, f.point, f.message) for f in r.discrepancies
               if f.signature.endswith(":forward") and (f.culprit_op, f.kind) not in KNOWN_FORWARD.get(name, ())]
    assert not forward, forward
    assert r.verdicts["agree"] > 0.6 * r.examples


def test_autograd_sigmoid_has_no_forward_rule():
    require("autograd")
    with Checker(load_engine("autograd"), timeout=20.0, forward=True) as checker:
        v = checker.check(Case(apply("sigmoid", x), {"x": 0.5}))
    assert v.kind == "crash" and v.mode == "forward" and "NotImplementedError" in v.reason


# ── forward mode's own faults are findings, in the worker, with their own time limit ─────

class _Raises(BuiltinEngine):
    def forward_gradients(self, output, variables):
        raise ZeroDivisionError("jvp rule")


class _TooMany(BuiltinEngine):
    def forward_gradients(self, output, variables):
        return super().forward_gradients(output, variables) + [0.0]


class _Hangs(BuiltinEngine):
    def forward_gradients(self, output, variables):
        time.sleep(60)


CASE = Case(apply("mul", apply("sin", x), y), {"x": 0.5, "y": 2.0})


@pytest.mark.parametrize("engine,kind,phrase", [
    (_Raises, "crash", "ZeroDivisionError: jvp rule"),
    (_TooMany, "mismatch", "forward_gradients returned more than 2 values"),
    (_Hangs, "timeout", "no answer within 0.5 s"),
])
def test_forward_mode_failures_are_findings(engine, kind, phrase):
    with Checker(load_engine(engine), timeout=0.5, forward=True) as checker:   # rebuildable: see test_faults
        v = checker.check(CASE)
        assert v.kind == kind and v.mode == "forward" and v.reason.startswith("forward mode: ")
        assert phrase in v.reason
        # the worker lives on (or is replaced): reverse mode alone is still fine
        checker.forward = False
        assert checker.check(CASE).kind == "agree"


# ── the comparison of the two modes where the reference cannot decide ────────────────────

def _verdict(kind, actual, verdict="undecided", expected=1.0, bound=1e-10, low=None, high=None):
    return Verdict(kind, "", (Check("x", verdict, expected, actual, bound, low, high),))


def test_modes_apart_beyond_both_bounds_is_a_forward_mismatch():
    # both modes are off the truth by more than the bound (an ill-conditioned point), and
    # off each other by more than both bounds: they cannot both be rounding
    v = combine_modes(_verdict("undecided", 1.0 + 3e-10), _verdict("undecided", 1.0 - 3e-10 + 1e-8))
    assert v.kind == "mismatch" and v.mode == "forward"
    assert v.failing.expected == 1.0 + 3e-10 and v.failing.bound == 2e-10
    assert "nearer reverse mode" in v.reason
    # apart by less than the two bounds together: still undecided, no finding
    v = combine_modes(_verdict("undecided", 1.0 + 2e-10), _verdict("undecided", 1.0 + 3.5e-10))
    assert v.kind == "undecided" and not v.is_discrepancy
    # at a kink each mode may take its own value between the one-sided derivatives
    v = combine_modes(_verdict("kink", 0.0, "kink", low=0.0, high=1.0), _verdict("kink", 1.0, "kink", low=0.0, high=1.0))
    assert v.kind == "kink"


def test_a_tangent_outside_the_range_makes_forward_mode_undecided():
    from verifier.truth.forward import tangents_outside

    # d sigmoid(-log y) / dy = -1e-308 at y = 1e154: subnormal, which XLA on CPU flushes to
    # zero; reverse mode never forms it (its adjoints are 1e154 and 1)
    case = Case(apply("log", apply("sigmoid", apply("neg", apply("log", y)))), {"y": 1e154})
    assert tangents_outside(case, "float64") == {"y"}
    assert tangents_outside(CASE, "float64") == set()

    class FlushesTangents(BuiltinEngine):
        def forward_gradients(self, output, variables):
            return [0.0 for _ in variables]
    with Checker(FlushesTangents(), timeout=None, forward=True) as checker:
        v = checker.check(case)
        assert v.kind == "undecided" and "tangent" in v.reason
        assert checker.check(CASE).kind == "mismatch"      # in range: the same answer is a finding


def test_forward_value_is_not_judged_twice_and_checks_are_tagged():
    with Checker(BuiltinEngine(), timeout=None, forward=True) as checker:
        v = checker.check(CASE)
    assert v.kind == "agree" and v.mode == ""
    assert [(c.variable, c.mode) for c in v.checks] == [(None, ""), ("x", "reverse"), ("y", "reverse"),
                                                        ("x", "forward"), ("y", "forward")]


# ── tensor programs ──────────────────────────────────────────────────────────────────────

class _TensorForwardSlip:
    """The builtin array engine with a forward mode that is its reverse mode, one element of
    the first variable's gradient off by 0.1%: what a wrong JVP rule for one entry gives."""

    def __init__(self):
        from verifier.engines.builtin import tensor_reverse
        self._e = tensor_reverse()
        self.name, self.dtype, self.ops = "tensor-forward-slip", "float64", self._e.ops

    def variable(self, v):
        return self._e.variable(v)

    def constant(self, v):
        return self._e.constant(v)

    def value(self, t):
        return self._e.value(t)

    def gradients(self, output, variables):
        return self._e.gradients(output, variables)

    def forward_gradients(self, output, variables):
        grads = [np.array(g, dtype=float) for g in self._e.gradients(output, variables)]
        if grads and grads[0].size and abs(grads[0].flat[0]) > 1e-3:
            grads[0].flat[0] *= 1.001
        return grads


def test_tensor_forward_slip_is_found_through_the_element_mapping():
    r = run_campaign(_TensorForwardSlip(), Options(examples=100, seed=0, tensor=True, forward=True,
                                                   max_nodes=4, stop_after=1))
    [f] = r.discrepancies
    assert f.signature.endswith(":forward") and f.message.startswith("forward mode: ")
    assert "[" in f.variable or f.shapes[f.variable] == []   # an element label, x[0, 1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["torch", "jax", "autograd"])
def test_tensor_adapters_forward_mode_has_no_discrepancy(name):
    require(name)
    engine = load_engine(name, tensor=True)
    if not hasattr(engine, "forward_gradients"):
        pytest.skip(f"the {name} tensor adapter has no forward mode")
    ops = tuple(o for o in engine.ops if o != "sigmoid") if name == "autograd" else None
    r = run_campaign(engine, Options(examples=30, seed=2, tensor=True, forward=True, max_nodes=4, ops=ops,
                                     check_timeout=30.0))
    forward = [(f.signature, f.expression, f.message) for f in r.discrepancies if f.signature.endswith(":forward")
               and (f.culprit_op, f.kind) not in KNOWN_FORWARD.get(name, ())]
    assert not forward, forward


# ── the command line ─────────────────────────────────────────────────────────────────────

NO_FORWARD = '''
from verifier.engines.builtin import BuiltinEngine

class Plain:
    """An engine with reverse mode only."""
    name = "plain"

    def __init__(self):
        self._e = BuiltinEngine()
        self.ops = self._e.ops

    def variable(self, v):
        return self._e.variable(v)

    def constant(self, v):
        return self._e.constant(v)

    def gradients(self, out, variables):
        return self._e.gradients(out, variables)
'''


def test_an_engine_without_forward_mode_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "plain.py").write_text(NO_FORWARD)
    out = tmp_path / "rep"
    assert main(["campaign", "--engine", f"{tmp_path}/plain.py:Plain", "--forward", "--examples", "5",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "engine 'plain' has no forward mode" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()   # nothing written
    assert main(["campaign", "--forward", "--order", "2", "--examples", "5", "--out", str(out)]) == 2
    assert "does not combine with --order 2" in capsys.readouterr().err


def test_cli_forward_finding_is_reported_replayed_and_rerendered(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["campaign", "--engine", "mutant:div-jvp-sign", "--forward", "--examples", "150", "--seed", "0",
                 "--ops", ",".join(MUTANTS["div-jvp-sign"].ops), "--quiet", "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "mismatch in div (local-rule): forward mode: d/d" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["forward"] is True
    [f] = summary["discrepancies"]
    assert f["signature"] == "mismatch:div:forward" and "forward" in f["replay"]
    replay = str(out / f["replay"])
    assert main(["replay", replay, "--engine", "mutant:div-jvp-sign"]) == 1
    assert "forward mode" in capsys.readouterr().out
    assert main(["replay", replay, "--engine", "builtin"]) == 0      # the correct engine's forward mode
    md = (out / "summary.md").read_text()
    assert "forward mode" in md
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 1 and (out / "summary.md").read_text() == md
    if (out / "index.html").exists():   # the HTML renderer is optional: its checks say the mode
        assert "(forward mode)</small>" in (out / "index.html").read_text()


def test_old_summaries_without_the_forward_option_still_load(tmp_path):
    from verifier.results.summary import load_summary
    out = tmp_path / "rep"
    assert main(["campaign", "--examples", "10", "--seed", "0", "--quiet", "--out", str(out)]) == 0
    doc = json.loads((out / "summary.json").read_text())
    del doc["options"]["forward"]
    (out / "summary.json").write_text(json.dumps(doc))
    assert load_summary(out / "summary.json").options.get("forward") is None


# ── the forward-mode findings of docs/findings.md: forward mode still departs there, and
# reverse mode alone does not ─────────────────────────────────────────────────────────────
FINDINGS = {"forward-torch-001": "torch", "forward-torch-002": "torch", "forward-torch-003": "torch",
            "forward-autograd-001": "autograd", "forward-autograd-002": "autograd",
            "forward-autograd-003": "autograd", "forward-autograd-004": "autograd"}


@pytest.mark.parametrize("finding", list(FINDINGS))
def test_documented_forward_findings_reproduce(finding):
    from pathlib import Path

    from verifier.floor.program import is_tensor_program
    from verifier.results.replay import read_replay
    require(FINDINGS[finding])
    rep = read_replay(Path(__file__).resolve().parent.parent / "docs" / "findings" / f"{finding}.json")
    tensor = is_tensor_program(rep.case.expr, rep.case.point)
    engine = load_engine(FINDINGS[finding], tensor=tensor)
    with Checker(engine, timeout=None, tensor=tensor, forward=True) as checker:
        both = checker.check(rep.case)
        checker.forward = False
        reverse = checker.check(rep.case)
    assert both.kind == rep.fields["kind"] and both.mode == "forward", both.reason
    assert not reverse.is_discrepancy, reverse.reason


def test_every_undecided_example_of_a_forward_campaign_names_its_cause():
    # both modes' verdicts are combined into one: the cause must survive the combining. A
    # campaign passes over the points it foresees no verdict at, so the case is given here
    with Checker(load_engine("builtin"), None, forward=True) as checker:
        verdict = checker.check(Case(apply("reciprocal", apply("gelu", x)), {"x": -10.0}))
    assert (verdict.kind, verdict.cause) == ("undecided", "near-pole"), verdict.reason
    r = run_campaign(load_engine("builtin"), Options(examples=600, seed=1, forward=True, check_timeout=None))
    assert sum(r.undecided.values()) == r.verdicts["undecided"] and "unknown" not in r.undecided
