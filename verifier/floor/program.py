"""Tensor programs in the shared IR: structural ops carry their keyword parameters in
``Node.arg``; ``tconst`` leaves hold an exact array, ``iconst`` leaves an integer one (the
targets and indices of the ops that take them); points map names to numpy arrays."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from verifier.floor.ir import Node, toposort
from verifier.floor.tensor_ops import TENSOR_OPS, ParamError, TensorOp, get_tensor_op, normalize_params

__all__ = ["tapply", "tconst", "tconst_value", "iconst", "iconst_value", "params_of", "shapes", "forward",
           "reduce_with", "is_tensor_program"]


def tconst(array) -> Node:
    a = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("tensor constants must be finite")
    return Node("tconst", (), (a.shape, tuple(float(v) for v in a.ravel())))


def tconst_value(n: Node) -> np.ndarray:
    shape, flat = n.arg
    return np.array(flat, dtype=np.float64).reshape(shape)


MAX_INT = 1 << 31     # an index or a target: far below any bound a program can have


def iconst(array) -> Node:
    """An integer leaf: targets, indices. Never differentiated, never a float."""
    a = np.asarray(array)
    if a.dtype.kind not in "iu":
        raise ValueError(f"integer constants must hold integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and np.max(np.abs(a)) >= MAX_INT:
        raise ValueError(f"integer constants must lie within ±{MAX_INT}")
    return Node("iconst", (), (a.shape, tuple(int(v) for v in a.ravel())))


def iconst_value(n: Node) -> np.ndarray:
    shape, flat = n.arg
    return np.array(flat, dtype=np.int64).reshape(shape)


def params_of(n: Node) -> dict[str, Any]:
    return dict(n.arg) if isinstance(n.arg, tuple) and not n.is_leaf else {}


def tapply(op: str | TensorOp, *src: Node, **params) -> Node:
    """A tensor op node: ``op`` is a record (of any vocabulary) or a built-in op's name."""
    spec = op if isinstance(op, TensorOp) else get_tensor_op(op)
    op = spec.name
    if len(src) != spec.arity:
        raise ParamError(f"op {op!r} takes {spec.arity} arguments, got {len(src)}")
    for i, s in enumerate(src):
        if i in spec.integer and s.op != "iconst":
            raise ParamError(f"argument {i} of {op!r} must be an integer constant (iconst), got {s.op!r}")
        if i not in spec.integer and s.op == "iconst":
            raise ParamError(f"argument {i} of {op!r} takes floats, not an integer constant")
        if i in spec.nondiff and not s.is_leaf:
            raise ParamError(f"argument {i} of {op!r} (its condition) must be a variable or constant")
    if spec.scalar is not None:
        for i in spec.scalar.params:
            if src[i].op != "const":
                raise ParamError(f"argument {i} of op {op!r} must be a scalar constant")
        if params:
            raise ParamError(f"op {op!r} takes no parameters")
        return Node(op, tuple(src))
    return Node(op, tuple(src), normalize_params(spec, params))


def _leaf_value(n: Node, point: Mapping[str, Any]) -> np.ndarray:
    if n.op == "var":
        return np.asarray(point[n.arg], dtype=np.float64)
    if n.op == "const":
        return np.asarray(n.arg, dtype=np.float64)
    return iconst_value(n) if n.op == "iconst" else tconst_value(n)


def _shape_of(spec: TensorOp, n: Node, arg_shapes: list[tuple]) -> tuple:
    """``n``'s shape from its arguments' shapes; its integer arguments' values checked too."""
    shape = tuple(spec.shape(arg_shapes, **params_of(n)))
    if spec.check is not None:
        spec.check(arg_shapes, [iconst_value(s) if s.op == "iconst" else None for s in n.src], **params_of(n))
    return shape


def shapes(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp] = TENSOR_OPS) -> dict[Node, tuple]:
    """Every node's shape; raises ParamError where shapes (or indices) do not fit."""
    result: dict[Node, tuple] = {}
    for n in toposort(out):
        if n.is_leaf:
            result[n] = _leaf_value(n, point).shape
        else:
            result[n] = _shape_of(ops[n.op], n, [result[s] for s in n.src])
    return result


def forward(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp] = TENSOR_OPS
            ) -> dict[Node, np.ndarray]:
    """Every node's float64 value (numpy; nan/inf allowed, e.g. in where's unselected branch);
    an ``iconst``'s is its int64 array. Raises ParamError where a structural op's shapes or
    indices do not fit."""
    values: dict[Node, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for n in toposort(out):
            if n.is_leaf:
                values[n] = _leaf_value(n, point)
                continue
            spec = ops[n.op]
            if spec.scalar is None:   # numpy would wrap a negative index, tril a causal mask, silently
                _shape_of(spec, n, [values[s].shape for s in n.src])
            values[n] = np.asarray(spec.forward([values[s] for s in n.src], **params_of(n)), dtype=np.float64)
    return values


def reduce_with(out: Node, cotangent) -> Node:
    """L = sum(out * W): a scalar whose gradient is the VJP of ``out`` with cotangent W."""
    return tapply("sum", tapply("mul", out, tconst(cotangent)))


def is_tensor_program(out: Node, point: Mapping[str, Any]) -> bool:
    return any(n.op in ("tconst", "iconst") or isinstance(n.arg, tuple) and not n.is_leaf
               for n in toposort(out)) or any(np.ndim(v) > 0 for v in point.values())
