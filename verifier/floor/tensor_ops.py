"""The tensor op table: structural ops, plus every scalar op lifted elementwise.

Each record knows its output shape, its numpy forward, how to lower onto element-level
scalar nodes (numpy object arrays of interned ``Node``s, so broadcasting and reductions
come from numpy itself), and its vector-Jacobian products for the builtin array engine.
A VJP returns the cotangent in the *broadcast* shape: reducing it back to the argument's
shape (unbroadcast) is done once, by the engine's backward pass, never inside a rule.

Integer arguments (cross_entropy's targets, gather's and embedding's indices: ``integer``)
are known values wherever they are read: numpy int64 arrays in the forward and the VJP
(whose cotangent for them is None), and at lowering time, where these ops just pick nodes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from verifier.floor.ir import apply, const
from verifier.floor.mathns import F64
from verifier.floor.ops import SCALAR_OPS, Op, UnknownOp

__all__ = ["TensorOp", "TENSOR_OPS", "STRUCTURAL", "ENGINE_NAMES", "IR_NAMES", "get_tensor_op", "normalize_params", "uf", "ParamError", "elementwise"]


class ParamError(ValueError):
    pass


def uf(op: str | Op, arity: int = 2):
    """A numpy ufunc over object arrays of scalar nodes: broadcasting and reduce for free."""
    return np.frompyfunc(lambda *a: apply(op, *a), arity, 1)


_ADD, _MUL, _MAX, _SUB, _DIV = uf("add"), uf("mul"), uf("maximum"), uf("sub"), uf("div")
_EXP, _LOG, _SQRT, _NEG = uf("exp", 1), uf("log", 1), uf("sqrt", 1), uf("neg", 1)


@dataclass(frozen=True)
class TensorOp:
    name: str
    arity: int
    shape: Callable[..., tuple]                 # (shapes, **params) -> output shape
    forward: Callable[..., np.ndarray]          # (arrays, **params) -> array
    lower: Callable[..., np.ndarray]            # (object arrays, values, **params) -> object array
    vjp: Callable[..., list]                    # (arrays, ans, g, **params) -> cotangent per arg
    params: Mapping[str, str] = field(default_factory=dict)   # name -> kind (see normalize_params)
    nondiff: tuple[int, ...] = ()               # arguments no gradient flows to (where's condition, indices)
    scalar: Op | None = None                    # the scalar record, for elementwise ops
    # arguments that are integer leaves (``iconst``: targets, indices), a subset of ``nondiff``:
    # engines get them as numpy int64 arrays, lowering reads their values
    integer: tuple[int, ...] = ()
    # (shapes, ints, **params): raises ParamError where the integer arguments' values do not fit
    # the shapes (an index out of range); ``ints`` holds the int64 arrays, None at float arguments
    check: Callable[..., None] | None = None
    where: str = ""      # the domain in words, for `adverify ops` and the docs


# ── elementwise: the scalar table, lifted ─────────────────────────────────────────────────
def elementwise(op: Op) -> TensorOp:
    lowered = uf(op, op.arity)

    def vjp(xs, ans, g):
        # a zero cotangent contributes exactly zero, even where the local derivative is NaN:
        # where(x > 0, sqrt(x), x) must not leak sqrt'(-1) through its unselected branch
        with np.errstate(all="ignore"):
            return [None if rule is None else np.where(g == 0, 0.0, g * rule(F64, *xs, ans))
                    for rule in op.partials]

    def forward(xs):
        with np.errstate(all="ignore"):
            return np.asarray(op.forward(F64, *xs), dtype=np.float64)

    return TensorOp(op.name, op.arity, lambda shapes: np.broadcast_shapes(*shapes), forward,
                    lambda xs, vals: lowered(*xs), vjp, scalar=op)


# ── reductions ───────────────────────────────────────────────────────────────────────────
def _axes(rank: int, axis):
    return tuple(range(rank)) if axis is None else (axis % rank,) if rank else ()


def _reduced(shape, axis=None, keepdims=False):
    axes = _axes(len(shape), axis)
    if axis is not None and not -len(shape) <= axis < max(len(shape), 1):
        raise ParamError(f"axis {axis} is out of range for shape {shape}")
    return tuple(1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes)


def _same(shape, axis):
    _reduced(shape, axis)   # validates the axis
    return tuple(shape)


def expand(g, shape, axis, keepdims):
    """A reduction's cotangent, put back into the input's shape."""
    if not keepdims:
        g = np.expand_dims(g, _axes(len(shape), axis))
    return np.broadcast_to(g, shape)


def _reduce(ufunc, xs, axis, keepdims):
    x = xs[0]
    if x.ndim == 0:
        return x
    shape = x.shape
    for a in sorted(_axes(x.ndim, axis), reverse=True):   # object ufuncs reduce one axis at a time
        x = ufunc.reduce(x, axis=a, keepdims=True)
    return x if keepdims else x.reshape(_reduced(shape, axis, False))


def _shift(x: np.ndarray, vals: np.ndarray, axis) -> np.ndarray:
    """Constant nodes holding each slice's float max: exp(x - c) without overflow. The
    shift is a constant, so the lowered function is exactly softmax / logsumexp."""
    c = np.max(vals, axis=_axes(vals.ndim, axis), keepdims=True) if vals.ndim else vals
    return np.frompyfunc(lambda v: const(float(v)), 1, 1)(np.broadcast_to(c, vals.shape))


def _softmax_np(x, axis):
    z = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def _lower_softmax(xs, vals, axis):
    c = _shift(xs[0], vals[0], axis)
    e = uf("exp", 1)(uf("sub")(xs[0], c))
    return uf("div")(e, _ADD.reduce(e, axis=axis % max(e.ndim, 1), keepdims=True)) if e.ndim else uf("div")(e, e)


def _lower_logsumexp(xs, vals, axis, keepdims):
    x = xs[0]
    if x.ndim == 0:
        return x
    c = _shift(x, vals[0], axis)
    e = uf("exp", 1)(uf("sub")(x, c))
    s = _reduce(_ADD, [e], axis, keepdims)
    return uf("add")(_first(c, axis, keepdims), uf("log", 1)(s))


def _first(c: np.ndarray, axis, keepdims):
    """The shift constants, one per reduced slice (they are equal along the axis)."""
    axes = _axes(c.ndim, axis)
    index = tuple(slice(0, 1) if i in axes else slice(None) for i in range(c.ndim))
    out = c[index]
    return out if keepdims else out.reshape(_reduced(c.shape, axis, False))


def _logsumexp_np(x, axis, keepdims):
    if x.ndim == 0:
        return x
    m = np.max(x, axis=_axes(x.ndim, axis), keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=_axes(x.ndim, axis), keepdims=True))
    return out if keepdims else out.reshape(_reduced(x.shape, axis, False))


def _max_vjp(xs, ans, g, axis=None, keepdims=False):
    x = xs[0]
    if x.ndim == 0:
        return [g]
    a = expand(ans, x.shape, axis, keepdims)
    mask = (x == a).astype(np.float64)
    # ties share the gradient equally (PyTorch's amax convention): a subgradient
    share = mask / np.sum(mask, axis=_axes(x.ndim, axis), keepdims=True)
    return [share * expand(g, x.shape, axis, keepdims)]


# ── shape ops ────────────────────────────────────────────────────────────────────────────
def _transpose_shape(shape, axes=None):
    axes = tuple(reversed(range(len(shape)))) if axes is None else axes
    if sorted(axes) != list(range(len(shape))):
        raise ParamError(f"axes {axes} are not a permutation of {len(shape)} axes")
    return tuple(shape[a] for a in axes)


def _inverse(axes, rank):
    axes = tuple(reversed(range(rank))) if axes is None else axes
    return tuple(np.argsort(axes))


def _reshape_shape(shape, shape_to):
    if int(np.prod(shape, dtype=np.int64)) != int(np.prod(shape_to, dtype=np.int64)):
        raise ParamError(f"cannot reshape {shape} to {shape_to}")
    return tuple(shape_to)


def _broadcast_shape(shape, shape_to):
    if np.broadcast_shapes(shape, tuple(shape_to)) != tuple(shape_to):
        raise ParamError(f"cannot broadcast {shape} to {shape_to}")
    return tuple(shape_to)


def _matmul_shape(a, b):
    if len(a) != 2 or len(b) != 2 or a[1] != b[0]:
        raise ParamError(f"matmul needs (m, k) @ (k, n), got {a} @ {b}")
    return (a[0], b[1])


def _lower_matmul(xs, vals):
    a, b = xs
    return _ADD.reduce(_MUL(a[:, :, None], b[None, :, :]), axis=1)


def _where_shape(c, a, b):
    return np.broadcast_shapes(c, a, b)


def _where_np(xs):
    c, a, b = np.broadcast_arrays(*xs)
    return np.where(c > 0, a, b)


def _lower_where(xs, vals):
    c, a, b = np.broadcast_arrays(vals[0], xs[1], xs[2])
    out = np.empty(c.shape, dtype=object)
    for i in np.ndindex(c.shape):
        out[i] = a[i] if c[i] > 0 else b[i]   # the unselected branch is not in the function
    return out


def _where_vjp(xs, ans, g):
    c = np.broadcast_to(xs[0], g.shape) > 0
    return [None, np.where(c, g, 0.0), np.where(c, 0.0, g)]


# ── statistics, normalisation, indexing, attention (issue #17) ───────────────────────────
def _obj(a) -> np.ndarray:
    """An object array even where numpy's object ufuncs return a bare node (0-d inputs)."""
    return np.asarray(a, dtype=object)


