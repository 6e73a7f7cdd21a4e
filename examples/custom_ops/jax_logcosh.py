"""A JAX engine with an op of its own: ``logcosh`` as a ``jax.custom_vjp`` with a
hand-written backward (log cosh, the smooth L1 loss, written to avoid cosh's overflow).

    adverify campaign --engine examples/custom_ops/jax_logcosh.py:Engine --examples 500
    adverify campaign --engine examples/custom_ops/jax_logcosh.py:BuggyEngine --examples 500

The first passes; the second's backward has a sign slip for negative x (it returns
|tanh(x)| where the derivative is tanh(x)) and fails, blamed on logcosh.
"""
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after x64 is on)

from verifier.engines.recipe import Recorded  # noqa: E402


def _logcosh(x):
    # |x| + log1p(e^{-2|x|}) - log 2: no overflow where cosh(x) would
    a = jnp.abs(x)
    return a + jnp.log1p(jnp.exp(-2 * a)) - jnp.log(2.0)


@jax.custom_vjp
def logcosh(x):
    return _logcosh(x)


def _forward(x):
    return _logcosh(x), x


def _backward(x, g):
    return (g * jnp.tanh(x),)


logcosh.defvjp(_forward, _backward)


@jax.custom_vjp
def buggy_logcosh(x):
    return _logcosh(x)


buggy_logcosh.defvjp(_forward, lambda x, g: (g * jnp.abs(jnp.tanh(x)),))   # the planted bug


class Engine(Recorded):
    """The engine protocol on JAX through adverify's record-and-replay helper
    (docs/engine-protocol.md, "Tape-based and functional engines")."""
    name = "jax-logcosh"
    functions = {"add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "sin": jnp.sin,
                 "exp": jnp.exp, "tanh": jnp.tanh, "logcosh": logcosh}
    custom_ops = {"logcosh": lambda sp, x: sp.log(sp.cosh(x))}

    def leaf(self, value):
        return jnp.asarray(value, jnp.float64)

    def value(self, x):
        return float(self.function(x, [])())

    def gradients(self, output, variables):
        f = self.function(output, variables)
        grads = jax.grad(f, argnums=tuple(range(len(variables))))(*self.arguments(variables))
        return [float(g) for g in grads]


class BuggyEngine(Engine):
    name = "jax-logcosh-buggy"
    functions = {**Engine.functions, "logcosh": buggy_logcosh}
