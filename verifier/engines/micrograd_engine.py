"""micrograd (Karpathy's scalar ``Value``), Python floats (``micrograd``): ``pip install 'adverify[micrograd]'``.

Only what ``Value`` itself offers: ``+ - * /``, unary minus, ``** c`` (c a number) and
``relu()``. micrograd builds ``-``, ``/`` and unary minus from its own ``+``, ``*`` and
``**`` — that is the engine's choice and what its users get, so they are tested as such.
It has no exp, log, tanh or sin: those ops are not generated, nor any op of issue 17 (no
activation but relu, no ``square`` method: ``x ** 2`` is ``pow``).
"""
from __future__ import annotations

from typing import Sequence

from micrograd.engine import Value

from verifier.engines.recipe import exponent

__all__ = ["MicrogradEngine", "FUNCTIONS"]

FUNCTIONS = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "neg": lambda x: -x,
    "pow": lambda x, c: x ** exponent(c.data),   # micrograd asserts a plain number exponent
    "relu": lambda x: x.relu(),
}


class MicrogradEngine:
    name = "micrograd"
    dtype = "float64"

    def __init__(self):
        self.ops = dict(FUNCTIONS)

    def variable(self, v: float) -> Value:
        return Value(v)

    def constant(self, v: float) -> Value:
        # a Value too (relu(2.0) needs one); it gets a .grad that nobody reads
        return Value(v)

    def value(self, x: Value) -> float:
        return float(x.data)

    def gradients(self, output: Value, variables: Sequence[Value]) -> list[float]:
        output.backward()
        return [float(v.grad) for v in variables]


def engine() -> MicrogradEngine:
    return MicrogradEngine()
