"""Planted bugs: the builtin engine with one realistic fault each, built only through the
public engine protocol. The quality tests and ``adverify selftest`` must find every one.

Each fault is one a person writes: a rule copied from the wrong op, a sign slip, a factor
forgotten, a backward pass that visits nodes in the wrong order, a cache that merges leaves.
A record says which bug class of DESIGN §8 it stands for, which op a correct blame names
(``()``: a composition fault, no op is wrong alone; ``None``: no op to name at all, the fault
is in leaf or state handling), and which verdicts may report it.

This module holds the scalar mutants; ``verifier.engines.mutants`` lists every suite.
"""
from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from verifier.engines.autograd.tensor import Tensor, backward_reverse, make_op, toposort
from verifier.engines.builtin import BuiltinEngine
from verifier.engines.mutants.base import Mutant
from verifier.floor.mathns import F64
from verifier.floor.ops import SCALAR_OPS

__all__ = ["SCALAR", "FORWARD"]


# ── faults in one op ──────────────────────────────────────────────────────────────────────

def _rule(op: str, index: int, rule) -> Callable[[], BuiltinEngine]:
    """The builtin engine with one local partial replaced."""
    def make() -> BuiltinEngine:
        engine = BuiltinEngine()
        spec = SCALAR_OPS[op]
        partials = tuple(rule if i == index else p for i, p in enumerate(spec.partials))
        engine.ops[op] = make_op(replace(spec, partials=partials))
        return engine
    return make


def _forward(op: str, forward) -> Callable[[], BuiltinEngine]:
    """The builtin engine with one op's forward value replaced (its rules unchanged)."""
    return _record(op, forward=forward)


def _record(op: str, **changes) -> Callable[[], BuiltinEngine]:
    """The builtin engine with fields of one op's record replaced (forward and partials)."""
    def make() -> BuiltinEngine:
        engine = BuiltinEngine()
        engine.ops[op] = make_op(replace(SCALAR_OPS[op], **changes))
        return engine
    return make


def _copy_rules(op: str, source: str) -> BuiltinEngine:
    """One op's partials copied from another's (minimum's from maximum)."""
    engine = BuiltinEngine()
    engine.ops[op] = make_op(replace(SCALAR_OPS[op], partials=SCALAR_OPS[source].partials))
    return engine


def _swapped(op: str) -> BuiltinEngine:
    """A binary op's two partials exchanged (d/dx computed by d/dy's rule)."""
    engine = BuiltinEngine()
    spec = SCALAR_OPS[op]
    engine.ops[op] = make_op(replace(spec, partials=spec.partials[::-1]))
    return engine


# ── faults in the backward pass ───────────────────────────────────────────────────────────

class _Backward(BuiltinEngine):
    """The builtin engine with its backward pass replaced."""

    def __init__(self, backward: Callable[[Tensor], dict[int, float]], rounding=np.float64):
        super().__init__()
        self._backward, self._round = backward, rounding

    def gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[float]:
        grads = self._backward(output)
        return [float(self._round(grads.get(id(v), 0.0))) for v in variables]


def _push(adj: dict[int, float], t: Tensor, pairs) -> None:
    g = adj.get(id(t))
    if g is not None:
        for a, d in pairs:
            if d is not None:
                adj[id(a)] = adj.get(id(a), 0.0) + g * d


def _overwrite(root: Tensor) -> dict[int, float]:
    adj = {id(root): 1.0}
    for t in reversed(toposort(root)):
        g = adj.get(id(t))
        if g is not None:
            for a, d in zip(t.args, t.local_derivatives):
                if d is not None:
                    adj[id(a)] = g * d          # the bug: = where += belongs
    return adj


def _keyed_by_arg(root: Tensor) -> dict[int, float]:
    """Local derivatives kept in a dict keyed by the argument: in x*x the second partial
    replaces the first instead of adding to it."""
    adj = {id(root): 1.0}
    for t in reversed(toposort(root)):
        _push(adj, t, {id(a): (a, d) for a, d in zip(t.args, t.local_derivatives)}.values())
    return adj


def _no_visited(root: Tensor) -> dict[int, float]:
    """A topological order built without a visited set: a shared node appears once per path
    into it, and each appearance pushes its adjoint down again (double counting)."""
    order: list[Tensor] = []

    def build(t: Tensor) -> None:
        for a in t.args:
            build(a)
        order.append(t)
    build(root)
    adj = {id(root): 1.0}
    for t in reversed(order):
        _push(adj, t, zip(t.args, t.local_derivatives))
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


