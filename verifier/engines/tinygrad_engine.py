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

Device: ``DEV`` from the environment if set (tinygrad's own switch), else ``CPU`` when
``clang`` is on the PATH (tinygrad's CPU backend compiles with it), else the ``PYTHON``
emulator, which executes the same kernels rounding every result to its dtype.
"""
from __future__ import annotations

import os
import shutil
from typing import Sequence

from tinygrad import Tensor, dtypes

from .recipe import exponent

__all__ = ["TinygradEngine", "float32", "float64", "FUNCTIONS"]

FUNCTIONS = {
    "add": Tensor.add, "sub": Tensor.sub, "mul": Tensor.mul, "div": Tensor.div, "neg": Tensor.neg,
    "pow": lambda x, c: x.pow(exponent(c.adverify_value)), "powv": Tensor.pow,
    "exp": Tensor.exp, "log": Tensor.log, "sin": Tensor.sin, "cos": Tensor.cos, "tan": Tensor.tan,
    "tanh": Tensor.tanh, "sigmoid": Tensor.sigmoid, "sqrt": Tensor.sqrt, "abs": Tensor.abs,
    "relu": Tensor.relu, "atan": Tensor.atan, "maximum": Tensor.maximum, "minimum": Tensor.minimum,
}


def default_device() -> str:
    return os.environ.get("DEV") or ("CPU" if shutil.which("clang") else "PYTHON")


class TinygradEngine:
    def __init__(self, dtype: str = "float32", device: str | None = None):
        self.dtype = dtype
        self.name = "tinygrad" if dtype == "float32" else f"tinygrad-{dtype}"
        self.device = device or default_device()   # opened lazily: in the checking process
        self._dtype = getattr(dtypes, dtype)
        self.ops = dict(FUNCTIONS)

    def variable(self, v: float) -> Tensor:
        return Tensor([v], dtype=self._dtype, device=self.device).reshape(())

    def constant(self, v: float) -> Tensor:
        t = Tensor(v, dtype=self._dtype, device=self.device)
        t.adverify_value = v          # pow's exponent, without realizing a kernel to read it
        return t

    def value(self, x: Tensor) -> float:
        return x.item()

    def gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[float]:
        if not variables:
            return []
        grads = output.gradient(*variables)
        Tensor.realize(output, *grads)
        return [g.item() for g in grads]


def float32() -> TinygradEngine:
    return TinygradEngine("float32")


def float64() -> TinygradEngine:
    return TinygradEngine("float64")
