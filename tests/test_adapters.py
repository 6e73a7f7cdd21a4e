"""The real-engine adapters: each one listed, each installed one checked by a short campaign
(only the discrepancies docs/findings.md explains may appear), and the optional protocol
methods — forward mode and second derivatives — against reverse mode and SymPy.

Every test skips cleanly when its engine is not installed."""
import importlib
import sys

import pytest

from optional import require

from verifier.search.campaign import Options, run_campaign
from verifier.engines import ADAPTERS, EngineError, describe_adapters, engine_ops, load_engine
from verifier.floor.ir import apply, const, var, variables
from verifier.checking.runner import build_graph

# adapter -> (the package it needs, its dtype)
REAL = {
    "torch": ("torch", "float64"), "torch-float32": ("torch", "float32"),
    "jax": ("jax", "float64"), "jax-float32": ("jax", "float32"),
    "autograd": ("autograd", "float64"), "micrograd": ("micrograd", "float64"),
    "tinygrad": ("tinygrad", "float32"), "tinygrad-float64": ("tinygrad", "float64"),
}

# What docs/findings.md explains, per adapter: signatures (kind:culprit) a campaign may
# report, with a phrase its message must contain. Anything else is new — a regression in
# the engine, or a false alarm to look into. (V1, V2, ... are the verifier's false alarms.)
_DIV_RANGE = ["mismatch:div", "nonfinite:div", "mismatch:composition", "nonfinite:composition"]
_TINYGRAD = ["mismatch:atan", "nonfinite:atan", "mismatch:sin", "nonfinite:sin", "mismatch:cos", "nonfinite:cos",
             "mismatch:precision", "mismatch:tan", "nonfinite:tan", "mismatch:tanh", "nonfinite:tanh",
             "mismatch:composition", "crash:powv", "crash:composition"]
# issue 17's ops (docs/findings.md, "Issue 17"): asinh's 1/sqrt(1 + x²) and atan2's
# x² + y² leave the range; gelu's and gelu_tanh's forward cancels to 0 for x << 0, which
# reciprocal, hypot or clamp after it turn into ±inf or NaN; gelu_tanh' is NaN where x³ overflows
_RANGE_17 = ["mismatch:asinh", "mismatch:atan2", "nonfinite:atan2", "mismatch:precision:atan2",
             "mismatch:precision:hypot"]
_GELU_17 = ["nonfinite:reciprocal", "nonfinite:composition:hypot", "nonfinite:clamp", "nonfinite:gelu_tanh"]
# jnp.hypot is composed (x1·sqrt(1 + (x2/x1)²)): its gradient takes div's flushed x1⁻² (above);
# XLA's sinh and cosh lose 5e-14 (float64) and 1e-6 (float32) of e^x near overflow
_JAX_17 = _RANGE_17 + ["mismatch:hypot", "nonfinite:hypot", "mismatch:composition:rsqrt", "mismatch:precision:sinh",
                       "mismatch:precision:cosh", "mismatch:sinh", "mismatch:cosh", "nonfinite:gelu_tanh"]
DOCUMENTED = {   # docs/findings.md, campaigns of commit 2d97e58 (the false alarms V1-V6 are fixed)
    "torch": _RANGE_17 + _GELU_17,
    "torch-float32": _RANGE_17 + _GELU_17,
    "jax": _DIV_RANGE + _JAX_17,
    "jax-float32": _DIV_RANGE + _JAX_17,
    "autograd": _DIV_RANGE + _RANGE_17 + ["mismatch:precision"],          # -z/y² with a subnormal y²
    # micrograd's x/x is x * x**-1, and x**-1 overflows a Python float at x = 3.6e-188:
    # micrograd raises OverflowError in its engine.py (signed by that line since #22)
    "micrograd": _DIV_RANGE + ["crash:div", ("crash:OverflowError@engine.py:", "Numerical result out of range"),
                               ("inconsistent", "second identical"),
                               "mismatch:precision"],                 # y**-2 subnormal, as autograd's
    # sigmoid: scalar-tinygrad-012 and -013 — the rule -g·ret·ret squares a ret below 1e-19,
    # subnormal in float32 (sigmoid'(-48) off by 3e-4) or 0 (-60), where s·(1 - s) is a
    # normal float; drawn since the strategies aim at sigmoid's e^-x-squared edge (5b701e4)
    "tinygrad": _TINYGRAD + ["mismatch:powv", "mismatch:pow", "mismatch:exp", "mismatch:add", "mismatch:sigmoid"],
    "tinygrad-float64": _TINYGRAD + ["crash:sin", "mismatch:sigmoid"],
}


def documented(name, finding) -> bool:
    for entry in DOCUMENTED[name]:
        prefix, phrase = entry if isinstance(entry, tuple) else (entry, "")
        if finding.signature.startswith(prefix) and phrase in finding.message:
            return True
    return False


