"""The subprocess engine protocol (docs/protocol.md): floats exact on the wire, a Python
engine served through it gets the verdicts it gets in one process, and an engine program
that crashes, hangs, chatters or breaks the protocol is told apart, each as the page says."""
from __future__ import annotations

import io
import json
import math
import os
import random
import re
import shlex
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from verifier.checking.checker import Checker
from verifier.engines import EngineError, load_engine
from verifier.engines.command import CommandEngine, ProtocolError
from verifier.floor.ir import apply, const, var
from verifier.floor.serial import expr_to_json, point_to_json
from verifier.floor.vocabulary import BUILTIN
from verifier.floor.wire import (WireError, answer_from, array, array_from, check_request, decode, encode, number,
                                 number_from)
from verifier.interfaces.cli import main
from verifier.model import Case
from verifier.protocol import serve  # the public face of the Python side

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "protocol.md"
PYTHON = shlex.quote(sys.executable)
SERVED = f"cmd:{PYTHON} -m verifier serve"
PROGRAM = f"{PYTHON} {shlex.quote(str(ROOT / 'tests' / 'protocol_engine.py'))}"
X, Y = var("x"), var("y")
SIN = apply(BUILTIN["sin"], X)
# the page's example: sin(x)·y + sin(x)², one sin node used twice
EXAMPLE = apply(BUILTIN["add"], apply(BUILTIN["mul"], SIN, Y), apply(BUILTIN["pow"], SIN, const(2.0)))


def program(misbehave: str = "", on: str = "exp") -> str:
    return f"cmd:{PROGRAM}" + (f" --misbehave {misbehave} --on {on}" if misbehave else "")


def campaign(tmp_path: Path, engine: str, *args: str, name: str = "out") -> tuple[int, dict]:
    out = tmp_path / name
    code = main(["campaign", "--engine", engine, "--seed", "0", "--quiet", "--out", str(out), *args])
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return code, summary


# ── numbers on the wire ──────────────────────────────────────────────────────────────────

def _doubles(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    special = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3, math.pi]
    drawn = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(n)]
    return special + [x for x in drawn if math.isfinite(x)]


def test_every_double_travels_exactly_as_adverify_writes_it_and_as_hex():
    for x in _doubles(5000):
        line = encode({"x": number(x)})
        back = number_from(decode(line)["x"], "x")
        assert struct.pack("<d", back) == struct.pack("<d", x), x   # bit for bit: -0.0 keeps its sign
        assert struct.pack("<d", number_from(x.hex(), "x")) == struct.pack("<d", x)


def test_nonfinite_numbers_are_strings_both_ways():
    assert encode({"g": [number(math.nan), number(math.inf), number(-math.inf)]}) == b'{"g":["nan","inf","-inf"]}\n'
    assert math.isnan(number_from("nan", "g")) and number_from("-inf", "g") == -math.inf


@pytest.mark.parametrize("bad, says", [
    (None, "JSON.stringify writes NaN and ±Infinity as null"),
    (True, "a boolean"),
    ("NaN", "not a number"),
    ("1.5", "not a number"),
    (1e400, "overflows a double"),
    (10 ** 400, "overflows a double"),
])
def test_what_is_not_a_number_says_why(bad, says):
    with pytest.raises(WireError, match=re.escape(says)):
        number_from(bad, "gradients[0]")


def test_arrays_carry_their_shape_and_row_major_values():
    a = np.arange(6.0).reshape(2, 3) - 2.5
    assert array(a) == {"shape": [2, 3], "values": [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]}
    assert np.array_equal(array_from(array(a), "g"), a)
    assert array_from({"shape": [], "values": [7.0]}, "g").shape == ()
    with pytest.raises(WireError, match="5 values for shape \\[2, 3\\]"):
        array_from({"shape": [2, 3], "values": [1.0] * 5}, "gradients[0]")


