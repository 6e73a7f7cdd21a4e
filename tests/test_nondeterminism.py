"""Nondeterminism is not a derivative bug (issue #22, item 4), and what a campaign counts
besides verdicts: undecided examples by cause, notes, engine output, more cases per signature.

An engine whose backward pass sums in an order that depends on memory addresses gave
-1.0019999999999998 and then -1.002 for two identical graphs of (z*z)**(-1) - z at z = 10
(truth -1.002): both within the bound, so a note, not a finding. The runner reports the
second build's answer as ``EngineRun.again``; a fake executor stands in for it here.
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

import verifier.search.campaign as campaign_module
from verifier.checking.capture import trim
from verifier.checking.checker import Checker
from verifier.engines import load_engine
from verifier.floor.ir import apply, const, var
from verifier.interfaces.cli import main
from verifier.model import MORE_EXAMPLES, Case, EngineRun
from verifier.report import html, junit, markdown, text
from verifier.results.merge import Part, combine
from verifier.results.summary import dump_summary, load_summary
from verifier.search.campaign import Options, run_campaign

Z = var("z")
CASE = Case(apply("sub", apply("pow", apply("mul", Z, Z), const(-1.0)), Z), {"z": 10.0})
VALUE = 0.01 - 10.0


class Fake:
    """An executor that answers what it is told to."""

    def __init__(self, run: EngineRun):
        self.answer = run

    def run(self, expr, point, mode="reverse") -> EngineRun:
        return self.answer

    def close(self) -> None:
        pass


def check(run: EngineRun, strict: bool = False):
    checker = Checker(load_engine("builtin"), strict_determinism=strict)
    checker.executor.close()
    checker.executor = Fake(run)
    return checker.check(CASE)


FIRST = EngineRun("ok", (-1.0019999999999998,), VALUE)


def test_each_answer_alone_is_within_the_bound():
    # what the note rests on: neither answer is a discrepancy by itself
    assert check(FIRST).kind == "agree"
    assert check(replace(FIRST, grads=(-1.002,))).kind == "agree"


def test_two_builds_that_differ_within_the_bound_are_a_note_not_a_finding():
    verdict = check(replace(FIRST, again=(-1.002,), again_value=VALUE))
    assert verdict.kind == "agree" and not verdict.is_discrepancy
    assert verdict.notes == ("nondeterministic",)


def test_a_second_answer_beyond_the_bound_is_inconsistent():
    verdict = check(replace(FIRST, again=(-2.004,), again_value=VALUE))
    assert verdict.kind == "inconsistent"
    assert verdict.reason == "a second identical graph gave gradients [-2.004] instead of [-1.0019999999999998]"


def test_a_second_value_beyond_the_bound_is_inconsistent():
    verdict = check(replace(FIRST, again=FIRST.grads, again_value=VALUE + 1.0))
    assert verdict.kind == "inconsistent" and "the value" in verdict.reason


def test_strict_determinism_makes_any_difference_inconsistent():
    verdict = check(replace(FIRST, again=(-1.002,), again_value=VALUE), strict=True)
    assert verdict.kind == "inconsistent" and "[-1.002] instead of [-1.0019999999999998]" in verdict.reason
    assert check(FIRST, strict=True).kind == "agree"   # an engine that answers the same is fine


def test_what_the_engine_printed_stays_with_the_verdict():
    verdict = check(replace(FIRST, output="warning: something\n"))
    assert verdict.kind == "agree" and verdict.output == "warning: something\n"
    assert verdict.notes == ("engine-output",)


def test_long_engine_output_is_trimmed_with_a_count_of_what_was_left_out():
    long = "\n".join(f"line {i} " + "x" * 50 for i in range(1000))
    trimmed = trim(long)
    # the head, where a traceback starts, and the tail, where it says what went wrong
    assert len(trimmed) < 4200 and trimmed.startswith("line 0 ") and trimmed.endswith("line 999 " + "x" * 50)
    kept = trimmed.count("\n")   # head lines, the marker, and the tail's lines but its last
    assert f"\n[… {1000 - kept} lines cut …]\n" in trimmed
    assert trim("short\n") == "short\n"
    assert "characters cut" in trim("y" * 10_000)


class Noisy(Checker):
    """The campaign's checker, with an engine that prints on every check and answers every
    second build with the same gradients (a difference the runner would report)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        inner = self.executor

        class Wrapped:
            def run(self, expr, point, mode="reverse"):
                run = inner.run(expr, point, mode=mode)
                if run.status != "ok":
                    return run
                return replace(run, output="compiling…\n", again=run.grads if mode == "reverse" else None,
                               again_value=run.value)

            def close(self):
                inner.close()

        self.executor = Wrapped()