# Short campaigns keep the default run fast (examples per adapter; JAX retraces every check,
# tinygrad compiles a kernel per new expression). The slow variant runs 400 each; the
# 2,000-example campaigns of docs/findings.md are benchmarks/adapters.py.
SHORT = {"torch": 60, "torch-float32": 60, "jax": 30, "jax-float32": 30, "autograd": 40,
         "micrograd": 100, "tinygrad": 8, "tinygrad-float64": 8}


def _engine(name):
    require(REAL[name][0])
    return load_engine(name)


def test_every_adapter_is_registered_and_described():
    rows = {row["name"]: row for row in describe_adapters()}
    for name, (package, dtype) in REAL.items():
        assert name in ADAPTERS and name in rows
        installed = importlib.util.find_spec(package) is not None
        assert rows[name]["status"] == ("installed" if installed else "not installed"), rows[name]
        if installed:
            assert rows[name]["dtype"] == dtype


def test_a_missing_engine_is_a_clean_error(monkeypatch):
    for module in ("micrograd", "micrograd.engine"):          # as if not installed
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "verifier.engines.micrograd_engine", raising=False)
    with pytest.raises(EngineError, match="cannot import"):
        load_engine("micrograd")


def test_adapters_declare_only_their_engines_own_ops():
    require("micrograd")
    assert engine_ops(load_engine("micrograd")) == ["add", "div", "mul", "neg", "pow", "relu", "sub"]
    if importlib.util.find_spec("autograd"):
        assert "relu" not in engine_ops(load_engine("autograd"))   # no relu primitive in autograd
        # nor these activations (issue 17): not composed from the primitives it has
        assert {"gelu", "gelu_tanh", "silu", "softplus", "logsigmoid", "elu", "leaky_relu",
                "rsqrt"}.isdisjoint(load_engine("autograd").ops)
    if importlib.util.find_spec("tinygrad"):
        assert {"log1p", "expm1"}.isdisjoint(engine_ops(load_engine("tinygrad")))
        assert {"atan2", "hypot"}.isdisjoint(load_engine("tinygrad").ops)
    if importlib.util.find_spec("torch"):      # torch has every op of issue 17
        assert set(NEW_SCALAR) <= set(load_engine("torch").ops)
    if importlib.util.find_spec("jax"):
        assert set(NEW_SCALAR) <= set(load_engine("jax").ops)


def test_replay_evaluates_a_shared_node_once_and_keeps_equal_leaves_apart():
    from verifier.engines.recipe import Step, recorders, replay
    calls = []
    ops = recorders(["mul", "sin"])
    a, b = Step("var", value=2.0), Step("var", value=2.0)       # equal values, two variables
    s = ops["sin"](a)
    out = ops["mul"](s, ops["mul"](s, b))                         # s feeds two consumers
    fns = {"sin": lambda x: calls.append("sin") or x + 1, "mul": lambda x, y: x * y}
    assert replay(out, lambda n: n, fns, lambda leaf: {id(a): 3.0, id(b): 5.0}[id(leaf)]) == 4 * 4 * 5
    assert calls == ["sin"]


def _check_timeout(name):
    # JAX too: once it has run here (the tests before this one do), the worker is a fresh
    # interpreter, not a fork that would hang in XLA's first compile (verifier.checking.executor)
    return 60.0 if name.startswith("tinygrad") else 10.0   # a first kernel compile is slow


def _campaign(name, examples, seed):
    engine = _engine(name)
    r = run_campaign(engine, Options(examples=examples, seed=seed, check_timeout=_check_timeout(name)))
    assert r.examples == examples
    new = [f"{f.signature}: {f.expression} at {f.point} ({f.message})" for f in r.discrepancies
           if not documented(name, f)]
    assert not new, new
    # most examples get a verdict, a kink being one (abs or relu at exactly 0, drawn on
    # purpose: 3 of tinygrad-float64's 8): not a campaign lost in undecided cases
    assert r.verdicts["agree"] + r.verdicts["kink"] > 0.5 * r.examples


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("tinygrad") else n
                                  for n in REAL])
def test_short_campaign_finds_only_documented_discrepancies(name):
    _campaign(name, SHORT[name], seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REAL))
def test_longer_campaign_finds_only_documented_discrepancies(name):
    _campaign(name, 400, seed=2)


# The engine findings of docs/findings.md (not the verifier's false alarms, not the
# nondeterministic ones): each replay file must still be a discrepancy of its kind.
FINDINGS = ["micrograd-001", "micrograd-003", "micrograd-004", "jax-001", "jax-002", "jax-float32-004",
            "jax-float32-005", "autograd-001", "autograd-002", "autograd-003", "tinygrad-001", "tinygrad-004",
            "tinygrad-018", "tinygrad-019", "tinygrad-022", "tinygrad-float64-001", "tinygrad-float64-003",
            # issue 17's ops (docs/findings.md, "Issue 17")
            "scalar-torch-001", "scalar-torch-002", "scalar-torch-003", "scalar-torch-005", "scalar-torch-float32-005",
            "scalar-jax-006", "scalar-jax-008", "scalar-autograd-004", "scalar-autograd-006"]


