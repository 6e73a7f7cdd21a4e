"""The seed's Tensor for arrays: each node keeps its args and a local vector-Jacobian
product per arg, driven by the tensor op table (verifier.floor.tensor_ops).

A rule returns its cotangent in the broadcast shape; ``_unbroadcast`` sums it back to the
argument's shape, once, in the backward pass — never inside a rule (HIPS autograd style).
``backward_paths`` walks every output→leaf path composing the VJPs along it (the seed's
algorithm); ``backward_reverse`` accumulates in reverse topological order.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from verifier.engines.autograd.tensor import accumulate  # any node with .args: one walk for both engines
from verifier.floor.tensor_ops import ENGINE_NAMES, TENSOR_OPS, TensorOp

__all__ = ["Array", "ARRAY_OPS", "backward_paths", "backward_reverse", "unbroadcast"]


class Array:
    __slots__ = ("value", "args", "vjp")

    def __init__(self, value, args: tuple["Array", ...] = (), vjp: Callable | None = None):
        self.value = np.asarray(value, dtype=np.float64)
        self.args = args
        self.vjp = vjp          # g -> [cotangent per arg, or None]

    def __repr__(self) -> str:
        return f"Array(shape={self.value.shape})"


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a cotangent over the axes broadcasting added or stretched."""
    g = np.asarray(g, dtype=np.float64)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g.reshape(shape)


def _lift(x) -> Array:
    return x if isinstance(x, Array) else Array(x)


def make_array_op(op: TensorOp) -> Callable[..., Array]:
    """The engine's op: float arguments become Arrays in the graph; integer ones (indices,
    targets: ``op.integer``) arrive as int64 arrays and stay plain, outside the graph."""
    floats = [i for i in range(op.arity) if i not in op.integer]

    def apply(*args, **params) -> Array:
        args = [np.asarray(a, dtype=np.int64) if i in op.integer else _lift(a) for i, a in enumerate(args)]
        xs = [a if i in op.integer else a.value for i, a in enumerate(args)]
        with np.errstate(all="ignore"):
            ans = np.asarray(op.forward(xs, **params), dtype=np.float64)

        def vjp(g):
            with np.errstate(all="ignore"):
                cotangents = op.vjp(xs, ans, g, **params)
            return [cotangents[i] for i in floats]
        return Array(ans, tuple(args[i] for i in floats), vjp)
    apply.__name__ = op.name
    return apply


# by the IR's names (variance, not its engine name "var": the runner tries both)
ARRAY_OPS: dict[str, Callable[..., Array]] = {name: make_array_op(op) for name, op in TENSOR_OPS.items()
                                              if name not in ENGINE_NAMES.values()}


def _push(t: Array, g: np.ndarray):
    for arg, c in zip(t.args, t.vjp(g)):
        if c is not None:
            yield arg, unbroadcast(c, arg.value.shape)


def backward_reverse(root: Array) -> dict[int, np.ndarray]:
    return accumulate(root, np.ones_like(root.value), _push)


def backward_paths(root: Array) -> dict[int, np.ndarray]:
    """The seed's walk: every path, the VJPs along it composed, summed per leaf."""
    grads: dict[int, Any] = {}
    stack = [(root, np.ones_like(root.value))]
    with np.errstate(all="ignore"):
        while stack:
            t, g = stack.pop()
            if not t.args:
                grads[id(t)] = grads[id(t)] + g if id(t) in grads else g
            else:
                stack.extend(_push(t, g))
    return grads