@pytest.fixture
def noisy(monkeypatch):
    monkeypatch.setattr(campaign_module, "Checker", Noisy)


def test_a_campaign_counts_notes_and_undecided_causes_and_keeps_output_with_findings(monkeypatch):
    options = Options(examples=80, seed=0, ops=("tanh", "mul", "add"))
    plain = run_campaign(load_engine("mutant:tanh-rule"), options)
    monkeypatch.setattr(campaign_module, "Checker", Noisy)
    r = run_campaign(load_engine("mutant:tanh-rule"), options)
    assert r.discrepancies, "the planted bug is found"
    assert r.notes["engine-output"] == r.examples        # every check printed
    assert r.notes["nondeterministic"] > 0
    assert sum(r.undecided.values()) == r.verdicts["undecided"]
    assert all(f.output == "compiling…\n" for f in r.discrepancies)
    # the notes change no verdict: the same campaign without them finds the same
    assert plain.verdicts == r.verdicts and plain.notes == {}
    assert [f.signature for f in plain.discrepancies] == [f.signature for f in r.discrepancies]


def test_the_cli_prints_one_line_for_engine_output_not_the_output(noisy, tmp_path, capsys):
    rc = main(["campaign", "--engine", "mutant:tanh-rule", "--ops", "tanh,mul,add", "--examples", "80",
               "--seed", "0", "--out", str(tmp_path / "r"), "--quiet"])
    assert rc == 1
    out = capsys.readouterr().out
    assert "compiling" not in out
    assert "the engine printed output in 80 checks; see the report" in out
    assert "notes (not discrepancies): engine-output 80, nondeterministic" in out
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "compiling…" in md and "engine-output 80" in md
    assert "compiling…" in (tmp_path / "r" / "index.html").read_text()


def test_strict_determinism_from_the_command_line(noisy, tmp_path):
    rc = main(["campaign", "--engine", "builtin", "--ops", "tanh,mul,add", "--examples", "20", "--seed", "0",
               "--out", str(tmp_path / "r"), "--quiet", "--strict-determinism"])
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert rc == 1 and summary["discrepancies"][0]["kind"] == "inconsistent"
    assert summary["options"]["strict_determinism"] is True


def test_more_cases_of_a_signature_are_kept_deterministically():
    options = Options(examples=100, seed=0, ops=("tanh", "mul", "add"))
    a = run_campaign(load_engine("mutant:tanh-rule"), options)
    b = run_campaign(load_engine("mutant:tanh-rule"), options)
    f = a.discrepancies[0]
    assert 0 < len(f.examples) <= MORE_EXAMPLES
    assert all(x["kind"] in ("mismatch", "nonfinite") for x in f.examples)
    assert all((x["expression"], x["point"]) != (f.expression, f.point) for x in f.examples)
    assert [g.examples for g in a.discrepancies] == [g.examples for g in b.discrepancies]
    shown = {"summary.md": markdown.render(a), "index.html": html.render(a), "terminal": text.render(a)}
    n = len(f.examples)
    for where, page in shown.items():
        assert f"{n} more case{'s' if n != 1 else ''} of this signature" in page, where


