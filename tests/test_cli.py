"""The command line: exit codes, one-line errors, nothing overwritten, replay and report."""
import argparse
import json
import subprocess
import sys

import pytest

from verifier.interfaces.cli import main


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
    # a tensor op named without --tensor: the way forward, not "unknown op"
    (["campaign", "--ops", "sin,sum"], "'sum' is a tensor op: add --tensor"),
    (["campaign", "--ops", "softmax", "--engine", "micrograd"], "'softmax' is a tensor op: add --tensor"),
    (["campaign", "--ops", ""], "--ops names nothing"),
    (["campaign", "--ops", " , "], "--ops names nothing"),
    (["selftest", "--mutants", ","], "--mutants names nothing"),
    (["campaign", "--seed", "x"], "whole number"),
    (["campaign", "--examples", "0"], "out of range"),
    (["campaign", "--shard", "3/2"], "--shard"),
    (["campaign", "--workers", "0"], "out of range"),
    (["campaign", "--check-timeout", "0"], "positive"),
    (["report", "/nonexistent/report"], "report folder '/nonexistent/report' does not exist"),
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
    cmd = (f"{sys.executable} -m verifier.interfaces.cli campaign --engine mutant:tanh-rule --examples 200 --seed 0 "
           f"--quiet --out {out} | true")   # the reader is gone before the report is printed
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert (out / "summary.json").exists()   # the report was written before the pipe broke


def test_oracle_disagreements_are_logged_with_their_case(tmp_path, monkeypatch):
    import json
    from verifier.search.campaign import Options, run_campaign
    from verifier.results.events import DISAGREEMENTS_LOGGED
    from verifier.checking.checker import Checker
    from verifier.engines import load_engine
    from verifier.model import Verdict
    from verifier.interfaces.output import Output
    from verifier.floor.serial import expr_from_json, point_from_json
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


def _one_error_line(capsys, fragment):
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_report_given_a_file_names_the_folder_to_give(tmp_path, capsys):
    rep = tmp_path / "rep"
    (rep / "replays").mkdir(parents=True)
    (rep / "summary.json").write_text("{}")
    (rep / "replays" / "001-mismatch-tanh.json").write_text("{}")
    for f in (rep / "summary.json", rep / "replays" / "001-mismatch-tanh.json"):
        assert main(["report", str(f)]) == 2
        _one_error_line(capsys, f"is a file: adverify report takes a report folder (the one holding "
                                f"summary.json); here: adverify report {rep}")
    (tmp_path / "notes.json").write_text("{}")   # no report near it: nothing to suggest
    assert main(["report", str(tmp_path / "notes.json")]) == 2
    assert "here:" not in _one_error_line(capsys, "is a file")


@pytest.mark.parametrize("files,fragment", [
    ({}, "is not a report folder: it holds neither summary.json nor events.jsonl"),
    ({"summary.json": "{not json"}, "not valid JSON"),
    ({"summary.json": '{"format": "something-else"}'}, "not an adverify summary"),
    ({"events.jsonl": "garbage\n"}, "events.jsonl line 1"),
])
def test_report_on_a_folder_without_a_readable_report_is_one_line(tmp_path, capsys, files, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["report", str(tmp_path)]) == 2
    _one_error_line(capsys, fragment)


def test_a_bad_junit_path_is_refused_before_the_campaign_runs(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["campaign", "--examples", "5", "--out", str(out), "--junit", str(tmp_path / "no" / "j.xml")]) == 2
    _one_error_line(capsys, "is in a folder that does not exist")
    assert not out.exists()
    (tmp_path / "file").write_text("")
    assert main(["campaign", "--examples", "5", "--out", str(out), "--save-regressions", str(tmp_path / "file")]) == 2
    _one_error_line(capsys, "is a file: it takes a folder")
    assert not out.exists()


