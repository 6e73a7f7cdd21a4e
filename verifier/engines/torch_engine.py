"""PyTorch, float64 (``torch``) and float32 (``torch-float32``): ``pip install 'adverify[torch]'``.

Each op is the torch function a user calls on a 0-d tensor; ``pow`` is ``x ** c`` with a
Python number, as one writes it. Reverse mode is ``torch.autograd.grad`` over the eager
graph; ``second_derivatives`` differentiates that gradient graph again (``create_graph``);
``forward_gradients`` is forward-mode AD (``torch.autograd.forward_ad``, one unit tangent per
variable) over a replay of the same ops, which every tensor records as it is made.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.autograd.forward_ad as fwAD

from .recipe import Step, exponent, replay

__all__ = ["TorchEngine", "float64", "float32", "FUNCTIONS"]

# op name -> the torch function (one line per op, nothing composed)
FUNCTIONS = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "neg": torch.neg,
    "pow": lambda x, c: torch.pow(x, exponent(c.item())), "powv": torch.pow,
    "exp": torch.exp, "log": torch.log, "sin": torch.sin, "cos": torch.cos, "tan": torch.tan,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "sqrt": torch.sqrt, "abs": torch.abs,
    "relu": torch.relu, "atan": torch.atan, "log1p": torch.log1p, "expm1": torch.expm1,
    "maximum": torch.maximum, "minimum": torch.minimum,
}


def _step(t: torch.Tensor) -> Step:
    return t.adverify_step


class TorchEngine:
    def __init__(self, dtype: str = "float64"):
        self.dtype = dtype
        self.name = "torch" if dtype == "float64" else f"torch-{dtype}"
        self._dtype = getattr(torch, dtype)
        self.ops = {name: self._recording(name, fn) for name, fn in FUNCTIONS.items()}

    @staticmethod
    def _recording(name: str, fn):
        def op(*args: torch.Tensor) -> torch.Tensor:
            out = fn(*args)
            out.adverify_step = Step(name, args)   # for forward mode's replay
            return out
        op.__name__ = name
        return op

    def _leaf(self, v: float, kind: str, grad: bool) -> torch.Tensor:
        t = torch.tensor(v, dtype=self._dtype, requires_grad=grad)
        t.adverify_step = Step(kind, value=v)
        return t

    def variable(self, v: float) -> torch.Tensor:
        return self._leaf(v, "var", True)

    def constant(self, v: float) -> torch.Tensor:
        return self._leaf(v, "const", False)

    def value(self, x: torch.Tensor) -> float:
        return x.item()

    def gradients(self, output: torch.Tensor, variables: Sequence[torch.Tensor]) -> list[float | None]:
        if not variables or not output.requires_grad:
            return [0.0] * len(variables)
        grads = torch.autograd.grad(output, list(variables), allow_unused=True)
        return [None if g is None else g.item() for g in grads]

    def second_derivatives(self, output: torch.Tensor, variables: Sequence[torch.Tensor]) -> list[list[float]]:
        """Hessian rows: reverse mode over the reverse-mode gradient graph."""
        n = len(variables)
        if not n or not output.requires_grad:
            return [[0.0] * n for _ in range(n)]
        first = torch.autograd.grad(output, list(variables), create_graph=True, allow_unused=True)
        rows = []
        for g in first:
            if g is None or not g.requires_grad:       # the gradient is a constant
                rows.append([0.0] * n)
                continue
            second = torch.autograd.grad(g, list(variables), retain_graph=True, allow_unused=True)
            rows.append([0.0 if s is None else s.item() for s in second])
        return rows

    def forward_gradients(self, output: torch.Tensor, variables: Sequence[torch.Tensor]) -> list[float]:
        """Forward mode (``torch.autograd.forward_ad``): the ops replayed on dual numbers,
        with a unit tangent on one variable at a time."""
        grads = []
        for i in range(len(variables)):
            with fwAD.dual_level():
                bound = {id(v): fwAD.make_dual(v.detach(), torch.ones_like(v)) if j == i else v.detach()
                         for j, v in enumerate(variables)}
                out = replay(output, _step, FUNCTIONS, lambda t: bound.get(id(t), t.detach()))
                tangent = fwAD.unpack_dual(out).tangent
                grads.append(0.0 if tangent is None else tangent.item())   # None: no dependence
        return grads


def float64() -> TorchEngine:
    return TorchEngine("float64")


def float32() -> TorchEngine:
    return TorchEngine("float32")
