"""The C reference engine (examples/c-engine/engine.c) speaks adverify's subprocess protocol
(docs/protocol.md): compiled here with the system's C compiler, driven line by line, then
checked by a campaign, and its planted bug (``--bug sigmoid``) is found, blamed on sigmoid
and reproduced by the printed replay command."""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "c-engine" / "engine.c"


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        words = shlex.split(cc)
        return cc if words and shutil.which(words[0]) else None
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    return None


CC = _compiler()
pytestmark = pytest.mark.skipif(CC is None, reason="needs a C compiler (cc) for the C engine")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    binary = tmp_path_factory.mktemp("c-engine") / "engine"
    done = subprocess.run([*shlex.split(CC), "-O2", "-std=c11", "-Wall", "-Wextra", "-o", str(binary), str(SOURCE),
                           "-lm"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return binary, done.stderr


@pytest.fixture(scope="module")
def engine(build):
    return build[0]


def test_it_compiles_without_warnings(build):
    assert "warning" not in build[1].lower(), build[1]


# ── driving the binary ───────────────────────────────────────────────────────────────────
class Session:
    """One running engine, asked one request at a time (each answer must arrive before the
    next request is written: an engine that does not flush hangs here, and is killed)."""

    def __init__(self, engine: Path, *args: str):
        self.proc = subprocess.Popen([str(engine), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.watchdog = threading.Timer(30, self.proc.kill)
        self.watchdog.start()

    def ask_raw(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer.endswith("\n"), f"no answer to {line[:200]!r} (exit code {self.proc.poll()})"
        return answer

    def ask(self, request: dict) -> dict:
        return json.loads(self.ask_raw(json.dumps(request)))

    def close(self) -> int:
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=5)
        finally:
            self.watchdog.cancel()
            self.proc.kill()
            self.proc.stdout.close()
            self.proc.stderr.close()
        return code


@pytest.fixture
def session(engine):
    s = Session(engine)
    yield s
    if s.proc.poll() is None:
        s.close()


def gradients(nodes, point, output=None, rid=1, value=True):
    return {"protocol": 1, "id": rid, "method": "gradients", "value": value, "variables": sorted(point),
            "point": point, "expression": {"format": "adverify-expr", "version": 1, "nodes": nodes,
                                           "output": len(nodes) - 1 if output is None else output}}


def number(x) -> float:
    """A number as the protocol writes it: a JSON number, a hex-float string, nan/inf/-inf."""
    if isinstance(x, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(x) if x in ("nan", "inf", "-inf") \
            else float.fromhex(x)
    assert isinstance(x, (int, float)) and not isinstance(x, bool), x
    return float(x)


def doc_scalar_ops() -> list[str]:
    text = (ROOT / "docs" / "engine-protocol.md").read_text()
    table = text.split("## Scalar ops", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.M)


# ── the protocol ─────────────────────────────────────────────────────────────────────────
def test_hello_names_the_engine_and_every_scalar_op(session):
    hello = session.ask({"protocol": 1, "id": 0, "method": "hello", "adverify": "0.1.0"})
    ops = doc_scalar_ops()
    assert len(ops) == 42
    assert hello["id"] == 0 and hello["protocol"] == 1
    assert (hello["name"], hello["dtype"], hello["capabilities"]) == ("c-engine", "float64", {"value": True})
    assert sorted(hello["ops"]) == sorted(ops) and len(hello["ops"]) == len(set(hello["ops"]))
    # the same process answers the next request before its input ends (it flushes)
    answer = session.ask(gradients([{"op": "var", "name": "x"}, {"op": "exp", "args": [0]}], {"x": 0.0}, rid=7))
    assert answer == {"id": 7, "value": 1, "gradients": [1]}
    assert session.close() == 0


def test_a_shared_node_gets_the_derivative_of_every_path(session):
    # sin(x)·y + sin(x)², the sin node used by both terms (the request of docs/protocol.md)
    nodes = [{"op": "var", "name": "x"}, {"op": "sin", "args": [0]}, {"op": "var", "name": "y"},
             {"op": "mul", "args": [1, 2]}, {"op": "const", "value": 2.0}, {"op": "pow", "args": [1, 4]},
             {"op": "add", "args": [3, 5]}]
    x, y = 0.5, -1.25
    answer = session.ask(gradients(nodes, {"x": x, "y": y}))
    s, c = math.sin(x), math.cos(x)
    # reverse mode: the sin node's adjoint is 2·s (from pow) + y (from mul), then times cos(x)
    assert answer == {"id": 1, "value": s * y + s ** 2, "gradients": [(2 * s + y) * c, s]}
    assert answer["gradients"][0] == pytest.approx(math.cos(x) * y + 2 * s * c, rel=1e-15)
    # sin(x)·sin(x): one sin node used twice (the session of docs/protocol.md)
    square = [{"op": "var", "name": "x"}, {"op": "sin", "args": [0]}, {"op": "mul", "args": [1, 1]}]
    answer = session.ask(gradients(square, {"x": 0.5}, rid=2))
    assert answer == {"id": 2, "value": s * s, "gradients": [(s + s) * c]}
    assert answer["gradients"][0] == pytest.approx(math.sin(1.0), rel=1e-15)
    # a variable the output does not depend on has derivative 0; the order is `variables`'
    answer = session.ask(gradients([{"op": "var", "name": "b"}, {"op": "neg", "args": [0]}],
                                   {"a": 3.0, "b": 2.0}, rid=3, value=False))
    assert answer == {"id": 3, "gradients": [0, -1]}


@pytest.mark.parametrize("x", [0.1, -1.25e-300, 5e-324, 1.7976931348623157e308, -0.0, 2.0 ** -1022,
                               1 / 3, 123456789.12345678, 9007199254740993.0])
def test_numbers_travel_exactly(session, x):
    nodes = [{"op": "var", "name": "x"}, {"op": "const", "value": 1.0}, {"op": "mul", "args": [0, 1]}]
    line = session.ask_raw(json.dumps(gradients(nodes, {"x": x})))
    answer = json.loads(line)
    assert number(answer["value"]) == x and math.copysign(1, number(answer["value"])) == math.copysign(1, x)
    assert answer["gradients"] == [1]


def test_non_finite_numbers_are_strings(session):
    v = [{"op": "var", "name": "x"}]
    answer = session.ask(gradients(v + [{"op": "log", "args": [0]}], {"x": 0.0}))
    assert (answer["value"], answer["gradients"]) == ("-inf", ["inf"])
    answer = session.ask(gradients(v + [{"op": "sqrt", "args": [0]}], {"x": -1.0}))
    assert (answer["value"], answer["gradients"]) == ("nan", ["nan"])
    answer = session.ask(gradients(v + [{"op": "exp", "args": [0]}, {"op": "neg", "args": [1]}], {"x": 1000.0}))
    assert (answer["value"], answer["gradients"]) == ("-inf", ["-inf"])
    line = session.ask_raw(json.dumps(gradients(v + [{"op": "log", "args": [0]}], {"x": 0.0})))
    assert "null" not in line and "NaN" not in line and "Infinity" not in line


def test_errors_are_answers_and_the_engine_keeps_going(session):
    v = [{"op": "var", "name": "x"}]
    answer = session.ask(gradients(v + [{"op": "frobnicate", "args": [0]}], {"x": 1.0}, rid=11))
    assert answer["id"] == 11 and "frobnicate" in answer["error"] and answer["origin"].startswith("engine.c:")
    assert set(answer) == {"id", "error", "origin"}
    answer = session.ask({"protocol": 1, "id": 12, "method": "second_derivatives"})
    assert answer["id"] == 12 and "second_derivatives" in answer["error"]
    answer = json.loads(session.ask_raw("this is not JSON {"))
    assert answer["id"] is None and "malformed" in answer["error"]
    answer = session.ask(gradients(v + [{"op": "sin", "args": [5]}], {"x": 1.0}, rid=13))
    assert answer["id"] == 13 and "error" in answer
    answer = session.ask({"protocol": 2, "id": 14, "method": "hello"})
    assert answer["id"] == 14 and "protocol 1" in answer["error"]
    answer = session.ask(gradients(v + [{"op": "sin", "args": [0]}], {"x": 0.0}, rid=15))
    assert answer == {"id": 15, "value": 0, "gradients": [1]}
    assert session.close() == 0


def test_it_exits_at_the_end_of_its_input(engine):
    s = Session(engine)
    assert s.close() == 0
    done = subprocess.run([str(engine)], input='{"protocol": 1, "id": 0, "method": "hello"}\n',
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 0 and json.loads(done.stdout)["name"] == "c-engine"


def test_long_lines_and_deep_chains(session):
    # a 500-node chain: node k = node k-1 + x, so the output is 500·x and d/dx = 500 (all exact)
    nodes = [{"op": "var", "name": "x"}] + [{"op": "add", "args": [k - 1, 0]} for k in range(1, 500)]
    answer = session.ask(gradients(nodes, {"x": 0.75}))
    assert answer == {"id": 1, "value": 375, "gradients": [500]}
    # a line near the 1 MiB limit, most of it a field the engine must ignore
    request = gradients(nodes, {"x": 0.75}, rid=2)
    request["padding"] = "é\\\"" * 160_000
    line = json.dumps(request, ensure_ascii=False)
    assert 900_000 < len(line.encode()) < 1 << 20
    assert session.ask_raw(line) == '{"id": 2, "value": 375, "gradients": [500]}\n'
    # a 500-node chain of transcendental ops, checked against the same reverse pass in Python
    nodes = [{"op": "var", "name": "x"}]
    for k in range(1, 500):
        nodes.append({"op": ("sin", "cos", "atan")[k % 3], "args": [k - 1]})
    values = [0.3]
    for node in nodes[1:]:
        values.append(getattr(math, node["op"])(values[-1]))
    rules = {"sin": math.cos, "cos": lambda t: -math.sin(t), "atan": lambda t: 1.0 / (1.0 + t * t)}
    g = 1.0
    for node, v in zip(reversed(nodes[1:]), reversed(values[:-1])):
        g = g * rules[node["op"]](v)
    answer = session.ask(gradients(nodes, {"x": 0.3}, rid=3))
    assert answer["value"] == values[-1] and answer["gradients"][0] == pytest.approx(g, rel=1e-13)


# ── campaigns ────────────────────────────────────────────────────────────────────────────
def adverify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verifier", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_a_campaign_finds_nothing_in_the_c_engine(engine, tmp_path):
    out = tmp_path / "rep"
    run = adverify("campaign", "--engine", f"cmd:{engine}", "--examples", "2000", "--seed", "0", "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["discrepancies"] == [] and summary["engine"] == "c-engine"
    assert summary["verdicts"].get("agree", 0) > 1500


def test_the_planted_bug_is_found_blamed_and_replayed(engine, tmp_path):
    out = tmp_path / "rep"
    run = adverify("campaign", "--engine", f"cmd:{engine} --bug sigmoid", "--examples", "2000", "--seed", "0",
                   "--out", str(out))
    assert run.returncode == 1, run.stdout + run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert {d["culprit_op"] for d in summary["discrepancies"]} == {"sigmoid"}
    replays = [line.split("replay: ", 1)[1] for line in run.stdout.splitlines() if line.strip().startswith("replay: ")]
    assert replays and replays[0].startswith("adverify replay ") and "--bug sigmoid" in replays[0]
    pasted = subprocess.run(replays[0], shell=True, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert pasted.returncode == 1 and "sigmoid" in pasted.stdout, pasted.stdout + pasted.stderr
    # the engine without the planted bug agrees at the same case
    replay_file = out / summary["discrepancies"][0]["replay"]
    fixed = adverify("replay", str(replay_file), "--engine", f"cmd:{engine}")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
