"""The scalar vocabulary of #17: the new ops in the builtin engine at first and second order,
kinks whose sides depend on the arguments (leaky_relu's slope, clamp's bounds), kinks that
are not piecewise linear (an engine's own ops), elu's jump in its second derivative and
atan2's cut."""
import math

import pytest

from oracles import symbolic, symengine_backend
from verifier.engines.builtin import BuiltinEngine
from verifier.floor.ir import apply, const, var, variables
from verifier.floor.mathns import precise
from verifier.floor.ops import SCALAR_OPS, Kink, Op
from verifier.floor.vocabulary import BUILTIN
from verifier.model import Case, EngineRun
from verifier.truth.judge import judge, reference
from verifier.truth.second import second_judge, second_reference

x, y = var("x"), var("y")
P = precise(50)

NEW = ("erf", "gelu", "gelu_tanh", "silu", "softplus", "logsigmoid", "elu", "leaky_relu", "sinh", "cosh",
       "asin", "acos", "asinh", "atan2", "hypot", "logaddexp", "square", "rsqrt", "reciprocal", "clamp")


def verdict(expr, point, grads, ops=BUILTIN):
    return judge(reference(Case(expr, point, ops=ops)), EngineRun("ok", tuple(grads)))


def test_the_table_has_the_twenty_new_ops_with_their_constants_as_parameters():
    assert set(NEW) <= set(SCALAR_OPS) and len(SCALAR_OPS) == 42
    assert SCALAR_OPS["leaky_relu"].params == (1,) and SCALAR_OPS["clamp"].params == (1, 2)
    assert SCALAR_OPS["elu"].kink is None and SCALAR_OPS["elu"].second_kink is not None


# ── sides that depend on the arguments ──

def test_sides_are_tuples_or_computed_from_the_arguments():
    assert Kink(lambda x: x, (-1.0,), (1.0,)).sides(3.0) == ((-1.0,), (1.0,))
    assert SCALAR_OPS["leaky_relu"].kink.sides(0.0, 0.1) == ((0.1, 0.0), (1.0, 0.0))
    clamp = SCALAR_OPS["clamp"].kink
    assert clamp.sides(-3.0, -1.0, 1.0)[0] == (0.0, 1.0, 0.0)   # below lo: the piece is lo
    assert clamp.sides(5.0, -1.0, 1.0)[0] == (0.0, 0.0, 1.0)    # above hi: the piece is hi


def leaky(a):
    return apply("leaky_relu", x, const(a))


def test_leaky_relu_at_0_takes_any_slope_between_a_and_1():
    assert verdict(leaky(0.01), {"x": 0.0}, [0.05]).kind == "kink"
    for g in (0.1, 0.55, 1.0):
        assert verdict(leaky(0.1), {"x": 0.0}, [g]).kind == "kink"
    # 0.05 is a slope between 0 and 1, as relu's, but not between a = 0.1 and 1
    assert verdict(leaky(0.1), {"x": 0.0}, [0.05]).kind == "mismatch"


def test_leaky_relu_at_0_rejects_a_slope_outside_a_to_1_and_says_which_interval():
    v = verdict(leaky(0.1), {"x": 0.0}, [2.0])
    assert v.kind == "mismatch"
    assert "between 0.1 and 1" in v.reason, v.reason
    # a negative slope: the interval is [-0.5, 1]; 0.05 is in it, -0.7 is not
    assert verdict(leaky(-0.5), {"x": 0.0}, [0.05]).kind == "kink"
    assert verdict(leaky(-0.5), {"x": 0.0}, [-0.7]).kind == "mismatch"


def test_leaky_relu_away_from_0_is_its_slope():
    assert verdict(leaky(0.2), {"x": -3.0}, [0.2]).kind == "agree"
    assert verdict(leaky(0.2), {"x": -3.0}, [1.0]).kind == "mismatch"


@pytest.mark.parametrize("at", ["lo", "hi"])
def test_clamp_at_either_bound_takes_anything_between_0_and_1(at):
    lo, hi = -1.0, 2.0
    point = {"x": lo if at == "lo" else hi}
    expr = apply("clamp", x, const(lo), const(hi))
    for g in (0.0, 0.5, 1.0):
        assert verdict(expr, point, [g]).kind == "kink"
    for g in (1.5, -0.2):
        v = verdict(expr, point, [g])
        assert v.kind == "mismatch" and "between 0 and 1" in v.reason, v.reason


