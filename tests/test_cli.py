"""The command line: exit codes, one-line errors, nothing overwritten, replay and report."""
import json
import subprocess
import sys

import pytest

from verifier.cli import main


def run(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "verifier", *args], capture_output=True, text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("args,fragment", [
    (["campaign", "--engine", "nosuch"], "unknown engine"),
    (["campaign", "--engine", "nosuch_module_xyz:E"], "cannot import"),
    (["campaign", "--ops", "sin,frobnicate"], "unknown op"),
    (["campaign", "--examples", "-5"], "out of range"),
    (["campaign", "--examples", "many"], "whole number"),
    (["campaign", "--time-budget", "nan"], "positive"),
    (["campaign", "--bogus"], "unrecognized"),
    (["replay", "/nonexistent/file.json"], "cannot read"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("content", [
    "[" * 50000, b"\x00\xff\xfe" * 100, '{"format": "adverify-replay", "version": 1, "expr": NaN}',
    json.dumps({"format": "adverify-replay", "version": 1, "point": {"x": 1.0},
                "expr": {"format": "adverify-expr", "version": 1, "output": 0,
                         "nodes": [{"op": "var", "name": "__import__('os').system('touch /tmp/pwned')"}]}}),
    json.dumps({"format": "adverify-replay", "version": 1, "point": {"x": [0.0] * 300000},
                "expr": {"format": "adverify-expr", "version": 1, "output": 0, "nodes": [{"op": "var", "name": "x"}]}}),
])
def test_hostile_replay_files_exit_2(tmp_path, content, capsys):
    f = tmp_path / "r.json"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_campaign_never_overwrites_an_earlier_report(tmp_path):
    out = tmp_path / "rep"
    assert main(["campaign", "--examples", "20", "--seed", "0", "--out", str(out)]) == 0
    before = (out / "summary.json").read_text()
    assert main(["campaign", "--examples", "30", "--seed", "1", "--out", str(out)]) == 2
    assert (out / "summary.json").read_text() == before


def test_found_replayed_and_rerendered(tmp_path):
    out = tmp_path / "rep"
    code, stdout, _ = run("campaign", "--engine", "mutant:tanh-rule", "--examples", "300",
                          "--seed", "0", "--out", str(out))
    assert code == 1 and "mismatch in tanh" in stdout
    summary = json.loads((out / "summary.json").read_text())
    f = summary["discrepancies"][0]
    for key in ("kind", "expression", "nodes", "variable", "point", "expected", "actual", "oracles",
                "culprit_op", "replay"):
        assert key in f
    replay = out / f["replay"]
    code, stdout, _ = run("replay", str(replay), "--engine", "mutant:tanh-rule")
    assert code == 1 and "tanh" in stdout
    code, stdout, _ = run("replay", str(replay), "--engine", "builtin")
    assert code == 0
    md = (out / "summary.md").read_text()
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 1
    assert (out / "summary.md").read_text() == md


def test_a_reader_that_leaves_early_is_not_a_traceback(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "rep"
    cmd = (f"{sys.executable} -m verifier.cli campaign --engine mutant:tanh-rule --examples 200 --seed 0 "
           f"--quiet --out {out} | true")   # the reader is gone before the report is printed
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert (out / "summary.json").exists()   # the report was written before the pipe broke


def test_oracle_disagreements_are_logged_with_their_case(tmp_path, monkeypatch):
    import json
    from verifier.campaign import Options, run_campaign
    from verifier.results import DISAGREEMENTS_LOGGED
    from verifier.checker import Checker
    from verifier.engines import load_engine
    from verifier.judge import Verdict
    from verifier.output import Output
    from verifier.serial import expr_from_json, point_from_json
    monkeypatch.setattr(Checker, "check", lambda self, case: Verdict("oracle-disagreement", "symbolic 1 vs paths 2"))
    r = run_campaign(load_engine("builtin"), Options(examples=30, seed=0, check_timeout=None),
                     Output(tmp_path / "rep"))
    assert r.verdicts["oracle-disagreement"] == 30 and not r.discrepancies
    records = [json.loads(line) for line in (tmp_path / "rep" / "events.jsonl").read_text().splitlines()]
    logged = [x for x in records if x["event"] == "oracle-disagreement"]
    assert len(logged) == DISAGREEMENTS_LOGGED < 30
    assert all(x["reason"] == "symbolic 1 vs paths 2" for x in logged)
    expr_from_json(logged[0]["expr"], "logged case"), point_from_json(logged[0]["point"])
    assert main(["report", str(tmp_path / "rep")]) == 0   # the log still reads as a report
