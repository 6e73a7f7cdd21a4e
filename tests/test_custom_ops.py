"""Ops an engine declares of its own (``custom_ops``, docs/custom-ops.md): from a SymPy
form alone they are generated, checked, blamed, reported and replayed like built-in ops;
a definition that cannot be used is one line naming the op, exit status 2."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from dataclasses import replace
from pathlib import Path

import mpmath
import pytest

from tests.optional import require
from verifier import CustomOp, Kink
from verifier.engines import EngineError, engine_vocabulary
from verifier.engines.autograd.array import make_array_op
from verifier.engines.autograd.tensor import make_op
from verifier.engines.builtin import BuiltinArrayEngine, BuiltinEngine
from verifier.floor.custom import compile_custom
from verifier.floor.ir import apply, const, var
from verifier.floor.mathns import C128, F64, precise
from verifier.floor.tensor_ops import elementwise
from verifier.interfaces.output import Output
from verifier.model import Case
from verifier.results.replay import read_replay
from verifier.search.campaign import Options, UnknownOpsWarning, run_campaign
from verifier.truth.judge import reference

ROOT = Path(__file__).resolve().parent.parent
MISH = lambda sp, x: x * sp.tanh(sp.log(1 + sp.exp(x)))   # noqa: E731
OPS = ("mish", "add", "mul", "sin")


def _mish(x):
    return x * math.tanh(math.log1p(math.exp(x)))


class Mish(BuiltinEngine):
    """The builtin engine with mish, its rule the compiled form's own (right) or ``rule``."""
    name = "with-mish"
    custom_ops = {"mish": MISH}
    rule = None

    def __init__(self):
        super().__init__()
        op, _ = compile_custom("mish", MISH)
        self.ops["mish"] = make_op(op if self.rule is None else replace(op, partials=(self.rule,)))


class WrongMish(Mish):
    name = "wrong-mish"
    # the chain term of tanh(softplus(x)) forgotten
    rule = staticmethod(lambda m, x, ans: m.tanh(m.log1p(m.exp(x))))


# ── from the form to a record ────────────────────────────────────────────────────────────
@pytest.mark.parametrize("x", [-30.0, -2.0, -0.1, 0.0, 0.7, 3.0, 25.0])
def test_the_value_and_partial_come_from_the_form_in_every_namespace(x):
    op, _ = compile_custom("mish", MISH)
    hp = precise(50)
    with mpmath.workdps(60):
        exact = mpmath.mpf(x) * mpmath.tanh(mpmath.log1p(mpmath.exp(x)))
        slope = mpmath.diff(lambda t: t * mpmath.tanh(mpmath.log1p(mpmath.exp(t))), x)
    assert float(op.forward(F64, x)) == pytest.approx(_mish(x), rel=1e-13, abs=1e-300)
    assert abs(op.forward(hp, hp.float(x)) - exact) <= abs(exact) * mpmath.mpf(10) ** -40
    assert float(op.partials[0](F64, x, None)) == pytest.approx(float(slope), rel=1e-12)
    # the complex step of the compiled form is the derivative (the form is analytic)
    h = 1e-30
    assert complex(op.forward(C128, complex(x, h))).imag / h == pytest.approx(float(slope), rel=1e-12)


def test_a_form_that_cancels_is_computed_with_the_digits_it_needs():
    op, _ = compile_custom("mish", MISH)
    hp = precise(50)
    # log(1 + e^-164) is 0 at 50 digits; mish(-164) is about -164·e^-164, not 0
    value = op.forward(hp, hp.float(-164.0))
    assert float(value) == pytest.approx(-164 * math.exp(-164), rel=1e-12)


def test_parameters_and_piecewise_forms():
    op, _ = compile_custom("scaled", CustomOp(lambda sp, x, k: sp.tanh(k * x), params=("k",)))
    assert op.params == (1,) and op.partials[1] is None
    assert float(op.partials[0](F64, 0.5, 2.0, None)) == pytest.approx(2 / math.cosh(1.0) ** 2)
    leaky = CustomOp(lambda sp, x: sp.Piecewise((x, x > 0), (x / 10, True)),
                     kinks=Kink(lambda x: x, left=(0.1,), right=(1.0,)))
    op, _ = compile_custom("leaky", leaky)
    assert [float(op.forward(F64, x)) for x in (-2.0, 3.0)] == [-0.2, 3.0]
    assert [float(op.partials[0](F64, x, None)) for x in (-2.0, 3.0)] == [0.1, 1.0]


