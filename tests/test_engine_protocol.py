"""The engine protocol as a user meets it: docs/engine-protocol.md lists every op adverify
draws, with its arity and keywords; a check's second build, crash origin, captured output
and the one-call method for compiling engines behave as that page says."""
from __future__ import annotations

import json
import math
import os
import re
import sys
import warnings
from pathlib import Path

import pytest

import verifier
from verifier.checking.executor import InProcess, Worker
from verifier.checking.capture import OUTPUT_LIMIT
from verifier.checking.runner import SECOND_BUILD_EVERY, run_engine
from verifier.engines import CAPABILITIES
from verifier.engines.builtin import BuiltinEngine
from verifier.engines.recipe import Recorded
from verifier.floor.ir import apply, var
from verifier.floor.vocabulary import BUILTIN

PAGE = Path(__file__).resolve().parent.parent / "docs" / "engine-protocol.md"
SIN = apply(BUILTIN["sin"], var("x"))
POINT = {"x": 0.5}


# ── the page ─────────────────────────────────────────────────────────────────────────────

def _table(title: str) -> dict[str, list[str]]:
    """The rows of the table under ``## title``: op -> its cells after the name."""
    section = PAGE.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `(\w+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


def test_the_page_lists_every_scalar_op_with_its_arity_and_nothing_else():
    rows = _table("Scalar ops")
    assert set(rows) == set(BUILTIN)
    assert {op: int(cells[0]) for op, cells in rows.items()} == {op: BUILTIN[op].arity for op in BUILTIN}


def test_the_page_lists_every_tensor_op_with_its_arity_and_keywords_and_nothing_else():
    rows = _table("Tensor ops")
    structural = {op: spec for op, spec in BUILTIN.tensor.items() if spec.scalar is None}
    assert set(rows) == set(structural)   # the elementwise ones are the scalar table, lifted
    for op, cells in rows.items():
        assert int(cells[0]) == structural[op].arity, op
        assert re.findall(r"`(\w+)`", cells[1]) == list(structural[op].params), op


def test_the_page_documents_every_capability_and_optional_member():
    text = PAGE.read_text()
    for name in [*CAPABILITIES, "evaluate", "compiles", "forward_gradients", "second_derivatives",
                 "value", "Recorded", "function(output, variables)", "arguments(variables)", "leaf(value)"]:
        assert re.search(r"`[^`\n]*" + re.escape(name), text), name
    assert f"one case in {SECOND_BUILD_EVERY}" in text


# ── the second build ─────────────────────────────────────────────────────────────────────

class _Flaky(BuiltinEngine):
    """Last-bit nondeterminism: every other build's gradient is one ulp off."""
    def __init__(self):
        super().__init__()
        self.calls = 0

    def gradients(self, output, variables):
        self.calls += 1
        grads = super().gradients(output, variables)
        return [g if self.calls % 2 else float(sys.float_info.epsilon + g) for g in grads]


def test_two_builds_that_differ_are_both_handed_to_the_judge():
    run = run_engine(_Flaky(), SIN, POINT)
    assert run.status == "ok" and run.again is not None   # no longer "inconsistent" here
    assert run.grads != run.again and run.value == run.again_value


def test_an_engine_that_changes_its_inputs_is_still_inconsistent():
    class Mutates(BuiltinEngine):
        def gradients(self, output, variables):
            grads = super().gradients(output, variables)
            for v in variables:
                v.value = v.value + 1.0
            return grads
    assert run_engine(Mutates(), SIN, POINT).status == "inconsistent"


def test_identical_builds_carry_no_second_answer():
    run = run_engine(BuiltinEngine(), SIN, POINT)
    assert run.status == "ok" and run.again is None and run.again_value is None


# ── crash origin ─────────────────────────────────────────────────────────────────────────

class _Raises(BuiltinEngine):
    def gradients(self, output, variables):
        return json.loads("not json")   # raises deep inside the standard library


def _line_of(text: str) -> int:
    source = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(source, 1) if text in line)


@pytest.mark.parametrize("executor", [InProcess, lambda e: Worker(e, 10)], ids=["in-process", "worker"])
def test_a_crash_names_the_engines_own_line(executor):
    ex = executor(_Raises())
    try:
        run = ex.run(SIN, POINT)
    finally:
        ex.close()
    assert run.status == "crash" and run.where == "gradients"
    assert run.origin == f"{Path(__file__).name}:{_line_of('return json.loads(' + chr(34))}"


class _Replays(Recorded):
    """A record-and-replay engine whose op is C code: the replay's frames are adverify's."""
    name = "replays"
    functions = {"sin": math.log}   # math.log(-0.5) raises ValueError, with no Python frame

    def leaf(self, value):
        return value

    def value(self, x):
        return self.function(x, [])()   # the replay runs here

    def gradients(self, output, variables):
        return [0.0 for _ in variables]


def test_a_crash_inside_the_replay_helper_is_the_adapters_line():
    run = run_engine(_Replays(), SIN, {"x": -0.5})
    assert run.status == "crash" and "ValueError" in run.message
    assert run.origin == f"{Path(__file__).name}:{_line_of('return self.function(x, [])()')}"


# ── engine output ────────────────────────────────────────────────────────────────────────

class _Loud(BuiltinEngine):
    def gradients(self, output, variables):
        print("python stdout")
        print("python stderr", file=sys.stderr)
        os.write(1, b"descriptor one\n")   # what a C extension's printf does
        os.write(2, b"descriptor two\n")
        warnings.warn("an engine warning", UserWarning)
        return super().gradients(output, variables)


def test_engine_output_is_captured_in_process_not_printed(capsys):
    run = run_engine(_Loud(), SIN, POINT)
    assert "python stdout" in run.output and "python stderr" in run.output
    assert "UserWarning: an engine warning" in run.output
    out, err = capsys.readouterr()
    assert "python" not in out + err and "warning" not in out + err


def test_engine_output_is_captured_in_the_worker_at_descriptor_level(capfd):
    worker = Worker(_Loud(), 10)
    try:
        run = worker.run(SIN, POINT)
        again = worker.run(SIN, POINT)
    finally:
        worker.close()
    for text in ("python stdout", "python stderr", "descriptor one", "descriptor two",
                 "UserWarning: an engine warning"):
        assert text in run.output, text
    assert run.output == again.output   # each check's own output, not the worker's whole log
    out, err = capfd.readouterr()
    assert "descriptor" not in out + err and "python" not in out + err


def test_engine_output_is_trimmed_and_quiet_engines_have_none():
    class Verbose(BuiltinEngine):
        def gradients(self, output, variables):
            print("start of a long compiler log")
            print("x" * 100_000)
            print("the error at its end")
            return super().gradients(output, variables)
    run = run_engine(Verbose(), SIN, POINT)
    assert len(run.output) < OUTPUT_LIMIT + 100
    assert run.output.startswith("start of a long compiler log") and "the error at its end" in run.output
    assert run_engine(BuiltinEngine(), SIN, POINT).output == ""


# ── compiled engines: one call, a sampled second build ──────────────────────────────────

class _Counting(BuiltinEngine):
    """Counts each protocol call; answers through evaluate() when it has one."""
    def __init__(self):
        super().__init__()
        self.calls: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1

    def value(self, x):
        self._count("value")
        return super().value(x)

    def gradients(self, output, variables):
        self._count("gradients")
        return super().gradients(output, variables)


class _OneCall(_Counting):
    def evaluate(self, output, variables, method):
        self._count(f"evaluate:{method}")
        if method != "gradients":
            return NotImplemented
        return BuiltinEngine.value(self, output), BuiltinEngine.gradients(self, output, variables)


def test_evaluate_answers_a_check_in_one_call():
    engine = _OneCall()
    run = run_engine(engine, SIN, POINT)
    plain = run_engine(BuiltinEngine(), SIN, POINT)
    assert (run.status, run.grads, run.value) == ("ok", plain.grads, plain.value)
    assert engine.calls.get("gradients", 0) == 0 and engine.calls["evaluate:gradients"] == 2
    # value() is still asked of the leaves (the inputs' check), never of the output
    assert engine.calls["value"] == 2 * 2   # x, and a fresh x, per build


def test_evaluate_may_decline_a_method():
    engine = _OneCall()
    engine.forward_gradients = lambda output, variables: engine.gradients(output, variables)
    run = run_engine(engine, SIN, POINT, mode="forward")
    assert run.status == "ok" and engine.calls["evaluate:forward_gradients"] == 1


def test_evaluate_answers_the_hessian_too():
    class Hessian(_OneCall):
        def evaluate(self, output, variables, method):
            self._count(f"evaluate:{method}")
            if method != "second_derivatives":
                return NotImplemented
            return None, BuiltinEngine.second_derivatives(self, output, variables)

        def second_derivatives(self, output, variables):
            raise AssertionError("asked separately")
    engine = Hessian()
    run = run_engine(engine, SIN, POINT, mode="second")
    assert run.status == "ok" and run.grads == run_engine(BuiltinEngine(), SIN, POINT, mode="second").grads
    assert engine.calls == {"evaluate:second_derivatives": 1}


def test_evaluate_must_return_a_pair():
    class Bad(BuiltinEngine):
        def evaluate(self, output, variables, method):
            return [0.0]
    run = run_engine(Bad(), SIN, POINT)
    assert run.status == "malformed" and "evaluate() returned list" in run.message


def test_a_compiling_engine_builds_again_on_one_case_in_n():
    class Compiles(_OneCall):
        compiles = True
    engine = Compiles()
    points = [{"x": 0.01 * k} for k in range(1, 161)]
    builds = []
    for p in points:
        before = engine.calls.get("evaluate:gradients", 0)
        run_engine(engine, SIN, p)
        builds.append(engine.calls["evaluate:gradients"] - before)
    assert set(builds) == {1, 2}
    share = builds.count(2) / len(builds)
    assert 0.5 / SECOND_BUILD_EVERY < share < 2.0 / SECOND_BUILD_EVERY
    # the same case, the same choice: a replay or a shrink step sees what the campaign saw
    again = []
    for p in points[:20]:
        before = engine.calls["evaluate:gradients"]
        run_engine(engine, SIN, p)
        again.append(engine.calls["evaluate:gradients"] - before)
    assert again == builds[:20]
    # an engine that does not compile builds twice every time
    plain = _OneCall()
    for p in points[:10]:
        run_engine(plain, SIN, p)
    assert plain.calls["evaluate:gradients"] == 20


# ── the README ───────────────────────────────────────────────────────────────────────────

README = PAGE.parent.parent / "README.md"


def test_the_readme_imports_what_the_project_installs_and_names_no_real_package():
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    imported = {m for b in blocks for m in re.findall(r"^\s*(?:from|import) (\w+)", b, re.M)}
    assert "verifier" in imported and imported <= {"verifier", "my_engine"}, imported
    assert "docs/engine-protocol.md" in text
    # ./mygrad.py would shadow the mygrad package: no command loads an engine from it
    assert not re.search(r"--engine \S*mygrad", text)
    assert callable(verifier.check_engine)