@pytest.mark.parametrize("finding", FINDINGS)
def test_documented_engine_findings_reproduce(finding):
    from pathlib import Path
    from verifier.checking.checker import Checker
    from verifier.results.replay import read_replay
    rep = read_replay(Path(__file__).resolve().parent.parent / "docs" / "findings" / f"{finding}.json")
    with Checker(_engine(rep.engine), timeout=None) as checker:
        verdict = checker.check(rep.case)
    assert verdict.kind == rep.fields["kind"], verdict.reason


# ── forward mode and second derivatives ───────────────────────────────────────────────────
x, y = var("x"), var("y")
SMOOTH = [
    (apply("mul", apply("tanh", apply("mul", x, y)), apply("exp", x)), {"x": 0.3, "y": -1.2}),
    (apply("div", apply("sin", x), apply("add", const(1.0), apply("pow", y, const(2.0)))), {"x": 1.1, "y": 0.7}),
    (apply("mul", apply("log", apply("add", x, y)), apply("add", x, x)), {"x": 2.5, "y": 0.25}),  # x reused
    (apply("powv", x, apply("atan", y)), {"x": 1.7, "y": 2.0}),
]
SECOND_ORDER = ["torch", "torch-float32", "jax", "jax-float32", "autograd"]
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def _built(engine, expr, point):
    if engine.dtype == "float32":
        import numpy as np
        point = {k: float(np.float32(v)) for k, v in point.items()}
    out, leaves, _ = build_graph(engine, expr, point)
    return out, leaves, point


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_forward_mode_agrees_with_reverse_mode_and_sympy(name):
    from oracles.symbolic import gradient
    engine = _engine(name)
    rel = TOLERANCE[engine.dtype]
    for expr, point in SMOOTH:
        out, leaves, point = _built(engine, expr, point)
        forward = engine.forward_gradients(out, leaves)
        reverse = engine.gradients(out, leaves)
        truth = gradient(expr, point).grad
        for v, f, r in zip(variables(expr), forward, reverse):
            assert f == pytest.approx(r, rel=rel), (name, v)
            assert f == pytest.approx(float(truth[v]), rel=rel), (name, v)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_derivatives_agree_with_sympy(name):
    from oracles.symbolic import hessian
    engine = _engine(name)
    rel = 100 * TOLERANCE[engine.dtype]     # a Hessian entry sums more rounded terms
    for expr, point in SMOOTH:
        out, leaves, point = _built(engine, expr, point)
        H = engine.second_derivatives(out, leaves)
        truth = hessian(expr, point)
        names = variables(expr)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                assert H[i][j] == pytest.approx(float(truth[(a, b)]), rel=rel, abs=rel), (name, a, b)


def test_second_derivatives_of_a_variable_that_drops_out():
    engine = _engine("torch")
    expr = apply("add", apply("mul", x, x), y)      # d²/dy² = 0, and dy is a constant 1
    out, leaves, _ = _built(engine, expr, {"x": 3.0, "y": 4.0})
    assert engine.second_derivatives(out, leaves) == [[2.0, 0.0], [0.0, 0.0]]


def test_after_jax_ran_in_the_process_checks_still_run_in_a_worker_with_a_time_limit(tmp_path):
    # a worker forked after XLA started hangs in its first compile: every check was a false
    # timeout (a pytest suite that used JAX, then called check_engine). The worker is now a
    # fresh interpreter that loads the engine again, so a real hang is still a timeout
    require("jax")
    import subprocess
    script = ("import warnings, jax.numpy as jnp\n"
              "float(jnp.ones(2).sum())\n"
              "from verifier.search.campaign import Options, run_campaign\n"
              "from verifier.checking.checker import Checker\n"
              "from verifier.engines import load_engine\n"
              "from verifier.floor.ir import apply, var\n"
              "from verifier.model import Case\n"
              "from faulty_engines import Hangs\n"
              "with warnings.catch_warnings(record=True) as w:\n"
              "    warnings.simplefilter('always')\n"
              "    r = run_campaign(load_engine('jax'), Options(examples=10, seed=0, check_timeout=5))\n"
              "    with Checker(load_engine(Hangs), timeout=0.5) as c:\n"
              "        hung = c.check(Case(apply('sin', var('x')), {'x': 0.5})).kind\n"
              "print(r.verdicts.get('timeout', 0), hung, len(w))\n")
    root = __import__("pathlib").Path(__file__).parents[1]
    pythonpath = __import__("os").pathsep.join([str(root), str(root / "tests")])   # tests/: faulty_engines
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240,
                       cwd=str(tmp_path), env={**__import__("os").environ, "PYTHONPATH": pythonpath})
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["0", "timeout", "0"], p.stdout