def _count(shape, axis) -> int:
    return int(np.prod([shape[a] for a in _axes(len(shape), axis)], dtype=np.int64))


def _int_axis(name: str, shape, axis, extra: int = 0) -> int:
    """An integer axis of a rank ``len(shape) + extra`` result (stack adds one), made >= 0."""
    rank = len(shape) + extra
    if axis is None or not -rank <= axis < rank:
        raise ParamError(f"{name}: axis must be an integer in [{-rank}, {rank}) for shape {tuple(shape)}, got {axis}")
    return axis % rank


def _in_range(name: str, what: str, values: np.ndarray, bound: int) -> None:
    if values.size and (values.min() < 0 or values.max() >= bound):
        raise ParamError(f"{name}: {what} must lie in [0, {bound}), got values from {values.min()} to {values.max()}")


def _sum_np(a, axis, keepdims):
    return np.sum(a, axis=_axes(a.ndim, axis), keepdims=keepdims) if a.ndim else a


def _mean_np(a, axis, keepdims):
    return np.mean(a, axis=_axes(a.ndim, axis), keepdims=keepdims) if a.ndim else a


def _var_shape(shapes, axis=None, correction=0, keepdims=False):
    out = _reduced(shapes[0], axis, keepdims)
    if _count(shapes[0], axis) <= correction:
        raise ParamError(f"variance/std with correction {correction} need more than {correction} element(s) "
                         f"to reduce, shape {tuple(shapes[0])} axis {axis}")
    return out


