"""A correct engine is never flagged (the 20,000-example version is benchmarks/false_alarms.py)."""
import pytest

from verifier.search.campaign import Options, run_campaign
from verifier.engines import load_engine


@pytest.mark.parametrize("spec", ["builtin", "builtin-paths"])
def test_builtin_engines_have_no_discrepancy(spec):
    r = run_campaign(load_engine(spec), Options(examples=400, seed=3))
    assert not r.discrepancies, [f.expression for f in r.discrepancies]
    assert r.verdicts["agree"] > 0.8 * r.examples


def test_same_seed_same_examples_and_verdicts():
    from verifier.engines.mutants import MUTANTS
    runs = [run_campaign(MUTANTS["div-sign"].make(), Options(examples=150, seed=7)) for _ in range(2)]
    assert runs[0].verdicts == runs[1].verdicts
    assert [f.expression for f in runs[0].discrepancies] == [f.expression for f in runs[1].discrepancies]


def test_second_order_of_the_builtin_engine_matches_sympy():
    from oracles.symbolic import hessian
    from verifier.floor.ir import apply, var
    from verifier.checking.runner import build_graph
    x, y = var("x"), var("y")
    e = apply("mul", apply("tanh", apply("mul", x, y)), apply("exp", x))
    point = {"x": 0.3, "y": -1.2}
    engine = load_engine("builtin")
    out, leaves, _ = build_graph(engine, e, point)
    H = engine.second_derivatives(out, leaves)
    truth = hessian(e, point)
    for i, a in enumerate(["x", "y"]):
        for j, b in enumerate(["x", "y"]):
            assert H[i][j] == pytest.approx(float(truth[(a, b)]), rel=1e-12)