def test_an_engine_that_cannot_be_rebuilt_runs_in_process_after_jax_with_a_warning():
    require("jax")
    import warnings
    import jax.numpy as jnp
    from verifier.engines.builtin import BuiltinEngine
    from verifier.checking.executor import InProcess, Worker, make_executor
    float(jnp.ones(2).sum())
    patched = load_engine("builtin")
    patched.ops["sin"] = lambda a: a     # changed after loading: a rebuild would not be it
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert isinstance(make_executor(load_engine("builtin"), 5), Worker) and not w
        assert isinstance(make_executor(patched, 5), InProcess)
        assert isinstance(make_executor(BuiltinEngine(), 5), InProcess)
    assert len(w) == 2 and "cannot be rebuilt" in str(w[0].message)


# ── the ops of issue 17, each adapter against the builtin engine ─────────────────────────
# op -> (its arguments: variables by name, parameters as constants; two points). Points are
# exact in float32, inside each op's domain and away from its kinks.
NEW_SCALAR = {
    "erf": (["x"], [0.375, -1.625]), "gelu": (["x"], [0.375, -2.25]), "gelu_tanh": (["x"], [0.375, -2.25]),
    "silu": (["x"], [1.5, -3.25]), "softplus": (["x"], [0.75, -4.5]), "logsigmoid": (["x"], [0.75, -4.5]),
    "elu": (["x"], [1.25, -0.625]), "leaky_relu": (["x", 0.125], [1.25, -0.625]),
    "sinh": (["x"], [0.5, -2.75]), "cosh": (["x"], [0.5, -2.75]), "asin": (["x"], [0.375, -0.875]),
    "acos": (["x"], [0.375, -0.875]), "asinh": (["x"], [0.5, -7.25]), "atan2": (["x", "y"], [0.5, -1.75]),
    "hypot": (["x", "y"], [0.5, -1.75]), "logaddexp": (["x", "y"], [0.5, -1.75]), "square": (["x"], [0.5, -1.75]),
    "rsqrt": (["x"], [0.5, 6.25]), "reciprocal": (["x"], [0.5, -1.75]),
    "clamp": (["x", -0.5, 0.25], [0.125, -1.75]),
}
# (adapter, op) -> a phrase of the failure: what the engine itself lacks
NEW_SCALAR_KNOWN = {
    # autograd defines a VJP but no JVP for scipy.special.erf and numpy.hypot
    ("autograd", "erf", "forward"): "JVP of erf",
    ("autograd", "hypot", "forward"): "JVP of hypot",
}


def _new_scalar_cases():
    from verifier.floor.ops import SCALAR_OPS
    for op, (args, xs) in NEW_SCALAR.items():
        if op not in SCALAR_OPS:        # the table does not have it yet: nothing to generate
            continue
        expr = apply(op, *(var(a) if isinstance(a, str) else const(a) for a in args))
        for x0 in xs:
            yield op, expr, {name: (x0 if name == "x" else 1.25) for name in variables(expr)}


# JAX dispatches each op eagerly and retraces per question: some 15 s for these 80 checks
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("jax") else n
                                  for n in REAL if not n.startswith("tinygrad")])
def test_new_scalar_ops_agree_with_the_builtin_engine(name):
    from verifier.checking.runner import run_engine
    engine = _engine(name)
    builtin = load_engine("builtin")
    rel = TOLERANCE[engine.dtype]
    checked = 0
    for op, expr, point in _new_scalar_cases():
        if op not in engine.ops:
            continue
        truth = run_engine(builtin, expr, point)
        modes = ["reverse", "forward"] if hasattr(engine, "forward_gradients") else ["reverse"]
        for mode in modes:
            run = run_engine(engine, expr, point, repeat=False, mode=mode)   # one build: quick
            known = NEW_SCALAR_KNOWN.get((name, op, mode))
            if known:
                assert run.status == "crash" and known in run.message, (op, mode, run.message)
                continue
            assert run.status == "ok" and truth.status == "ok", (op, mode, run.message, truth.message)
            if run.value is not None:
                assert run.value == pytest.approx(truth.value, rel=rel, abs=rel), (op, point)
            for v, g, t in zip(variables(expr), run.grads, truth.grads):
                assert g == pytest.approx(t, rel=rel, abs=rel), (op, mode, point, v)
        checked += 1
    # an adapter that declares a new op gets it checked, once the table has it
    from verifier.floor.ops import SCALAR_OPS
    declared = {op for op in NEW_SCALAR if op in engine.ops and op in SCALAR_OPS}
    assert checked == 2 * len(declared)
