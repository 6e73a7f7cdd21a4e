"""A PyTorch engine with a fused op of its own: ``mish`` with a hand-written backward.

``mish(x) = x · tanh(softplus(x))`` is written as a ``torch.autograd.Function``, the way a
fused kernel with its own backward is written. adverify has no mish of its own: the engine
declares what the op *is* in ``custom_ops`` (its SymPy form), and adverify checks the
hand-written backward against it, in every composition with the engine's other ops.

    adverify campaign --engine examples/custom_ops/torch_mish.py:Engine --examples 500
    adverify campaign --engine examples/custom_ops/torch_mish.py:BuggyEngine --examples 500

The first passes; the second has the classic slip of a hand-derived mish backward (the
derivative of tanh∘softplus forgotten: d/dx = tanh(softplus(x)) only) and fails, blamed on
mish.
"""
import torch
import torch.nn.functional as F


class Mish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = torch.tanh(F.softplus(x))
        # d/dx x·tanh(sp(x)) = tanh(sp(x)) + x·(1 - tanh²(sp(x)))·σ(x)
        return grad * (t + x * (1 - t * t) * torch.sigmoid(x))


class BuggyMish(Mish):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.tanh(F.softplus(x))      # the planted bug: the chain term is missing


class Engine:
    """The engine protocol (docs/engine-protocol.md) on plain PyTorch, float64."""
    name = "torch-mish"
    mish = Mish
    # what mish is: adverify derives its value, derivative and checks from this alone
    custom_ops = {"mish": lambda sp, x: x * sp.tanh(sp.log(1 + sp.exp(x)))}

    def __init__(self):
        self.ops = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "sin": torch.sin,
                    "exp": torch.exp, "tanh": torch.tanh, "mish": self.mish.apply}

    def variable(self, value):
        return torch.tensor(value, dtype=torch.float64, requires_grad=True)

    def constant(self, value):
        return torch.tensor(value, dtype=torch.float64)

    def value(self, x):
        return x.item()

    def gradients(self, output, variables):
        grads = torch.autograd.grad(output, variables, allow_unused=True)
        return [0.0 if g is None else g.item() for g in grads]


class BuggyEngine(Engine):
    name = "torch-mish-buggy"
    mish = BuggyMish
