"""Record and replay: the helper for engines that differentiate functions, not graphs.

A public API (docs/engine-protocol.md, "Tape-based and functional engines"). JAX, HIPS
autograd and TensorFlow's ``GradientTape`` have no graph to build op by op: they
differentiate a Python function, or record only what runs inside a tape. Such an adapter
subclasses ``Recorded``: its ops record ``Step``s instead of computing, and each question
(``gradients``, ``value``, ...) turns the recording back into a function of the variables'
values (``function``) for the engine to transform (``jax.grad``, ``autograd.grad``) or to
run under its tape. The replay evaluates every node once and passes the result to all its
consumers, so the engine sees the same DAG — shared nodes included — that an eager engine
would have built. The derivatives come from the engine's own rules; this module only
remembers what to call.

    class MyJax(Recorded):
        name = "my-jax"
        functions = {"add": jnp.add, "mul": jnp.multiply, "sin": jnp.sin,
                     "pow": lambda x, c: jnp.power(x, exponent(c))}

        def leaf(self, value):                  # a leaf's value as the engine's array
            return jnp.asarray(value, jnp.float64)

        def value(self, x):
            return float(self.function(x, [])())

        def gradients(self, output, variables):
            f = self.function(output, variables)
            return jax.grad(f, argnums=tuple(range(len(variables))))(*self.arguments(variables))

The PyTorch adapter uses the same replay for forward mode: its tensors carry their ``Step``,
and ``forward_gradients`` re-runs it on dual numbers.

Tensor programs (``--tensor``) call ops with keyword parameters (``sum(x, axis=1,
keepdims=False)``): a Step keeps them, and the replay passes them back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

__all__ = ["Step", "Recorded", "recorders", "replay", "exponent"]


@dataclass(frozen=True, eq=False)   # identity, not value: two leaves equal in value stay two
class Step:
    op: str                          # "var", "const", or an op name
    args: tuple[Any, ...] = ()
    value: Any = 0.0                 # a leaf's value: a float, or a numpy array in tensor programs
    params: tuple[tuple[str, Any], ...] = ()   # keyword parameters (axis=, keepdims=, shape=, axes=)


def recorders(names) -> dict[str, Callable[..., Step]]:
    """``ops`` for a recording engine: each op returns the Step that calls it. An argument
    that is no Step — an integer array of targets or indices, which adverify passes as it
    is — becomes a leaf Step holding it, so the replay hands it back to the op (through
    ``leaf``, which should return an integer array unchanged)."""
    def record(name: str) -> Callable[..., Step]:
        def step(*args: Any, **params: Any) -> Step:
            args = tuple(a if isinstance(a, Step) else Step("iconst", value=a) for a in args)
            return Step(name, args, params=tuple(params.items()))
        step.__name__ = name
        return step
    return {name: record(name) for name in names}


def replay(out: Any, step_of: Callable[[Any], Step], fns: Mapping[str, Callable[..., Any]],
           leaf: Callable[[Any], Any]) -> Any:
    """Evaluate the DAG under ``out`` again: ``leaf(node)`` for leaves, ``fns[op](*args)``
    for the rest, each node once (iteratively: a deep chain must not hit the recursion limit)."""
    done: dict[int, Any] = {}
    stack: list[tuple[Any, bool]] = [(out, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        step = step_of(node)
        if not step.args:
            done[id(node)] = leaf(node)
        elif expanded:
            done[id(node)] = fns[step.op](*(done[id(a)] for a in step.args), **dict(step.params))
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in step.args if id(a) not in done)
    return done[id(out)]


class Recorded:
    """An engine that builds nothing until asked: ``ops``, ``variable`` and ``constant``
    record ``Step``s, and ``function(output, variables)`` replays them as a function of the
    variables' values. A subclass names its op table (``functions``: op name -> the engine's
    function, taking the same arguments and keyword parameters as the op) and how a leaf's
    value becomes the engine's array (``leaf``), and answers ``value`` and ``gradients``
    (and optionally ``forward_gradients``, ``second_derivatives``, ``evaluate``) with it."""
    functions: Mapping[str, Callable[..., Any]]

    def __init__(self):
        self.ops = recorders(self.functions)

    def variable(self, v: Any) -> Step:
        return Step("var", value=v)

    def constant(self, v: Any) -> Step:
        return Step("const", value=v)

    def leaf(self, value: Any) -> Any:
        raise NotImplementedError

    def function(self, output: Step, variables: Sequence[Step]) -> Callable[..., Any]:
        """The recorded expression as a function of the variables' values; other leaves are
        concrete arrays (so ``pow`` can read its exponent as a Python number). ``leaf`` runs
        when the function does, under whatever setting (JAX's x64) the caller holds then."""
        def f(*xs):
            bound = {id(v): x for v, x in zip(variables, xs)}
            return replay(output, _itself, self.functions, lambda s: bound.get(id(s), self.leaf(s.value)))
        return f

    def arguments(self, variables: Sequence[Step]) -> tuple:
        """The variables' values as the engine's arrays, in order: what ``function`` takes."""
        return tuple(self.leaf(v.value) for v in variables)


def _itself(s: Step) -> Step:
    return s


def exponent(c: float) -> int | float:
    """The constant of ``pow`` as a user writes it: ``x ** 2``, not ``x ** 2.0``. Engines
    may pick a different rule for an integer exponent (JAX: ``lax.integer_pow``)."""
    c = float(c)
    return int(c) if c.is_integer() and abs(c) < 2 ** 31 else c
