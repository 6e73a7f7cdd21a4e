"""The embedded default engine: the seed's Tensor, by path enumeration or reverse mode, and
forward mode (tangents pushed from one variable up to the output) for ``--forward``."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from verifier.engines.autograd import array
from verifier.engines.autograd.tensor import OPS, Tensor, backward_paths, backward_reverse, toposort

__all__ = ["BuiltinEngine", "BuiltinArrayEngine", "reverse", "paths", "tensor_reverse", "tensor_paths"]


class BuiltinEngine:
    dtype = "float64"
    name = "builtin"

    def __init__(self, strategy: str = "reverse"):
        if strategy not in ("reverse", "paths"):
            raise ValueError(f"unknown strategy {strategy!r}")
        self.strategy = strategy
        if strategy == "paths" and type(self).name == BuiltinEngine.name:
            self.name = "builtin-paths"
        self.ops = dict(OPS)

    def variable(self, value: float) -> Tensor:
        return Tensor(value)

    def constant(self, value: float) -> Tensor:
        return Tensor(value)

    def value(self, x: Tensor) -> float:
        return float(x.value)

    def gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[float]:
        backward = backward_paths if self.strategy == "paths" else backward_reverse
        grads = backward(output)
        return [float(grads.get(id(v), np.float64(0.0))) for v in variables]

    def forward_gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[float]:
        """Forward mode: per variable, a unit tangent pushed up the graph in topological order,
        each node's tangent the sum of its local partials times its arguments' tangents.
        The partials are the ones reverse mode uses (``tangent_partials``); only the order
        of the chain rule's products and sums differs."""
        order = toposort(output)
        grads = []
        with np.errstate(all="ignore"):
            for v in variables:
                tangent = {id(v): np.float64(1.0)}
                for t in order:
                    terms = [d * tangent[id(a)] for a, d in zip(t.args, self.tangent_partials(t))
                             if d is not None and id(a) in tangent]
                    if terms and id(t) not in tangent:
                        tangent[id(t)] = sum(terms[1:], terms[0])
                grads.append(float(tangent.get(id(output), 0.0)))
        return grads

    def tangent_partials(self, t: Tensor) -> tuple:
        """The local partials forward mode multiplies tangents by (a planted forward-mode
        bug replaces one op's: verifier.engines.mutants)."""
        return t.local_derivatives

    def second_derivatives(self, output: Tensor, variables: Sequence[Tensor]) -> list[list[float]]:
        """Hessian by differentiating the reverse-mode gradient graph (create_graph)."""
        first = backward_reverse(output, create_graph=True)
        rows = []
        for v in variables:
            g = first.get(id(v))
            if g is None:
                rows.append([0.0] * len(variables))
                continue
            second = backward_reverse(g)
            rows.append([float(second.get(id(w), 0.0)) for w in variables])
        return rows


def reverse() -> BuiltinEngine:
    return BuiltinEngine("reverse")


def paths() -> BuiltinEngine:
    return BuiltinEngine("paths")


class BuiltinArrayEngine:
    """The builtin engine for tensor programs (``--tensor``): numpy arrays, the seed's way."""

    dtype = "float64"
    name = "builtin"
    tensor = True

    def __init__(self, strategy: str = "reverse"):
        if strategy not in ("reverse", "paths"):
            raise ValueError(f"unknown strategy {strategy!r}")
        self._backward = array.backward_paths if strategy == "paths" else array.backward_reverse
        if strategy == "paths" and type(self).name == BuiltinArrayEngine.name:
            self.name = "builtin-paths"
        self.ops = dict(array.ARRAY_OPS)
        self._Array = array.Array

    def variable(self, value):
        return self._Array(value)

    def constant(self, value):
        return self._Array(value)

    def value(self, x):
        return x.value.copy() if x.value.ndim else float(x.value)

    def gradients(self, output, variables):
        grads = self._backward(output)
        return [grads.get(id(v), np.zeros_like(v.value)) for v in variables]


def tensor_reverse() -> BuiltinArrayEngine:
    return BuiltinArrayEngine("reverse")


def tensor_paths() -> BuiltinArrayEngine:
    return BuiltinArrayEngine("paths")
