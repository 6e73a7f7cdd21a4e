"""Every printed replay command runs as pasted: in a shell, in the folder the campaign ran in,
in a fresh process with nothing but what the command itself says.

Each surface that prints one is read as a person reads it — the terminal, summary.md,
index.html, the JUnit failure text, the pytest plugin's failure, check_engine's exception,
a regression still failing — and each distinct command is run with bash from that folder,
without PYTHONPATH, and must reproduce its discrepancy (exit 1, the same kind and op)."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from optional import require

from verifier import check_engine
from verifier.interfaces.gate import GateFailure

OPS = "tanh,add,mul"
# a user's engine: the builtin one with the planted wrong tanh rule, under another name
ENGINE_SOURCE = textwrap.dedent('''
    from verifier.engines.builtin import BuiltinEngine
    from verifier.engines.mutants import MUTANTS


    class MyEngine(BuiltinEngine):
        name = "mine"

        def __init__(self):
            super().__init__()
            self.ops = {**self.ops, "tanh": MUTANTS["tanh-rule"].make().ops["tanh"]}
''')


def _env(**extra: str) -> dict[str, str]:
    """A user's shell: the interpreter's scripts on PATH (adverify), no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return {**env, **extra}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's folder: an engine file beside it, and a package under src/."""
    if shutil.which("adverify", path=_env()["PATH"]) is None:
        pytest.skip("the adverify command is not installed (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("project")
    (root / "myeng.py").write_text(ENGINE_SOURCE)
    (root / "src" / "srcpkg").mkdir(parents=True)
    (root / "src" / "srcpkg" / "__init__.py").write_text("")
    (root / "src" / "srcpkg" / "engine.py").write_text(ENGINE_SOURCE)
    return root


def commands_in_text(text: str) -> list[str]:
    return re.findall(r"^\s*replay: (.+)$", text, flags=re.M)


def commands_in_markdown(text: str) -> list[str]:
    return [line.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)
            for line in block.splitlines() if line.strip()]


def commands_in_html(text: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r'<pre class="cmd">(.*?)</pre>', text, flags=re.S)]


def commands_in_junit(text: str) -> list[str]:
    return [c for f in ET.fromstring(text).iter("failure") for c in commands_in_text(f.text or "")]


def reproduces(command: str, cwd: Path, kind: str, op: str | None) -> None:
    """Pasted into bash in ``cwd``: exit 1 and the same discrepancy (its kind, and the op
    its replay file blames)."""
    run = subprocess.run(["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1, (command, run.stdout, run.stderr)
    assert run.stdout.startswith(f"1. {kind}") and (op is None or f"{kind} in {op} " in run.stdout), \
        (command, run.stdout)


def campaign(project: Path, spec: str, out: str, *more: str, ops: str = OPS, **env: str) -> subprocess.CompletedProcess:
    run = subprocess.run(["adverify", "campaign", "--engine", spec, "--ops", ops, "--examples", "60",
                          "--seed", "0", "--out", out, "--junit", f"{out}/junit.xml", "--quiet", *more],
                         cwd=project, env=_env(**env), capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    return run


@pytest.mark.parametrize("spec,env", [
    ("mutant:tanh-rule", {}),                      # a planted bug, by name
    ("micrograd", {}),                             # an adapter, by name: x/y's rule leaves the float range
    ("./myeng.py:MyEngine", {}),                   # a file
    ("myeng:MyEngine", {}),                        # a module in the folder itself
    ("srcpkg.engine:MyEngine", {"PYTHONPATH": "src"}),   # a module the shell was told about
])
def test_every_surface_of_a_campaign_prints_a_command_that_reproduces(project, spec, env):
    if spec == "micrograd":
        require("micrograd")
    out = f"rep-{re.sub(r'[^a-z]+', '-', spec)}"
    run = campaign(project, spec, out, ops="div,mul,add" if spec == "micrograd" else OPS, **env)
    report = project / out
    surfaces = {"terminal": commands_in_text(run.stdout),
                "summary.md": commands_in_markdown((report / "summary.md").read_text()),
                "junit": commands_in_junit((report / "junit.xml").read_text())}
    if (report / "index.html").is_file():
        surfaces["index.html"] = commands_in_html((report / "index.html").read_text())
    # every surface names every finding, with the same command: running each one once
    # runs what every surface prints
    terminal = surfaces["terminal"]
    assert terminal and all(sorted(cmds) == sorted(terminal) for cmds in surfaces.values()), surfaces
    assert all(f"--engine {spec}" in c for c in terminal)
    assert all(c.startswith("PYTHONPATH=src ") for c in terminal) == bool(env)
    first = terminal[0]
    replay = json.loads((project / re.search(r"(\S+/replays/\S+\.json)", first).group(1)).read_text())
    reproduces(first, project, replay["kind"], replay["culprit_op"])


def test_a_regression_still_failing_prints_a_command_that_reproduces(project):
    campaign(project, "./myeng.py:MyEngine", "rep-old")
    old = sorted((project / "rep-old" / "replays").glob("*tanh*.json"))[0]
    run = campaign(project, "./myeng.py:MyEngine", "rep-again", "--regressions", str(old.relative_to(project)))
    assert "regression still failing" in run.stdout
    line = run.stdout.split("regression still failing", 1)[1]
    command = commands_in_text(line)[0]
    assert str(old.relative_to(project)) in command
    md = (project / "rep-again" / "summary.md").read_text()
    assert f"`{command}`" in md
    reproduces(command, project, "mismatch", "tanh")


@pytest.mark.parametrize("engine", ["myeng:MyEngine", "class"])
def test_check_engines_exception_prints_a_command_that_reproduces(project, monkeypatch, engine):
    # a spec string, or the engine's class itself: the gate names it only once the name
    # rebuilds an engine that still fails
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    if engine == "class":
        from myeng import MyEngine as engine
    with pytest.raises(GateFailure) as e:
        check_engine(engine, ops=OPS, examples=60, out=f"rep-gate-{id(engine)}")
    [first, *_] = commands_in_text(str(e.value))
    assert first.endswith("--engine myeng:MyEngine")
    reproduces(first, project, "mismatch", "tanh")


def test_a_module_a_test_runner_put_on_sys_path_is_named_in_the_command(project, monkeypatch):
    # pytest puts a test's folder on sys.path: an engine module beside the tests imports
    # there, and nowhere a pasted command would look unless it says so
    (project / "tests").mkdir(exist_ok=True)
    (project / "tests" / "besides.py").write_text(ENGINE_SOURCE)
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project / "tests"))
    with pytest.raises(GateFailure) as e:
        check_engine("besides:MyEngine", ops=OPS, examples=60, out="rep-besides")
    [first, *_] = commands_in_text(str(e.value))
    assert first.startswith("PYTHONPATH=tests adverify replay rep-besides/")
    reproduces(first, project, "mismatch", "tanh")


def test_the_pytest_plugins_failure_prints_a_command_that_reproduces(project):
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ".",
                          "--adverify-engine", "./myeng.py:MyEngine", "--adverify-ops", OPS,
                          "--adverify-examples", "60", "--adverify-reports", "rep-plugin"],
                         cwd=project, env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    [first, *_] = commands_in_text(run.stdout)
    assert first.startswith("adverify replay rep-plugin/") and first.endswith("--engine ./myeng.py:MyEngine")
    reproduces(first, project, "mismatch", "tanh")