def test_clamp_inside_and_outside():
    expr = apply("clamp", x, const(-1.0), const(2.0))
    assert verdict(expr, {"x": 0.5}, [1.0]).kind == "agree"
    assert verdict(expr, {"x": 0.5}, [0.0]).kind == "mismatch"
    assert verdict(expr, {"x": 7.0}, [0.0]).kind == "agree"


def test_the_builtin_engine_at_a_clamp_bound_is_a_kink():
    e = BuiltinEngine()
    for value in (-1.0, 2.0):
        v = e.variable(value)
        out = e.ops["clamp"](v, e.constant(-1.0), e.constant(2.0))
        ref = reference(Case(apply("clamp", x, const(-1.0), const(2.0)), {"x": value}))
        assert judge(ref, EngineRun("ok", tuple(e.gradients(out, [v])))).kind == "kink"


# ── a kink that is not piecewise linear: the oracles use the op's own form ──

def _sin(v):
    return v.context.sin(v) if hasattr(v, "context") else math.sin(v)


def _cos(v):
    return v.context.cos(v) if hasattr(v, "context") else math.cos(v)


ABS_SIN = Op("abs_sin", lambda sp, x: sp.Abs(sp.sin(x)), lambda m, x: m.abs(m.sin(x)),
             (lambda m, x, ans: m.sign(m.sin(x)) * m.cos(x),),
             kink=Kink(_sin, left=lambda x: (-_cos(x),), right=lambda x: (_cos(x),), linear=False))
# piecewise, but not linear on a side: sin(x) below 0, 2x above
BENT = Op("bent", lambda sp, x: sp.Piecewise((2 * x, x > 0), (sp.sin(x), True)),
          lambda m, x: m.maximum(2 * x, 0 * x) + m.sin(m.minimum(x, 0 * x)),
          (lambda m, x, ans: 2 * m.step(x) + (1 - m.step(x)) * m.cos(m.minimum(x, 0 * x)),),
          kink=Kink(lambda x: x, left=lambda x: (_cos(x),), right=(2.0,), linear=False))
OWN = BUILTIN.extended(ABS_SIN, BENT)


def test_a_kinked_op_that_is_not_linear_keeps_its_own_form_in_symengine():
    # the piece cos(x)·x would give the right slope but the wrong value and no curvature
    est = symengine_backend.gradient(apply(BENT, x), {"x": -0.5}, ops=OWN)
    assert abs(est.value - P.sin(P.float(-0.5))) < 1e-40
    assert abs(est.grad["x"] - P.cos(P.float(-0.5))) < 1e-40
    h = symengine_backend.hessian(apply(BENT, x), {"x": -0.5}, ops=OWN)
    assert abs(h[("x", "x")] + P.sin(P.float(-0.5))) < 1e-40


def test_a_form_symengine_cannot_differentiate_goes_to_sympy():
    with pytest.raises(symengine_backend.Unsupported):
        symengine_backend.gradient(apply(ABS_SIN, x), {"x": 0.5}, ops=OWN)
    for at in (0.5, -0.5):
        est = symbolic.gradient(apply(ABS_SIN, x), {"x": at}, ops=OWN)
        assert abs(est.grad["x"] - math.copysign(1, at) * P.cos(P.float(at))) < 1e-40


def test_at_a_bent_kink_any_slope_between_the_sides_is_a_kink_and_order_2_does_not_judge():
    assert verdict(apply(ABS_SIN, x), {"x": 0.0}, [0.3], OWN).kind == "kink"
    assert verdict(apply(ABS_SIN, x), {"x": 0.0}, [1.5], OWN).kind == "mismatch"
    assert verdict(apply(ABS_SIN, x), {"x": 0.7}, [math.cos(0.7)], OWN).kind == "agree"
    ref = second_reference(Case(apply(ABS_SIN, x), {"x": 0.0}, ops=OWN))
    assert (ref.status, ref.cause) == ("undecided", "near-kink")


# ── C1 with a jump in the second derivative; a jump in the value ──

def test_elu_at_0_is_decided_at_order_1_and_undecided_at_order_2():
    assert verdict(apply("elu", x), {"x": 0.0}, [1.0]).kind == "agree"
    ref = second_reference(Case(apply("elu", x), {"x": 0.0}))
    assert (ref.status, ref.cause) == ("undecided", "near-kink"), ref.reason
    assert second_reference(Case(apply("elu", x), {"x": -0.5})).status == "ok"


