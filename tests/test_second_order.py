"""--order 2: Hessian entries against SymEngine and the op table's chain rule of the chain rule."""
import pytest
from hypothesis import given, settings

from oracles import paths, symbolic
from verifier.search.campaign import Options, run_campaign
from verifier.interfaces.cli import main
from verifier.engines import load_engine
from verifier.engines.mutants import MUTANTS
from verifier.search.strategies import cases


@settings(max_examples=60)
@given(cases(max_nodes=5))
def test_op_table_hessian_matches_symengine(case):
    try:
        g = paths.stable_graph(case.expr, case.point)
        table, sym = paths.hessian(g), symbolic.hessian(case.expr, case.point, g.dps)
    except Exception:      # outside a domain, or no real value: nothing to compare
        return
    scale = paths.hessian(g, absolute=True)
    from verifier.truth.bounds import PRECISIONS, forward_radius, near_kinks
    if near_kinks(g, forward_radius(g, PRECISIONS["float64"].u)):
        return
    for k, x in table.items():
        # the deeper second look is the judge's job; here both at the same digits agree or
        # one of them cancelled, which a second look at 420 digits resolves
        if abs(x - sym[k]) > scale[k] * 1e-20 + 1e-300:
            deep = paths.local_graph(case.expr, case.point, 420)
            assert abs(paths.hessian(deep)[k] - symbolic.hessian(case.expr, case.point, 420)[k]) <= scale[k] * 1e-20 + 1e-300


def test_correct_builtin_engine_at_order_2():
    # 400 examples: about a third are undecided at order 2 (only first-order-sound points are
    # judged), and over 200 the share agreed moved between 58% and 73% with the generator's
    # stream alone (seed 1, two generators), too close to the floor; 63.5% over 400
    r = run_campaign(load_engine("builtin"), Options(examples=400, seed=1, order=2))
    assert not r.discrepancies, [(f.expression, f.point) for f in r.discrepancies]
    assert r.verdicts["agree"] > 0.6 * r.examples


def test_frozen_local_derivative_is_found_at_order_2():
    m = MUTANTS["second-order-frozen-tanh"]
    r = run_campaign(m.make(), Options(examples=300, seed=0, ops=m.ops, **m.options))
    f = r.discrepancies[0]
    v = f.variable.split(",")
    assert f.culprit_op == "tanh" and f.nodes <= 2 and v[0] == v[1], f.variable   # ∂²/∂v², v any variable


def test_order_2_needs_second_derivatives(tmp_path, capsys):
    engine = tmp_path / "firstonly.py"
    engine.write_text("from verifier.engines.builtin import BuiltinEngine\n"
                      "class FirstOnly:\n"
                      "    name, dtype = 'first-only', 'float64'\n"
                      "    def __init__(self):\n"
                      "        b = BuiltinEngine(); self.ops, self.variable, self.constant = b.ops, b.variable, b.constant\n"
                      "        self.gradients = b.gradients\n")
    assert main(["campaign", "--engine", f"{engine}:FirstOnly", "--order", "2", "--examples", "5",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "second_derivatives" in err and err.count("\n") == 1


class _HangingHessian:
    """The builtin engine whose second derivatives never come back."""

    def __init__(self):
        self._inner = load_engine("builtin")
        self.name, self.ops = "hanging-hessian", self._inner.ops
        self.variable, self.constant, self.gradients = (self._inner.variable, self._inner.constant,
                                                        self._inner.gradients)

    def second_derivatives(self, output, variables):
        import time
        time.sleep(60)


def test_a_hanging_second_derivative_is_a_timeout_not_a_stuck_campaign():
    r = run_campaign(load_engine(_HangingHessian), Options(examples=5, seed=0, order=2, check_timeout=0.5, stop_after=1))
    assert r.discrepancies and r.discrepancies[0].kind == "timeout"