def _breadth_first(root: Tensor) -> dict[int, float]:
    """Level by level, each node once: a node is pushed down when first dequeued, which can
    be before a consumer deeper in the graph has added its share (s + exp(s))."""
    adj = {id(root): 1.0}
    queue, seen = deque([root]), {id(root)}
    while queue:
        t = queue.popleft()
        _push(adj, t, zip(t.args, t.local_derivatives))
        for a in t.args:
            if id(a) not in seen:
                seen.add(id(a))
                queue.append(a)
    return adj


def _leaves_first(root: Tensor) -> dict[int, float]:
    adj = {id(root): 1.0}
    for t in toposort(root):                   # the bug: reversed() forgotten
        _push(adj, t, zip(t.args, t.local_derivatives))
    return adj


def _chain_dropped(op: str) -> Callable[[Tensor], dict[int, float]]:
    """One op's backward adds its local derivative without multiplying by the upstream
    gradient (micrograd style: ``x.grad += cos(x)`` where ``cos(x) * out.grad`` belongs)."""
    def backward(root: Tensor) -> dict[int, float]:
        adj = {id(root): 1.0}
        for t in reversed(toposort(root)):
            g = adj.get(id(t))
            if g is None:
                continue
            upstream = 1.0 if t.op is not None and t.op.name == op else g
            for a, d in zip(t.args, t.local_derivatives):
                if d is not None:
                    adj[id(a)] = adj.get(id(a), 0.0) + upstream * d
        return adj
    return backward


# ── faults in leaves and state ────────────────────────────────────────────────────────────

class _InternedLeaves(BuiltinEngine):
    """Leaves hash-consed by value, to save nodes (tinygrad #9597): two variables that hold
    the same number become one node, and each gets the other's gradient too."""

    def __init__(self):
        super().__init__()
        self._leaves: dict[float, Tensor] = {}

    def variable(self, value: float) -> Tensor:
        return self._leaves.setdefault(float(value), Tensor(value))


class _SharedConstants(BuiltinEngine):
    """``constant(c)`` reuses any leaf already holding c, variables included: in ``x * 2`` at
    x = 2 the constant is x itself, and d/dx picks up a second path."""

    def __init__(self):
        super().__init__()
        self._leaves: dict[float, Tensor] = {}

    def variable(self, value: float) -> Tensor:
        t = self._leaves[float(value)] = Tensor(value)
        return t

    def constant(self, value: float) -> Tensor:
        return self._leaves.setdefault(float(value), Tensor(value))


class _Tape(BuiltinEngine):
    """A Wengert-list engine: every node goes on a tape, adjoints live in a buffer indexed
    by tape position. After a backward pass the tape is cleared for the next graph but the
    adjoint buffer is not (the forgotten ``zero_grad()``): the next graph's nodes, at the
    same positions, start from the last graph's adjoints."""

    def __init__(self):
        super().__init__()
        self._tape: list[Tensor] = []
        self._at: dict[int, int] = {}
        self._adjoint: dict[int, float] = {}
        self.ops = {name: self._recording(fn) for name, fn in self.ops.items()}

    def _record(self, t: Tensor) -> Tensor:
        self._at[id(t)] = len(self._tape)
        self._tape.append(t)
        return t

    def _recording(self, fn):
        return lambda *args: self._record(fn(*args))

    def variable(self, value: float) -> Tensor:
        return self._record(Tensor(value))

    def constant(self, value: float) -> Tensor:
        return self._record(Tensor(value))

    def gradients(self, output: Tensor, variables: Sequence[Tensor]) -> list[float]:
        at, adj = self._at, self._adjoint
        adj[at[id(output)]] = 1.0
        for t in reversed(self._tape):
            g = adj.get(at[id(t)], 0.0)
            for a, d in zip(t.args, t.local_derivatives):
                if d is not None and id(a) in at:
                    adj[at[id(a)]] = adj.get(at[id(a)], 0.0) + g * d
        grads = [float(adj.get(at[id(v)], 0.0)) for v in variables]
        self._tape.clear()
        self._at.clear()
        return grads


# ── faults in forward mode ────────────────────────────────────────────────────────────────

