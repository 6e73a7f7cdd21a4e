"""What the tensor generator draws of the ops of issue #17: every op, integer inputs in range
that shrink toward small repeated indices, the transformer-block family, the engine's limits."""
import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample
from op_draws import draw_tensor, tensor_presence

from verifier.engines import Capabilities
from verifier.floor.ir import toposort
from verifier.floor.program import forward, iconst_value, params_of
from verifier.floor.vocabulary import BUILTIN
from verifier.search.tensor_strategies import tensor_cases

TABLE = BUILTIN.tensor
NEW = ("variance", "std", "norm", "log_softmax", "cross_entropy", "gather", "embedding", "slice", "concat",
       "stack", "cumsum", "layer_norm", "rms_norm", "attention")
ALL = tuple(sorted(TABLE))
BLOCK = ("embedding", "layer_norm", "rms_norm", "attention", "gelu", "matmul", "add", "cross_entropy", "mul", "sum")
N = 600
_SEARCH = settings(database=None, max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def plain():
    return draw_tensor(N, 0, ops=ALL)


def _ops(case, name):
    return [n for n in toposort(case.expr) if n.op == name]


def _is_block(case) -> bool:
    return "E" in case.point and bool(_ops(case, "attention")) and bool(_ops(case, "cross_entropy"))


def _index_arrays(cases):
    """(op, indices, the size they index, the axis repeats count along or None) of every
    integer argument drawn."""
    for case in cases:
        values = forward(case.expr, case.point, TABLE)
        for n in toposort(case.expr):
            if n.op in ("cross_entropy", "gather", "embedding"):
                x, idx = values[n.src[0]], iconst_value(n.src[1])
                axis = params_of(n).get("axis")
                bound = {"cross_entropy": x.shape[-1], "embedding": x.shape[0]}.get(n.op) or x.shape[axis]
                yield n.op, idx, bound, (axis if n.op == "gather" else None)


def _repeats(idx: np.ndarray, axis) -> bool:
    fibres = idx.reshape(1, -1) if axis is None else np.moveaxis(idx, axis, -1).reshape(-1, idx.shape[axis])
    return any(len(set(f)) < len(f) for f in fibres)


def test_every_new_op_is_drawn(plain):
    present = tensor_presence(plain)
    assert all(present[o] for o in NEW), {o: present[o] for o in NEW}


def test_integer_inputs_are_in_range_and_often_repeat(plain):
    drawn = list(_index_arrays(plain))
    assert {op for op, *_ in drawn} == {"cross_entropy", "gather", "embedding"}
    for op, idx, bound, _ in drawn:
        assert idx.dtype == np.int64 and idx.size and 0 <= idx.min() and idx.max() < bound, (op, idx, bound)
    # the = instead of += bug needs an index twice: at least half the lookups that can repeat do
    can = [(idx, axis) for op, idx, bound, axis in drawn if op != "cross_entropy" and bound > 1
           and (idx.size if axis is None else idx.shape[axis]) > 1]
    assert can and sum(_repeats(i, a) for i, a in can) >= len(can) / 2, len(can)


@pytest.mark.slow
def test_integer_inputs_shrink_to_zero():
    # the smallest embedding program: a reproducer's indices are all 0 (small, repeated)
    case = find(tensor_cases(ops=("embedding", "mul", "sum"), max_nodes=2), lambda c: bool(_ops(c, "embedding")),
                settings=_SEARCH)
    idx = iconst_value(_ops(case, "embedding")[0].src[1])
    assert not idx.any(), idx


def test_values_reduced_by_std_and_norms_are_not_all_equal(plain):
    for case in plain:
        values = forward(case.expr, case.point, TABLE)
        for n in toposort(case.expr):
            if n.op in ("std", "layer_norm"):
                x = values[n.src[0]]
                axis = -1 if n.op == "layer_norm" else params_of(n)["axis"]
                assert np.all(np.ptp(x, axis=axis) > 0), (n.op, x)


def test_the_block_is_drawn_when_its_ops_are_there(plain):
    blocks = [c for c in plain if _is_block(c)]
    assert 1 <= len(blocks) <= N / 10, len(blocks)           # about one program in 40
    b = blocks[0]
    assert {n.op for n in toposort(b.expr)} >= {"embedding", "attention", "gelu", "matmul", "add", "cross_entropy"}
    assert all(params_of(n)["causal"] for n in _ops(b, "attention"))


def _finds_a_block(ops, max_nodes: int = 6) -> bool:
    try:
        find(tensor_cases(ops=ops, max_nodes=max_nodes), _is_block, settings=_SEARCH)
    except NoSuchExample:
        return False
    return True


@pytest.mark.slow
def test_the_block_is_drawn_only_when_its_ops_are_there_and_programs_may_be_large():
    assert _finds_a_block(BLOCK)
    for missing in ("attention", "gelu", "cross_entropy"):
        assert not _finds_a_block(tuple(o for o in BLOCK if o != missing)), missing
    assert not _finds_a_block(BLOCK, max_nodes=3)


@pytest.mark.slow
def test_capabilities_bound_the_new_ops():
    flat = draw_tensor(200, 0, ops=ALL, capabilities=Capabilities(max_rank=1))
    assert flat and not any(_ops(c, o) for c in flat for o in ("attention", "embedding", "cross_entropy"))
    assert all(np.ndim(v) <= 1 for c in flat for v in forward(c.expr, c.point, TABLE).values())
    caps = Capabilities(op_limits=(("cumsum", (("axis", (-1,)),)), ("variance", (("keepdims", (False,)),)),
                                   ("concat", (("axis", (0,)),))))
    limited = draw_tensor(N, 0, ops=ALL, capabilities=caps)
    params = {o: [params_of(n) for c in limited for n in _ops(c, o)] for o in ("cumsum", "variance", "concat")}
    assert all(params.values()), {o: len(p) for o, p in params.items()}
    assert all(p["axis"] == -1 for p in params["cumsum"]) and all(p["axis"] == 0 for p in params["concat"])
    assert all(p["keepdims"] is False for p in params["variance"])
