"""docs/ci.md is run, not just read: its pytest example passes on a right engine and fails
with the report on a wrong one, and its CI command gates, turns green and re-checks the old
reproducer — so the document and the tool cannot drift apart."""
import json
import re
import shlex
from pathlib import Path

import yaml

import verifier.search.campaign, verifier.interfaces.gate, verifier.engines.mutants, verifier.report  # noqa: E401,F401 (see test_pytest_plugin)
from verifier.interfaces.cli import _parser, main

pytest_plugins = ["pytester"]

DOC = (Path(__file__).resolve().parent.parent / "docs" / "ci.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC, flags=re.S | re.M)


def pytest_example() -> str:
    (code,) = [b for b in blocks("python") if b.startswith("# tests/test_gradients.py")]
    return code


def ci_commands() -> list[list[str]]:
    """Every `adverify campaign` command in the document's shell and YAML blocks."""
    found = []
    for block in blocks("sh") + blocks("yaml"):
        text = block.replace("\\\n", " ")
        found += [shlex.split(line.strip()) for line in text.splitlines() if line.strip().startswith("adverify campaign")]
    return found


def test_the_pytest_example_passes_on_a_right_engine_and_fails_with_the_report_on_a_wrong_one(pytester):
    code = pytest_example()
    assert 'ENGINE = "builtin"' in code
    pytester.makepyfile(test_gradients=code)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)

    pytester.makepyfile(test_gradients=code.replace('ENGINE = "builtin"', 'ENGINE = "mutant:tanh-rule"'))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "ops_we_just_changed")
    result.assert_outcomes(failed=1, deselected=1)
    out = result.stdout.str()
    assert "mismatch in tanh" in out and "adverify replay " in out and "--engine mutant:tanh-rule" in out


def test_the_ci_command_is_the_same_everywhere_in_the_document_and_parses():
    commands = ci_commands()
    assert len(commands) == 2 and commands[0] == commands[1]
    args = _parser().parse_args(commands[0][1:])
    assert args.ci and args.junit and args.regressions and args.save_regressions == args.regressions[0]


def test_the_ci_command_gates_then_passes_and_rechecks_the_old_reproducer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    argv = ci_commands()[0][1:]
    Path("adverify-regressions").mkdir()                    # the workflow's mkdir -p

    def with_engine(engine: str, out: str) -> list[str]:
        # the document's command, on a few ops and examples so it runs in a test
        a = list(argv)
        a[a.index("--engine") + 1] = engine
        a[a.index("--examples") + 1] = "60"
        a[a.index("--out") + 1] = out
        return a + ["--ops", "tanh,add,mul"]

    assert main(with_engine("mutant:tanh-rule", "reports/bad")) == 1
    junit = Path(argv[argv.index("--junit") + 1])
    assert 'name="op:tanh"' in junit.read_text() and "<failure" in junit.read_text()
    assert list(Path("adverify-regressions").glob("*.json"))

    assert main(with_engine("builtin", "reports/good")) == 0
    regs = json.loads(Path("reports/good/summary.json").read_text())["regressions"]
    assert regs and all(r["status"] == "fixed" for r in regs)


def test_the_workflow_restores_and_always_saves_the_same_cache():
    (workflow,) = blocks("yaml")
    steps = yaml.safe_load(workflow)["jobs"]["adverify"]["steps"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save"))
    assert save.get("if") == "always()" and save["with"]["key"] == restore["with"]["key"]
    assert save["with"]["path"] == restore["with"]["path"] == "adverify-regressions"
