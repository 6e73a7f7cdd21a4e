"""The tensor op table: structural ops, plus every scalar op lifted elementwise.

Each record knows its output shape, its numpy forward, how to lower onto element-level
scalar nodes (numpy object arrays of interned ``Node``s, so broadcasting and reductions
come from numpy itself), and its vector-Jacobian products for the builtin array engine.
A VJP returns the cotangent in the *broadcast* shape: reducing it back to the argument's
shape (unbroadcast) is done once, by the engine's backward pass, never inside a rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from verifier.floor.ir import apply, const
from verifier.floor.mathns import F64
from verifier.floor.ops import SCALAR_OPS, Op, UnknownOp

__all__ = ["TensorOp", "TENSOR_OPS", "STRUCTURAL", "get_tensor_op", "normalize_params", "uf", "ParamError", "elementwise"]


class ParamError(ValueError):
    pass


def uf(op: str | Op, arity: int = 2):
    """A numpy ufunc over object arrays of scalar nodes: broadcasting and reduce for free."""
    return np.frompyfunc(lambda *a: apply(op, *a), arity, 1)


_ADD, _MUL, _MAX = uf("add"), uf("mul"), uf("maximum")


@dataclass(frozen=True)
class TensorOp:
    name: str
    arity: int
    shape: Callable[..., tuple]                 # (shapes, **params) -> output shape
    forward: Callable[..., np.ndarray]          # (arrays, **params) -> array
    lower: Callable[..., np.ndarray]            # (object arrays, values, **params) -> object array
    vjp: Callable[..., list]                    # (arrays, ans, g, **params) -> cotangent per arg
    params: Mapping[str, str] = field(default_factory=dict)   # name -> kind: axis | keepdims | shape | axes
    nondiff: tuple[int, ...] = ()               # arguments no gradient flows to (where's condition)
    scalar: Op | None = None                    # the scalar record, for elementwise ops


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
]}

TENSOR_OPS: dict[str, TensorOp] = {**{n: elementwise(op) for n, op in SCALAR_OPS.items()}, **STRUCTURAL}


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
        if kind == "axis":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or abs(value) > 8):
                raise ParamError(f"{op.name}: axis must be a small integer or null")
        elif kind == "keepdims":
            if not isinstance(value, bool):
                raise ParamError(f"{op.name}: keepdims must be true or false")
        else:
            if value is None and kind == "axes":
                pass
            elif (not isinstance(value, (list, tuple)) or len(value) > 4
                  or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 64 for v in value)):
                raise ParamError(f"{op.name}: {key} must be a list of at most 4 small integers")
            else:
                value = tuple(value)
        out.append((key, value))
    return tuple(sorted(out))