class _ForwardRule(BuiltinEngine):
    """Forward mode with its own rule for one op's partial, as engines write JVP rules apart
    from VJP rules (PyTorch's forward-AD formulas, autograd's ``defjvp``): reverse mode stays
    right, so only ``--forward`` can see the fault."""

    def __init__(self, op: str, index: int, rule):
        super().__init__()
        self._op, self._index, self._rule = op, index, rule

    def tangent_partials(self, t: Tensor) -> tuple:
        if t.op is None or t.op.name != self._op:
            return t.local_derivatives
        with np.errstate(all="ignore"):
            d = np.float64(self._rule(F64, *(a.value for a in t.args), t.value))
        return tuple(d if i == self._index else p for i, p in enumerate(t.local_derivatives))


def _f32(x):
    return np.float64(np.float32(x))


_ALL = tuple(SCALAR_OPS)
# one op among 42 is in one example of seven: a mutant whose fault shows only in a corner of
# its op (an edge, a precision loss, a new op's forward value that matters only downstream)
# is looked for among the arithmetic that carries its value on
_WITH_ARITHMETIC = ("add", "sub", "mul", "div", "neg")
# where the op's gradient is tiny (sigmoid' = 1e-174 at its edge), products would take it
# below the normal range, and the check would be undecided
_ADDITIVE = ("add", "sub", "neg")
_BLOWS_UP = ("mismatch", "nonfinite")    # a wrong rule with a pole, or one that overflows
_FORWARD = ("forward", "precision")      # a forward value off in the last digits is precision lost

