"""JAX, float64 (``jax``) and float32 (``jax-float32``): ``pip install 'adverify[jax]'`` (CPU jaxlib).

JAX differentiates functions, not graphs: the verifier's ops record ``Step``s, and each
question replays them inside a closure that JAX transforms — ``jax.grad`` (reverse mode),
``jax.jvp`` with one unit tangent per variable (``forward_gradients``) and ``jax.hessian``
(forward over reverse, ``second_derivatives``). The adapter adds no ``jit``: XLA never gets
the whole expression as one program to fuse or rewrite, and every derivative is the rule of
a JAX primitive.

``pow`` is ``jnp.power(x, c)`` with ``c`` a Python number written as a user would, an int
when integral (``x ** 2``): JAX then takes ``lax.integer_pow``, and ``lax.pow`` otherwise.

Tensor programs (``--tensor``, ``JaxTensorEngine``) add ``TENSOR_FUNCTIONS``: ``jnp.sum``,
``jnp.mean``, ``jnp.max`` (``max_reduce``; ``reduce_max``'s rule splits the gradient evenly
between tied maxima), ``jax.nn.logsumexp``, ``jax.nn.softmax``, ``jnp.matmul``,
``jnp.transpose``, ``jnp.reshape``, ``jnp.broadcast_to`` and ``jnp.where(c > 0, a, b)``;
numpy's conventions (``axis=None`` is every axis) are JAX's own. Forward mode is one
``jax.jvp`` per element of each variable, with a one-hot tangent.

Issue 17's ops: ``jax.scipy.special.erf``, ``jax.nn``'s activations (``gelu`` with
``approximate=False`` for the exact one: JAX's default is the tanh form), ``jax.lax.rsqrt``,
``jnp.clip`` and the ``jnp`` functions; in tensor programs ``jnp.var``/``std`` (``ddof=``),
``jnp.linalg.norm``, ``jax.nn.log_softmax``, ``jnp.take_along_axis``, ``table[indices]``,
slicing, ``jnp.concatenate``/``stack``, ``jnp.cumsum`` and ``jax.nn.dot_product_attention``
(one head). JAX has no cross-entropy loss and no layer or RMS norm with weights (optax and
flax have): those are not declared. Integer arguments are leaves of their own in the
recording, handed to the op as the numpy int64 arrays they came as.

Precision is scoped, not global: the float64 adapter runs inside ``jax.enable_x64(True)``
and the float32 one inside ``enable_x64(False)``, so both work in one process and neither
changes the ``jax_enable_x64`` setting other code in the process sees.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from verifier.engines import dtype_constructors
from verifier.engines.recipe import Recorded, Step, exponent

__all__ = ["JaxEngine", "JaxTensorEngine", "float64", "float32", "tensor_float64", "tensor_float32", "as_number", "x64",
           "FUNCTIONS", "TENSOR_FUNCTIONS"]

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide, "neg": jnp.negative,
    "pow": lambda x, c: jnp.power(x, exponent(c)), "powv": jnp.power,
    "exp": jnp.exp, "log": jnp.log, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid, "sqrt": jnp.sqrt, "abs": jnp.abs, "relu": jax.nn.relu,
    "atan": jnp.arctan, "log1p": jnp.log1p, "expm1": jnp.expm1,
    "maximum": jnp.maximum, "minimum": jnp.minimum,
    # issue 17: jax.nn's activations (gelu is exact only with approximate=False: JAX's default
    # is the tanh form), jax.scipy.special.erf, lax.rsqrt; parameters as Python floats
    "erf": jax.scipy.special.erf, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True), "silu": jax.nn.silu,
    "softplus": jax.nn.softplus, "logsigmoid": jax.nn.log_sigmoid, "elu": jax.nn.elu,
    "leaky_relu": lambda x, a: jax.nn.leaky_relu(x, negative_slope=float(a)),
    "sinh": jnp.sinh, "cosh": jnp.cosh, "asin": jnp.arcsin, "acos": jnp.arccos, "asinh": jnp.arcsinh,
    "atan2": jnp.arctan2, "hypot": jnp.hypot, "logaddexp": jnp.logaddexp, "square": jnp.square,
    "rsqrt": jax.lax.rsqrt, "reciprocal": jnp.reciprocal,
    "clamp": lambda x, lo, hi: jnp.clip(x, float(lo), float(hi)),
}


# the tensor ops: the elementwise table above (jnp broadcasts), and one call per structural op
TENSOR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    "sum": jnp.sum, "mean": jnp.mean, "max_reduce": jnp.max, "logsumexp": jax.nn.logsumexp,
    "softmax": jax.nn.softmax, "matmul": jnp.matmul, "transpose": jnp.transpose,
    "reshape": jnp.reshape, "broadcast_to": jnp.broadcast_to,
    "where": lambda c, a, b: jnp.where(c > 0, a, b),
    # issue 17. Integer arguments (targets, indices) arrive as numpy int64 arrays. JAX itself
    # has no cross-entropy loss (optax has), no layer or RMS norm with weights (flax has)
    "var": lambda x, axis=None, correction=0, keepdims=False: jnp.var(x, axis=axis, ddof=correction,
                                                                        keepdims=keepdims),
    "std": lambda x, axis=None, correction=0, keepdims=False: jnp.std(x, axis=axis, ddof=correction,
                                                                        keepdims=keepdims),
    "norm": lambda x, axis=None, keepdims=False: jnp.linalg.norm(x, axis=axis, keepdims=keepdims),
    "log_softmax": lambda x, axis=-1: jax.nn.log_softmax(x, axis=axis),
    "gather": lambda x, indices, axis=0: jnp.take_along_axis(x, indices, axis=axis),
    "embedding": lambda table, indices: table[indices],
    "slice": lambda x, slices: x[tuple(slice(*s) for s in slices)],
    "concat": lambda a, b, axis=0: jnp.concatenate((a, b), axis=axis),
    "stack": lambda a, b, axis=0: jnp.stack((a, b), axis=axis),
    "cumsum": lambda x, axis: jnp.cumsum(x, axis=axis),
}
if hasattr(jax.nn, "dot_product_attention"):      # jax >= 0.4.31
    # (T, d) as one head: JAX takes (T, heads, d); its default scale is 1/sqrt(d)
    TENSOR_FUNCTIONS["attention"] = lambda q, k, v, causal=False: jax.nn.dot_product_attention(
        q[:, None, :], k[:, None, :], v[:, None, :], is_causal=causal)[:, 0, :]


def as_number(x: Any) -> Any:
    """A 0-d result as a float (scalar programs), anything else as a numpy array."""
    a = np.asarray(x)
    return float(a) if a.ndim == 0 else a.copy()


def x64(on: bool):
    if hasattr(jax, "enable_x64"):                      # jax >= 0.4.36: a scoped setting
        return jax.enable_x64(on)
    try:
        from jax.experimental import disable_x64, enable_x64
        return enable_x64() if on else disable_x64()
    except ImportError:                                 # last resort: the process-wide flag
        jax.config.update("jax_enable_x64", on)
        return contextlib.nullcontext()


class _Jax(Recorded):
    """What the scalar and the tensor adapter share: recording, replay, both AD modes."""
    functions: dict[str, Callable[..., Any]] = FUNCTIONS

    def __init__(self, dtype: str = "float64"):
        self.dtype = dtype
        self.name = "jax" if dtype == "float64" else f"jax-{dtype}"
        self._dtype = getattr(jnp, dtype)
        super().__init__()

    def leaf(self, value: Any) -> Any:
        if np.asarray(value).dtype.kind == "i":    # indices or targets: numpy ints, as a user has them
            return value
        return jnp.asarray(value, self._dtype)

    def value(self, x: Step) -> Any:
        with x64(self.dtype == "float64"):
            return as_number(self.function(x, ())())

    def gradients(self, output: Step, variables: Sequence[Step]) -> list[Any]:
        if not variables:
            return []
        with x64(self.dtype == "float64"):
            f = self.function(output, variables)
            grads = jax.grad(f, argnums=tuple(range(len(variables))))(*self.arguments(variables))
            return [as_number(g) for g in grads]

    def forward_gradients(self, output: Step, variables: Sequence[Step]) -> list[Any]:
        """Forward mode: ``jax.jvp`` with a unit tangent on one variable (one element of
        it) at a time."""
        with x64(self.dtype == "float64"):
            f = self.function(output, variables)
            xs = self.arguments(variables)
            out = []
            for i, x in enumerate(xs):
                g = np.zeros(x.shape)
                for k in np.ndindex(x.shape):
                    tangents = tuple(jnp.zeros_like(w).at[k].set(1) if j == i else jnp.zeros_like(w)
                                     for j, w in enumerate(xs))
                    g[k] = float(jax.jvp(f, xs, tangents)[1])
                out.append(g.item() if g.ndim == 0 else g)
            return out


class JaxEngine(_Jax):
    """Scalar expressions."""

    def second_derivatives(self, output: Step, variables: Sequence[Step]) -> list[list[float]]:
        """Hessian rows: ``jax.hessian`` (forward mode over reverse mode)."""
        n = len(variables)
        if not n:
            return []
        with x64(self.dtype == "float64"):
            f = self.function(output, variables)
            H = jax.hessian(f, argnums=tuple(range(n)))(*self.arguments(variables))
            return [[float(H[i][j]) for j in range(n)] for i in range(n)]


class JaxTensorEngine(_Jax):
    """Tensor programs (``--tensor``): variables are numpy arrays, gradients come back as
    arrays of each variable's shape."""
    tensor = True
    functions = TENSOR_FUNCTIONS


float64, float32, tensor_float64, tensor_float32 = dtype_constructors(JaxEngine, JaxTensorEngine)
