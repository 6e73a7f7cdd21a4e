"""HIPS autograd, float64 (``autograd``): ``pip install 'adverify[autograd]'``.

Like JAX, autograd differentiates functions: the ops record ``Step``s and each question
replays them inside a closure that autograd traces — ``autograd.grad`` once per variable
(reverse mode), ``make_jvp`` with a unit tangent (its forward mode, ``forward_gradients``),
and ``grad`` of ``grad`` (``second_derivatives``).

Ops are the ``autograd.numpy`` primitives, and ``sigmoid`` is ``autograd.scipy.special.expit``
(a primitive with its own rule) when SciPy is installed. autograd has no relu primitive:
``relu`` is left out rather than composed from ``maximum``, which is tested on its own.
``pow`` is ``x ** c`` with ``c`` a Python number.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import autograd
import autograd.numpy as anp

from .recipe import Step, exponent, recorders, replay

__all__ = ["AutogradEngine", "FUNCTIONS"]

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "add": anp.add, "sub": anp.subtract, "mul": anp.multiply, "div": anp.true_divide, "neg": anp.negative,
    "pow": lambda x, c: anp.power(x, exponent(c)), "powv": anp.power,
    "exp": anp.exp, "log": anp.log, "sin": anp.sin, "cos": anp.cos, "tan": anp.tan, "tanh": anp.tanh,
    "sqrt": anp.sqrt, "abs": anp.abs, "atan": anp.arctan, "log1p": anp.log1p, "expm1": anp.expm1,
    "maximum": anp.maximum, "minimum": anp.minimum,
}
try:
    from autograd.scipy.special import expit
    FUNCTIONS["sigmoid"] = expit
except ImportError:  # autograd.scipy needs SciPy
    pass


def _step(s: Step) -> Step:
    return s


class AutogradEngine:
    name = "autograd"
    dtype = "float64"

    def __init__(self):
        self.ops = recorders(FUNCTIONS)

    def variable(self, v: float) -> Step:
        return Step("var", value=v)

    def constant(self, v: float) -> Step:
        return Step("const", value=v)

    @staticmethod
    def _function(output: Step, variables: Sequence[Step]) -> Callable[..., Any]:
        def f(*xs):
            bound = {id(v): x for v, x in zip(variables, xs)}
            return replay(output, _step, FUNCTIONS, lambda s: bound.get(id(s), anp.float64(s.value)))
        return f

    @staticmethod
    def _args(variables: Sequence[Step]) -> tuple:
        return tuple(anp.float64(v.value) for v in variables)

    def value(self, x: Step) -> float:
        return float(self._function(x, ())())

    def gradients(self, output: Step, variables: Sequence[Step]) -> list[float]:
        f, xs = self._function(output, variables), self._args(variables)
        with warnings.catch_warnings():
            # "Output seems independent of input": a variable that does not matter gets 0
            warnings.simplefilter("ignore", UserWarning)
            return [float(autograd.grad(f, i)(*xs)) for i in range(len(xs))]

    def forward_gradients(self, output: Step, variables: Sequence[Step]) -> list[float]:
        """Forward mode: ``autograd.make_jvp`` with a unit tangent on one variable at a time."""
        f, xs = self._function(output, variables), self._args(variables)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return [float(autograd.make_jvp(f, i)(*xs)(1.0)[1]) for i in range(len(xs))]

    def second_derivatives(self, output: Step, variables: Sequence[Step]) -> list[list[float]]:
        """Hessian rows: reverse mode over reverse mode, ``grad(grad(f, i), j)``."""
        f, xs = self._function(output, variables), self._args(variables)
        n = len(xs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return [[float(autograd.grad(autograd.grad(f, i), j)(*xs)) for j in range(n)] for i in range(n)]


def engine() -> AutogradEngine:
    return AutogradEngine()