def test_the_new_fields_survive_summary_json_and_old_summaries_load(tmp_path):
    r = run_campaign(load_engine("mutant:tanh-rule"), Options(examples=150, seed=0, ops=("tanh", "mul", "add")))
    r = replace(r, notes={"nondeterministic": 3}, undecided={"near-kink": 2, "unknown": 1},
                discrepancies=[replace(r.discrepancies[0], output="printed\n")])
    dump_summary(r, tmp_path / "summary.json")
    back = load_summary(tmp_path / "summary.json")
    assert back.notes == r.notes and back.undecided == r.undecided
    f, g = back.discrepancies[0], r.discrepancies[0]
    assert (f.mode, f.output, len(f.examples)) == (g.mode, g.output, len(g.examples))
    assert f.examples[0]["expression"] == g.examples[0]["expression"]
    doc = json.loads((tmp_path / "summary.json").read_text())
    for key in ("notes", "undecided"):
        del doc[key]
    for key in ("mode", "examples", "output"):
        del doc["discrepancies"][0][key]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = load_summary(tmp_path / "old.json")
    assert old.notes == {} and old.undecided == {} and old.discrepancies[0].examples == []
    xml = junit.render(r)
    assert 'name="note nondeterministic" value="3"' in xml and 'name="undecided near-kink" value="2"' in xml


def test_merged_reports_sum_notes_and_causes(tmp_path):
    base = run_campaign(load_engine("builtin"), Options(examples=10, seed=0))
    a = replace(base, notes={"nondeterministic": 2}, undecided={"near-kink": 1})
    b = replace(base, seed=1, notes={"nondeterministic": 1, "engine-output": 4}, undecided={"near-kink": 2,
                                                                                          "subnormal": 1})
    merged, _ = combine([Part(a, tmp_path / "a"), Part(b, tmp_path / "b")])
    assert merged.notes == {"engine-output": 4, "nondeterministic": 3}
    assert merged.undecided == {"near-kink": 3, "subnormal": 1}


# an engine whose every second backward pass differs: by one ulp (as a sum taken in an
# address-dependent order may), or by a factor of two (a real fault)
FLAKY = '''
import math
from verifier.engines.builtin import BuiltinEngine


class Flaky(BuiltinEngine):
    name = "flaky"
    SCALE = None

    def __init__(self):
        super().__init__()
        self.calls = 0

    def gradients(self, output, variables):
        grads = super().gradients(output, variables)
        self.calls += 1
        if self.calls % 2:
            return grads
        return [g * self.SCALE if self.SCALE else math.nextafter(g, -math.inf) for g in grads]


class Doubling(Flaky):
    SCALE = 2.0
'''


@pytest.fixture
def flaky(tmp_path):
    (tmp_path / "flaky.py").write_text(FLAKY)
    return str(tmp_path / "flaky.py")


def test_an_engine_differing_in_the_last_bit_passes_with_a_note(flaky, tmp_path, capsys):
    argv = ["campaign", "--engine", f"{flaky}:Flaky", "--ops", "pow,mul,sub,tanh", "--examples", "40",
            "--seed", "0", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["notes"]["nondeterministic"] > 0 and summary["verdicts"]["inconsistent"] == 0
    assert "nondeterministic" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "s"), "--strict-determinism"]) == 1
    strict = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert strict["discrepancies"][0]["kind"] == "inconsistent"


def test_an_engine_whose_second_answer_is_far_off_is_inconsistent(flaky, tmp_path):
    argv = ["campaign", "--engine", f"{flaky}:Doubling", "--ops", "pow,mul,sub,tanh", "--examples", "40",
            "--seed", "0", "--quiet", "--out", str(tmp_path / "r")]
    assert main(argv) == 1
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert [f["kind"] for f in summary["discrepancies"]] == ["inconsistent"]
    assert "a second identical graph gave gradients" in summary["discrepancies"][0]["message"]