def test_a_fingerprint_follows_the_definition_not_its_spelling():
    _, a = compile_custom("f", lambda sp, x: sp.log(1 + sp.exp(x)))
    _, b = compile_custom("f", lambda sp, y: sp.log(sp.exp(y) + 1))
    _, c = compile_custom("f", lambda sp, x: sp.log(1 + sp.exp(2 * x)))
    _, d = compile_custom("f", CustomOp(lambda sp, x: sp.log(1 + sp.exp(x)), domain=lambda x: x > -5))
    assert a == b and len({a, c, d}) == 3


# ── bad definitions: one line, naming the op ─────────────────────────────────────────────
def _engine_with(custom, ops=None):
    class Engine(BuiltinEngine):
        name = "declaring"
        custom_ops = custom

        def __init__(self):
            super().__init__()
            for name in ops if ops is not None else (custom if isinstance(custom, dict) else {}):
                self.ops[name] = self.ops["sin"]
    return Engine()


@pytest.mark.parametrize("custom, ops, message", [
    ({"gelu": lambda sp, x: x}, None, "custom op 'gelu' shadows adverify's built-in gelu"),
    ({"mine": MISH}, (), "custom op 'mine' is not in its ops"),
    (["mish"], (), "custom_ops must be a dict"),
    ({"bessel": lambda sp, x: sp.besselj(0, x)}, None, "'bessel': its form uses besselj"),
    ({"two": lambda sp: sp.Integer(2)}, None, "'two': its form must take sp and then one named argument"),
    ({"text": "x**2"}, None, "'text': its definition must be a SymPy form"),
    ({"bent": lambda sp, x: sp.Abs(x)}, None, "'bent': its form uses Abs, which is not differentiable everywhere"),
    ({"bent": CustomOp(lambda sp, x: sp.Abs(x), kinks=Kink(lambda x: x, left=(1.0,), right=(1.0,)))}, None,
     "d/dx is -1 where the switch is negative, but the kink declares 1"),
    ({"smooth": CustomOp(lambda sp, x: x * x, kinks=Kink(lambda x: x, left=(0.0,), right=(0.0,)))}, None,
     "same partials on both sides"),
    ({"far": CustomOp(lambda sp, x: sp.Abs(x - 50), kinks=Kink(lambda x: x - 50, left=(-1.0,), right=(1.0,)))},
     None, "no point of its domain lies on its declared kink"),
    ({"p": CustomOp(lambda sp, x: x, params=("k",))}, None, "parameter 'k' is not an argument"),
    # max(a·x, x) is leaky relu only for a < 1: at a = 2 its left slope is 1, not a
    ({"leaky": CustomOp(lambda sp, x, a: sp.Max(a * x, x), params=("a",),
                        kinks=Kink(lambda x, a: x, left=lambda x, a: (a, 0.0), right=(1.0, 0.0)))}, None,
     "(x = 0, a = 2) the form's one-sided partial d/dx is 2 where the switch is positive, but the kink declares 1"),
    ({"nowhere": CustomOp(lambda sp, x: sp.log(x), domain=lambda x: x > 100)}, None, "no sample point is inside"),
    ({"blowup": CustomOp(lambda sp, x: 1 / x, domain=lambda x: True)}, None, "not finite at x = 0"),
])
def test_a_bad_definition_is_one_error_naming_the_op(custom, ops, message):
    with pytest.raises(EngineError, match="^engine 'declaring': ") as e:
        engine_vocabulary(_engine_with(custom, ops))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_command_line_refuses_a_bad_definition_in_one_line(tmp_path):
    (tmp_path / "eng.py").write_text(textwrap.dedent('''
        from verifier.engines.builtin import BuiltinEngine

        class Eng(BuiltinEngine):
            custom_ops = {"tanh": lambda sp, x: sp.tanh(x)}
    '''))
    run = subprocess.run([sys.executable, "-m", "verifier", "campaign", "--engine", "./eng.py:Eng", "--examples", "5",
                          "--out", "rep"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "custom op 'tanh' shadows adverify's built-in tanh" in run.stderr
    assert not (tmp_path / "rep").exists()


# ── campaigns ────────────────────────────────────────────────────────────────────────────
def test_a_right_custom_op_passes_and_a_wrong_backward_is_found_and_blamed(tmp_path):
    right = run_campaign(Mish(), Options(examples=200, seed=0, ops=OPS))
    assert not right.discrepancies and right.coverage["ops"]["mish"] > 50
    wrong = run_campaign(WrongMish(), Options(examples=200, seed=0, ops=OPS, stop_after=1), Output(tmp_path / "r"))
    (f,) = wrong.discrepancies
    assert (f.kind, f.culprit_op, f.blame) == ("mismatch", "mish", "local-rule")
    doc = json.loads((tmp_path / "r" / f.replay).read_text())
    _, fingerprint = compile_custom("mish", MISH)
    assert doc["custom_ops"] == {"mish": fingerprint}


def test_a_custom_op_is_lifted_elementwise_in_tensor_mode():
    engine = BuiltinArrayEngine()
    engine.custom_ops = {"mish": MISH}
    lifted = elementwise(compile_custom("mish", MISH)[0])
    engine.ops["mish"] = make_array_op(lifted)
    options = Options(examples=60, seed=2, ops=("mish", "mul", "sum", "add"), tensor=True)
    right = run_campaign(engine, options)
    assert not right.discrepancies and right.coverage["ops"].get("mish", 0) > 0
    engine.ops["mish"] = make_array_op(replace(lifted, vjp=lambda xs, ans, g: [g * WrongMish.rule(F64, *xs, ans)]))
    found = run_campaign(engine, options)
    assert any(f.culprit_op == "mish" for f in found.discrepancies)


def test_a_kinked_custom_op_accepts_exactly_its_subgradients():
    leaky = CustomOp(lambda sp, x, a: sp.Piecewise((x, x > 0), (a * x, True)), params=("a",),
                     kinks=Kink(lambda x, a: x, left=lambda x, a: (a, 0.0), right=(1.0, 0.0)))
    engine = _engine_with({"leaky": leaky}, ())
    engine.ops["leaky"] = make_op(compile_custom("leaky", leaky)[0])
    vocabulary = engine_vocabulary(engine)
    ref = reference(Case(apply(vocabulary["leaky"], var("x"), const(0.1)), {"x": 0.0}, ops=vocabulary))
    assert ref.kinks == ("leaky",) and (ref.low["x"], ref.high["x"]) == (0.1, 1.0)
    result = run_campaign(engine, Options(examples=150, seed=0, ops=("leaky", "add", "mul", "sin")))
    assert not result.discrepancies and result.coverage["ops"]["leaky"] > 30


def test_a_parallel_campaign_speaks_the_engines_ops(tmp_path):
    run = _cli(tmp_path, "campaign", "--engine", "./eng.py:Wrong", "--ops", ",".join(OPS), "--examples", "120",
               "--seed", "0", "--workers", "2", "--out", "rep")
    assert run.returncode == 1, run.stderr
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert any(d["culprit_op"] == "mish" for d in summary["discrepancies"])


def test_a_replay_says_when_the_definition_changed(tmp_path):
    run = _cli(tmp_path, "campaign", "--engine", "./eng.py:Wrong", "--ops", ",".join(OPS), "--examples", "100",
               "--seed", "0", "--out", "rep", "--quiet")
    assert run.returncode == 1, run.stderr
    replay = sorted((tmp_path / "rep" / "replays").glob("*.json"))[0]
    same = _cli(tmp_path, "replay", str(replay), "--engine", "./eng.py:Wrong")
    assert same.returncode == 1 and "has changed" not in same.stdout
    changed = _cli(tmp_path, "replay", str(replay), "--engine", "./eng.py:Changed")
    assert changed.stdout.startswith("note: custom op 'mish' has changed since this replay was written")
    missing = _cli(tmp_path, "replay", str(replay), "--engine", "builtin")
    assert missing.returncode == 2 and "does not declare it" in missing.stderr and missing.stderr.count("\n") == 1
    assert read_replay(replay, None).custom == json.loads(replay.read_text())["custom_ops"]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "eng.py").write_text(textwrap.dedent('''
        from dataclasses import replace
        from verifier.engines.autograd.tensor import make_op
        from verifier.engines.builtin import BuiltinEngine
        from verifier.floor.custom import compile_custom

        FORM = lambda sp, x: x * sp.tanh(sp.log(1 + sp.exp(x)))

        class Wrong(BuiltinEngine):
            name = "wrong-mish"
            custom_ops = {"mish": FORM}
            def __init__(self):
                super().__init__()
                op, _ = compile_custom("mish", FORM)
                self.ops["mish"] = make_op(replace(op, partials=(lambda m, x, ans: m.tanh(m.log1p(m.exp(x))),)))

        class Changed(Wrong):
            custom_ops = {"mish": lambda sp, x: x * sp.tanh(sp.log(1 + sp.exp(x))) / 2}
    '''))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "verifier", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_warning_for_an_undeclared_op_points_to_custom_ops():
    engine = _engine_with({}, ("mish",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_campaign(engine, Options(examples=3, seed=0, ops=("add",)))
    (w,) = [w.message for w in caught if isinstance(w.message, UnknownOpsWarning)]
    assert "custom_ops" in str(w) and "'mish'" in str(w)


# ── the documented examples ──────────────────────────────────────────────────────────────
@pytest.mark.parametrize("module, engine_ops", [("torch", "torch_mish.py"), ("jax", "jax_logcosh.py")])
def test_the_documented_examples_pass_fixed_and_fail_with_the_planted_backward(tmp_path, module, engine_ops):
    require(module)
    path = ROOT / "examples" / "custom_ops" / engine_ops
    op = "mish" if module == "torch" else "logcosh"
    runs = {}
    for cls in ("Engine", "BuggyEngine"):
        runs[cls] = subprocess.run(
            [sys.executable, "-m", "verifier", "campaign", "--engine", f"{path}:{cls}", "--examples", "300",
             "--seed", "0", "--out", str(tmp_path / cls), "--quiet"], capture_output=True, text=True, timeout=900)
    assert runs["Engine"].returncode == 0, runs["Engine"].stdout + runs["Engine"].stderr
    assert runs["BuggyEngine"].returncode == 1, runs["BuggyEngine"].stderr
    summary = json.loads((tmp_path / "BuggyEngine" / "summary.json").read_text())
    assert {d["culprit_op"] for d in summary["discrepancies"]} == {op}


# ── adverify ops ─────────────────────────────────────────────────────────────────────────
def test_adverify_ops_lists_every_op_and_the_engines_own(tmp_path):
    from verifier.floor.vocabulary import BUILTIN
    run = _cli(tmp_path, "ops", "--engine", "./eng.py:Wrong", "--json")
    assert run.returncode == 0, run.stderr
    rows = {r["op"]: r for r in json.loads(run.stdout)}
    assert set(rows) == set(BUILTIN.tensor) | {"mish"}
    assert rows["mish"]["mode"] == "custom" and "./eng.py:Wrong" in rows["mish"]["engines"]
    assert rows["clamp"]["parameters"] == ["lo", "hi"] and rows["clamp"]["kinks"] == "x = lo and x = hi"
    assert rows["log"]["domain"] == "x > 0" and "builtin" in rows["log"]["engines"]
    assert rows["cross_entropy"]["integer_arguments"] == ["x1"] and rows["cross_entropy"]["mode"] == "tensor"
    assert "builtin" in rows["variance"]["engines"]
    text = _cli(tmp_path, "ops", "--engine", "./eng.py:Wrong").stdout
    structural = len(set(BUILTIN.tensor) - set(BUILTIN))
    assert text.startswith(f"scalar ops (elementwise in --tensor too): {len(BUILTIN)}")
    assert f"tensor ops (--tensor): {structural}" in text and "the engine's own ops (custom_ops): 1" in text
