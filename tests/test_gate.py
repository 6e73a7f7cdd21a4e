"""The CI gate: a wrong gradient fails with a report a person can act on, a passing run passes
the same way every time (whatever CI sets), and old reproducers are re-checked first.

Buggy campaigns run on a few ops (tanh, add, mul) so the planted tanh bug shows within a
few dozen examples and the file stays fast."""
import json
import os
import shlex
import subprocess
import sys
import time
from xml.etree import ElementTree as ET

import pytest
from hypothesis import Phase, Verbosity, settings
from hypothesis.database import InMemoryExampleDatabase

from verifier import check_engine, load_engine
from verifier.search.campaign import Options, run_campaign
from verifier.interfaces.cli import main
from verifier.engines.builtin import BuiltinEngine
from verifier.interfaces.gate import GateFailure, collect_regressions, save_regressions
from verifier.floor.ir import apply, const, var
from verifier.model import Case
from verifier.engines.mutants import MUTANTS
from verifier.interfaces.output import Output
from verifier.results.replay import replay_doc
from verifier.floor.serial import FormatError

FEW_OPS = "tanh,add,mul"
# Wall-clock times, and the folder each run wrote to. The number of shrink checks is compared
# too: it once moved by one from run to run, while Hypothesis labelled our strategies by hash()
NOT_COMPARED = {"elapsed_s", "found_at_s", "report_dir"}