def _var_np(xs, axis=None, correction=0, keepdims=False):
    x = xs[0]
    return np.var(x, axis=_axes(x.ndim, axis), ddof=correction, keepdims=keepdims) if x.ndim else np.zeros_like(x)


def _deviations(x: np.ndarray, axis) -> np.ndarray:
    """x - mean(x) as nodes; over a single element that is 0, identically: a constant, so
    the function does not seem to read x (x - x/1 would leave its judge a 0 to round)."""
    n = _count(x.shape, axis)
    if n == 1:
        return np.full(x.shape, const(0.0), dtype=object)
    return _obj(_SUB(x, _DIV(_reduce(_ADD, [x], axis, True), const(float(n)))))


def _lower_var(xs, vals, axis=None, correction=0, keepdims=False):
    x = _obj(xs[0])
    d = _deviations(x, axis)
    return _DIV(_reduce(_ADD, [_obj(_MUL(d, d))], axis, keepdims), const(float(_count(x.shape, axis) - correction)))


def _centred(x, axis):
    return x - _mean_np(x, axis, True)


def _var_vjp(xs, ans, g, axis=None, correction=0, keepdims=False):
    x = xs[0]
    return [expand(g, x.shape, axis, keepdims) * (2.0 / (_count(x.shape, axis) - correction)) * _centred(x, axis)]


def _std_vjp(xs, ans, g, axis=None, correction=0, keepdims=False):
    # d std = d var / (2 std): infinite where the variance is 0, outside the domain
    x = xs[0]
    return [expand(g / ans, x.shape, axis, keepdims) * _centred(x, axis) / (_count(x.shape, axis) - correction)]


def _norm_np(xs, axis=None, keepdims=False):
    return np.sqrt(_sum_np(xs[0] * xs[0], axis, keepdims))


def _lower_norm(xs, vals, axis=None, keepdims=False):
    x = _obj(xs[0])
    return _SQRT(_reduce(_ADD, [_obj(_MUL(x, x))], axis, keepdims))


