"""tinygrad, float32 (``tinygrad``, its default float) and float64 (``tinygrad-float64``):
``pip install 'adverify[tinygrad]'``.

Each op is the ``Tensor`` method a user calls. tinygrad composes many of them from its few
primitives itself (``exp`` and ``sigmoid`` via ``exp2``, ``tanh`` as ``2·sigmoid(2x) - 1``,
``tan`` as ``sin/cos``, ``atan`` via ``asin``, ``abs`` as ``x·sign(x)``, ``neg`` as ``x·-1``);
that is the engine's business, and what it exposes is what is tested, forward values
included. It has no ``log1p`` or ``expm1``: those ops are not generated.

Gradients are ``output.gradient(*variables)`` (tinygrad's symbolic backward pass), realized
together with the output. A variable is a one-element buffer reshaped to a scalar: scalars
made from a Python float are constants in tinygrad's graph, hash-consed by value, so two
variables that happen to be equal would be one node. Constants are such scalars.

Tensor programs (``--tensor``, ``TinygradTensorEngine``) add ``TENSOR_FUNCTIONS``, the
``Tensor`` methods: ``sum``, ``mean``, ``max`` (``max_reduce``), ``logsumexp``, ``softmax``,
``matmul``, ``permute`` (``transpose``), ``reshape``, ``expand`` (tinygrad's name for
``broadcast_to``) and ``(c > 0).where(a, b)``. A tensor variable is a buffer made from the
numpy array. tinygrad has no forward mode, so neither adapter has ``forward_gradients``.

Issue 17's ops are tinygrad >= 0.13's ``Tensor`` methods (``erf``, ``gelu`` — the tanh form by
default, ``approximate="none"`` the exact one —, ``silu``, ``softplus``, ``logsigmoid``,
``elu``, ``leaky_relu``, ``sinh`` … ``clamp``; no ``atan2`` or ``hypot``); in tensor programs
``var``/``std`` (``correction=``), ``log_softmax``, ``cross_entropy`` with integer labels,
``gather``, indexing a table with an int tensor (``embedding``), slicing, ``cat``, ``stack``,
``cumsum`` and ``scaled_dot_product_attention``. No vector norm, and ``layernorm`` takes no
weight: ``norm``, ``layer_norm`` and ``rms_norm`` are not declared. (Not run here: written
against tinygrad's source, v0.13.0.)

Device: ``DEV`` from the environment if set (tinygrad's own switch), else ``CPU`` when
``clang`` is on the PATH (tinygrad's CPU backend compiles with it), else the ``PYTHON``
emulator, which executes the same kernels rounding every result to its dtype.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Sequence

import numpy as np
from tinygrad import Tensor, dtypes

from verifier.engines import dtype_constructors
from verifier.engines.recipe import exponent

__all__ = ["TinygradEngine", "TinygradTensorEngine", "float32", "float64", "tensor_float32", "tensor_float64",
           "FUNCTIONS", "TENSOR_FUNCTIONS"]

FUNCTIONS = {
    "add": Tensor.add, "sub": Tensor.sub, "mul": Tensor.mul, "div": Tensor.div, "neg": Tensor.neg,
    "pow": lambda x, c: x.pow(exponent(c.adverify_value)), "powv": Tensor.pow,
    "exp": Tensor.exp, "log": Tensor.log, "sin": Tensor.sin, "cos": Tensor.cos, "tan": Tensor.tan,
    "tanh": Tensor.tanh, "sigmoid": Tensor.sigmoid, "sqrt": Tensor.sqrt, "abs": Tensor.abs,
    "relu": Tensor.relu, "atan": Tensor.atan, "maximum": Tensor.maximum, "minimum": Tensor.minimum,
    # issue 17 (tinygrad >= 0.13's Tensor methods; gelu's default is the tanh form). No atan2
    # or hypot method. A parameter (leaky_relu's slope, clamp's bounds) is the Python float
    "erf": Tensor.erf, "gelu": lambda x: x.gelu(approximate="none"), "gelu_tanh": lambda x: x.gelu(),
    "silu": Tensor.silu, "softplus": Tensor.softplus, "logsigmoid": Tensor.logsigmoid, "elu": Tensor.elu,
    "leaky_relu": lambda x, a: x.leaky_relu(float(a.adverify_value)),
    "sinh": Tensor.sinh, "cosh": Tensor.cosh, "asin": Tensor.asin, "acos": Tensor.acos, "asinh": Tensor.asinh,
    "logaddexp": Tensor.logaddexp, "square": Tensor.square, "rsqrt": Tensor.rsqrt,
    "reciprocal": Tensor.reciprocal,
    "clamp": lambda x, lo, hi: x.clamp(float(lo.adverify_value), float(hi.adverify_value)),
}


# the tensor ops: the elementwise table above (tinygrad broadcasts), and one method per structural op
TENSOR_FUNCTIONS = {
    **FUNCTIONS,
    "sum": lambda x, axis=None, keepdims=False: x.sum(axis, keepdim=keepdims),
    "mean": lambda x, axis=None, keepdims=False: x.mean(axis, keepdim=keepdims),
    "max_reduce": lambda x, axis=None, keepdims=False: x.max(axis, keepdim=keepdims),
    "logsumexp": lambda x, axis=None, keepdims=False: x.logsumexp(axis, keepdim=keepdims),
    "softmax": lambda x, axis=-1: x.softmax(axis),
    "matmul": Tensor.matmul,
    # axes=None is numpy's .T: every axis reversed
    "transpose": lambda x, axes=None: x.permute(*(reversed(range(x.ndim)) if axes is None else axes)),
    "reshape": lambda x, shape: x.reshape(tuple(shape)),
    "broadcast_to": lambda x, shape: x.expand(tuple(shape)),
    "where": lambda c, a, b: (c > 0).where(a, b),
    # issue 17. Integer arguments arrive as numpy int64 arrays and become int tensors on the
    # same device. No vector norm, no layer or RMS norm with weights (Tensor.layernorm has none)
    "var": lambda x, axis=None, correction=0, keepdims=False: x.var(axis, keepdim=keepdims, correction=correction),
    "std": lambda x, axis=None, correction=0, keepdims=False: x.std(axis, keepdim=keepdims, correction=correction),
    "log_softmax": lambda x, axis=-1: x.log_softmax(axis),
    "cross_entropy": lambda logits, targets, reduction="mean": logits.cross_entropy(
        Tensor(targets, device=logits.device), reduction=reduction),
    "gather": lambda x, indices, axis=0: x.gather(axis, Tensor(indices, device=x.device)),
    "embedding": lambda table, indices: table[Tensor(indices, device=table.device)],
    "slice": lambda x, slices: x[tuple(slice(*s) for s in slices)],
    "concat": lambda a, b, axis=0: a.cat(b, dim=axis),
    "stack": lambda a, b, axis=0: a.stack(b, dim=axis),
    "cumsum": lambda x, axis: x.cumsum(axis),
    "attention": lambda q, k, v, causal=False: q.scaled_dot_product_attention(k, v, is_causal=causal),
}


def default_device() -> str:
    return os.environ.get("DEV") or ("CPU" if shutil.which("clang") else "PYTHON")


class TinygradEngine:
    functions = FUNCTIONS

    def __init__(self, dtype: str = "float32", device: str | None = None):
        self.dtype = dtype
        self.name = "tinygrad" if dtype == "float32" else f"tinygrad-{dtype}"
        self.device = device or default_device()   # opened lazily: in the checking process
        self._dtype = getattr(dtypes, dtype)
        self.ops = dict(self.functions)

    def _buffer(self, v: Any) -> Tensor:
        # from a flat list, never a Python float: that would be a hash-consed constant
        a = np.asarray(v, dtype=np.float64)
        return Tensor(a.reshape(-1).tolist(), dtype=self._dtype, device=self.device).reshape(a.shape)

    def variable(self, v: Any) -> Tensor:
        return self._buffer(v)

    def constant(self, v: Any) -> Tensor:
        if np.ndim(v):
            return self._buffer(v)   # a tensor constant (the cotangent W, where's condition)
        t = Tensor(v, dtype=self._dtype, device=self.device)
        t.adverify_value = v          # pow's exponent, without realizing a kernel to read it
        return t

    def value(self, x: Tensor) -> Any:
        return x.item() if x.ndim == 0 else x.numpy().copy()

    def gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[Any]:
        if not variables:
            return []
        grads = output.gradient(*variables)
        Tensor.realize(output, *grads)
        return [self.value(g) for g in grads]


class TinygradTensorEngine(TinygradEngine):
    """Tensor programs (``--tensor``): variables are numpy arrays, gradients come back as
    arrays of each variable's shape."""
    tensor = True
    functions = TENSOR_FUNCTIONS


float64, float32, tensor_float64, tensor_float32 = dtype_constructors(TinygradEngine, TinygradTensorEngine)
