"""Subgradients judged as sets (#22): at kinks the engine's whole gradient vector must lie in
the convex hull of the one-sided gradients; where's switch point is no site of a finding; the
NaN leak through where says 0·inf; subnormals are undecided the same way in both modes."""
import hashlib
import math
from dataclasses import replace

import numpy as np
import pytest

from verifier.checking.checker import Checker
from verifier.engines.autograd.tensor import make_op
from verifier.engines.builtin import BuiltinArrayEngine, BuiltinEngine
from verifier.engines.mutants import MUTANTS
from verifier.floor.ir import apply, toposort, var
from verifier.floor.ops import SCALAR_OPS
from verifier.floor.program import reduce_with, tapply
from verifier.floor.serial import expr_from_json
from verifier.model import UNDECIDED_CAUSES, Case, EngineRun
from verifier.search.campaign import Options, run_campaign
from verifier.truth.hull import outside
from verifier.truth.judge import judge, reference
from verifier.truth.leaks import ZERO_TIMES_INF, unselected_leak
from verifier.truth.tensor_judge import tensor_judge, tensor_reference

x, y, z = var("x"), var("y"), var("z")


def verdict(expr, point, grads):
    return judge(reference(Case(expr, point)), EngineRun("ok", tuple(grads)))


# ── (a) a tie of maximum: (t, 1 - t) and nothing else ──

def test_zero_and_zero_at_a_tie_of_maximum_is_a_mismatch_that_says_the_partials_sum_to_1():
    v = verdict(apply("maximum", x, y), {"x": 1.5, "y": 1.5}, [0.0, 0.0])
    assert v.kind == "mismatch"
    assert v.reason == "at a tie of maximum the partials must sum to 1; engine gave 0 and 0"
    assert v.failing is not None and v.failing.severity > 1


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 1.0])
def test_any_split_of_a_tie_is_a_kink(t):
    for op in ("maximum", "minimum"):
        assert verdict(apply(op, x, y), {"x": -2.0, "y": -2.0}, [t, 1 - t]).kind == "kink"


def test_a_split_off_by_less_than_the_bound_passes_and_by_more_fails():
    ref = reference(Case(apply("maximum", x, y), {"x": 1.0, "y": 1.0}))
    b = ref.bound["x"]
    assert judge(ref, EngineRun("ok", (0.3 + b / 4, 0.7 + b / 4))).kind == "kink"
    assert judge(ref, EngineRun("ok", (0.3 + 3 * b, 0.7 + 3 * b))).kind == "mismatch"


def test_a_tie_inside_a_composition_is_still_found():
    # maximum(x, x) = x: a zero at the tie is a gradient of 0 where it is 1
    v = verdict(apply("maximum", x, x), {"x": 2.0}, [0.0])
    assert v.kind == "mismatch" and v.failing.expected == 1.0


# ── (b) abs at its kink inside a composition ──

def test_abs_of_a_difference_at_zero_wants_opposite_partials():
    e, p = apply("abs", apply("sub", x, y)), {"x": 3.0, "y": 3.0}
    v = verdict(e, p, [1.0, 1.0])
    assert v.kind == "mismatch" and "abs' must lie between -1 and 1" in v.reason, v.reason
    assert "engine gave (1, 1)" in v.reason
    for s in (-1.0, -0.25, 0.0, 0.6, 1.0):
        assert verdict(e, p, [s, -s]).kind == "kink"


def test_relu_and_abs_alone_are_still_judged_per_variable_and_say_their_interval():
    assert verdict(apply("relu", x), {"x": 0.0}, [0.5]).kind == "kink"
    v = verdict(apply("relu", x), {"x": 0.0}, [1.5])
    assert v.kind == "mismatch" and "expected between 0.0 and 1.0" in v.reason and "relu' must lie between 0 and 1" in v.reason
    v = verdict(apply("abs", x), {"x": 0.0}, [2.0])
    assert v.kind == "mismatch" and "at the kink of abs (abs' must lie between -1 and 1)" in v.reason, v.reason


# ── (c) two kinks: max(x, y) + max(x, z) at a triple tie, an LP ──

TRIPLE = apply("add", apply("maximum", x, y), apply("maximum", x, z))


def test_two_kinks_accept_their_hull():
    # d/dx = s + t, d/dy = 1 - s, d/dz = 1 - t for s, t in [0, 1]
    p = {"x": 1.0, "y": 1.0, "z": 1.0}
    for s, t in [(0, 0), (1, 1), (0.5, 0.5), (0.2, 0.9), (1, 0)]:
        assert verdict(TRIPLE, p, [s + t, 1 - s, 1 - t]).kind == "kink", (s, t)


@pytest.mark.parametrize("g", [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [2.0, 1.0, 0.0]])
def test_two_kinks_reject_what_no_split_gives(g):
    # each coordinate alone is within [0, 2] × [0, 1] × [0, 1]; the sum must be 2
    v = verdict(TRIPLE, {"x": 1.0, "y": 1.0, "z": 1.0}, g)
    assert v.kind == "mismatch" and "2 kinks of maximum" in v.reason and "partials must sum to 1" in v.reason
    assert v.failing.severity > 1