def _log_softmax_np(x, axis=-1):
    if x.ndim == 0:
        return np.zeros_like(x)
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _lower_log_softmax(xs, vals, axis=-1):
    # x - c - log Σ e^(x - c) is x - logsumexp(x) for any constant c: the shift is exact
    s = _obj(_SUB(xs[0], _shift(xs[0], vals[0], axis)))
    return _SUB(s, _LOG(_reduce(_ADD, [_obj(_EXP(s))], axis, True)))


def _ints(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def _ce_shape(shapes, reduction="mean"):
    logits, targets = map(tuple, shapes)
    if len(logits) != 2 or targets != logits[:1]:
        raise ParamError(f"cross_entropy needs logits (N, C) and targets (N,), got {logits} and {targets}")
    return ()


def _ce_np(xs, reduction="mean"):
    logits, t = xs[0], _ints(xs[1])
    picked = -_log_softmax_np(logits, 1)[np.arange(len(t)), t]
    return np.asarray(np.mean(picked) if reduction == "mean" else np.sum(picked))


def _lower_ce(xs, vals, reduction="mean"):
    t = _ints(vals[1])
    picked = _obj(_lower_log_softmax(xs[:1], vals[:1], 1))[np.arange(len(t)), t]
    total = _NEG(_reduce(_ADD, [picked], None, False))
    return _DIV(total, const(float(len(t)))) if reduction == "mean" else total


def _ce_vjp(xs, ans, g, reduction="mean"):
    logits, t = xs[0], _ints(xs[1])
    d = _softmax_np(logits, 1)
    d[np.arange(len(t)), t] -= 1.0           # softmax minus the one-hot target
    return [(g / len(t) if reduction == "mean" else g) * d, None]


def _gather_shape(shapes, axis=None):
    x, idx = map(tuple, shapes)
    a = _int_axis("gather", x, axis)
    if len(idx) != len(x) or 0 in idx or any(i != d for k, (i, d) in enumerate(zip(idx, x)) if k != a):
        raise ParamError(f"gather: indices {idx} must have the rank of x {x} and its sizes off axis {axis}")
    return idx


def _along(idx: np.ndarray, axis: int) -> tuple:
    """The full index of take_along_axis: ``idx`` on ``axis``, every position elsewhere."""
    grid = list(np.indices(idx.shape, sparse=True))
    grid[axis] = idx
    return tuple(grid)


def _scatter_add(shape, index, g) -> np.ndarray:
    # np.add.at accumulates where an index repeats; z[index] += g would keep only the last
    z = np.zeros(shape)
    np.add.at(z, index, g)
    return z


def _gather_vjp(xs, ans, g, axis=None):
    x = xs[0]
    return [_scatter_add(x.shape, _along(_ints(xs[1]), axis % x.ndim), g), None]


def _embedding_shape(shapes):
    table, idx = map(tuple, shapes)
    if len(table) != 2 or len(idx) not in (1, 2) or 0 in idx:
        raise ParamError(f"embedding needs a table (V, D) and indices of rank 1 or 2, got {table} and {idx}")
    return idx + table[1:]


def _slice_index(slices) -> tuple:
    return tuple(slice(*t) for t in slices)


def _slice_shape(shapes, slices=None):
    shape = list(shapes[0])
    if slices is None or not 1 <= len(slices) <= len(shape):
        raise ParamError(f"slice: needs one to {len(shape)} (start, stop, step) triples for shape {tuple(shape)}")
    for k, t in enumerate(slices):
        shape[k] = len(range(*slice(*t).indices(shape[k])))
        if not shape[k]:
            raise ParamError(f"slice: {t[0]}:{t[1]}:{t[2]} of an axis of size {shapes[0][k]} is empty")
    return tuple(shape)


def _slice_vjp(xs, ans, g, slices=None):
    z = np.zeros(xs[0].shape)
    z[_slice_index(slices)] = g             # steps >= 1: no element is taken twice
    return [z]


def _concat_shape(shapes, axis=None):
    a, b = map(tuple, shapes)
    k = _int_axis("concat", a, axis)
    if len(a) != len(b) or a[:k] + a[k + 1:] != b[:k] + b[k + 1:]:
        raise ParamError(f"concat: shapes {a} and {b} differ off axis {axis}")
    return a[:k] + (a[k] + b[k],) + a[k + 1:]


def _stack_shape(shapes, axis=None):
    a, b = map(tuple, shapes)
    k = _int_axis("stack", a, axis, extra=1)
    if a != b:
        raise ParamError(f"stack: shapes {a} and {b} differ")
    return a[:k] + (2,) + a[k:]


def _stack_vjp(xs, ans, g, axis=None):
    k = axis % g.ndim
    return [np.take(g, 0, axis=k), np.take(g, 1, axis=k)]


def _cumsum_shape(shapes, axis=None):
    _int_axis("cumsum", shapes[0], axis)
    return tuple(shapes[0])


def _cumsum_vjp(xs, ans, g, axis=None):
    return [np.flip(np.cumsum(np.flip(g, axis), axis), axis)]    # a suffix sum


def _norm_shape(name: str, x, params: dict) -> tuple:
    """layer_norm / rms_norm: x of rank >= 1, every parameter vector of x's last size."""
    x = tuple(x)
    if not x or any(tuple(p) != x[-1:] for p in params.values()):
        raise ParamError(f"{name}: x must have rank >= 1 and {', '.join(params)} shape (D,) with D its last size, "
                         f"got x {x}, " + ", ".join(f"{k} {tuple(v)}" for k, v in params.items()))
    return x


def _layer_norm_np(xs, eps=1e-5):
    x, w, b = xs
    d = _centred(x, -1)
    return d / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + eps) * w + b


