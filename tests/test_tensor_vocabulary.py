"""The tensor ops of issue #17: each one's forward against an independent numpy reference,
its hand-written VJP against finite differences and against the gradient of its lowered
scalar program, integer leaves (iconst) through the IR, JSON and the engines, and real checks
through the Checker."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from verifier.checking.checker import Checker
from verifier.engines import load_engine
from verifier.engines.autograd import array
from verifier.engines.builtin import BuiltinArrayEngine
from verifier.floor.ir import show, show_steps, var
from verifier.floor.program import forward, iconst, iconst_value, reduce_with, shapes, tapply
from verifier.floor.serial import FormatError, expr_from_json, expr_to_json, loads
from verifier.floor.tensor_ops import TENSOR_OPS, ParamError
from verifier.model import Case, EngineRun
from verifier.truth.tensor_judge import tensor_judge, tensor_reference

x, y, z = var("x"), var("y"), var("z")
COTANGENT = [1.0, -0.5, 2.0, 0.25, -1.5, 0.75, -1.25]


# ── independent references: loops and textbook formulas, no shift, no shared helper ──────
def _softmax_rows(s):
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def ref_variance(a, axis=None, correction=0, keepdims=False):
    axes = tuple(range(a.ndim)) if axis is None else (axis,)
    n = math.prod(a.shape[k] for k in axes)
    d = a - a.sum(axis=axes, keepdims=True) / n
    return (d ** 2).sum(axis=axes, keepdims=keepdims) / (n - correction)


def ref_cross_entropy(logits, targets, reduction="mean"):
    losses = [-math.log(math.exp(row[t]) / sum(math.exp(v) for v in row)) for row, t in zip(logits, targets)]
    return sum(losses) / (len(losses) if reduction == "mean" else 1)


def ref_gather_axis1(a, idx):
    return np.array([[a[i, idx[i, j]] for j in range(idx.shape[1])] for i in range(idx.shape[0])])


def ref_slice(a, slices):
    rows = range(*slices[0])
    cols = range(*slices[1]) if len(slices) > 1 else range(a.shape[1])
    return np.array([[a[i, j] for j in cols if j < a.shape[1]] for i in rows if i < a.shape[0]])


def ref_cumsum_axis0(a):
    out = np.zeros_like(a)
    for i in range(a.shape[0]):
        out[i] = a[:i + 1].sum(axis=0)
    return out


def ref_layer_norm(a, w, b, eps):
    out = np.zeros_like(a)
    for i, row in enumerate(a):
        mu = sum(row) / len(row)
        var = sum((v - mu) ** 2 for v in row) / len(row)
        out[i] = [(v - mu) / math.sqrt(var + eps) * wk + bk for v, wk, bk in zip(row, w, b)]
    return out


def ref_rms_norm(a, w, eps):
    return np.array([[v / math.sqrt(sum(u * u for u in row) / len(row) + eps) * wk for v, wk in zip(row, w)]
                     for row in a])


def ref_attention(q, k, v, causal):
    out = np.zeros((len(q), v.shape[1]))
    for i in range(len(q)):
        keys = range(i + 1) if causal else range(len(k))
        w = [math.exp(sum(q[i] * k[j]) / math.sqrt(q.shape[1])) for j in keys]
        out[i] = sum(wj / sum(w) * v[j] for wj, j in zip(w, keys))
    return out


# (name, args, shapes of the variables, params, reference(*values))
OPS = [
    ("variance", (x,), {"x": (3, 4)}, {"axis": 1, "correction": 1}, lambda a: ref_variance(a, 1, 1)),
    ("variance", (x,), {"x": (2, 3)}, {"correction": 0, "keepdims": True},
     lambda a: ref_variance(a, None, 0, True)),
    ("std", (x,), {"x": (3, 4)}, {"axis": 0, "correction": 1, "keepdims": True},
     lambda a: np.sqrt(ref_variance(a, 0, 1, True))),
    ("norm", (x,), {"x": (3, 4)}, {"axis": -1}, lambda a: np.array([math.hypot(*row) for row in a])),
    ("norm", (x,), {"x": (2, 3)}, {}, lambda a: math.sqrt(sum(v * v for v in a.ravel()))),
    ("log_softmax", (x,), {"x": (3, 4)}, {"axis": 0}, lambda a: np.log(_softmax_rows(a.T)).T),
    ("log_softmax", (x,), {"x": (2, 3)}, {}, lambda a: np.log(_softmax_rows(a))),
    ("cross_entropy", (x, iconst([0, 2, 2])), {"x": (3, 4)}, {},
     lambda a: ref_cross_entropy(a, [0, 2, 2])),
    ("cross_entropy", (x, iconst([3, 1])), {"x": (2, 4)}, {"reduction": "sum"},
     lambda a: ref_cross_entropy(a, [3, 1], "sum")),
    ("gather", (x, iconst([[0, 2], [1, 1], [3, 3]])), {"x": (3, 4)}, {"axis": 1},
     lambda a: ref_gather_axis1(a, np.array([[0, 2], [1, 1], [3, 3]]))),
    ("gather", (x, iconst([[1, 0, 1]])), {"x": (2, 3)}, {"axis": 0},
     lambda a: np.array([[a[1, 0], a[0, 1], a[1, 2]]])),
    ("embedding", (x, iconst([[0, 2, 2], [1, 0, 0]])), {"x": (4, 3)}, {},
     lambda t: np.array([[t[i] for i in row] for row in [[0, 2, 2], [1, 0, 0]]])),
    ("slice", (x,), {"x": (4, 3)}, {"slices": ((1, 4, 2), (0, 2, 1))}, lambda a: ref_slice(a, ((1, 4, 2), (0, 2, 1)))),
    ("slice", (x,), {"x": (3, 2)}, {"slices": ((2, 9, 1),)}, lambda a: ref_slice(a, ((2, 9, 1),))),
    ("concat", (x, y), {"x": (2, 3), "y": (1, 3)}, {"axis": 0}, lambda a, b: np.vstack([a, b])),
    ("concat", (x, y), {"x": (2, 1), "y": (2, 2)}, {"axis": -1}, lambda a, b: np.hstack([a, b])),
    ("stack", (x, y), {"x": (2, 3), "y": (2, 3)}, {"axis": -1},
     lambda a, b: np.array([[[a[i, j], b[i, j]] for j in range(3)] for i in range(2)])),
    ("cumsum", (x,), {"x": (3, 2)}, {"axis": 0}, ref_cumsum_axis0),
    ("layer_norm", (x, y, z), {"x": (2, 3), "y": (3,), "z": (3,)}, {"eps": 1e-5},
     lambda a, w, b: ref_layer_norm(a, w, b, 1e-5)),
    ("rms_norm", (x, y), {"x": (2, 3), "y": (3,)}, {"eps": 1e-3}, lambda a, w: ref_rms_norm(a, w, 1e-3)),
    # ranks at the edges: scalars, vectors, rank 3
    ("variance", (x,), {"x": ()}, {}, lambda a: 0.0),
    ("norm", (x,), {"x": ()}, {}, abs),
    ("stack", (x, y), {"x": (), "y": ()}, {"axis": 0}, lambda a, b: np.array([a, b])),
    ("log_softmax", (x,), {"x": (2, 2)}, {"axis": None}, lambda a: a - np.log(np.exp(a).sum())),
    ("cumsum", (x,), {"x": (2, 2, 3)}, {"axis": -1},
     lambda a: np.stack([a[..., 0], a[..., 0] + a[..., 1], a[..., 0] + a[..., 1] + a[..., 2]], axis=-1)),
    ("layer_norm", (x, y, z), {"x": (3,), "y": (3,), "z": (3,)}, {},
     lambda a, w, b: ref_layer_norm(a[None], w, b, 1e-5)[0]),
    ("rms_norm", (x, y), {"x": (2, 1, 3), "y": (3,)}, {}, lambda a, w: ref_rms_norm(a[:, 0], w, 1e-5)[:, None]),
    ("attention", (x, y, z), {"x": (3, 2), "y": (3, 2), "z": (3, 4)}, {"causal": True},
     lambda q, k, v: ref_attention(q, k, v, True)),
    ("attention", (x, y, z), {"x": (2, 2), "y": (3, 2), "z": (3, 4)}, {"causal": False},
     lambda q, k, v: ref_attention(q, k, v, False)),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(OPS)]


def _point(shapes_, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in shapes_.items()}


def _args(args, point):
    return [point[a.arg] if a.op == "var" else iconst_value(a) for a in args]


def _vjp(name, args, point, params, g):
    """The table's cotangent per variable, reduced to the variable's shape as the engine does."""
    spec = TENSOR_OPS[name]
    xs = _args(args, point)
    ans = spec.forward(xs, **params)
    cots = spec.vjp(xs, ans, g, **params)
    return {a.arg: array.unbroadcast(c, point[a.arg].shape) for a, c in zip(args, cots) if a.op == "var"}, cots


@pytest.mark.parametrize("name,args,shapes_,params,reference", OPS, ids=IDS)
def test_forward_is_the_reference(name, args, shapes_, params, reference):
    point = _point(shapes_)
    out = tapply(name, *args, **params)
    got = forward(out, point)[out]
    assert got.shape == shapes(out, point)[out]
    np.testing.assert_allclose(got, reference(*(point[a.arg] for a in args if a.op == "var")), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,args,shapes_,params,reference", OPS, ids=IDS)
def test_vjp_is_the_finite_difference_of_the_forward(name, args, shapes_, params, reference):
    point = _point(shapes_, 1)
    spec = TENSOR_OPS[name]
    out = tapply(name, *args, **params)
    g = np.resize(COTANGENT, shapes(out, point)[out])
    grads, cots = _vjp(name, args, point, params, g)
    assert all(c is None for a, c in zip(args, cots) if a.op == "iconst")
    h = 1e-6
    for v, grad in grads.items():
        fd = np.zeros_like(grad)
        for i in np.ndindex(grad.shape):
            def f(step):
                p = {**point, v: point[v].copy()}
                p[v][i] += step
                return float(np.sum(spec.forward(_args(args, p), **params) * g))
            fd[i] = (f(h) - f(-h)) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7, err_msg=f"{name} d/d{v}")


@pytest.mark.parametrize("name,args,shapes_,params,reference", OPS, ids=IDS)
def test_vjp_agrees_with_the_lowered_scalar_program(name, args, shapes_, params, reference):
    point = _point(shapes_, 2)
    out = tapply(name, *args, **params)
    g = np.resize(COTANGENT, shapes(out, point)[out])
    case = Case(reduce_with(out, g), point)
    ref = tensor_reference(case)
    assert ref.status == "ok", ref.scalar.reason
    grads, _ = _vjp(name, args, point, params, g)
    names = sorted(grads)
    value = float(forward(case.expr, point)[case.expr])
    verdict = tensor_judge(ref, EngineRun("ok", tuple(grads[n] for n in names), value))
    assert verdict.kind == "agree", verdict.reason
    # the judge is not blind: one element off by 1e-3 is a mismatch
    off = {n: grads[n].copy() for n in names}
    off[names[0]][(0,) * off[names[0]].ndim] += 1e-3
    assert tensor_judge(ref, EngineRun("ok", tuple(off[n] for n in names), value)).kind == "mismatch"


def test_embedding_accumulates_repeated_indices():
    table = np.arange(6.0).reshape(3, 2)
    idx = np.array([1, 1, 0, 1])
    g = np.arange(8.0).reshape(4, 2)
    grad, none = TENSOR_OPS["embedding"].vjp([table, idx], table[idx], g)
    assert none is None
    np.testing.assert_array_equal(grad, [[4.0, 5.0], [0 + 2 + 6, 1 + 3 + 7], [0.0, 0.0]])
    # an engine that assigns (= instead of +=) loses two of the three: the check says so
    def assign(xs, ans, g):
        z = np.zeros(xs[0].shape)
        z[xs[1]] = g
        return [z, None]
    engine = BuiltinArrayEngine()
    engine.ops["embedding"] = array.make_array_op(replace(TENSOR_OPS["embedding"], vjp=assign))
    case = Case(reduce_with(tapply("embedding", x, iconst(idx)), g), {"x": table})
    with Checker(engine, None, tensor=True) as checker:
        verdict = checker.check(case)
    assert verdict.kind == "mismatch" and "x[1, " in verdict.reason, verdict.reason


def test_the_array_engine_keeps_integer_inputs_out_of_the_graph():
    table = array.Array(np.ones((3, 2)))
    out = array.ARRAY_OPS["embedding"](table, np.array([2, 0, 2]))
    assert out.args == (table,) and out.value.shape == (3, 2)
    grads = array.backward_reverse(array.ARRAY_OPS["sum"](out))
    np.testing.assert_array_equal(grads[id(table)], [[1, 1], [0, 0], [2, 2]])


# ── integer leaves in the IR ─────────────────────────────────────────────────────────────
def test_iconst_is_an_interned_integer_leaf_shown_as_indices():
    a = iconst([0, 2, 2])
    assert a is iconst(np.array([0, 2, 2], dtype=np.int32)) and a.is_leaf
    assert iconst_value(a).dtype == np.int64 and iconst_value(a).tolist() == [0, 2, 2]
    out = tapply("cross_entropy", tapply("matmul", x, y), a)
    assert show(out) == "cross_entropy(matmul(x, y), int[0, 2, 2])"
    assert show_steps(out)[-1] == "%2 = cross_entropy(%1, int[0, 2, 2])"
    assert show(iconst(np.zeros((3, 4), dtype=int))) == "int3x4"
    with pytest.raises(ValueError, match="integers"):
        iconst([0.5, 1.0])


def test_a_drawn_graph_labels_indices_by_their_values():
    from verifier.report.graph import from_expr
    doc = expr_to_json(tapply("embedding", x, iconst([1, 1, 0])))
    g = from_expr(doc)
    assert g.ops[1] == "const" and g.labels[1] == "int [1, 1, 0]"
    assert from_expr(expr_to_json(tapply("embedding", x, iconst(np.zeros((3, 3), dtype=int))))).labels[1] == "int 3×3"


@pytest.mark.parametrize("build,message", [
    (lambda: tapply("cross_entropy", x, y), "integer constant"),
    (lambda: tapply("add", x, iconst([1])), "takes floats"),
    (lambda: tapply("gather", iconst([[1]]), iconst([[0]]), axis=0), "takes floats"),
    (lambda: tapply("variance", x, correction=2), "correction must be 0 or 1"),
    (lambda: tapply("cross_entropy", x, iconst([0]), reduction="max"), "reduction must be"),
    (lambda: tapply("layer_norm", x, y, z, eps=0.0), "eps must be a positive"),
    (lambda: tapply("rms_norm", x, y, eps=float("inf")), "eps must be a positive"),
    (lambda: tapply("attention", x, y, z, causal=1), "causal must be true or false"),
    (lambda: tapply("slice", x, slices=((0, 2, 0),)), "step >= 1"),
    (lambda: tapply("slice", x, slices=((-1, 2, 1),)), "triples"),
])
def test_bad_arguments_and_parameters_are_param_errors(build, message):
    with pytest.raises(ParamError, match=message):
        build()


@pytest.mark.parametrize("out,point,message", [
    (tapply("cross_entropy", x, iconst([0, 4])), {"x": np.ones((2, 4))}, r"targets must lie in \[0, 4\)"),
    (tapply("cross_entropy", x, iconst([0, 1, 1])), {"x": np.ones((2, 4))}, "targets"),
    (tapply("gather", x, iconst([[0, 3]]), axis=1), {"x": np.ones((1, 3))}, "indices must lie"),
    (tapply("gather", x, iconst([0, 1]), axis=0), {"x": np.ones((2, 2))}, "rank of x"),
    (tapply("embedding", x, iconst([-1])), {"x": np.ones((2, 2))}, "indices must lie"),
    (tapply("attention", x, y, z, causal=True), {"x": np.ones((2, 2)), "y": np.ones((3, 2)), "z": np.ones((3, 1))},
     "causal needs as many queries as keys"),
    (tapply("variance", x, axis=0, correction=1), {"x": np.ones((1, 3))}, "more than 1"),
    (tapply("concat", x, y), {"x": np.ones(2), "y": np.ones(2)}, "axis must be an integer"),
    (tapply("concat", x, y, axis=0), {"x": np.ones((2, 2)), "y": np.ones((2, 3))}, "differ off axis"),
    (tapply("cumsum", x, axis=1), {"x": np.ones(2)}, "axis must be an integer"),
    (tapply("slice", x, slices=((3, 5, 1),)), {"x": np.ones(3)}, "empty"),
    (tapply("layer_norm", x, y, z), {"x": np.ones((2, 3)), "y": np.ones(3), "z": np.ones(2)}, "bias"),
])
def test_shapes_and_indices_that_do_not_fit_are_param_errors(out, point, message):
    with pytest.raises(ParamError, match=message):
        shapes(out, point)
    with pytest.raises(ParamError, match=message):
        forward(out, point)


# ── JSON ─────────────────────────────────────────────────────────────────────────────────
def _every_param_program():
    ce = tapply("cross_entropy", tapply("matmul", x, y), iconst([0, 2]), reduction="sum")
    att = tapply("attention", x, x, x, causal=True)
    ln = tapply("layer_norm", att, tapply("slice", z, slices=((0, 2, 1),)), tapply("slice", z, slices=((1, 3, 1),)),
                eps=1e-5)
    emb = tapply("embedding", x, iconst([[1, 1], [0, 1]]))
    parts = [ce, tapply("std", ln, axis=0, correction=1, keepdims=True), tapply("variance", att, correction=0),
             tapply("norm", emb, axis=-1), tapply("rms_norm", x, tapply("slice", z, slices=((1, 3, 1),)), eps=0.25),
             tapply("gather", tapply("log_softmax", att, axis=1), iconst([[1, 0], [0, 0]]), axis=1),
             tapply("cumsum", tapply("stack", z, z, axis=0), axis=1), tapply("concat", x, x, axis=1)]
    total = parts[0]
    for p in parts[1:]:
        total = tapply("add", total, tapply("sum", p))
    return total


def test_iconst_and_every_new_parameter_round_trip_exactly():
    out = _every_param_program()
    text = json.dumps(expr_to_json(out))
    assert '{"op": "iconst", "shape": [2], "values": [0, 2]}' in text and '"slices": [[0, 2, 1]]' in text
    assert expr_from_json(loads(text)) is out
    point = {"x": np.ones((2, 2)) * [[0.5, -1.0]], "y": np.ones((2, 3)), "z": np.array([1.0, 2.0, -0.5])}
    assert np.isfinite(forward(out, point)[out])


def _doc(*nodes):
    return {"format": "adverify-expr", "version": 1, "nodes": [{"op": "var", "name": "x"}, *nodes],
            "output": len(nodes)}


@pytest.mark.parametrize("doc,message", [
    (_doc({"op": "iconst", "shape": [2], "values": [0, 1.5]}), "integers"),
    (_doc({"op": "iconst", "shape": [2], "values": [0, True]}), "integers"),
    (_doc({"op": "iconst", "shape": [3], "values": [0, 1]}), "shape must list"),
    (_doc({"op": "iconst", "shape": [1], "values": [2 ** 40]}), "within"),
    (_doc({"op": "iconst", "shape": [], "values": []}), "non-empty"),
    (_doc({"op": "iconst", "shape": [1], "values": [0], "dtype": "int8"}), "unknown field"),
    (_doc({"op": "iconst", "shape": [1], "values": [0]}, {"op": "cross_entropy", "args": [0, 1],
                                                          "params": {"reduction": "none"}}), "reduction"),
    (_doc({"op": "std", "args": [0], "params": {"correction": True}}), "correction"),
    (_doc({"op": "slice", "args": [0], "params": {"slices": [[0, 2]]}}), "triples"),
    (_doc({"op": "cross_entropy", "args": [0, 0]}), "integer constant"),
    (_doc({"op": "layer_norm", "args": [0, 0, 0], "params": {"eps": "1e-5"}}), "eps"),
])
def test_malformed_tensor_documents_are_refused_with_one_line(doc, message):
    with pytest.raises(FormatError, match=message) as e:
        expr_from_json(doc)
    assert "\n" not in str(e.value)


# ── real checks through the Checker ─────────────────────────────────────────────────────
W = var("W")
PROGRAMS = [
    (tapply("cross_entropy", tapply("matmul", x, W), iconst([0, 2, 2])), {"x": (3, 2), "W": (2, 3)}),
    (tapply("attention", x, y, z, causal=True), {"x": (3, 2), "y": (3, 2), "z": (3, 2)}),
    (tapply("layer_norm", x, y, z, eps=1e-5), {"x": (2, 3), "y": (3,), "z": (3,)}),
    (tapply("mul", tapply("rms_norm", x, y, eps=1e-5), tapply("std", x, axis=-1, keepdims=True)),
     {"x": (2, 3), "y": (3,)}),
    (tapply("exp", tapply("gather", tapply("log_softmax", tapply("matmul", x, W), axis=1), iconst([[2], [0]]),
                          axis=1)), {"x": (2, 2), "W": (2, 3)}),
    (tapply("norm", tapply("cumsum", tapply("concat", x, tapply("slice", y, slices=((1, 3, 1),)), axis=0), axis=0),
            axis=1), {"x": (1, 2), "y": (3, 2)}),
    (tapply("variance", tapply("stack", tapply("embedding", x, iconst([1, 1, 0])), y, axis=0), correction=1),
     {"x": (2, 2), "y": (3, 2)}),
    # one element per slice: the deviations are 0 identically, and the gradient through them
    (tapply("add", tapply("variance", x, axis=1, keepdims=True), tapply("layer_norm", x, y, z)),
     {"x": (2, 1), "y": (1,), "z": (1,)}),
]


@pytest.mark.parametrize("spec", ["builtin", "builtin-paths"])
def test_the_builtin_array_engines_agree_on_programs_of_the_new_ops(spec):
    kinds = []
    with Checker(load_engine(spec, tensor=True), None, tensor=True) as checker:
        for seed, (out, shapes_) in enumerate(PROGRAMS):
            point = _point(shapes_, seed)
            shape = forward(out, point)[out].shape
            case = Case(reduce_with(out, np.resize(COTANGENT, shape)) if shape else out, point)
            verdict = checker.check(case)
            kinds.append((show(out), verdict.kind, verdict.reason))
    assert all(kind == "agree" for _, kind, _ in kinds), kinds


@pytest.mark.parametrize("out,point", [
    (tapply("std", x, axis=1), {"x": np.array([[1.0, 1.0], [2.0, 3.0]])}),       # a row of equal values
    (tapply("std", x, axis=1, correction=0), {"x": np.array([[1.0], [2.0]])}),    # one element per row
    (tapply("norm", x, axis=0), {"x": np.array([[0.0, 1.0], [0.0, 2.0]])}),       # a zero column
])
def test_zero_variance_under_std_and_a_zero_norm_are_outside_the_domain(out, point):
    case = Case(reduce_with(out, np.resize(COTANGENT, forward(out, point)[out].shape)), point)
    with Checker(load_engine("builtin", tensor=True), None, tensor=True) as checker:
        verdict = checker.check(case)
    assert verdict.kind == "undecided" and verdict.cause == "outside-domain", verdict.reason


def _wrong_correction(xs, ans, g, axis=None, correction=0, keepdims=False):
    return TENSOR_OPS["variance"].vjp(xs, ans, g, axis=axis, correction=1 - correction, keepdims=keepdims)


@pytest.mark.parametrize("op", ["variance", "std", "layer_norm"])
def test_centring_that_cancels_is_judged_within_its_rounding_and_still_sees_a_wrong_rule(op):
    # x - mean(x) at 1e3 + O(1e-6): the backward pass reads deviations with a relative
    # error of 1e-7, which the lowered DAG's chain rule (exactly shift invariant) never sees
    point = {"x": 1e3 + 1e-6 * np.random.default_rng(2).normal(size=(2, 4)),
             "y": np.random.default_rng(11).normal(size=4), "z": np.zeros(4)}
    out = tapply("layer_norm", x, y, z, eps=1e-14) if op == "layer_norm" else tapply(op, x, axis=1, correction=1)
    case = Case(reduce_with(out, np.resize(COTANGENT, forward(out, point)[out].shape)), point)
    with Checker(load_engine("builtin", tensor=True), None, tensor=True) as checker:
        assert checker.check(case).kind == "agree"
    if op == "variance":
        engine = BuiltinArrayEngine()
        engine.ops["variance"] = array.make_array_op(replace(TENSOR_OPS["variance"], vjp=_wrong_correction))
        with Checker(engine, None, tensor=True) as checker:
            assert checker.check(case).kind == "mismatch"


@pytest.mark.parametrize("values", [[1.0, 1.0, 1.0], [0.1, 0.1, 0.1]])
def test_variance_of_equal_values_is_rounding_alone_and_undecided(values):
    case = Case(tapply("variance", x), {"x": np.array(values)})
    with Checker(load_engine("builtin", tensor=True), None, tensor=True) as checker:
        verdict = checker.check(case)
    assert verdict.kind == "undecided" and verdict.cause == "ill-conditioned", verdict.reason


def test_an_engine_that_calls_variance_var_is_asked_for_var():
    # in the IR "var" is a variable: the op is the node "variance", and engines, which call
    # it "var" (torch.var, np.var), are looked up under that name first
    engine = BuiltinArrayEngine()
    engine.ops["var"] = engine.ops.pop("variance")
    case = Case(reduce_with(tapply("var", x, axis=0, correction=1), np.array([1.0, -2.0])),
                {"x": np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.25]])})
    assert case.expr.src[0].src[0].op == "variance"
    with Checker(engine, None, tensor=True) as checker:
        assert checker.check(case).kind == "agree"
    engine.ops["var"] = array.make_array_op(replace(TENSOR_OPS["var"], vjp=_wrong_correction))
    with Checker(engine, None, tensor=True) as checker:
        assert checker.check(case).kind == "mismatch"