def outcome(summary: dict) -> dict:
    """A summary without wall-clock times: what must not change between identical runs."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in NOT_COMPARED}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(summary)


def failure(engine, tmp_path, **kw) -> GateFailure:
    with pytest.raises(AssertionError) as info:
        check_engine(engine, examples=60, ops=FEW_OPS, out=tmp_path / "rep", **kw)
    assert isinstance(info.value, GateFailure)
    return info.value


def replay_commands(message: str) -> list[str]:
    return [line.split("replay: ", 1)[1] for line in message.splitlines() if line.strip().startswith("replay: ")]


# --- check_engine ---------------------------------------------------------------------------

def test_a_correct_engine_passes_and_returns_the_result(tmp_path):
    result = check_engine("builtin", examples=40, out=tmp_path / "rep")
    assert result.examples == 40 and not result.discrepancies and result.seed == 0
    assert (tmp_path / "rep" / "summary.json").exists()


def test_a_planted_bug_fails_with_a_report_whose_replay_command_works(tmp_path, capsys):
    e = failure("mutant:tanh-rule", tmp_path)
    msg = str(e)
    assert "mismatch in tanh (local-rule)" in msg          # the culprit op and the kind of fault
    for part in ("expression: ", "at: x = ", "d/dx: engine ", "expected ", "report: "):
        assert part in msg
    commands = replay_commands(msg)
    assert len(commands) == len(e.result.discrepancies) >= 1
    argv = shlex.split(commands[0])
    assert argv[:2] == ["adverify", "replay"] and argv[-2:] == ["--engine", "mutant:tanh-rule"]
    assert os.path.exists(argv[2])
    assert main(argv[1:]) == 1                                      # it reproduces...
    assert main(argv[1:-1] + ["builtin"]) == 0                      # ...and the fix clears it
    assert "tanh" in capsys.readouterr().out


def test_an_engine_object_is_named_by_a_spec_that_reproduces(tmp_path):
    e = failure(load_engine("mutant:tanh-rule"), tmp_path)
    assert replay_commands(str(e))[0].endswith("--engine mutant:tanh-rule") and e.spec == "mutant:tanh-rule"


def test_an_importable_engine_class_is_named_module_colon_class(tmp_path, monkeypatch):
    (tmp_path / "buggy_engine.py").write_text(
        "from verifier.engines.builtin import BuiltinEngine\n"
        "from verifier.engines.mutants import MUTANTS\n"
        "class BuggyEngine(BuiltinEngine):\n"
        "    name = 'buggy'\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.ops['tanh'] = MUTANTS['tanh-rule'].make().ops['tanh']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from buggy_engine import BuggyEngine
    e = failure(BuggyEngine(), tmp_path)
    assert e.spec == "buggy_engine:BuggyEngine"
    assert replay_commands(str(e))[0].endswith("--engine buggy_engine:BuggyEngine")


def test_a_spec_that_would_not_reproduce_is_never_offered(tmp_path):
    # a builtin engine object with one op swapped: "builtin" and its class would both load a
    # *correct* engine, so the honest command leaves the spec to the user
    engine = BuiltinEngine()
    engine.ops["tanh"] = load_engine("mutant:tanh-rule").ops["tanh"]
    e = failure(engine, tmp_path)
    assert e.spec is None
    assert replay_commands(str(e))[0].endswith("--engine MODULE:ATTR") and "MODULE:ATTR names your engine" in str(e)


class ReverseOnly(BuiltinEngine):
    """Most hand-written engines: reverse mode and nothing else."""
    name = "reverse-only"
    forward_gradients = None


@pytest.mark.parametrize("kw,fragment", [
    ({"ops": "tanh,frobnicate"}, "unknown op"),
    ({"ops": "tanh,sum"}, "'sum' is a tensor op: add --tensor"),
    ({"examples": 0}, "at least 1"),
    ({"engine": "nosuch"}, "unknown engine"),
    ({"order": 3}, "order must be 1 or 2"),
    ({"engine": ReverseOnly, "forward": True}, "no forward mode"),
])
def test_bad_arguments_are_value_errors(tmp_path, kw, fragment):
    engine = kw.pop("engine", "builtin")
    with pytest.raises(ValueError, match=fragment):
        check_engine(engine, out=tmp_path / "rep", **kw)


@pytest.mark.parametrize("kw,mutant", [({"tensor": True}, "t-softmax-no-cross"),
                                       ({"forward": True}, "div-jvp-sign"),
                                       ({"order": 2}, "second-order-frozen-tanh")])
def test_the_gate_checks_tensors_forward_mode_and_second_order(tmp_path, kw, mutant):
    m = MUTANTS[mutant]
    assert check_engine("builtin", examples=60, ops=m.ops, out=tmp_path / "ok", **kw).examples == 60
    with pytest.raises(GateFailure):
        check_engine(f"mutant:{mutant}", examples=300, ops=m.ops, max_nodes=6, out=tmp_path / "bad", **kw)


# --- the same seed, the same verdicts: whatever profile or CI variable is around -------------------

def campaign_outcome(tmp_path, name: str) -> dict:
    run_campaign(load_engine("mutant:tanh-rule"), Options(examples=80, seed=3, ops=("tanh", "add", "mul", "sin")),
                 Output(tmp_path / name))
    return outcome(json.loads((tmp_path / name / "summary.json").read_text()))


def test_same_seed_same_verdicts_and_discrepancies_whatever_the_process_did_before(tmp_path, monkeypatch):
    first = campaign_outcome(tmp_path, "a")
    assert first["discrepancies"], "the comparison needs discrepancies to compare"
    # Hypothesis draws literals from local modules imported so far: import one full of them
    (tmp_path / "literals.py").write_text(
        "NUMBERS = [" + ", ".join(f"{k}, {k}.5, 1e{k}, -1e-{k}" for k in range(1, 320)) + "]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import literals  # noqa: F401
    # ...and load a profile that would change everything a campaign inherited from it
    settings.register_profile("hostile", max_examples=2, phases=[Phase.explicit],
                              verbosity=Verbosity.verbose, print_blob=True, report_multiple_bugs=True,
                              database=InMemoryExampleDatabase(), deadline=1)
    previous = settings.get_current_profile_name()
    settings.load_profile("hostile")
    try:
        second = campaign_outcome(tmp_path, "b")
    finally:
        settings.load_profile(previous)
    assert second == first


def cli_campaign(tmp_path, name: str, env_extra: dict, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env.update(env_extra)
    p = subprocess.run([sys.executable, "-m", "verifier", "campaign", "--ci", "--out", str(tmp_path / name), *args],
                       capture_output=True, text=True, env=env)
    assert p.returncode in (0, 1), p.stderr
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_ci_variables_change_nothing(tmp_path):
    # CI=true makes Hypothesis load its own "ci" profile at import (derandomize, print_blob...)
    probe = subprocess.run([sys.executable, "-c", "import hypothesis; print(hypothesis.settings.get_current_profile_name())"],
                           capture_output=True, text=True, env={**os.environ, "CI": "true"})
    assert probe.stdout.strip() == "ci"
    args = ("--engine", "mutant:tanh-rule", "--examples", "80", "--ops", "tanh,add,mul,sin")
    plain = cli_campaign(tmp_path, "plain", {}, *args)
    ci = cli_campaign(tmp_path, "ci", {"CI": "true", "GITHUB_ACTIONS": "true"}, *args)
    assert plain["seed"] == 0                   # --ci: a fixed seed unless one is given
    assert plain["discrepancies"] and outcome(ci) == outcome(plain)


def test_the_seed_matters(tmp_path):
    a = check_engine("builtin", examples=30, seed=0, out=tmp_path / "a")
    b = check_engine("builtin", examples=30, seed=1, out=tmp_path / "b")
    assert a.coverage != b.coverage


# --- the gating cycle on the command line ------------------------------------------------------

def test_bug_blocks_fix_passes_and_the_old_reproducer_is_rechecked_first(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    kept, junit = tmp_path / "adverify-regressions", tmp_path / "junit.xml"
    common = ["campaign", "--ci", "--examples", "60", "--ops", FEW_OPS]

    assert main(common + ["--engine", "mutant:tanh-rule", "--out", str(tmp_path / "bad"), "--junit", str(junit),
                          "--save-regressions", str(kept)]) == 1
    failures = [(tc.get("name"), f) for tc in ET.parse(junit).getroot().iter("testcase") for f in tc.iter("failure")]
    assert failures and all(name == "op:tanh" and "tanh" in f.get("message") for name, f in failures)
    assert "adverify replay" in failures[0][1].text
    saved = sorted(kept.glob("*.json"))
    assert saved and "regressions: " in capsys.readouterr().out

    assert main(common + ["--engine", "builtin", "--out", str(tmp_path / "good"), "--regressions", str(kept)]) == 0
    regs = json.loads((tmp_path / "good" / "summary.json").read_text())["regressions"]
    assert len(regs) == len(saved) and all(r["status"] == "fixed" for r in regs)
    assert "regression fixed" in capsys.readouterr().out

    text = summary.read_text()       # appended, not replaced: one section per run
    assert text.startswith("earlier step\n") and text.count("# adverify — engine") == 2
    assert "❌" in text and "✅" in text and "Regressions re-checked" in text


def test_a_missing_regressions_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["campaign", "--examples", "5", "--regressions", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1


# --- regression files --------------------------------------------------------------------------

def write_replay(path, case: Case, signature: str = "mismatch:tanh"):
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = replay_doc(case, "builtin", "mismatch", "tanh", "x", 1.0, 2.0, "text", signature)
    path.write_text(json.dumps(doc))


def cases(regressions) -> tuple:
    return tuple(r.case for r in regressions)


TANH = Case(apply("tanh", var("x")), {"x": 1.0})
OTHER = Case(apply("mul", var("x"), const(2.0)), {"x": -3.0})


def test_regressions_come_from_files_folders_and_report_folders_once_each(tmp_path):
    report = tmp_path / "report"
    write_replay(report / "replays" / "001-mismatch-tanh.json", TANH)
    (report / "summary.json").write_text("{}")              # a report's other JSON: not a replay
    loose = tmp_path / "loose"
    write_replay(loose / "a.json", TANH)                    # the same case again
    write_replay(loose / "b.json", OTHER)
    assert cases(collect_regressions(report)) == (TANH,)
    assert cases(collect_regressions([report, loose])) == (TANH, OTHER)
    assert cases(collect_regressions(loose / "b.json")) == (OTHER,)
    # each with the mode it was found in (a file that records none: order 1, reverse, scalar)
    assert [r.mode for r in collect_regressions(report)] == [{"order": 1, "forward": False, "tensor": False}]
    (loose / "junk.json").write_text('{"format": "something-else"}')
    with pytest.raises(FormatError, match="not an adverify replay"):
        collect_regressions(loose)
    with pytest.raises(ValueError, match="does not exist"):
        collect_regressions(tmp_path / "missing")


def test_saved_regressions_are_named_by_content_and_never_duplicated(tmp_path):
    report = tmp_path / "report"
    write_replay(report / "replays" / "001-mismatch-tanh.json", TANH)
    kept = tmp_path / "kept"
    first = save_regressions(report, kept)
    assert len(first) == 1 and first[0].name.startswith("mismatch-tanh-")
    assert save_regressions(report, kept) == []             # saved twice: still one file
    later = tmp_path / "later"                              # another run, same file name, other case
    write_replay(later / "replays" / "001-mismatch-tanh.json", OTHER)
    assert len(save_regressions(later, kept)) == 1
    assert collect_regressions(kept) and len(list(kept.glob("*.json"))) == 2


# --- time budget -------------------------------------------------------------------------------

def test_a_time_budget_ends_cleanly_with_what_was_checked(tmp_path):
    start = time.monotonic()
    result = check_engine("builtin", examples=10**6, time_budget=3, out=tmp_path / "rep")
    wall = time.monotonic() - start
    # the margin covers one check in flight (at most --check-timeout, 5 s) and writing reports
    assert result.stopped == "time-budget" and wall < 3 + 6
    assert result.examples > 0 and sum(result.verdicts.values()) == result.examples
    assert "stopped: time-budget" in (tmp_path / "rep" / "summary.md").read_text()


@pytest.mark.slow
def test_a_30_second_budget_ends_within_35_seconds(tmp_path):
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "verifier", "campaign", "--ci", "--examples", "1000000",
                        "--time-budget", "30", "--out", str(tmp_path / "rep")], capture_output=True, text=True)
    wall = time.monotonic() - start
    assert p.returncode == 0 and "stopped: time-budget" in p.stdout and wall < 35, (wall, p.stderr)