def _lower_layer_norm(xs, vals, eps=1e-5):
    x, w, b = map(_obj, xs)
    d = _deviations(x, -1)
    r = _SQRT(_ADD(_DIV(_reduce(_ADD, [_obj(_MUL(d, d))], -1, True), const(float(x.shape[-1]))), const(eps)))
    return _ADD(_MUL(_DIV(d, r), w), b)


def _layer_norm_vjp(xs, ans, g, eps=1e-5):
    x, w, b = xs
    d = _centred(x, -1)
    rstd = 1.0 / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + eps)
    xhat, h = d * rstd, g * w
    dx = rstd * (h - np.mean(h, axis=-1, keepdims=True) - xhat * np.mean(h * xhat, axis=-1, keepdims=True))
    return [dx, g * xhat, g]     # weight's and bias's in x's shape: unbroadcast sums the rows


def _rms(x, eps):
    return np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def _lower_rms_norm(xs, vals, eps=1e-5):
    x, w = map(_obj, xs)
    ms = _DIV(_reduce(_ADD, [_obj(_MUL(x, x))], -1, True), const(float(x.shape[-1])))
    return _MUL(_DIV(x, _SQRT(_ADD(ms, const(eps)))), w)


def _rms_norm_vjp(xs, ans, g, eps=1e-5):
    x, w = xs
    r = _rms(x, eps)
    h, xhat = g * w, x / r
    # in terms of x/r, not x/r³: r³ overflows where x is 1e103 and every term is a normal number
    return [(h - xhat * np.mean(h * xhat, axis=-1, keepdims=True)) / r, g * xhat]


def _attention_shape(shapes, causal=False):
    q, k, v = map(tuple, shapes)
    if len(q) != 2 or len(k) != 2 or len(v) != 2 or q[1] != k[1] or k[0] != v[0]:
        raise ParamError(f"attention needs q (T, d), k (S, d), v (S, e), got {q}, {k}, {v}")
    if causal and q[0] != k[0]:
        raise ParamError(f"attention: causal needs as many queries as keys, got T={q[0]}, S={k[0]}")
    return (q[0], v[1])


def _allowed(t: int, s: int, causal: bool) -> np.ndarray:
    return np.tril(np.ones((t, s), dtype=bool)) if causal else np.ones((t, s), dtype=bool)


def _scores(q, k):
    return q @ k.T / math.sqrt(q.shape[1])


def _attention_probs(q, k, causal):
    s = np.where(_allowed(len(q), len(k), causal), _scores(q, k), -np.inf)
    return _softmax_np(s, -1)        # every row keeps its diagonal (or all keys): a finite max


def _lower_attention(xs, vals, causal=False):
    q, k, v = map(_obj, xs)
    scores = _obj(_DIV(_lower_matmul([q, k.T], None), const(math.sqrt(q.shape[1]))))
    shift = _scores(vals[0], vals[1])
    allowed = _allowed(len(q), len(k), causal)
    out = np.empty((len(q), v.shape[1]), dtype=object)
    for i in range(len(q)):
        js = np.flatnonzero(allowed[i])    # masked keys are not in the function at all
        e = _obj(_EXP(_SUB(scores[i, js], const(float(np.max(shift[i, js]))))))
        p = _obj(_DIV(e, _ADD.reduce(e)))
        out[i] = _ADD.reduce(_MUL(p[:, None], v[js]), axis=0)
    return out