def test_a_request_carries_the_replay_files_json_of_the_expression():
    request = check_request(4, "gradients", EXAMPLE, {"x": 0.5, "y": -1.25}, ["x", "y"], False, True)
    assert request["expression"] == expr_to_json(EXAMPLE)
    assert request["point"] == point_to_json({"x": 0.5, "y": -1.25}) and request["variables"] == ["x", "y"]
    # the wrong count and a missing value are protocol errors; the answer is read in order
    with pytest.raises(WireError, match="holds 1 item for 2 variables"):
        answer_from({"id": 4, "gradients": [1.0], "value": 0.0}, "gradients", ["x", "y"], False, True)
    with pytest.raises(WireError, match="no 'value'"):
        answer_from({"id": 4, "gradients": [1.0, 2.0]}, "gradients", ["x", "y"], False, True)
    # integers and hex floats are numbers; fields the protocol does not define are ignored
    assert answer_from({"gradients": [1, "0x1p-1"], "value": "-inf", "took_ms": 3}, "gradients", ["x", "y"],
                       False, True) == (-math.inf, [1.0, 0.5])


# ── the page ─────────────────────────────────────────────────────────────────────────────

def _exchanges() -> list[tuple[dict, dict]]:
    """The page's → / ← lines and its fenced request/answer pairs, as JSON."""
    text = PAGE.read_text()
    arrows = [json.loads(line[2:]) for line in text.splitlines() if line.startswith(("→ {", "← {"))]
    return list(zip(arrows[0::2], arrows[1::2]))