def test_merge_of_a_folder_that_is_not_a_report_leaves_no_output_behind(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    assert main(["merge", str(tmp_path / "notes"), "--out", str(tmp_path / "merged")]) == 2
    err = capsys.readouterr().err
    assert "not a report folder" in err and err.count("\n") == 1
    assert not (tmp_path / "merged").exists()


def test_adverify_alone_prints_the_usage_and_exits_2(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: adverify")
    for command in ("campaign", "replay", "report", "engines", "merge", "selftest"):
        assert f"    {command} " in captured.err


def _help(capsys, *command):
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def _option_entries(text):
    """--help's option entries: {'--examples': 'examples to check (default: 1000)', ...}."""
    entries, current = {}, None
    for line in text.split("\n\n", 2)[2].splitlines():
        if line.startswith("  -"):
            flag, _, rest = line.strip().partition(" ")
            current = flag.rstrip(",")
            entries[current] = rest
        elif line.startswith("      ") and current:
            entries[current] += " " + line.strip()
        else:
            current = None
    return {flag: " ".join(text.split()) for flag, text in entries.items()}


def test_help_shows_every_default_once(capsys):
    from verifier.interfaces.cli import _parser
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        entries = _option_entries(_help(capsys, name))
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            entry = entries[action.option_strings[0]]
            assert entry.count("default") <= 1, (name, entry)
            if action.default is not None and action.default is not False:
                assert f"(default: {action.default})" in entry, (name, entry)
    entries = _option_entries(_help(capsys, "campaign"))
    for flag, default in [("--examples", "1000"), ("--seed", "random"), ("--time-budget", "no limit"),
                          ("--workers", "1"), ("--check-timeout", "5.0"), ("--max-nodes", "12"),
                          ("--engine", "builtin"), ("--backend", "local")]:
        assert f"(default: {default}" in entries[flag], (flag, entries[flag])


def test_exit_status_is_in_the_help_of_report_and_of_adverify(capsys):
    from verifier.interfaces.cli import EXIT_STATUS
    text = " ".join(_help(capsys, "report").split())
    assert "exit status: 0 the report holds no discrepancy, 1 it holds discrepancies, 2 bad input" in text
    top = _help(capsys)
    for command, status in EXIT_STATUS.items():
        assert f"  {command:<10} {status}" in top.splitlines()


def _engines_listing(capsys):
    assert main(["engines"]) == 0
    return capsys.readouterr().out


def test_engines_lists_builtins_adapters_mutants_and_own_engines(capsys, monkeypatch):
    from verifier.engines.mutants import MUTANTS
    for module in ("micrograd", "micrograd.engine"):          # as if not installed
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "verifier.engines.micrograd_engine", raising=False)
    out = _engines_listing(capsys)
    builtin, adapters, mutants = (out.index(h) for h in ("builtin engines\n", "real-engine adapters",
                                                           "planted bugs"))
    assert builtin < out.index("  builtin-paths ") < adapters < out.index("  torch ") < mutants
    assert "  micrograd        not installed  pip install 'adverify[micrograd]'" in out.splitlines()
    for name, m in MUTANTS.items():
        line = next(x for x in out.splitlines() if x.startswith(f"  mutant:{name} "))
        assert m.description in line and (("[--tensor]" in line) == bool(m.options.get("tensor")))
    assert out.index("mutant:") > mutants
    assert all(form in out.splitlines()[-1] for form in ("module:attr", "./file.py:Class", "cmd:COMMAND"))


def test_every_missing_adapter_names_an_extra_of_pyproject(monkeypatch):
    import tomllib
    from pathlib import Path
    import verifier.engines as engines
    real_load = engines.load_engine

    def nothing_installed(name, tensor=False):
        if not name.startswith("builtin"):
            raise engines.EngineError(f"cannot import {name}")
        return real_load(name, tensor)
    monkeypatch.setattr(engines, "load_engine", nothing_installed)
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    rows = engines.describe_adapters()
    assert {r["group"] for r in rows} == {"builtin", "adapter"}
    for row in rows:
        if row["group"] == "builtin":
            assert row["status"] == "installed" and not row["install"]
        else:
            extra = row["install"].removeprefix("pip install 'adverify[").removesuffix("]'")
            assert row["status"] == "not installed" and extra in extras, row


@pytest.mark.parametrize("html", [True, False])
def test_the_last_line_names_every_report_file(tmp_path, capsys, monkeypatch, html):
    import verifier.report
    if not html:   # a set of renderers without HTML: no index.html, and none named
        monkeypatch.delitem(verifier.report.RENDERERS, "index.html")
    first, merged = tmp_path / "rep", tmp_path / "merged"

    def line(folder):
        names = ["index.html"] * html + ["summary.md", "summary.json"]
        return "report: " + ", ".join(f"{folder}/{name}" for name in names)
    assert main(["campaign", "--examples", "10", "--seed", "0", "--out", str(first)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == line(first)
    assert main(["merge", str(first), "--out", str(merged)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == line(merged)
    assert (merged / "index.html").exists() == html
