"""HIPS autograd, float64 (``autograd``): ``pip install 'adverify[autograd]'``.

Like JAX, autograd differentiates functions: the ops record ``Step``s and each question
replays them inside a closure that autograd traces — ``autograd.grad`` once per variable
(reverse mode), ``make_jvp`` with a unit tangent (its forward mode, ``forward_gradients``),
and ``grad`` of ``grad`` (``second_derivatives``).

Ops are the ``autograd.numpy`` primitives, and ``sigmoid`` is ``autograd.scipy.special.expit``
(a primitive with its own rule) when SciPy is installed. autograd has no relu primitive:
``relu`` is left out rather than composed from ``maximum``, which is tested on its own.
``pow`` is ``x ** c`` with ``c`` a Python number.

Tensor programs (``--tensor``, ``AutogradTensorEngine``) add ``TENSOR_FUNCTIONS``:
``anp.sum``, ``anp.mean``, ``anp.max`` (``max_reduce``; autograd's ``grad_chooser`` splits
the gradient evenly between tied maxima), ``autograd.scipy.special.logsumexp``,
``anp.matmul``, ``anp.transpose``, ``anp.reshape``, ``anp.broadcast_to`` and
``anp.where(c > 0, a, b)``. autograd has no softmax primitive: ``softmax`` is left out.
(Two of these have known limits, kept as findings rather than worked around — see
docs/findings.md, "Tensor programs": ``broadcast_to``'s VJP cannot add leading axes, and
``where``'s VJP does not sum a broadcast argument's gradient back to its shape.)
Forward mode is one ``make_jvp`` per element of each variable, with a one-hot tangent.

Issue 17's ops: what ``autograd.numpy`` defines a gradient for — ``sinh``, ``cosh``,
``arcsin``, ``arccos``, ``arcsinh``, ``arctan2``, ``hypot``, ``logaddexp``, ``square``,
``reciprocal``, ``clip`` — and ``autograd.scipy.special.erf`` (``erf`` and ``hypot`` have a
VJP but no JVP: forward mode raises on them). No gelu, silu, softplus, log-sigmoid, elu,
leaky_relu or rsqrt. Tensor programs add ``anp.var``/``std`` (``ddof=``), ``anp.linalg.norm``,
``table[indices]``, slicing, ``anp.concatenate``/``stack`` and ``anp.cumsum``;
``take_along_axis`` has no gradient rule, so ``gather`` is not declared.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import autograd
import autograd.numpy as anp
import numpy as np

from verifier.engines.recipe import Recorded, Step, exponent

__all__ = ["AutogradEngine", "AutogradTensorEngine", "engine", "tensor_engine", "FUNCTIONS", "TENSOR_FUNCTIONS"]

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "add": anp.add, "sub": anp.subtract, "mul": anp.multiply, "div": anp.true_divide, "neg": anp.negative,
    "pow": lambda x, c: anp.power(x, exponent(c)), "powv": anp.power,
    "exp": anp.exp, "log": anp.log, "sin": anp.sin, "cos": anp.cos, "tan": anp.tan, "tanh": anp.tanh,
    "sqrt": anp.sqrt, "abs": anp.abs, "atan": anp.arctan, "log1p": anp.log1p, "expm1": anp.expm1,
    "maximum": anp.maximum, "minimum": anp.minimum,
    # issue 17: the autograd.numpy primitives with a gradient rule; clamp's bounds as floats.
    # No softplus, log-sigmoid, gelu, silu, elu, leaky_relu or rsqrt primitive: left out
    "sinh": anp.sinh, "cosh": anp.cosh, "asin": anp.arcsin, "acos": anp.arccos, "asinh": anp.arcsinh,
    "atan2": anp.arctan2, "hypot": anp.hypot, "logaddexp": anp.logaddexp, "square": anp.square,
    "reciprocal": anp.reciprocal, "clamp": lambda x, lo, hi: anp.clip(x, float(lo), float(hi)),
}
try:
    from autograd.scipy.special import erf, expit
    FUNCTIONS["sigmoid"] = expit
    FUNCTIONS["erf"] = erf
except ImportError:  # autograd.scipy needs SciPy
    pass


# the tensor ops: the elementwise table above (anp broadcasts), and one call per structural op
TENSOR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    "sum": anp.sum, "mean": anp.mean, "max_reduce": anp.max, "matmul": anp.matmul,
    "transpose": anp.transpose, "reshape": anp.reshape,
    # positional shape, as users write it: the VJP of anp.broadcast_to names it `new_shape`,
    # so numpy's own keyword (shape=) makes autograd's backward raise a TypeError
    "broadcast_to": lambda x, shape: anp.broadcast_to(x, shape),
    "where": lambda c, a, b: anp.where(c > 0, a, b),
    # issue 17. Integer indices arrive as numpy int64 arrays. take_along_axis (gather) has
    # no gradient rule in autograd, and it has no log-softmax, loss, norm layer or attention
    "var": lambda x, axis=None, correction=0, keepdims=False: anp.var(x, axis=axis, ddof=correction,
                                                                        keepdims=keepdims),
    "std": lambda x, axis=None, correction=0, keepdims=False: anp.std(x, axis=axis, ddof=correction,
                                                                        keepdims=keepdims),
    "norm": lambda x, axis=None, keepdims=False: anp.linalg.norm(x, axis=axis, keepdims=keepdims),
    "embedding": lambda table, indices: table[indices],
    "slice": lambda x, slices: x[tuple(slice(*s) for s in slices)],
    "concat": lambda a, b, axis=0: anp.concatenate((a, b), axis=axis),
    "stack": lambda a, b, axis=0: anp.stack((a, b), axis=axis),
    "cumsum": lambda x, axis: anp.cumsum(x, axis=axis),
}
try:
    from autograd.scipy.special import logsumexp
    TENSOR_FUNCTIONS["logsumexp"] = logsumexp
except ImportError:  # autograd.scipy needs SciPy
    pass


def _number(x: Any) -> Any:
    """A 0-d result as a float (scalar programs), anything else as a numpy array."""
    a = np.asarray(x, dtype=np.float64)
    return float(a) if a.ndim == 0 else a.copy()


class _Autograd(Recorded):
    """What the scalar and the tensor adapter share: recording, replay, both AD modes."""
    name = "autograd"
    dtype = "float64"
    functions: dict[str, Callable[..., Any]] = FUNCTIONS

    def __init__(self):
        super().__init__()

    @staticmethod
    def leaf(value: Any) -> Any:
        if np.asarray(value).dtype.kind == "i":    # indices: numpy ints, as a user has them
            return value
        # a float is a numpy float64 scalar, as before tensors; an array stays an array
        return anp.float64(value) if np.ndim(value) == 0 else np.array(value, dtype=np.float64)

    def value(self, x: Step) -> Any:
        return _number(self.function(x, ())())

    def gradients(self, output: Step, variables: Sequence[Step]) -> list[Any]:
        f, xs = self.function(output, variables), self.arguments(variables)
        with warnings.catch_warnings():
            # "Output seems independent of input": a variable that does not matter gets 0
            warnings.simplefilter("ignore", UserWarning)
            return [_number(autograd.grad(f, i)(*xs)) for i in range(len(xs))]

    def forward_gradients(self, output: Step, variables: Sequence[Step]) -> list[Any]:
        """Forward mode: ``autograd.make_jvp`` with a unit tangent on one variable (one
        element of it) at a time."""
        f, xs = self.function(output, variables), self.arguments(variables)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for i, x in enumerate(xs):
                jvp = autograd.make_jvp(f, i)(*xs)
                g = np.zeros(np.shape(x))
                for k in np.ndindex(g.shape):
                    unit = np.zeros(np.shape(x))
                    unit[k] = 1.0
                    g[k] = float(jvp(unit if unit.ndim else 1.0)[1])
                out.append(g.item() if g.ndim == 0 else g)
        return out


class AutogradEngine(_Autograd):
    """Scalar expressions."""

    def second_derivatives(self, output: Step, variables: Sequence[Step]) -> list[list[float]]:
        """Hessian rows: reverse mode over reverse mode, ``grad(grad(f, i), j)``."""
        f, xs = self.function(output, variables), self.arguments(variables)
        n = len(xs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return [[float(autograd.grad(autograd.grad(f, i), j)(*xs)) for j in range(n)] for i in range(n)]


class AutogradTensorEngine(_Autograd):
    """Tensor programs (``--tensor``): variables are numpy arrays, gradients come back as
    arrays of each variable's shape."""
    tensor = True
    functions = TENSOR_FUNCTIONS


def engine() -> AutogradEngine:
    return AutogradEngine()


def tensor_engine() -> AutogradTensorEngine:
    return AutogradTensorEngine()
