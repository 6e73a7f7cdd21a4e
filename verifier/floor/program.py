"""Tensor programs in the shared IR: structural ops carry their keyword parameters in
``Node.arg``; ``tconst`` leaves hold an exact array; points map names to numpy arrays."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from verifier.floor.ir import Node, toposort
from verifier.floor.tensor_ops import TENSOR_OPS, ParamError, TensorOp, get_tensor_op, normalize_params

__all__ = ["tapply", "tconst", "params_of", "shapes", "forward", "reduce_with", "is_tensor_program"]


def tconst(array) -> Node:
    a = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("tensor constants must be finite")
    return Node("tconst", (), (a.shape, tuple(float(v) for v in a.ravel())))


def tconst_value(n: Node) -> np.ndarray:
    shape, flat = n.arg
    return np.array(flat, dtype=np.float64).reshape(shape)


def params_of(n: Node) -> dict[str, Any]:
    return dict(n.arg) if isinstance(n.arg, tuple) and not n.is_leaf else {}


def tapply(op: str | TensorOp, *src: Node, **params) -> Node:
    """A tensor op node: ``op`` is a record (of any vocabulary) or a built-in op's name."""
    spec = op if isinstance(op, TensorOp) else get_tensor_op(op)
    op = spec.name
    if len(src) != spec.arity:
        raise ParamError(f"op {op!r} takes {spec.arity} arguments, got {len(src)}")
    if spec.scalar is not None:
        for i in spec.scalar.params:
            if src[i].op != "const":
                raise ParamError(f"argument {i} of op {op!r} must be a scalar constant")
        if params:
            raise ParamError(f"op {op!r} takes no parameters")
        return Node(op, tuple(src))
    for i in spec.nondiff:
        if not src[i].is_leaf and src[i].op != "tconst":
            raise ParamError(f"argument {i} of {op!r} (its condition) must be a variable or constant")
    return Node(op, tuple(src), normalize_params(spec, params))


def _leaf_value(n: Node, point: Mapping[str, Any]) -> np.ndarray:
    if n.op == "var":
        return np.asarray(point[n.arg], dtype=np.float64)
    if n.op == "const":
        return np.asarray(n.arg, dtype=np.float64)
    return tconst_value(n)


def shapes(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp] = TENSOR_OPS) -> dict[Node, tuple]:
    """Every node's shape; raises ParamError where shapes do not fit."""
    result: dict[Node, tuple] = {}
    for n in toposort(out):
        if n.op in ("var", "const", "tconst"):
            result[n] = _leaf_value(n, point).shape
        else:
            result[n] = tuple(ops[n.op].shape([result[s] for s in n.src], **params_of(n)))
    return result


def forward(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp] = TENSOR_OPS
            ) -> dict[Node, np.ndarray]:
    """Every node's float64 value (numpy; nan/inf allowed, e.g. in where's unselected branch)."""
    values: dict[Node, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for n in toposort(out):
            if n.op in ("var", "const", "tconst"):
                values[n] = _leaf_value(n, point)
            else:
                values[n] = np.asarray(ops[n.op].forward([values[s] for s in n.src], **params_of(n)),
                                       dtype=np.float64)
    return values


def reduce_with(out: Node, cotangent) -> Node:
    """L = sum(out * W): a scalar whose gradient is the VJP of ``out`` with cotangent W."""
    return tapply("sum", tapply("mul", out, tconst(cotangent)))


def is_tensor_program(out: Node, point: Mapping[str, Any]) -> bool:
    return any(n.op == "tconst" or isinstance(n.arg, tuple) and not n.is_leaf for n in toposort(out)) or any(
        np.ndim(v) > 0 for v in point.values())