def test_the_pages_complete_session_is_what_the_served_builtin_engine_answers():
    exchanges = _exchanges()
    assert len(exchanges) >= 4
    requests = b"".join(encode(request) for request, _ in exchanges)
    out = io.BytesIO()
    serve(load_engine("builtin"), stdin=io.BytesIO(requests), stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    for (_, expected), got in zip(exchanges[1:], answers[1:]):
        assert got == expected   # every number on the page is the engine's, exactly
    hello = answers[0]
    assert hello["protocol"] == 1 and hello["name"] == "builtin" and "sin" in hello["ops"]


def test_the_pages_first_example_is_exact():
    text = PAGE.read_text()
    request = json.loads(text.split("## Checks: `gradients`", 1)[1].split("```json\n", 1)[1].split("```")[0])
    answer = json.loads(text.split('The answer:\n\n```json\n', 1)[1].split("```")[0])
    out = io.BytesIO()
    serve(load_engine("builtin"), stdin=io.BytesIO(encode(request)), stdout=out)
    assert json.loads(out.getvalue()) == answer
    s, c = math.sin(0.5), math.cos(0.5)
    assert answer["gradients"][1] == s and math.isclose(answer["gradients"][0], c * -1.25 + 2 * s * c, rel_tol=1e-15)


# ── serve: any Python engine as a program ───────────────────────────────────────────────

def test_serve_answers_hello_checks_and_bad_requests_without_stopping():
    lines = [encode({"protocol": 1, "id": 0, "method": "hello"}),
             b"not json\n",
             encode({"protocol": 1, "id": 2, "method": "differentiate"}),
             encode({"protocol": 1, "id": 3, "method": "gradients", "variables": ["x"], "point": {"x": 0.5},
                     "expression": {"format": "adverify-expr", "version": 1,
                                    "nodes": [{"op": "var", "name": "x"}, {"op": "exec", "args": [0]}],
                                    "output": 1}}),
             encode({"protocol": 2, "id": 4, "method": "gradients"}),
             encode(check_request(5, "second_derivatives", EXAMPLE, {"x": 0.5, "y": -1.25}, ["x", "y"], False, False))]
    out = io.BytesIO()
    assert serve(load_engine("builtin"), stdin=io.BytesIO(b"".join(lines)), stdout=out) == 0
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [a["id"] for a in answers] == [0, None, 2, 3, 4, 5]
    assert "not valid JSON" in answers[1]["error"]
    assert "unknown method 'differentiate'" in answers[2]["error"]
    assert "unknown op 'exec'" in answers[3]["error"]   # data, never code
    assert "protocol version 1" in answers[4]["error"]
    c = math.cos(0.5)
    hessian = answers[5]["second_derivatives"]
    assert hessian[0][1] == hessian[1][0] == pytest.approx(c) and hessian[1][1] == 0


@pytest.mark.parametrize("args", [(), ("--tensor", "--examples", "60"), ("--order", "2", "--examples", "60"),
                                  ("--forward", "--examples", "80")], ids=["scalar", "tensor", "order2", "forward"])
def test_a_served_engine_gets_the_verdicts_it_gets_in_one_process(tmp_path, args):
    args = args if "--examples" in args else (*args, "--examples", "200")
    served = SERVED + " builtin" + (" --tensor" if "--tensor" in args else "")
    code_in, here = campaign(tmp_path, "builtin", *args, name="here")
    code_out, there = campaign(tmp_path, served, *args, name="there")
    assert code_in == code_out == 0
    assert here["examples"] == there["examples"] and here["verdicts"] == there["verdicts"]
    assert here["coverage"] == there["coverage"] and here["undecided"] == there["undecided"]


def test_a_served_mutant_is_found_blamed_and_its_pasted_replay_reproduces_it(tmp_path, capsys):
    engine = SERVED + " mutant:tanh-rule"
    code, summary = campaign(tmp_path, engine, "--examples", "300")
    assert code == 1
    (finding,) = summary["discrepancies"]
    assert finding["culprit_op"] == "tanh" and finding["kind"] == "mismatch"
    printed = capsys.readouterr().out
    command = next(line.split("replay: ", 1)[1] for line in printed.splitlines() if "replay: adverify replay" in line)
    assert shlex.split(command)[-1] == engine   # the spec, quoted so that a shell gives it back
    assert main(shlex.split(command)[1:]) == 1            # `adverify replay FILE --engine 'cmd:…'`, pasted
    assert "mismatch in tanh" in capsys.readouterr().out


def test_a_wrongly_shaped_gradient_is_the_engines_finding_not_a_protocol_error(tmp_path):
    code, summary = campaign(tmp_path, SERVED + " mutant:t-broadcast-unreduced --tensor", "--tensor",
                             "--examples", "300")
    assert code == 1 and summary["stopped"] == "completed"
    assert any(f["kind"] == "malformed" or "shape" in f["message"] for f in summary["discrepancies"])


# ── an engine program that misbehaves ────────────────────────────────────────────────────

EXP = apply(BUILTIN["exp"], X)


def check(engine: str, expr=EXP, point=None, timeout: float = 5.0):
    loaded = load_engine(engine)
    with Checker(loaded, timeout) as checker:
        verdict = checker.check(Case(expr, point or {"x": 0.5}))
        after = checker.check(Case(SIN, {"x": 0.25}))   # the engine answers again afterwards
    loaded.close()
    return verdict, after


def test_the_reference_program_is_a_correct_engine(tmp_path):
    code, summary = campaign(tmp_path, program(), "--examples", "300")
    assert code == 0 and summary["discrepancies"] == [] and summary["examples"] == 300


def test_a_segfault_is_a_crash_finding_and_the_engine_is_started_again():
    verdict, after = check(program("segfault"))
    assert verdict.kind == "crash" and "signal SIGSEGV" in verdict.reason
    assert after.kind == "agree"


def test_an_engine_that_exits_is_a_crash_whose_report_shows_its_stderr(tmp_path):
    verdict, after = check(program("exit"))
    assert verdict.kind == "crash" and "exit code 3" in verdict.reason
    assert "giving up on this one" in verdict.output
    assert after.kind == "agree"


def test_a_hang_is_a_timeout_finding_and_the_process_group_is_killed():
    start = time.monotonic()
    verdict, after = check(program("hang"), timeout=1.0)
    assert verdict.kind == "timeout" and "no answer within 1 s" in verdict.reason
    assert after.kind == "agree"
    assert time.monotonic() - start < 30


def test_an_error_answer_is_a_crash_with_the_engines_origin():
    verdict, after = check(program("error"))
    assert verdict.kind == "crash" and "no rule for exp" in verdict.reason
    assert verdict.origin == "protocol_engine.py:99"
    assert after.kind == "agree"


def test_what_the_engine_writes_to_stderr_is_kept_with_its_check():
    verdict, _ = check(program("stderr"))
    assert verdict.kind == "agree" and "request 1 uses exp" in verdict.output


def test_state_kept_between_requests_is_inconsistent():
    verdict, _ = check(program("state"))
    assert verdict.kind == "inconsistent"


@pytest.mark.parametrize("misbehave, says", [
    ("stdout-noise", r"answer is not valid JSON .*its line: 'debug: \d+ nodes'"),
    ("count", "holds 2 items for 1 variable"),
    ("null", "is null, not a number .*JSON.stringify"),
    ("wrong-id", r"the answer's id is \d+, the request's \d+"),
])
def test_a_protocol_error_stops_the_campaign_with_exit_2_naming_the_request_and_line(tmp_path, capsys, misbehave,
                                                                                       says):
    code, summary = campaign(tmp_path, program(misbehave), "--examples", "200")
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("adverify: error: protocol: engine 'protocol-engine' broke")
    assert "request" in error[0] and " at x = " in error[0]
    assert re.search(says, error[0]), error[0]
    # the checks until then are kept: the report is written, and says why it stopped
    assert summary["stopped"] == "protocol-error" and summary["error"] in error[0]
    assert (tmp_path / "out" / "index.html").exists()


@pytest.mark.parametrize("misbehave, says", [
    ("version", "speaks protocol version 2; this adverify speaks 1"),
    ("hello-error", "answered hello with an error: this engine speaks protocol 7 only"),
    ("no-name", "needs a 'name'"),
])
def test_a_bad_hello_is_one_line_and_exit_2_before_anything_runs(tmp_path, capsys, misbehave, says):
    code, _ = campaign(tmp_path, program(misbehave), "--examples", "5")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine, says", [
    ("cmd:", "cmd: needs a command to run"),
    ("cmd:no-such-program-here --x", "cannot start engine command 'no-such-program-here --x'"),
    ("cmd:node 'unclosed", "cannot be split into words"),
    (f"cmd:{PYTHON} -c pass", "ended before it answered hello (exit code 0)"),
])
def test_a_command_that_cannot_be_an_engine_is_one_line_and_exit_2(tmp_path, capsys, engine, says):
    assert campaign(tmp_path, engine, "--examples", "5")[0] == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def test_tensor_mode_needs_the_tensor_capability(capsys, tmp_path):
    assert campaign(tmp_path, program(), "--tensor", "--examples", "5")[0] == 2
    assert 'does not declare "tensor": true' in capsys.readouterr().err


