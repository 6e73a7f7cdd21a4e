"""Every row of the op table, checked against SymPy and against finite differences."""
import itertools

import numpy as np
import pytest
import sympy as sp

from oracles.numeric import _ridders
from oracles.symbolic import evaluate_sympy
from verifier.floor.mathns import F64, precise
from verifier.floor.ops import SCALAR_OPS

SAMPLES = [0.3, 1.7, -0.8, 2.5, -3.1, 0.05]
EXPONENTS = [2.0, 3.0, -1.0, 0.5, 1.5, -0.5]
# each parametrised op's constants: pow's exponent, leaky_relu's slope, clamp's (lo, hi)
PARAMS = {"pow": [(c,) for c in EXPONENTS], "leaky_relu": [(0.01,), (0.2,), (-0.5,), (1.5,)],
          "clamp": [(-1.0, 1.0), (0.1, 2.0), (-5.0, -1.0), (2.0, 3.0)]}


def points(op):
    if op.params:  # the differentiated argument from the samples, then the constants
        pts = [(x, *c) for x in SAMPLES for c in PARAMS[op.name]]
    else:
        pts = list(itertools.product(SAMPLES, repeat=op.arity))
    return [p for p in pts if op.domain(*p) and not (op.kink and op.kink.switch(*p) == 0)]


CASES = [(name, p) for name, op in SCALAR_OPS.items() for p in points(op)]


@pytest.mark.parametrize("name,args", CASES)
def test_forward_matches_sympy(name, args):
    op = SCALAR_OPS[name]
    syms = [sp.Symbol(f"a{i}", real=True) for i in range(op.arity)]
    env = {s.name: v for s, v in zip(syms, args)}
    truth = evaluate_sympy(op.sympy(sp, *syms), env, 50)
    m = precise(50)
    assert abs(op.forward(m, *map(m.float, args)) - truth) <= 1e-40 * (1 + abs(truth))
    with np.errstate(all="ignore"):
        assert float(op.forward(F64, *map(np.float64, args))) == pytest.approx(float(truth), rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("name,args", CASES)
def test_partials_match_sympy_diff(name, args):
    op = SCALAR_OPS[name]
    syms = [sp.Symbol(f"a{i}", real=True) for i in range(op.arity)]
    env = {s.name: v for s, v in zip(syms, args)}
    f = op.sympy(sp, *syms)
    m = precise(50)
    xs = list(map(m.float, args))
    ans = op.forward(m, *xs)
    for i, rule in enumerate(op.partials):
        if rule is None:
            continue
        truth = evaluate_sympy(sp.diff(f, syms[i]), env, 50)
        assert abs(m.float(rule(m, *xs, ans)) - truth) <= 1e-40 * (1 + abs(truth)), (name, i)


@pytest.mark.parametrize("name,args", CASES)
def test_partials_match_finite_differences(name, args):
    op = SCALAR_OPS[name]
    with np.errstate(all="ignore"):
        ans = op.forward(F64, *map(np.float64, args))
        for i, rule in enumerate(op.partials):
            if rule is None:
                continue

            def f(t, i=i):
                xs = list(args)
                xs[i] = t
                return float(op.forward(F64, *map(np.float64, xs)))
            est, err = _ridders(f, args[i], 0.01 * max(abs(args[i]), 0.1))
            assert float(rule(F64, *map(np.float64, args), ans)) == pytest.approx(est, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", [n for n, op in SCALAR_OPS.items() if op.kink])
def test_kink_sides_are_the_partials_on_each_side(name):
    op = SCALAR_OPS[name]
    for args in points(op):
        s = op.kink.switch(*args)
        side = op.kink.sides(*args)[int(s > 0)]
        ans = op.forward(F64, *args)
        assert tuple(float(r(F64, *args, ans)) for r in op.partials if r) == tuple(
            d for i, d in enumerate(side) if i not in op.params)
        # linear: the piece on this side, its coefficients times the arguments, is the op
        assert sum(c * a for c, a in zip(side, args)) == pytest.approx(float(ans), rel=1e-15, abs=0)


def test_stable_rule_forms_do_not_cancel():
    # at 50 digits, 1 - tanh(300)² is 0; the table's rule keeps the 1e-260 truth
    m = precise(50)
    x = m.float(300)
    d = SCALAR_OPS["tanh"].partials[0](m, x, m.tanh(x))
    assert d > 0 and abs(d - 4 * m.exp(-600)) < 1e-40 * d
