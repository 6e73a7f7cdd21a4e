import math

import numpy as np
import pytest
from hypothesis import given

from verifier.floor.ir import apply, const, show, show_steps, size, toposort, var, variables
from verifier.floor.serial import FormatError, expr_from_json, expr_to_json, loads
from verifier.search.strategies import cases


def test_nodes_are_interned_so_equal_dags_are_one_object():
    x = var("x")
    assert apply("mul", x, x) is apply("mul", var("x"), var("x"))
    assert const(0.0) is not const(-0.0)


def test_toposort_visits_a_shared_node_once_and_arguments_first():
    x = var("x")
    t = apply("sin", x)
    out = apply("add", apply("mul", t, t), t)
    order = toposort(out)
    assert order.count(t) == 1 and order.index(t) < order.index(out) and order[-1] is out
    assert size(out) == 3 and variables(out) == ["x"]


def test_sharing_never_costs_exponential_time():
    x = var("x")
    for _ in range(200):   # 2**200 paths, 200 nodes
        x = apply("add", x, x)
    assert size(x) == 200 and len(show(x)) < 20000


def test_show_is_readable_infix():
    x, y = var("x"), var("y")
    assert show(apply("mul", apply("add", x, y), apply("neg", x))) == "(x + y)*-x"
    assert show(apply("pow", apply("sin", x), const(2.0))) == "sin(x)**2"
    assert show_steps(apply("mul", x, x)) == ["%1 = mul(x, x)"]


@given(cases())
def test_json_round_trip_is_exact(case):
    doc = loads(__import__("json").dumps(expr_to_json(case.expr)))
    assert expr_from_json(doc) is case.expr


@pytest.mark.parametrize("doc,message", [
    ({"format": "adverify-expr", "version": 1, "nodes": [{"op": "eval", "args": []}], "output": 0}, "unknown op"),
    ({"format": "adverify-expr", "version": 1, "nodes": [{"op": "var", "name": "__import__('os')"}], "output": 0}, "identifier"),
    ({"format": "adverify-expr", "version": 1, "nodes": [{"op": "const", "value": 1e309}], "output": 0}, "finite"),
    ({"format": "adverify-expr", "version": 1, "nodes": [{"op": "sin", "args": [0]}], "output": 0}, "earlier"),
    ({"format": "adverify-expr", "version": 1, "nodes": [{"op": "var", "name": "x"}, {"op": "pow", "args": [0, 0]}], "output": 1}, "constant"),
    ({"format": "adverify-expr", "version": 2, "nodes": [], "output": 0}, "version"),
    ({"format": "adverify-expr", "version": 1, "nodes": [{"op": "var", "name": "x"}], "output": 5}, "output"),
])
def test_bad_documents_are_refused_with_a_reason(doc, message):
    with pytest.raises(FormatError, match=message):
        expr_from_json(doc)


@pytest.mark.parametrize("text", ["[" * 100000, '{"a": NaN}', '{"a": 1, "a": 2}', b"\xff\xfe\x00", "{"])
def test_hostile_json_is_a_format_error(text):
    with pytest.raises(FormatError):
        loads(text)


def test_every_op_is_drawn_about_as_often_wherever_it_stands_in_the_list():
    # Hypothesis makes runs of simplest choices (index 0) on purpose: the op at the head of
    # the list was drawn 12 times as often as sigmoid, whose bugs then went unfound
    from op_draws import measure   # tests/op_draws.py
    from verifier.floor.ops import SCALAR_OPS
    ops = tuple(sorted(SCALAR_OPS))
    for order in (ops, ops[::-1]):
        # 600 cases: at 300, one seed's noise alone came within reach of the mean / 4 below
        # (0.24 of the mean for add, seeds 0-2 otherwise 0.39-0.67; at 600 0.46-0.58)
        counts = measure(600, 0, order)["nodes"]
        mean = sum(counts.values()) / len(order)
        assert max(counts.values()) < 2.5 * mean, counts
        everywhere = ("abs", "add", "atan", "cos", "maximum", "minimum", "mul", "neg", "relu", "sigmoid",
                      "sin", "sub", "tanh")   # defined on every real: nothing but the draw limits them
        assert min(counts[o] for o in everywhere) > mean / 4, counts
        assert min(counts[o] for o in order) > mean / 10, counts   # sqrt, log, powv: half a domain


def test_values_reach_the_magnitudes_where_exp_overflows_and_sigmoid_saturates():
    from hypothesis import Phase, seed, settings
    from verifier.search.strategies import values
    drawn: list[float] = []

    @seed(0)
    @settings(max_examples=500, phases=(Phase.generate,), derandomize=False)
    @given(values())
    def draw(x):
        drawn.append(abs(x))
    draw()
    # 20 < |x| < 600: exp(-x) flushes, tanh is ±1, e^-x/(1 + e^-x)² overflows below -355
    assert sum(20 < x < 600 for x in drawn) >= len(drawn) / 20
    assert sum(0 < x < 1e-4 for x in drawn) >= len(drawn) / 20   # expm1 as exp(x) - 1 loses every digit