def _attention_vjp(xs, ans, g, causal=False):
    q, k, v = xs
    p = _attention_probs(q, k, causal)
    dp = g @ v.T
    ds = p * (dp - np.sum(dp * p, axis=1, keepdims=True)) / math.sqrt(q.shape[1])   # masked: p = 0
    return [ds @ k, ds.T @ q, p.T @ g]


_REDUCE_PARAMS = {"axis": "axis", "keepdims": "keepdims"}
_VAR_PARAMS = {"axis": "axis", "correction": "correction", "keepdims": "keepdims"}

_VOCABULARY_17 = [
    TensorOp("variance", 1, _var_shape, _var_np, _lower_var, _var_vjp, _VAR_PARAMS),
    TensorOp("std", 1, _var_shape, lambda xs, **p: np.sqrt(_var_np(xs, **p)),
             lambda xs, vals, **p: _SQRT(_lower_var(xs, vals, **p)), _std_vjp, _VAR_PARAMS),
    TensorOp("norm", 1, lambda shapes, axis=None, keepdims=False: _reduced(shapes[0], axis, keepdims), _norm_np,
             _lower_norm, lambda xs, ans, g, axis=None, keepdims=False: [
                 expand(g / ans, xs[0].shape, axis, keepdims) * xs[0]], _REDUCE_PARAMS),
    TensorOp("log_softmax", 1, lambda shapes, axis=-1: _same(shapes[0], axis),
             lambda xs, axis=-1: _log_softmax_np(xs[0], axis), _lower_log_softmax,
             lambda xs, ans, g, axis=-1: [g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True)],
             {"axis": "axis"}),
    TensorOp("cross_entropy", 2, _ce_shape, _ce_np, _lower_ce, _ce_vjp, {"reduction": "reduction"},
             nondiff=(1,), integer=(1,),
             check=lambda shapes, ints, **p: _in_range("cross_entropy", "targets", ints[1], shapes[0][1])),
    TensorOp("gather", 2, _gather_shape,
             lambda xs, axis=None: np.take_along_axis(xs[0], _ints(xs[1]), axis),
             lambda xs, vals, axis=None: np.take_along_axis(xs[0], _ints(vals[1]), axis),
             _gather_vjp, {"axis": "axis"}, nondiff=(1,), integer=(1,),
             check=lambda shapes, ints, axis=None: _in_range("gather", "indices", ints[1], shapes[0][axis])),
    TensorOp("embedding", 2, _embedding_shape, lambda xs: xs[0][_ints(xs[1])],
             lambda xs, vals: xs[0][_ints(vals[1])],
             lambda xs, ans, g: [_scatter_add(xs[0].shape, _ints(xs[1]), g), None], nondiff=(1,), integer=(1,),
             check=lambda shapes, ints: _in_range("embedding", "indices", ints[1], shapes[0][0])),
    TensorOp("slice", 1, _slice_shape, lambda xs, slices=None: xs[0][_slice_index(slices)].copy(),
             lambda xs, vals, slices=None: xs[0][_slice_index(slices)], _slice_vjp, {"slices": "slices"}),
    TensorOp("concat", 2, _concat_shape, lambda xs, axis=None: np.concatenate(xs, axis),
             lambda xs, vals, axis=None: np.concatenate(xs, axis),
             lambda xs, ans, g, axis=None: np.split(g, [xs[0].shape[axis]], axis), {"axis": "axis"}),
    TensorOp("stack", 2, _stack_shape, lambda xs, axis=None: np.stack(xs, axis),
             lambda xs, vals, axis=None: np.stack(xs, axis), _stack_vjp, {"axis": "axis"}),
    TensorOp("cumsum", 1, _cumsum_shape, lambda xs, axis=None: np.cumsum(xs[0], axis),
             lambda xs, vals, axis=None: _ADD.accumulate(xs[0], axis=axis), _cumsum_vjp, {"axis": "axis"}),
    TensorOp("layer_norm", 3, lambda shapes, eps=1e-5: _norm_shape("layer_norm", shapes[0],
                                                                   {"weight": shapes[1], "bias": shapes[2]}),
             _layer_norm_np, _lower_layer_norm, _layer_norm_vjp, {"eps": "eps"}),
    TensorOp("rms_norm", 2, lambda shapes, eps=1e-5: _norm_shape("rms_norm", shapes[0], {"weight": shapes[1]}),
             lambda xs, eps=1e-5: xs[0] / _rms(xs[0], eps) * xs[1], _lower_rms_norm, _rms_norm_vjp, {"eps": "eps"}),
    TensorOp("attention", 3, _attention_shape, lambda xs, causal=False: _attention_probs(xs[0], xs[1], causal) @ xs[2],
             _lower_attention, _attention_vjp, {"causal": "causal"}),
]