def test_the_engine_is_closed_and_one_that_ignores_the_end_of_its_input_is_killed():
    for misbehave, most in (("", 1.5), ("ignore-eof", 10.0)):
        engine = load_engine(program(misbehave))
        pid = engine._process.popen.pid
        start = time.monotonic()
        engine.close()
        assert time.monotonic() - start < most
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_check_engine_takes_a_command_and_raises_the_protocol_error(tmp_path):
    from verifier.interfaces.gate import check_engine
    result = check_engine(program(), examples=50, out=tmp_path / "ok")
    assert result.examples == 50 and not result.discrepancies
    with pytest.raises(ProtocolError, match="holds 2 items"):
        check_engine(program("count"), examples=50, out=tmp_path / "bad")
    with pytest.raises(EngineError, match="speaks protocol version 2"):
        check_engine(program("version"), examples=5, out=tmp_path / "v")


def test_a_replay_file_never_starts_the_command_it_names(tmp_path, capsys):
    code, summary = campaign(tmp_path, SERVED + " mutant:tanh-rule", "--examples", "300")
    replay = tmp_path / "out" / summary["discrepancies"][0]["replay"]
    doc = json.loads(replay.read_text())
    marker = tmp_path / "ran"
    doc["engine"] = f"cmd:touch {marker}"
    replay.write_text(json.dumps(doc))
    assert main(["replay", str(replay)]) == 2
    assert "pass --engine" in capsys.readouterr().err and not marker.exists()


def test_a_command_engine_rebuilds_in_a_fresh_process_from_its_command():
    import pickle
    engine = load_engine(program())
    copy = pickle.loads(pickle.dumps(engine))
    assert isinstance(copy, CommandEngine) and copy.command == engine.command
    assert copy._process.popen.pid != engine._process.popen.pid
    copy.close()
    engine.close()


def test_the_module_runs_as_a_server():
    hello = encode({"protocol": 1, "id": 0, "method": "hello"})
    done = subprocess.run([sys.executable, "-m", "verifier", "serve", "builtin"], input=hello,
                          capture_output=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and json.loads(done.stdout)["name"] == "builtin"
