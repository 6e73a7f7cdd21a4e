"""Planted bugs: the builtin engine with one realistic fault each, built only through the
public engine protocol. The quality tests and ``adverify selftest`` must find every one."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from .autograd.tensor import Tensor, make_op, toposort
from .engines.builtin import BuiltinEngine
from .ops import SCALAR_OPS

__all__ = ["Mutant", "MUTANTS"]


@dataclass(frozen=True)
class Mutant:
    name: str
    bug_class: str
    description: str
    make: Callable[[], object]
    culprits: tuple[str, ...] = ()      # ops a correct blame may name; () = composition fault
    kinds: tuple[str, ...] = ("mismatch",)
    ops: tuple[str, ...] | None = None  # restrict generation (None: every op)


def _rule(op: str, index: int, rule) -> Callable[[], BuiltinEngine]:
    """The builtin engine with one local partial replaced."""
    def make() -> BuiltinEngine:
        engine = BuiltinEngine()
        spec = SCALAR_OPS[op]
        partials = tuple(rule if i == index else p for i, p in enumerate(spec.partials))
        engine.ops[op] = make_op(replace(spec, partials=partials))
        engine.name = f"mutant-{op}-rule"
        return engine
    return make


class _Backward(BuiltinEngine):
    """The builtin engine with its backward pass replaced."""

    def __init__(self, name: str, backward: Callable[[Tensor], dict[int, float]], rounding=np.float64):
        super().__init__()
        self.name, self._backward, self._round = name, backward, rounding

    def gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[float]:
        grads = self._backward(output)
        return [float(self._round(grads.get(id(v), 0.0))) for v in variables]


def _overwrite(root: Tensor) -> dict[int, float]:
    adj = {id(root): 1.0}
    for t in reversed(toposort(root)):
        g = adj.get(id(t))
        if g is not None:
            for a, d in zip(t.args, t.local_derivatives):
                if d is not None:
                    adj[id(a)] = g * d          # the bug: = where += belongs
    return adj


def _preorder(root: Tensor) -> dict[int, float]:
    """Pushes each node's adjoint down the first time it is reached (depth first), before
    every path into it has been summed: the order is not topological."""
    adj = {id(root): 1.0}
    stack, seen = [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        for a, d in zip(t.args, t.local_derivatives):
            if d is not None:
                adj[id(a)] = adj.get(id(a), 0.0) + adj[id(t)] * d
                stack.append(a)
    return adj


def _reverse(root: Tensor) -> dict[int, float]:
    from .autograd.tensor import backward_reverse
    return backward_reverse(root)


MUTANTS: dict[str, Mutant] = {m.name: m for m in [
    Mutant("tanh-rule", "wrong local rule", "tanh' computed as 1 - tanh instead of 1 - tanh²",
           _rule("tanh", 0, lambda m, x, ans: 1.0 - ans), ("tanh",)),
    Mutant("div-sign", "sign error", "d(x/y)/dy computed as +x/y² instead of -x/y²",
           _rule("div", 1, lambda m, x, y, ans: ans / y), ("div",)),
    Mutant("overwrite", "accumulation", "a reused node's gradient overwritten instead of accumulated",
           lambda: _Backward("mutant-overwrite", _overwrite)),
    Mutant("preorder", "traversal order", "backward pass in depth-first pre-order, not topological order",
           lambda: _Backward("mutant-preorder", _preorder)),
    Mutant("float32-grads", "precision loss", "a float64 engine whose gradients are rounded to float32",
           lambda: _Backward("mutant-float32", _reverse, np.float32), tuple(SCALAR_OPS)),
]}