def test_edges_follow_the_dtype():
    from verifier.search.strategies import edges
    for dtype, top in (("float64", 709.78), ("float32", 88.72)):
        found = edges(dtype, ("exp", "add", "sigmoid", "div"))
        assert set(found) == {"exp", "sigmoid", "div"}          # add has no edge
        (lo, hi), = found["exp"]
        assert hi == pytest.approx(top, abs=0.01) and lo < hi
        assert (-hi, -hi / 2) in found["sigmoid"]               # where e^-x squared overflows
        assert all(lo < hi for lo, hi in found["div"])
        y = found["div"][0][0] * 2                              # just past the edge: y² overflows
        with np.errstate(over="ignore"):
            assert math.isinf(np.square(np.array(y, dtype))) and np.finfo(dtype).max > y


def test_log1p_and_expm1_edges_are_where_their_textbook_forms_cancel():
    from verifier.search.strategies import _edge, edges
    found = edges("float64", ("exp", "expm1", "log1p"))
    eps = float(np.finfo("float64").eps)
    for lo, hi in found["log1p"]:
        x = math.copysign(math.sqrt(lo * hi), lo)   # mid-window, 1.6e-10: half the digits gone
        assert abs(math.log(1 + x) - math.log1p(x)) > 1e6 * eps * abs(math.log1p(x))
    assert set(found["expm1"]) == set(found["exp"]) | set(found["log1p"])
    # expm1's edges are exp's and log1p's: two kinds to draw from, not three
    assert len(_edge("float64", ("exp", "expm1", "log1p")).original_strategies) == 2
    assert len(_edge("float64", ("expm1",)).original_strategies) == 3   # alone: its own windows


def test_a_value_on_an_ops_edge_often_meets_that_op():
    # sigmoid's rule written as e^-x/(1 + e^-x)² is wrong only for x in [-694, -355]: drawing
    # such values is not enough if sigmoid, one op in 22, is then rarely applied to them
    from hypothesis import Phase, seed, settings
    from verifier.search.campaign import no_local_constants
    from verifier.floor.ir import evaluate
    from verifier.floor.mathns import F64
    from verifier.floor.ops import SCALAR_OPS
    hits: list[bool] = []

    # the routing of edge values to their op, before the points no verdict is possible at
    # are passed over (judgeable=False): a quarter of these are such points, where the
    # adjoints sigmoid's tiny partial feeds leave the float range
    @seed(0)
    @settings(max_examples=3000, phases=(Phase.generate,), derandomize=False, database=None)
    @given(cases(ops=tuple(SCALAR_OPS), judgeable=False))
    def draw(case):
        with np.errstate(all="ignore"):
            values = evaluate(case.expr, case.point, F64)
        hits.append(any(n.op == "sigmoid" and -694 < values[n.src[0]] < -355 for n in values))
    with no_local_constants():   # else Hypothesis draws this file's -694 and -355 too
        draw()
    # 1% of cases before a value on an op's edge was given to that op; now 2.5% at this seed
    # (1.7-4.4% at seeds 0-3 over 1,000 cases: too few to hold a 2% floor, hence 3,000)
    assert sum(hits) >= len(hits) / 50, sum(hits)


# The labels of every strategy a campaign draws from, in a fresh process: Hypothesis' shrinker
# sorts labels to order some passes, so a label from hash() (strings: PYTHONHASHSEED; None
# and nested code: memory addresses) made the same seed shrink differently from run to run
_LABELS = """
import json, warnings
warnings.simplefilter("ignore")
from hypothesis import given, seed, settings, HealthCheck
from hypothesis.internal.conjecture import data as D
from verifier.search.strategies import cases
from verifier.search.tensor_strategies import tensor_cases
labels = set()
draw = D.ConjectureData.draw
def recording(self, strategy, *a, **k):
    labels.add(strategy.label)
    return draw(self, strategy, *a, **k)
D.ConjectureData.draw = recording
for strategy in (cases(), cases(dtype="float32"), tensor_cases()):
    @seed(0)
    @settings(max_examples=60, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        pass
    run()
print(json.dumps(sorted(labels)))
"""


def test_strategy_labels_do_not_depend_on_the_process():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[1])
    runs = []
    for hashseed in ("1", "2"):
        p = subprocess.run([sys.executable, "-c", _LABELS], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": root})
        assert p.returncode == 0, p.stderr[-2000:]
        runs.append(json.loads(p.stdout))
    assert len(runs[0]) > 10 and runs[0] == runs[1]