def test_the_hull_test_never_says_outside_for_a_point_inside():
    # random convex combinations of random vertices, each nudged by at most the bound
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = rng.integers(2, 5), rng.integers(3, 9)
        vertices = [dict(zip("abcd", rng.normal(size=n) * 10.0 ** rng.integers(-3, 4))) for _ in range(m)]
        lam = rng.dirichlet(np.ones(m))
        # bounds far above the rounding of the combination itself (1e-16 of the vertices)
        bound = {k: 10.0 ** rng.integers(-12, -2) * max(abs(v[k]) for v in vertices) for k in vertices[0]}
        g = {k: float(sum(w * v[k] for w, v in zip(lam, vertices)) + bound[k] * rng.uniform(-0.9, 0.9))
             for k in vertices[0]}
        assert outside(vertices, g, bound) is None
        # pushed out past every vertex by 1% of their spread, it is outside (an LP resolves
        # a miss to ~1e-7 of the spread: the box test holds each variable to its bound)
        far = {k: max(v[k] for v in vertices) + 0.01 * (max(v[k] for v in vertices) - min(v[k] for v in vertices))
               for k in vertices[0]}
        assert outside(vertices, far, bound) is not None


# ── in tensor mode: max_reduce ties, through the lowered reference ──

def test_max_reduce_ties_split_any_way_that_sums_to_the_incoming_gradient():
    case = Case(reduce_with(tapply("max_reduce", x), np.array(2.0)), {"x": np.array([1.0, 1.0, 1.0, 0.0])})
    ref = tensor_reference(case)
    for g in ([2.0, 0, 0, 0], [0, 0, 2.0, 0], [2 / 3, 2 / 3, 2 / 3, 0], [1.0, 0.5, 0.5, 0]):
        assert tensor_judge(ref, EngineRun("ok", (np.array(g),))).kind == "kink", g
    for g in ([2.0, 2.0, 2.0, 0], [0, 0, 0, 0], [1.0, 0, 0, 0]):
        v = tensor_judge(ref, EngineRun("ok", (np.array(g),)))
        assert v.kind == "mismatch" and "d/dx[0]" in v.reason, (g, v.reason)


# ── (d) where: the switch point, and the 0·inf leak at an interior point ──

def _where_sqrt(c):
    return Case(reduce_with(tapply("where", x, tapply("sqrt", x), x), np.ones(2)), {"x": np.array(c)})


def test_at_where_s_switch_point_there_is_no_finding():
    # sqrt'(0) is infinite, and where jumps at c = 0: a NaN there is no reproducer
    ref = tensor_reference(_where_sqrt([4.0, 0.0]))
    v = tensor_judge(ref, EngineRun("ok", (np.array([0.25, np.nan]),)))
    assert v.kind == "undecided" and v.cause == "near-kink" and "switch point" in v.reason


def test_a_leak_at_an_interior_point_says_zero_times_inf_and_names_the_op():
    ref = tensor_reference(_where_sqrt([4.0, -1.0]))
    assert tensor_judge(ref, EngineRun("ok", (np.array([0.25, 1.0]),))).kind == "agree"
    v = tensor_judge(ref, EngineRun("ok", (np.array([0.25, np.nan]),)))
    assert v.kind == "nonfinite" and ZERO_TIMES_INF in v.reason and "sqrt's derivative at -1 is not finite" in v.reason
    assert unselected_leak(_where_sqrt([4.0, -1.0])) == ("sqrt", ZERO_TIMES_INF + " (sqrt's derivative at -1 is not finite)")
    assert unselected_leak(_where_sqrt([4.0, 1.0])) is None       # nothing unselected is outside


def test_the_leaking_mutant_is_reported_away_from_the_switch_point():
    m = MUTANTS["t-where-nan-leak"]
    r = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, max_nodes=6, stop_after=1, **m.options))
    f = r.discrepancies[0]
    assert f.kind == "nonfinite" and ZERO_TIMES_INF in f.message
    # every element of the reproducer's where conditions is away from 0
    conditions = [n.arg for n in _where_conditions(f)]
    assert conditions and all(np.all(np.asarray(f.point[c]) != 0) for c in conditions), f.point


def _where_conditions(f):
    return [n.src[0] for n in toposort(expr_from_json(f.expr)) if n.op == "where" and n.src[0].op == "var"]


# ── (e) one subnormal policy, scalar and tensor ──

class _FlushScalar(BuiltinEngine):
    """Flushes subnormal inputs to zero, as CPU builds of several frameworks do."""

    def variable(self, value):
        return super().variable(0.0 if abs(value) < 2.2250738585072014e-308 else value)


