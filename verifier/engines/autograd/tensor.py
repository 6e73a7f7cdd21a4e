"""The seed's scalar ``Tensor`` ("Gradient Descent into Madness"), driven by the op table.

A Tensor stores its ``args`` and the ``local_derivatives`` of its value with respect to each
of them. The derivative of the output with respect to a leaf is the sum, over every path
from the output down to that leaf, of the product of the local derivatives along the path —
``backward_paths`` does exactly that; ``backward_reverse`` computes the same sum by
accumulating adjoints in reverse topological order (what real engines do).

With ``create_graph=True`` the local derivatives are rebuilt as Tensors (the op table's
rules run on the ``TensorMath`` namespace), so a gradient is itself a Tensor that can be
differentiated again: that is the second-order check.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from verifier.floor.mathns import F64
from verifier.floor.ops import SCALAR_OPS, Op

__all__ = ["Tensor", "OPS", "make_op", "backward_paths", "backward_reverse", "accumulate", "count_paths",
           "toposort"]


class Tensor:
    __slots__ = ("value", "args", "local_derivatives", "op")

    def __init__(self, value, args: tuple["Tensor", ...] = (), local_derivatives: tuple = (),
                 op: Op | None = None):
        self.value = np.float64(value)
        self.args = args
        self.local_derivatives = local_derivatives
        self.op = op

    def __repr__(self) -> str:
        return f"Tensor({float(self.value)!r}{', ' + self.op.name if self.op else ''})"

    # Arithmetic so the op table's rules can run on Tensors (second order).
    def __add__(self, o): return OPS["add"](self, o)
    def __radd__(self, o): return OPS["add"](o, self)
    def __sub__(self, o): return OPS["sub"](self, o)
    def __rsub__(self, o): return OPS["sub"](o, self)
    def __mul__(self, o): return OPS["mul"](self, o)
    def __rmul__(self, o): return OPS["mul"](o, self)
    def __truediv__(self, o): return OPS["div"](self, o)
    def __rtruediv__(self, o): return OPS["div"](o, self)
    def __neg__(self): return OPS["neg"](self)
    def __gt__(self, o): return self.value > _value(o)

    def local_tensors(self) -> tuple["Tensor | None", ...]:
        """The local derivatives as differentiable Tensors (rebuilt from the op's rules).

        Where the table records the textbook form from the output (tanh' = 1 - tanh²), that
        one is built, as engines build it: it differentiates well (tanh'' = -2·tanh·tanh')."""
        if self.op is None:
            return ()
        rules = self.op.ans_partials or self.op.partials
        return tuple(None if rule is None else _lift(rule(TensorMath, *self.args, self))
                     for rule in rules)


def _value(x):
    return x.value if isinstance(x, Tensor) else np.float64(x)


def _lift(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def make_op(op: Op) -> Callable[..., Tensor]:
    """The engine function for one op-table record: forward value and local partials."""
    def apply(*args) -> Tensor:
        args = tuple(_lift(a) for a in args)
        values = [a.value for a in args]
        with np.errstate(all="ignore"):
            ans = op.forward(F64, *values)
            local = tuple(None if rule is None else np.float64(rule(F64, *values, ans))
                          for rule in op.partials)
        return Tensor(ans, args, local, op)
    apply.__name__ = op.name
    return apply


OPS: dict[str, Callable[..., Tensor]] = {name: make_op(op) for name, op in SCALAR_OPS.items()}
# erfc is no op of the table, but the rules of gelu read it (1 - erf cancels for x >> 0):
# its own record, so that a rule that calls it can be differentiated again
_ERFC = make_op(Op("erfc", lambda sp, x: sp.erfc(x), lambda m, x: m.erfc(x),
                   (lambda m, x, ans: -2 / m.sqrt(m.pi) * m.exp(-x * x),)))


class TensorMath:
    """The math namespace on Tensors: each function builds graph nodes."""

    float = staticmethod(lambda v: Tensor(v))
    exp, log, sin, cos, tan = (OPS[k] for k in ("exp", "log", "sin", "cos", "tan"))
    tanh, sqrt, atan, log1p, expm1 = (OPS[k] for k in ("tanh", "sqrt", "atan", "log1p", "expm1"))
    sigmoid, abs, maximum, minimum = OPS["sigmoid"], OPS["abs"], OPS["maximum"], OPS["minimum"]
    sinh, cosh, asin, acos, asinh = (OPS[k] for k in ("sinh", "cosh", "asin", "acos", "asinh"))
    erf, atan2, hypot, logaddexp, softplus = (OPS[k] for k in ("erf", "atan2", "hypot", "logaddexp", "softplus"))
    erfc = _ERFC
    pi = np.pi
    pow = staticmethod(lambda x, c: OPS["pow"](x, c))
    # piecewise-constant functions have derivative 0: constants, not graph nodes
    sign = staticmethod(lambda x: Tensor(np.sign(_value(x))))
    step = staticmethod(lambda x: Tensor(1.0 if _value(x) > 0 else 0.0))


def toposort(root: Tensor) -> list[Tensor]:
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
        elif id(t) not in seen:
            seen.add(id(t))
            stack.append((t, True))
            stack.extend((a, False) for a in t.args)
    return order


def count_paths(root: Tensor) -> int:
    """How many output→leaf paths ``backward_paths`` will walk (it is exponential in depth)."""
    paths: dict[int, int] = {id(root): 1}
    total = 0
    for t in reversed(toposort(root)):
        n = paths.get(id(t), 0)
        if not t.args:
            total += n
        for a in t.args:
            paths[id(a)] = paths.get(id(a), 0) + n
    return total


def backward_paths(root: Tensor) -> dict[int, np.float64]:
    """The seed's algorithm: walk every path, multiply local derivatives, sum per leaf."""
    grads: dict[int, np.float64] = {}
    stack = [(root, np.float64(1.0))]
    with np.errstate(all="ignore"):
        while stack:
            t, product = stack.pop()
            if not t.args:
                grads[id(t)] = grads.get(id(t), np.float64(0.0)) + product
            for arg, local in zip(t.args, t.local_derivatives):
                if local is not None:
                    stack.append((arg, product * local))
    return grads


def accumulate(root, seed, push) -> dict[int, object]:
    """Reverse accumulation over any graph of nodes with ``.args``: each node's adjoint is
    complete before ``push(node, adjoint)`` hands its (arg, contribution) pairs down."""
    adjoint: dict[int, object] = {id(root): seed}
    order = toposort(root)
    with np.errstate(all="ignore"):
        for t in reversed(order):
            g = adjoint.get(id(t))
            if g is None or not t.args:
                continue
            for arg, c in push(t, g):
                adjoint[id(arg)] = adjoint[id(arg)] + c if id(arg) in adjoint else c
    return {id(t): adjoint[id(t)] for t in order if not t.args and id(t) in adjoint}


def backward_reverse(root: Tensor, create_graph: bool = False) -> dict[int, object]:
    """Reverse mode; with ``create_graph`` the adjoints are Tensors (second order)."""
    def push(t: Tensor, g):
        local = t.local_tensors() if create_graph else t.local_derivatives
        return ((arg, g * d) for arg, d in zip(t.args, local) if d is not None)
    return accumulate(root, Tensor(1.0) if create_graph else np.float64(1.0), push)


def leaves(root: Tensor) -> Iterable[Tensor]:
    return (t for t in toposort(root) if not t.args)