SCALAR: tuple[Mutant, ...] = (
    # ── wrong local rule ──
    Mutant("tanh-rule", "wrong local rule", "tanh' computed as 1 - tanh instead of 1 - tanh²",
           _rule("tanh", 0, lambda m, x, ans: 1.0 - ans), ("tanh",), ops=_WITH_ARITHMETIC + ("tanh",)),
    Mutant("tan-rule", "wrong local rule", "tan' copied from tanh: 1 - tan² instead of 1 + tan²",
           _rule("tan", 0, lambda m, x, ans: 1.0 - ans * ans), ("tan",)),
    Mutant("atan-rule", "wrong local rule", "atan' = 1/(1 - x²) instead of 1/(1 + x²)",
           _rule("atan", 0, lambda m, x, ans: 1.0 / (1.0 - x * x)), ("atan",), _BLOWS_UP),
    Mutant("log1p-rule", "wrong local rule", "log1p' = 1/x, the rule of log",
           _rule("log1p", 0, lambda m, x, ans: 1.0 / x), ("log1p",), _BLOWS_UP),
    Mutant("expm1-as-exp", "wrong local rule", "expm1' = ans, copied from exp (the +1 lost)",
           _rule("expm1", 0, lambda m, x, ans: ans), ("expm1",), ops=_WITH_ARITHMETIC + ("expm1",)),
    Mutant("relu-ans", "wrong local rule", "relu' = relu(x): the output where the mask belongs",
           _rule("relu", 0, lambda m, x, ans: ans), ("relu",), _BLOWS_UP),
    Mutant("abs-one", "wrong local rule", "abs' = 1 everywhere, as if abs were the identity",
           _rule("abs", 0, lambda m, x, ans: 1.0), ("abs",)),
    Mutant("minimum-as-max", "wrong local rule", "minimum's rules copied from maximum",
           lambda: _copy_rules("minimum", "maximum"), ("minimum",)),
    Mutant("gelu-tanh-derivative", "wrong local rule", "gelu's exact forward x·Φ(x), differentiated by "
           "the rule of its tanh approximation (off by up to 2e-4)",
           _rule("gelu", 0, SCALAR_OPS["gelu_tanh"].partials[0]), ("gelu",), _BLOWS_UP,
           ops=_WITH_ARITHMETIC + ("gelu",)),
    # ── sign error ──
    Mutant("div-sign", "sign error", "d(x/y)/dy computed as +x/y² instead of -x/y²",
           _rule("div", 1, lambda m, x, y, ans: ans / y), ("div",)),
    Mutant("sub-sign", "sign error", "d(x - y)/dy = +1",
           _rule("sub", 1, lambda m, x, y, ans: 1.0), ("sub",)),
    Mutant("neg-sign", "sign error", "neg passes its gradient through unchanged (+1)",
           _rule("neg", 0, lambda m, x, ans: 1.0), ("neg",)),
    Mutant("cos-sign", "sign error", "cos' = sin(x) instead of -sin(x)",
           _rule("cos", 0, lambda m, x, ans: m.sin(x)), ("cos",)),
    # ── a factor missing, an exponent off by one ──
    Mutant("pow-no-c", "missing factor", "d x^c = x^(c-1): the factor c forgotten",
           _rule("pow", 0, lambda m, x, c, ans: m.pow(x, c - 1)), ("pow",), _BLOWS_UP, ops=_WITH_ARITHMETIC + ("pow",)),
    Mutant("pow-off-by-one", "off-by-one exponent", "d x^c = c·x^c instead of c·x^(c-1)",
           _rule("pow", 0, lambda m, x, c, ans: c * ans), ("pow",), _BLOWS_UP, ops=_WITH_ARITHMETIC + ("pow",)),
    Mutant("sqrt-half", "missing factor", "sqrt' = 1/sqrt(x): the ½ forgotten",
           _rule("sqrt", 0, lambda m, x, ans: 1.0 / ans), ("sqrt",)),
    Mutant("powv-no-log", "missing factor", "d(x^y)/dy = x^y: the log(x) factor forgotten",
           _rule("powv", 1, lambda m, x, y, ans: ans), ("powv",)),
    Mutant("sin-chain", "missing chain factor", "sin's backward adds cos(x) without multiplying "
           "by the upstream gradient", lambda: _Backward(_chain_dropped("sin")), ("sin",)),
    # ── the wrong argument ──
    Mutant("mul-swapped", "wrong argument", "d(x·y)/dx = x and d(x·y)/dy = y (partials swapped)",
           lambda: _swapped("mul"), ("mul",)),
    Mutant("log-ans", "wrong argument", "log' = 1/log(x): the rule reads the output, not the input",
           _rule("log", 0, lambda m, x, ans: 1.0 / ans), ("log",), _BLOWS_UP),
    Mutant("sigmoid-x", "wrong argument", "sigmoid' = σ(x)·(1 - x) instead of σ(x)·(1 - σ(x))",
           _rule("sigmoid", 0, lambda m, x, ans: ans * (1.0 - x)), ("sigmoid",), _BLOWS_UP),
    # ── 0·inf and overflow at domain edges ──
    Mutant("pow-ratio", "0·inf at a domain edge", "d x^c = c·x^c/x: 0/0 = nan at x = 0 (x² there)",
           _rule("pow", 0, lambda m, x, c, ans: c * ans / x), ("pow",), ("nonfinite", "mismatch"),
           ops=_WITH_ARITHMETIC + ("pow",)),
    Mutant("abs-ratio", "0·inf at a domain edge", "abs' = x/|x| in Python floats: raises at x = 0",
           _rule("abs", 0, lambda m, x, ans: float(x) / abs(float(x))), ("abs",), ("crash",)),
    Mutant("sigmoid-overflow", "overflow in a rule", "sigmoid' = e^-x/(1 + e^-x)²: the square "
           "overflows for x < -355 and the gradient flushes to 0",
           _rule("sigmoid", 0, lambda m, x, ans: m.exp(-x) / (1.0 + m.exp(-x)) ** 2), ("sigmoid",), _BLOWS_UP,
           ops=_ADDITIVE + ("sigmoid",)),
    Mutant("softplus-overflow", "overflow in a rule", "softplus as log(1 + e^x) with the derivative "
           "e^x/(1 + e^x): both overflow to inf and nan for x > 709, and the value is 0 for x < -37",
           _record("softplus", forward=lambda m, x: m.log(1.0 + m.exp(x)),
                   partials=(lambda m, x, ans: m.exp(x) / (1.0 + m.exp(x)),)), ("softplus",),
           ("mismatch", "nonfinite"), ops=_WITH_ARITHMETIC + ("softplus",)),
    Mutant("div-square-overflow", "overflow in a rule", "d(x/y)/dy = -x/(y·y): y·y overflows (or "
           "underflows) where x/y² is a normal number", _rule("div", 1, lambda m, x, y, ans: -x / (y * y)),
           ("div",), _BLOWS_UP, ops=_WITH_ARITHMETIC),
    # ── tie conventions ──
    # (0, 0) at a tie is outside the subgradient set {(t, 1 - t)}: alone, the joint kink test
    # finds it (each partial alone is within [0, 1]); in max(x, x) = x it is a gradient of 0
    Mutant("max-tie-zero", "tie convention", "maximum routes the gradient by x > y and y > x: "
           "at a tie neither argument gets it, (0, 0), so max(x, x)' = 0",
           _rule("maximum", 1, lambda m, x, y, ans: m.step(y - x)), ("maximum",), blames=("local-rule",)),
    Mutant("min-tie-zero", "tie convention", "minimum routes the gradient by x < y and y < x: "
           "at a tie neither argument gets it, (0, 0), so min(x, x)' = 0",
           _rule("minimum", 0, lambda m, x, y, ans: m.step(y - x)), ("minimum",), blames=("local-rule",)),
    # ── precision loss ──
    Mutant("float32-grads", "precision loss", "a float64 engine whose gradients are rounded to float32",
           lambda: _Backward(backward_reverse, np.float32), _ALL, blames=("precision",)),
    Mutant("exp-float32", "precision loss", "exp' rounded to float32 (a float32 buffer in one rule)",
           _rule("exp", 0, lambda m, x, ans: _f32(ans)), ("exp",), _BLOWS_UP, ops=_WITH_ARITHMETIC + ("exp",)),
    Mutant("atan-cos2", "precision loss", "atan' = cos²(atan x): exact algebra, but cos of a "
           "rounded π/2 cancels for large |x|", _rule("atan", 0, lambda m, x, ans: m.cos(ans) ** 2), ("atan",),
           ops=_WITH_ARITHMETIC + ("atan",)),
    # ── forward value ──
    Mutant("log1p-naive", "forward value", "log1p computed as log(1 + x): wrong for small x",
           _forward("log1p", lambda m, x: m.log(1.0 + x)), ("log1p",), blames=_FORWARD),
    Mutant("expm1-naive", "forward value", "expm1 computed as exp(x) - 1: wrong for small x",
           _forward("expm1", lambda m, x: m.exp(x) - 1.0), ("expm1",), blames=_FORWARD,
           ops=_WITH_ARITHMETIC + ("expm1",)),
    Mutant("sigmoid-sign", "forward value", "sigmoid forward 1/(1 + e^x): a sign slip",
           _forward("sigmoid", lambda m, x: 1.0 / (1.0 + m.exp(x))), ("sigmoid",)),
    # ── accumulation ──
    Mutant("overwrite", "accumulation", "a reused node's gradient overwritten instead of accumulated",
           lambda: _Backward(_overwrite)),
    Mutant("arg-dict", "accumulation", "local derivatives in a dict keyed by argument: x·x keeps one",
           lambda: _Backward(_keyed_by_arg)),
    Mutant("double-visit", "accumulation", "topological order built without a visited set: a shared "
           "node is pushed down once per path (double counting)", lambda: _Backward(_no_visited)),
    # ── traversal order ──
    Mutant("preorder", "traversal order", "backward pass in depth-first pre-order, not topological order",
           lambda: _Backward(_preorder)),
    Mutant("breadth-first", "traversal order", "backward pass breadth first, each node once",
           lambda: _Backward(_breadth_first)),
    Mutant("leaves-first", "traversal order", "the topological order walked leaves first (reversed() "
           "forgotten)", lambda: _Backward(_leaves_first)),
    # ── identical leaves merged; state between calls ──
    Mutant("interned-leaves", "identical leaves merged", "variables hash-consed by value: x and y "
           "with x == y become one node", _InternedLeaves, None),
    Mutant("shared-constants", "identical leaves merged", "constant(c) reuses a variable holding c",
           _SharedConstants, None),
    # ops whose partials are never 0: where one is (abs' at 0), the stale adjoint below it is
    # never added to, and the same case twice gives the same wrong answer, like a wrong rule
    Mutant("stale-tape", "stale gradients", "adjoint buffer not zeroed between backward calls",
           _Tape, None, ("inconsistent", "mismatch"), ops=_WITH_ARITHMETIC + ("sin", "exp")),
)

# ── forward mode: found only by checking forward_gradients too (Options.forward) ──
FORWARD: tuple[Mutant, ...] = (Mutant("div-jvp-sign", "forward mode", "forward mode's rule for x/y adds ans/y·dy instead of "
                "subtracting it (reverse mode is right)", lambda: _ForwardRule("div", 1, lambda m, x, y, ans: ans / y),
                ("div",), ops=_WITH_ARITHMETIC + ("sin", "exp"), options={"forward": True}),)