_SUM = TensorOp(
    "sum", 1, lambda shapes, axis=None, keepdims=False: _reduced(shapes[0], axis, keepdims),
    lambda xs, axis=None, keepdims=False: np.asarray(np.sum(xs[0], axis=_axes(xs[0].ndim, axis) or None, keepdims=keepdims) if xs[0].ndim else xs[0]),
    lambda xs, vals, axis=None, keepdims=False: _reduce(_ADD, xs, axis, keepdims),
    lambda xs, ans, g, axis=None, keepdims=False: [expand(g, xs[0].shape, axis, keepdims)],
    {"axis": "axis", "keepdims": "keepdims"})

STRUCTURAL: dict[str, TensorOp] = {op.name: op for op in [
    _SUM,
    TensorOp("mean", 1, _SUM.shape,
             lambda xs, axis=None, keepdims=False: np.asarray(np.mean(xs[0], axis=_axes(xs[0].ndim, axis) or None, keepdims=keepdims) if xs[0].ndim else xs[0]),
             lambda xs, vals, axis=None, keepdims=False: uf("div")(
                 _reduce(_ADD, xs, axis, keepdims),
                 const(float(np.prod([xs[0].shape[a] for a in _axes(xs[0].ndim, axis)], dtype=np.int64)))),
             lambda xs, ans, g, axis=None, keepdims=False: [
                 expand(g, xs[0].shape, axis, keepdims)
                 / max(1, int(np.prod([xs[0].shape[a] for a in _axes(xs[0].ndim, axis)], dtype=np.int64)))],
             {"axis": "axis", "keepdims": "keepdims"}),
    TensorOp("max_reduce", 1, _SUM.shape,
             lambda xs, axis=None, keepdims=False: np.asarray(np.max(xs[0], axis=_axes(xs[0].ndim, axis) or None, keepdims=keepdims) if xs[0].ndim else xs[0]),
             lambda xs, vals, axis=None, keepdims=False: _reduce(_MAX, xs, axis, keepdims),
             _max_vjp, {"axis": "axis", "keepdims": "keepdims"}),
    TensorOp("logsumexp", 1, _SUM.shape,
             lambda xs, axis=None, keepdims=False: np.asarray(_logsumexp_np(xs[0], axis, keepdims)),
             lambda xs, vals, axis=None, keepdims=False: _lower_logsumexp(xs, vals, axis, keepdims),
             lambda xs, ans, g, axis=None, keepdims=False: [
                 expand(g, xs[0].shape, axis, keepdims)
                 * np.exp(xs[0] - expand(ans, xs[0].shape, axis, keepdims))],   # d lse = softmax
             {"axis": "axis", "keepdims": "keepdims"}),
    TensorOp("softmax", 1, lambda shapes, axis=-1: _same(shapes[0], axis),
             lambda xs, axis=-1: _softmax_np(xs[0], axis) if xs[0].ndim else np.ones_like(xs[0]),
             lambda xs, vals, axis=-1: _lower_softmax(xs, vals, axis),
             # y ⊙ (g - Σ g⊙y): the cross term is the Σ
             lambda xs, ans, g, axis=-1: [ans * (g - np.sum(g * ans, axis=axis, keepdims=True))
                                          if ans.ndim else np.zeros_like(g)],
             {"axis": "axis"}),
    TensorOp("matmul", 2, lambda shapes: _matmul_shape(*shapes), lambda xs: xs[0] @ xs[1], _lower_matmul,
             lambda xs, ans, g: [g @ xs[1].T, xs[0].T @ g]),
    TensorOp("transpose", 1, lambda shapes, axes=None: _transpose_shape(shapes[0], axes),
             lambda xs, axes=None: np.transpose(xs[0], axes),
             lambda xs, vals, axes=None: np.transpose(xs[0], axes),
             lambda xs, ans, g, axes=None: [np.transpose(g, _inverse(axes, g.ndim))], {"axes": "axes"}),
    TensorOp("reshape", 1, lambda shapes, shape: _reshape_shape(shapes[0], shape),
             lambda xs, shape: np.reshape(xs[0], shape), lambda xs, vals, shape: np.reshape(xs[0], shape),
             lambda xs, ans, g, shape: [np.reshape(g, xs[0].shape)], {"shape": "shape"}),
    TensorOp("broadcast_to", 1, lambda shapes, shape: _broadcast_shape(shapes[0], shape),
             lambda xs, shape: np.broadcast_to(xs[0], shape).copy(),
             lambda xs, vals, shape: np.broadcast_to(xs[0], shape),
             lambda xs, ans, g, shape: [g], {"shape": "shape"}),      # unbroadcast does the sum
    TensorOp("where", 3, lambda shapes: _where_shape(*shapes), _where_np, _lower_where, _where_vjp,
             nondiff=(0,)),
    *_VOCABULARY_17,
]}

