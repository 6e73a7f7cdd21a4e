"""The pytest plugin: a wrong engine fails the run with the report, a right one passes, the
options reach every check, and loading the plugin costs nothing heavy.

The inner runs load the plugin from its ``pytest11`` entry point once the package is
installed (``pip install -e '.[test]'``); from a bare checkout it is named with ``-p``."""
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

# In-process pytester runs drop the modules they imported when they end, and an extension
# module (NumPy's) cannot be imported twice: import the verifier's heavy side here, once
# (the extensions a campaign imports lazily: tests/conftest.py).
import verifier.search.campaign, verifier.interfaces.gate, verifier.engines.mutants, verifier.report, verifier.results.replay  # noqa: E401,F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
BUGGY = ["--adverify-engine", "mutant:tanh-rule", "--adverify-examples", "60", "--adverify-ops", "tanh,add,mul"]


def _installed() -> bool:
    return any(ep.value == "verifier.interfaces.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    extra = () if _installed() else ("-p", "verifier.interfaces.pytest_plugin")
    return pytester.runpytest(*extra, "-p", "no:cacheprovider", *args)


def test_the_entry_point_is_declared_and_installed_as_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"]["adverify"] == "verifier.interfaces.pytest_plugin"
    try:
        importlib.metadata.distribution("adverify")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("adverify is not installed: nothing to compare with")
    assert _installed(), "the installed adverify predates the entry point: pip install -e '.[test]'"


def test_loading_the_plugin_imports_nothing_heavy():
    code = ("import json, sys, pytest; before = set(sys.modules); import verifier.interfaces.pytest_plugin; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    # argtypes: the number parsers it shares with the command line, standard library only
    assert json.loads(p.stdout) == ["verifier", "verifier.interfaces", "verifier.interfaces.argtypes",
                                    "verifier.interfaces.pytest_plugin"]


def test_a_buggy_engine_fails_the_run_with_the_report(pytester):
    result = run(pytester, *BUGGY)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "mismatch in tanh (local-rule)" in out and "expression: " in out and "Traceback" not in out
    replay = next(line for line in result.stdout.lines if "replay: adverify replay" in line)
    path = replay.split("adverify replay ", 1)[1].split(" --engine")[0]
    assert (pytester.path / path).exists() and replay.endswith("--engine mutant:tanh-rule")
    result.stdout.fnmatch_lines(["*= adverify =*", "adverify[[]mutant:tanh-rule[]]: FAILED, * distinct discrepanc*"
                                 "mismatch *"])


def test_a_correct_engine_passes_and_the_summary_counts_verdicts(pytester):
    result = run(pytester, "--adverify-engine", "builtin", "--adverify-examples", "30")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*= adverify =*", "adverify[[]builtin[]]: passed — engine 'builtin', 30 examples, "
                                 "seed 0: agree *"])


def test_an_engine_program_is_checked_and_a_broken_protocol_is_one_line(pytester):
    program = f"cmd:{sys.executable} {ROOT / 'tests' / 'protocol_engine.py'}"
    result = run(pytester, "--adverify-engine", program, "--adverify-examples", "30")
    result.assert_outcomes(passed=1)
    result = run(pytester, "--adverify-engine", program + " --misbehave count", "--adverify-examples", "30")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["adverify: error: protocol: engine 'protocol-engine' broke the protocol *"])
    assert "Traceback" not in result.stdout.str()


def test_the_fixture_fails_a_test_with_the_report_and_passes_a_right_engine(pytester):
    pytester.makepyfile(test_grads="""
        def test_buggy(adverify):
            adverify("mutant:tanh-rule", examples=60, ops="tanh,add,mul")

        def test_right(adverify):
            assert adverify("builtin", examples=20).examples == 20
    """)
    result = run(pytester)
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "mismatch in tanh" in out and "adverify replay " in out
    result.stdout.fnmatch_lines(["*= adverify =*", "test_grads.py::test_buggy: FAILED*",
                                 "test_grads.py::test_right: passed*"])


def test_command_line_options_reach_the_fixture_and_the_test_has_the_last_word(pytester):
    pytester.makepyfile(test_opts="""
        def test_from_the_command_line(adverify):
            r = adverify("builtin")
            assert (r.examples, r.seed, sorted(r.ops)) == (12, 4, ["add", "sin"])

        def test_the_test_wins(adverify):
            assert adverify("builtin", examples=5, seed=1).seed == 1
    """)
    result = run(pytester, "--adverify-examples", "12", "--adverify-seed", "4", "--adverify-ops", "sin,add")
    result.assert_outcomes(passed=2)


def test_the_engine_item_is_collected_and_selected_like_any_test(pytester):
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    listed = run(pytester, "--collect-only", "-q", "--adverify-engine", "builtin")
    listed.stdout.fnmatch_lines(["test_other.py::test_other", "adverify[[]builtin[]]", "2 tests collected*"])
    skipped = run(pytester, "-k", "not adverify", "--adverify-engine", "builtin")
    skipped.assert_outcomes(passed=1, deselected=1)
    assert run(pytester, "--collect-only", "-q").stdout.str().count("adverify[") == 0


def test_bad_options_are_usage_errors_and_a_bad_engine_fails_in_one_line(pytester):
    bad = run(pytester, "--adverify-examples", "0")
    # the options parse numbers as `adverify campaign` does (verifier.interfaces.argtypes), wording included
    assert bad.ret == pytest.ExitCode.USAGE_ERROR and "0 is out of range (1..∞)" in bad.stderr.str()
    result = run(pytester, "--adverify-engine", "nosuch")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["adverify: error: unknown engine 'nosuch'*"])
