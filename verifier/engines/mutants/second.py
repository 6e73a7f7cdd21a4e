"""The planted second-order bug: a local derivative right in value but stored as a
constant, so the gradient graph cannot be differentiated through it again."""
from __future__ import annotations

from dataclasses import replace

from verifier.engines.autograd.tensor import Tensor, make_op
from verifier.engines.builtin import BuiltinEngine
from verifier.engines.mutants.base import Mutant
from verifier.floor.ops import SCALAR_OPS

__all__ = ["SECOND", "frozen"]


def frozen(op: str):
    """The builtin engine with ``op``'s local derivatives frozen (right value, no derivative)."""
    def make() -> BuiltinEngine:
        engine = BuiltinEngine()
        spec = SCALAR_OPS[op]

        def constant_rule(rule):
            # on Tensors the value is taken out of the graph: right value, no derivative
            return lambda m, *a: Tensor(float(rule(m, *a).value)) if isinstance(a[-1], Tensor) else rule(m, *a)
        frozen = dict(partials=tuple(constant_rule(r) for r in spec.partials))
        if spec.ans_partials:   # the form the engine differentiates again
            frozen["ans_partials"] = tuple(constant_rule(r) for r in spec.ans_partials)
        engine.ops[op] = make_op(replace(spec, **frozen))
        return engine
    return make


SECOND: tuple[Mutant, ...] = (
    Mutant("second-order-frozen-tanh", "second order", "tanh's local derivative is right in value "
           "but stored as a constant, so the Hessian misses its derivative",
           frozen("tanh"), ("tanh",), options={"order": 2}, ops=("tanh", "mul", "add", "sin")),
    # x**y's two partials read its output and its base: near x**(x**x) at 1e-14, where a
    # rounded x**x alone moves the Hessian by 2.5e-6, a missing term must still be found
    Mutant("second-order-frozen-powv", "second order", "x**y's local derivatives are right in value "
           "but stored as constants, so the Hessian misses their derivatives",
           frozen("powv"), ("powv",), options={"order": 2}, ops=("powv", "mul", "add", "sin")),
)