# where each structural op is defined, in words (`adverify ops`); shapes that do not fit are
# never drawn, and what is said here is what the judge refuses to hold against an engine
_WHERE = {
    "std": "variance > 0 along the axis", "norm": "not all zero along the axis",
    "layer_norm": "weight and bias of shape (D,), D the last axis",
    "rms_norm": "weight of shape (D,), D the last axis",
    "cross_entropy": "logits (N, C), targets (N,) in [0, C)",
    "gather": "indices of x's rank, in range along the axis", "embedding": "table (V, D), indices in [0, V)",
    "attention": "q (T, d), k (S, d), v (S, e); causal only with T = S",
    "matmul": "(m, k) @ (k, n)", "where": "the condition gets no gradient",
}
STRUCTURAL = {name: replace(op, where=_WHERE.get(name, "")) for name, op in STRUCTURAL.items()}

# The IR's leaf op "var" (a variable) takes the name the engines call variance by: in a
# program, variance is the node "variance"; engines are called with (and tapply, and the
# table here, accept) their name "var" (the runner maps it: ENGINE_NAMES).
ENGINE_NAMES = {"variance": "var"}
IR_NAMES = {called: name for name, called in ENGINE_NAMES.items()}   # an engine's op name -> the IR's

TENSOR_OPS: dict[str, TensorOp] = {**{n: elementwise(op) for n, op in SCALAR_OPS.items()}, **STRUCTURAL,
                                   **{called: STRUCTURAL[name] for name, called in ENGINE_NAMES.items()}}


def get_tensor_op(name: str) -> TensorOp:
    try:
        return TENSOR_OPS[name]
    except KeyError:
        raise UnknownOp(f"unknown op {name!r} (known: {', '.join(sorted(TENSOR_OPS))})") from None


def normalize_params(op: TensorOp, params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Params as a hashable, canonical tuple; every value checked against its kind."""
    out = []
    for key, value in params.items():
        kind = op.params.get(key)
        if kind is None:
            raise ParamError(f"op {op.name!r} takes no parameter {key!r}")
        out.append((key, _param(f"{op.name}: {key} must be", kind, value)))
    return tuple(sorted(out))


def _small_int(v, low: int = 0, high: int = 64) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _param(bad: str, kind: str, value):
    """``value`` in canonical form (tuples for lists, a float eps), or a ParamError whose
    message starts with ``bad`` ("softmax: axis must be")."""
    if kind == "axis":
        if value is not None and not _small_int(value, -8, 8):
            raise ParamError(f"{bad} a small integer or null")
    elif kind in ("keepdims", "causal"):
        if not isinstance(value, bool):
            raise ParamError(f"{bad} true or false")
    elif kind == "correction":
        if not _small_int(value, 0, 1):
            raise ParamError(f"{bad} 0 or 1")
    elif kind == "reduction":
        if not isinstance(value, str) or value not in ("mean", "sum"):
            raise ParamError(f"{bad} \"mean\" or \"sum\"")
    elif kind == "eps":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ParamError(f"{bad} a positive finite number")
        value = float(value)
    elif kind == "slices":
        if (not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 4
                or not all(isinstance(t, (list, tuple)) and len(t) == 3 and all(map(_small_int, t)) and t[2] >= 1
                           for t in value)):
            raise ParamError(f"{bad} one to 4 (start, stop, step) triples of integers in [0, 64], step >= 1")
        value = tuple(tuple(t) for t in value)
    elif value is None and kind == "axes":
        pass
    elif not isinstance(value, (list, tuple)) or len(value) > 4 or not all(map(_small_int, value)):
        raise ParamError(f"{bad} a list of at most 4 small integers")
    else:
        value = tuple(value)
    return value