class _FlushArray(BuiltinArrayEngine):
    def variable(self, value):
        a = np.asarray(value, dtype=np.float64)
        return super().variable(np.where(np.abs(a) < 2.2250738585072014e-308, 0.0, a))


SUBNORMAL = 1.1e-308


def test_a_subnormal_input_is_undecided_in_scalar_and_tensor_mode_alike():
    scalar = Case(apply("add", apply("sin", x), apply("cos", y)), {"x": SUBNORMAL, "y": 2.0})
    tensor = Case(reduce_with(tapply("where", x, tapply("sin", y), tapply("cos", y)), np.ones(2)),
                  {"x": np.array([SUBNORMAL, -1.0]), "y": np.array([2.0, 3.0])})
    with Checker(_FlushScalar(), None) as checker:
        s = checker.check(scalar)
    with Checker(_FlushArray(), None, tensor=True) as checker:
        t = checker.check(tensor)
    assert (s.kind, s.cause) == (t.kind, t.cause) == ("undecided", "subnormal"), (s, t)


def test_a_subnormal_intermediate_of_an_unselected_branch_is_undecided_too():
    # exp(-720) = 1e-313 is computed by the engine though where does not select it
    case = Case(reduce_with(tapply("where", x, tapply("exp", y), y), np.ones(1)),
                {"x": np.array([-1.0]), "y": np.array([-720.0])})
    ref = tensor_reference(case)
    assert (ref.scalar.status, ref.scalar.cause) == ("undecided", "subnormal")


def test_every_undecided_reference_names_its_cause():
    cases = [Case(apply("log", x), {"x": -1.0}), Case(apply("exp", apply("exp", x)), {"x": 700.0}),
             Case(apply("sin", x), {"x": SUBNORMAL}),
             Case(apply("add", apply("maximum", x, y), apply("add", apply("abs", x), apply("relu", y))), {"x": 0.0, "y": 0.0})]
    for case in cases:
        ref = reference(case)
        if ref.status == "undecided":
            assert ref.cause in UNDECIDED_CAUSES, (ref.reason, ref.cause)
            assert judge(ref, EngineRun("ok", (0.0,) * len(case.point))).cause == ref.cause
    assert reference(cases[0]).cause == "outside-domain" and reference(cases[2]).cause == "subnormal"


# ── (f) the planted tie bugs, found and blamed on their op ──

@pytest.mark.parametrize("name, op", [("max-tie-zero", "maximum"), ("min-tie-zero", "minimum")])
def test_tie_zero_mutants_are_found_within_500_examples_and_blamed_on_their_op(name, op):
    m = MUTANTS[name]
    r = run_campaign(m.make(), Options(examples=500, seed=0, ops=m.ops, stop_after=1))
    assert r.discrepancies, f"{name} survived"
    f = r.discrepancies[0]
    assert f.kind == "mismatch" and f.culprit_op == op and f.blame == "local-rule", (f.expression, f.blame)


def test_the_op_alone_at_a_tie_fails_jointly_for_a_tie_zero_engine():
    with Checker(MUTANTS["min-tie-zero"].make(), None) as checker:
        v = checker.check(Case(apply("minimum", x, y), {"x": 0.5, "y": 0.5}))
    assert v.kind == "mismatch" and v.reason == "at a tie of minimum the partials must sum to 1; engine gave 0 and 0"
    assert not math.isinf(v.failing.severity) and v.failing.severity > 1


# ── never a false alarm: an engine that takes any valid subgradient at every kink ──

class _AnySubgradient(BuiltinEngine):
    """At an exact tie or kink each op takes one side, the other, or a convex combination
    of the two, chosen by a hash of its arguments (the same graph twice, the same answer)."""

    def __init__(self):
        super().__init__()
        for name in ("maximum", "minimum", "abs", "relu", "leaky_relu", "clamp"):
            spec = SCALAR_OPS[name]
            rules = tuple(None if i in spec.params else self._rule(spec, i) for i in range(spec.arity))
            self.ops[name] = make_op(replace(spec, partials=rules))

    @staticmethod
    def _rule(spec, i):
        def partial(m, *a):
            args = a[:-1]
            if spec.kink.switch(*args) != 0:
                return spec.partials[i](m, *a)
            h = hashlib.sha256(repr((spec.name, [float(v) for v in args])).encode()).digest()
            t = (0.0, 1.0, h[1] / 255)[h[0] % 3]
            left, right = spec.kink.sides(*args)
            return left[i] + t * (right[i] - left[i])
        return partial


@pytest.mark.slow
def test_any_valid_subgradient_at_every_kink_is_never_a_discrepancy():
    r = run_campaign(_AnySubgradient(), Options(examples=1500, seed=4, ops=(
        "maximum", "minimum", "abs", "relu", "leaky_relu", "clamp", "add", "sub", "mul", "neg", "sin")))
    assert not r.discrepancies, [(f.expression, f.message) for f in r.discrepancies]
    assert r.verdicts["kink"] > 50