def test_atan2_on_its_cut_is_undecided_and_beside_it_is_judged():
    ref = reference(Case(apply("atan2", y, x), {"y": 0.0, "x": -1.0}))
    assert (ref.status, ref.cause) == ("undecided", "near-kink"), ref.reason
    ref = reference(Case(apply("atan2", y, x), {"y": 0.0, "x": 1.0}))
    assert ref.status == "ok" and ref.truth == {"y": 1.0, "x": 0.0}


def test_a_pole_within_rounding_reach_is_undecided():
    # the usual x/2·(1 + erf(x/√2)) is 0 at x = -10 (its value is -7.6e-23): 1/gelu may be inf
    ref = reference(Case(apply("reciprocal", apply("gelu", x)), {"x": -10.0}))
    assert (ref.status, ref.cause) == ("undecided", "near-pole"), ref.reason
    assert "pole" in ref.reason
    assert reference(Case(apply("reciprocal", apply("gelu", x)), {"x": -1.0})).status == "ok"
    # the pole of x/y is at y = 0: a numerator whose radius is larger than y is no matter
    ref = reference(Case(apply("div", apply("neg", x), apply("sin", x)), {"x": -8.372255845655916e+288}))
    assert ref.status == "ok", ref.reason


# ── the builtin engine: every new op, first and second order ──

POINTS = {"asin": (0.3, -0.9, 0.999), "acos": (0.3, -0.9, 0.999), "rsqrt": (0.3, 7.0, 1e-10),
          # atan2 at y = x: d²/dydx = (x² - y²)/h⁴ is 0, a difference of terms an engine rounds
          "reciprocal": (0.3, -7.0, 1e-10), "atan2": ((0.3, -2.0), (-1.5, 0.2), (1e-3, 5.0), (1.0, 1.0)),
          "hypot": ((0.3, -2.0), (1e200, 3.0), (1e-3, 5.0)), "logaddexp": ((0.3, -2.0), (800.0, 799.0), (-40.0, 3.0)),
          "leaky_relu": ((0.3, 0.1), (-2.0, 0.1), (-2.0, -0.5)), "clamp": ((0.3, -1.0, 1.0), (-4.0, -1.0, 1.0))}
DEFAULT = (0.3, -1.7, 4.0, -8.0, 30.0)


def _cases():
    for name in NEW:
        op = SCALAR_OPS[name]
        for p in POINTS.get(name, DEFAULT):
            p = p if isinstance(p, tuple) else (p,)
            names = [n for i, n in enumerate("xyz") if i < op.arity]
            args = [var(n) if i not in op.params else const(p[i]) for i, n in enumerate(names)]
            point = {n: p[i] for i, n in enumerate(names) if i not in op.params}
            yield name, apply(name, *args), point


CASES = list(_cases())


def _run(expr, point):
    e = BuiltinEngine()
    leaves = {n: e.variable(v) for n, v in point.items()}
    args = [leaves[s.arg] if s.op == "var" else e.constant(s.arg) for s in expr.src]
    return e, e.ops[expr.op](*args), [leaves[n] for n in variables(expr)]


@pytest.mark.parametrize("name,expr,point", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_builtin_engine_agrees_at_first_order(name, expr, point):
    e, out, leaves = _run(expr, point)
    v = judge(reference(Case(expr, point)), EngineRun("ok", tuple(e.gradients(out, leaves)), value=e.value(out)))
    # past float64's range, or (gelu's tails) where the usual forms keep no digit of the result
    allowed = ("subnormal", "out-of-range") + (("ill-conditioned", "near-pole") if name in ("gelu", "gelu_tanh") else ())
    assert v.kind == "agree" or (v.kind == "undecided" and v.cause in allowed), v.reason


@pytest.mark.parametrize("name,expr,point", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_builtin_engine_agrees_at_second_order(name, expr, point):
    e, out, leaves = _run(expr, point)
    ref = second_reference(Case(expr, point))
    if ref.status != "ok":
        assert ref.cause in ("out-of-range", "subnormal"), ref.reason
        return
    rows = e.second_derivatives(out, leaves)
    v = second_judge(ref, EngineRun("ok", tuple(g for row in rows for g in row)))
    assert v.kind == "agree", v.reason
