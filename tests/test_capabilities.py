"""Declared capabilities (engines.Capabilities): each attribute an engine may declare changes
what the generator draws, so an engine with limits needs no shim; a bad declaration is one
line naming the attribute. docs/engine-protocol.md documents them."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, seed as hseed, settings
from op_draws import draw_tensor, tensor_presence

from verifier.checking.checker import Checker
from verifier.engines import Capabilities, EngineError, engine_capabilities
from verifier.engines.builtin import BuiltinArrayEngine, BuiltinEngine
from verifier.floor.ir import toposort
from verifier.floor.program import forward, params_of
from verifier.floor.vocabulary import BUILTIN
from verifier.search.campaign import CampaignError, Options, campaign_ops, run_campaign
from verifier.search.strategies import cases, composite, draw_value, sampled

N = 300
TABLE = BUILTIN.tensor
BINARY = {o for o, spec in TABLE.items() if spec.scalar is not None and spec.arity == 2 and not spec.scalar.params}


def _body(case):
    """The program without its final reduction sum(out * W), which every program has."""
    return case.expr.src[0].src[0]


def _nodes(case):
    values = forward(case.expr, case.point, TABLE)
    return [(n, values) for n in toposort(_body(case)) if not n.is_leaf]


def _max_rank(case) -> int:
    return max(v.ndim for v in forward(case.expr, case.point, TABLE).values())


def _unequal_binary(case) -> bool:
    return any((n.op in BINARY or n.op == "where") and len({np.shape(vals[s]) for s in n.src}) > 1
               for n, vals in _nodes(case))


def _params(case, op: str) -> list[dict]:
    return [params_of(n) for n, _ in _nodes(case) if n.op == op]


def _subnormal(x) -> bool:
    a = np.abs(np.asarray(x, dtype=np.float64))
    return bool(np.any((a > 0) & (a < np.finfo(np.float64).tiny)))


@pytest.fixture(scope="module")
def plain():
    return draw_tensor(N, 0)


def test_max_rank_bounds_every_value(plain):
    assert any(_max_rank(c) > 1 for c in plain)   # undeclared: ranks 2 and 3 are drawn
    limited = draw_tensor(N, 0, capabilities=Capabilities(max_rank=1))
    assert limited and all(_max_rank(c) <= 1 for c in limited)


def test_no_broadcasting_gives_binary_ops_equal_shapes(plain):
    assert any(_unequal_binary(c) for c in plain)
    limited = draw_tensor(N, 0, capabilities=Capabilities(broadcasting=False))
    assert not any(_unequal_binary(c) for c in limited)
    # and binary ops are still drawn, on equal shapes
    assert sum(any(n.op in BINARY for n, _ in _nodes(c)) for c in limited) > N // 10


def test_op_limits_fix_the_parameters_drawn():
    # the limited ops among a few others, so that each is drawn often in N programs
    ops = ("softmax", "sum", "mul", "add", "exp", "tanh", "mean")
    free = draw_tensor(N, 0, ops=ops)
    softmax_axes = {p["axis"] for c in free for p in _params(c, "softmax")}
    sum_keepdims = {p["keepdims"] for c in free for p in _params(c, "sum")}
    assert softmax_axes - {-1} and True in sum_keepdims
    caps = Capabilities(op_limits=(("softmax", (("axis", (-1,)),)), ("sum", (("keepdims", (False,)),))))
    limited = draw_tensor(N, 0, ops=ops, capabilities=caps)
    softmax = [p for c in limited for p in _params(c, "softmax")]
    sums = [p for c in limited for p in _params(c, "sum")]
    assert softmax and all(p["axis"] == -1 for p in softmax)
    assert sums and all(p["keepdims"] is False for p in sums)


def test_matmul_is_two_dimensional(plain):
    for c in draw_tensor(N, 0, capabilities=Capabilities(matmul_rank=2)) + plain:
        for n, vals in _nodes(c):
            if n.op == "matmul":
                assert all(np.ndim(vals[s]) == 2 for s in n.src)


def _drawn(strategy, n: int = N) -> list:
    out: list = []

    @hseed(7)
    @settings(max_examples=n, database=None, deadline=None)
    @given(strategy)
    def draw(x):
        out.append(x)
    draw()
    return out


@composite
def _next_to_zero(draw, flush: bool):
    # the tie regime next to a 0 drawn before: nextafter(0, ±inf) is the smallest subnormal
    return draw_value(draw, "float64", (0.0,), regimes=sampled(("tie",)), flush=flush)


def test_flush_draws_no_subnormal_inputs():
    assert any(_subnormal(x) for x in _drawn(_next_to_zero(False)))
    flushed = _drawn(_next_to_zero(True))
    assert not any(_subnormal(x) for x in flushed) and 0.0 in flushed
    scalar = _drawn(cases(capabilities=Capabilities(subnormals="flush")))
    assert not any(_subnormal(v) for c in scalar for v in c.point.values())
    assert not any(_subnormal(n.arg) for c in scalar for n in toposort(c.expr) if n.op == "const")
    tensor = draw_tensor(N, 0, capabilities=Capabilities(subnormals="flush"))
    assert not any(_subnormal(v) for c in tensor for v in c.point.values())


class _Strict(BuiltinArrayEngine):
    """An engine that raises on everything it declared it cannot do."""
    name = "strict"
    max_rank = 2
    broadcasting = False
    op_limits = {"softmax": {"axis": (-1,)}, "sum": {"keepdims": (False,)}, "mean": {"axis": (None,)}}

    def __init__(self):
        super().__init__()
        self.ops = {name: self._guard(name, fn) for name, fn in self.ops.items()}

    def _guard(self, name, fn):
        # broadcasting is the elementwise ops' and where's business; a parameter (pow's
        # exponent, clamp's bounds) is a scalar constant, not an operand (docs/engine-protocol.md)
        operands = (range(3) if name == "where" else
                    [i for i in range(BUILTIN[name].arity) if i not in BUILTIN[name].params] if name in BUILTIN else ())

        def op(*args, **params):
            arrays = [a for a in args if hasattr(a, "value")]     # integer inputs are numpy arrays
            if any(a.value.ndim > self.max_rank for a in arrays):
                raise ValueError(f"{name}: rank above {self.max_rank}")
            shapes = {args[i].value.shape for i in operands}
            if len(shapes) > 1:
                raise ValueError(f"{name}: no broadcasting {shapes}")
            for p, allowed in self.op_limits.get(name, {}).items():
                if p in params and params[p] not in allowed:
                    raise ValueError(f"{name}: {p}={params[p]!r} not supported")
            out = fn(*args, **params)
            if out.value.ndim > self.max_rank:
                raise ValueError(f"{name}: result rank above {self.max_rank}")
            return out
        return op


def test_a_limited_engine_checked_within_its_limits_never_crashes():
    engine = _Strict()
    caps = engine_capabilities(engine)
    assert caps == Capabilities(max_rank=2, broadcasting=False, op_limits=(
        ("softmax", (("axis", (-1,)),)), ("sum", (("keepdims", (False,)),)), ("mean", (("axis", (None,)),))))
    programs = draw_tensor(120, 1, capabilities=caps)
    with Checker(engine, tensor=True) as checker:
        kinds = [checker.check(c).kind for c in programs]
    assert "crash" not in kinds and kinds.count("agree") > len(kinds) // 2
    # the same engine, drawn for as if it had declared nothing, does crash: the limits matter
    unlimited = draw_tensor(120, 1)
    with Checker(engine, tensor=True) as checker:
        assert any(checker.check(c).kind == "crash" for c in unlimited)


@pytest.mark.parametrize("attrs, words", [
    ({"subnormals": "ftz"}, "subnormals must be"),
    ({"max_rank": 4}, "max_rank must be an integer from 0 to 3"),
    ({"max_rank": True}, "max_rank must be"),
    ({"matmul_rank": 3}, "matmul_rank must be 2"),
    ({"broadcasting": "no"}, "broadcasting must be True or False"),
    ({"op_limits": [("softmax", -1)]}, "op_limits must be a dict"),
    ({"op_limits": {"softmaxx": {"axis": (-1,)}}}, "no op adverify knows"),
    ({"op_limits": {"sin": {"axis": (0,)}}}, "sin takes no limitable parameter"),
    ({"op_limits": {"softmax": {"keepdims": (False,)}}}, "softmax takes 'axis'"),
    ({"op_limits": {"softmax": {"axis": -1}}}, "must be a tuple of allowed values"),
    ({"op_limits": {"sum": {"keepdims": ("no",)}}}, "'no' is no keepdims value"),
    ({"op_limits": {"sum": {"axis": ()}}}, "allows nothing"),
])
def test_a_bad_declaration_is_one_line_naming_it(attrs, words):
    engine = type("Declares", (BuiltinEngine,), {"name": "declares", **attrs})()
    with pytest.raises(EngineError) as e:
        engine_capabilities(engine)
    assert words in str(e.value) and "\n" not in str(e.value) and "'declares'" in str(e.value)


def test_undeclared_is_the_default():
    assert engine_capabilities(BuiltinEngine()) == Capabilities()
    assert not Capabilities().flush and Capabilities(subnormals="flush").flush


# ── what is drawn, undeclared: every tensor op about as often as another ──

def _shares(n: int) -> tuple[dict[str, float], float]:
    ops = tuple(sorted(TABLE))   # as a campaign gets them (engine_ops): abs first
    # op by op: a transformer block puts seven ops in one program at once
    programs = draw_tensor(n, 0, ops=ops, blocks=False)
    present = tensor_presence(programs)
    shares = {o: present[o] / len(programs) for o in ops}
    return shares, sum(shares.values()) / len(shares)


def test_no_tensor_op_dominates_the_programs():
    # abs, first in the list, was in 40% of programs (6x the mean share at this sample size);
    # 600 programs since the ops doubled (issue 17), so each op's expected count is as before
    shares, mean = _shares(600)
    worst = max(shares, key=shares.get)
    assert shares[worst] <= 3 * mean, (worst, shares[worst], mean)


@pytest.mark.slow
def test_tensor_ops_are_balanced_over_2000_programs():
    shares, mean = _shares(2000)
    assert max(shares.values()) <= 2 * mean, shares
    assert min(shares.values()) >= mean / 3, shares   # powv was in under 1% of programs


# ── through a campaign ────────────────────────────────────────────────────────────────
def test_a_tensor_campaign_against_a_limited_engine_is_clean():
    r = run_campaign(_Strict(), Options(examples=40, seed=1, tensor=True, max_nodes=6, check_timeout=None))
    assert r.verdicts.get("crash", 0) == 0 and not [f for f in r.discrepancies if f.kind == "crash"]


def test_a_campaign_refuses_a_bad_declaration_in_one_line():
    engine = type("Declares", (BuiltinArrayEngine,), {"name": "declares", "max_rank": 7})()
    with pytest.raises(CampaignError, match="max_rank must be an integer from 0 to 3"):
        campaign_ops(engine, Options(tensor=True))
