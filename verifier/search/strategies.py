"""Hypothesis strategies: expression DAGs with sharing, at points that stress them.

A case is drawn top down, each node's arguments before its op, so the float value of every
argument is known when its op is chosen: an op is applied only where it is defined (log of
a positive value, pow's base in its domain, no overflow), so no example is thrown away. A
leaf may be an op node built before (which makes a DAG), and a binary op may take the same
node twice (``x*x``): that is how shared sub-expressions and several paths arise.

Ops are drawn uniformly over the engine's ops, values from regimes where engines break
(ties, special points, tiny, moderate, huge, and the edges the op table declares: exp's
overflow, sigmoid's and tanh's saturation, the denominators where x/y² leaves the range) as
well as ordinary ones; a value on an op's edge is given to that op whenever an op of its
arity is drawn for it.
Shrinking works on Hypothesis' choice sequence: every node is a span whose size is its own
choice, so a subtree shrinks to a leaf or to one of its descendants in one step; "ordinary"
magnitudes come first among the regimes, and constants shrink toward 1 and 2.
"""
from __future__ import annotations

import functools
import hashlib
import math
from collections import Counter
from contextvars import ContextVar
from typing import Sequence

import numpy as np
from hypothesis import reject, strategies as st

from verifier.engines import Capabilities
from verifier.floor.ir import Node, apply, const, var, variables
from verifier.floor.mathns import F64, precise
from verifier.floor.ops import Op, UnknownOp
from verifier.floor.tensor_ops import IR_NAMES
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import Case
from verifier.truth.judge import foresee

__all__ = ["cases", "values", "VAR_NAMES", "REGIMES", "check_ops", "choice", "composite", "draw_value", "ints", "sampled",
           "sizes", "value_in"]

# Every strategy here has a Hypothesis label that is the same in every process. Hypothesis'
# shrinker sorts labels to order some of its passes, and a label it computes from Python's
# hash() moves with PYTHONHASHSEED (strings) or with memory addresses (None before 3.12,
# code objects): the same seed then shrank in another order from run to run (one check more
# in one run of two). Hence ``composite`` and ``sampled`` below, in place of Hypothesis' own.


def _digest(text: str, size: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")


class _Named:
    """A composite strategy's definition whose Hypothesis label comes from its name alone.
    Hypothesis labels a ``@composite`` function by hash() of its code (strings, and the
    address of any nested code object), a callable object by its ``__hash__``: this one's
    is its qualified name's digest."""

    def __init__(self, f):
        self.f = f
        functools.update_wrapper(self, f)
        self._hash = _digest(f"{f.__module__}.{f.__qualname__}", 8)

    def __call__(self, *args, **kwargs):
        return self.f(*args, **kwargs)

    def __hash__(self) -> int:   # equality stays identity
        return self._hash


def composite(f):
    """``hypothesis.strategies.composite``, with a label the same in every process."""
    return st.composite(_Named(f))


def sampled(options: Sequence) -> st.SearchStrategy:
    """``st.sampled_from(options)``, with a label the same in every process: Hypothesis
    labels a sample of strings or None by their hash(), of a range by its bounds. The range
    starts at a digest of the options, so that samples of different options keep different
    labels, as with Hypothesis' own. The same choice is drawn (an index) and shrinks the
    same way, toward the first option. Built once per options (see ``ints``)."""
    options = tuple(options)
    return _sampled(repr(options), options)


@functools.lru_cache(maxsize=None)
def _sampled(text: str, options: tuple) -> st.SearchStrategy:
    # keyed by the text too: to a dict (False,) is (0,), and keepdims=0 is no keepdims=False
    k = _digest(text, 4)
    return st.sampled_from(range(k, k + len(options))).map(lambda i: options[i - k])


VAR_NAMES = ("x", "y", "z", "w", "u", "v", "s", "t")
_SPECIAL = (0.0, 1.0, -1.0, 0.5, 2.0, -2.0, math.pi / 2, -math.pi / 2, math.pi, 1e-8, -1e-8, 3.0)
_EXPONENTS = (2.0, 3.0, -1.0, 0.5, -0.5, 1.5, 4.0, -2.0, 1.0 / 3.0, 2.5)
_DECADES = {"float64": 300, "float32": 30}   # the widest magnitudes drawn, in decades


def check_ops(names: Sequence[str], tensor: bool = True, vocabulary: Vocabulary = BUILTIN) -> list[str]:
    """``names`` without repeats; an ``UnknownOp`` for a name the vocabulary has no record of,
    or for a tensor op asked of a scalar campaign (it is known: say what turns it on). An
    engine's name for an op is taken for the IR's (``var`` is ``variance``)."""
    names = [IR_NAMES.get(n, n) for n in names]
    unknown = [n for n in names if not vocabulary.knows(n)]
    if unknown:
        raise UnknownOp(f"unknown op {unknown[0]!r} (known: {', '.join(sorted(vocabulary.tensor))})")
    tensor_only = [n for n in names if n not in vocabulary]
    if tensor_only and not tensor:
        raise UnknownOp(f"{tensor_only[0]!r} is a tensor op: add --tensor to check tensor programs "
                        "(tensor=True in Python)")
    return list(dict.fromkeys(names))


@functools.lru_cache(maxsize=None)
def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """``st.integers(lo, hi)``, built once per range: a strategy is validated the first time
    it is drawn from, and one built afresh at every node paid that each time (a tenth of a
    campaign's time, profiled). The same strategy, so the same label: Hypothesis' mutations
    copy a draw into another of the same label, and integers share one whatever their range
    (a sample of a range, a quarter cheaper to draw, has a label per range: op choices were
    then copied into each other, and a few ops were drawn three times their share)."""
    return st.integers(lo, hi)


def _below(n: int) -> st.SearchStrategy[int]:
    return ints(0, n - 1)


def choice(draw, options: Sequence):
    """One of ``options``, shrinking toward the first. Drawn where there is one to pick too: a
    case shrunk to fewer options then reads the same choices after this one."""
    return options[draw(_below(len(options)))]


def _round(x: float, dtype: str) -> float:
    return float(np.float32(x)) if dtype == "float32" else x


_MANTISSA = st.floats(1.0, 9.999, allow_nan=False)
_SIGN = sampled((1, -1))
_ORDINARY = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
_MODERATE = st.floats(10.0, 1000.0)


def _draw_scaled(draw, lo: int, hi: int) -> float:
    return draw(_MANTISSA) * 10.0 ** draw(ints(lo, hi)) * draw(_SIGN)


@composite
def _scaled(draw, lo: int, hi: int) -> float:
    return _draw_scaled(draw, lo, hi)


def _draw_regime(draw, regime: str, dtype: str) -> float:
    """A value of ``regime`` (not a tie, not an edge). Drawn as its few choices, in no
    strategy of its own: each strategy drawn is a span of Hypothesis' and costs what a
    choice does."""
    decades = _DECADES[dtype]
    if regime == "ordinary":
        return draw(_ORDINARY)
    if regime == "special":
        return draw(_SPECIALS)
    if regime == "tiny":
        return _draw_scaled(draw, -decades, -4)
    if regime == "large":
        return _draw_scaled(draw, 4, decades)
    # moderate, 10 < |x| < 1000: where exp overflows or flushes (float64 from 709 and -745,
    # float32 from 88 and -103), tanh and sigmoid saturate: most of it reached by no other regime
    return draw(_MODERATE) * draw(_SIGN)


# ordinary first: it shrinks best. The edges twice for a scalar: each is a narrow window
# (sigmoid's e^-x squared overflows only for x in [-694, -355]) and several ops' edges
# share the regime. Once for a tensor's elements: one of a dozen on exp's edge saturates a softmax
# over all of them, and a softmax that is one-hot hides its backward.
REGIMES = ("ordinary", "tie", "special", "tiny", "moderate", "large", "edge")
_REGIME = sampled(REGIMES + ("edge",))
ELEMENT_REGIME = sampled(REGIMES)
_NEAR = sampled((None, math.inf, -math.inf))   # the same value, the next up, the next down
_BOOL = st.booleans()
_NICE = sampled((1.0, 2.0, 0.5, -1.0, 3.0, 10.0, 0.1, -0.5))
_SPECIALS = sampled(_SPECIAL)


@functools.lru_cache(maxsize=None)
def edges(dtype: str, ops: tuple[str, ...], vocabulary: Vocabulary = BUILTIN
          ) -> dict[str, tuple[tuple[float, float], ...]]:
    """The windows where the float implementations of ``ops`` break (``Op.edges``), at this
    dtype, by op."""
    info = np.finfo(dtype)
    overflow, precision = math.log(float(info.max)), -math.log(float(info.eps))
    return {name: vocabulary[name].edges(overflow, precision) for name in ops
            if name in vocabulary and vocabulary[name].edges}


@functools.lru_cache(maxsize=None)
def _edge(dtype: str, ops: tuple[str, ...], vocabulary: Vocabulary = BUILTIN) -> st.SearchStrategy[float]:
    """A value on an edge of one of ``ops``: each window as likely as another (Hypothesis
    flattens a one_of of one_of's); edges shared count once, and an op whose edges are all
    others' adds none (expm1 has exp's overflow and log1p's small |x|). Where no op has an
    edge, the extreme magnitudes, where products and squares leave the range."""
    kinds = _kinds(dtype, ops, vocabulary)
    if not kinds:
        return _scaled(4, _DECADES[dtype]) | _scaled(-_DECADES[dtype], -4)
    return st.one_of([st.one_of([st.floats(lo, hi) for lo, hi in windows]) for windows in kinds])


def _kinds(dtype: str, ops: tuple[str, ...], vocabulary: Vocabulary) -> list[tuple[tuple[float, float], ...]]:
    """The ops' windows, an op's together, less the ops whose windows are all others'."""
    found = set(edges(dtype, ops, vocabulary).values())

    def covered(windows) -> bool:
        others = {w for o in found if o != windows and set(o) <= set(windows) for w in o}
        return others == set(windows)
    return sorted(k for k in found if not covered(k))


@functools.lru_cache(maxsize=None)
def _windows(dtype: str, ops: tuple[str, ...], vocabulary: Vocabulary = BUILTIN) -> tuple[st.SearchStrategy[float], ...]:
    """``_edge``'s windows, each once, to be drawn as an index and a float: the same values,
    where a one_of builds and validates a new strategy at every draw."""
    kinds = _kinds(dtype, ops, vocabulary)
    if not kinds:
        return _scaled(4, _DECADES[dtype]), _scaled(-_DECADES[dtype], -4)
    return tuple(st.floats(lo, hi) for lo, hi in dict.fromkeys(w for windows in kinds for w in windows))


def draw_value(draw, dtype: str = "float64", ties: Sequence[float] = (),
               ops: tuple[str, ...] = tuple(BUILTIN), regimes: st.SearchStrategy[str] = _REGIME,
               vocabulary: Vocabulary = BUILTIN, flush: bool = False) -> float:
    """Ordinary numbers first, then the regimes where engines break, the edges of ``ops``
    among them; ``ties`` are values drawn before, so equal and adjacent values make the kinks
    of max, abs(x - y), relu(x - c). ``flush``: the engine flushes subnormals to zero
    (``subnormals = "flush"``), so a subnormal drawn is drawn as that zero."""
    return value_in(draw, draw(regimes), dtype, ties, ops, vocabulary, flush)


def value_in(draw, regime: str, dtype: str, ties: Sequence[float], ops: tuple[str, ...],
             vocabulary: Vocabulary = BUILTIN, flush: bool = False) -> float:
    """``draw_value`` in a regime drawn already (one of ``REGIMES``)."""
    x = _draw_value(draw, regime, dtype, ties, ops, vocabulary)
    if flush and x != 0 and abs(x) < float(np.finfo(dtype).tiny):
        return math.copysign(0.0, x)
    return x


def _draw_value(draw, regime: str, dtype: str, ties: Sequence[float], ops: tuple[str, ...],
                vocabulary: Vocabulary) -> float:
    if regime == "edge":
        return _round(draw(choice(draw, _windows(dtype, ops, vocabulary))), dtype)
    if regime == "tie":
        if not ties:
            regime = "ordinary"
        else:
            t = choice(draw, ties)
            toward = draw(_NEAR)
            return _round(t if toward is None else math.nextafter(t, toward), dtype)
    return _round(_draw_regime(draw, regime, dtype), dtype)


@composite
def values(draw, dtype: str = "float64", ties: Sequence[float] = ()) -> float:
    return draw_value(draw, dtype, ties)


# A constant is a nice number half the time (what shrinks best), exactly a variable's value
# a quarter of the time: an engine that merges leaves by value (a cache keyed on the number)
# gives x + c the gradient 2 when c == x, and a value drawn from the regimes ties one
# exactly only one time in forty
_CONSTANT = sampled(("nice",) * 4 + ("drawn",) * 2 + ("variable",) * 2)


def _draw_constant(draw, dtype: str, ties: Sequence[float], ops: tuple[str, ...], vocabulary: Vocabulary,
                   flush: bool = False) -> float:
    kind = draw(_CONSTANT)
    if kind == "nice":
        return draw(_NICE)
    if kind == "variable" and ties:
        return choice(draw, ties)
    return draw_value(draw, dtype, ties, ops, vocabulary=vocabulary, flush=flush)


@functools.lru_cache(maxsize=None)
def _bounds(dtype: str) -> tuple[float, float]:
    """The magnitudes a judged value stays within: 10⁶ inside the dtype's range either way."""
    info = np.finfo(dtype)
    return float(info.max) / 1e6, float(info.tiny) * 1e6


def _value(op: Op, args: Sequence[float], dtype: str) -> float | None:
    """``op`` at ``args`` in float64, as the op table computes it; None where that is not a
    point we can judge: undefined, not finite or not representable, partials included."""
    if not all(math.isfinite(a) for a in args) or not op.domain(*args):   # a bound 10·|x| past the range
        return None
    hi, lo = _bounds(dtype)
    with np.errstate(all="ignore"):
        xs = [np.float64(a) for a in args]
        ans = op.forward(F64, *xs)
        parts = [rule(F64, *xs, ans) for rule in op.partials if rule]
    for x in [ans, *parts]:
        x = float(x)
        if not math.isfinite(x) or abs(x) > hi or (x != 0 and abs(x) < lo):
            return None
    if any(float(p) == 0 for p in parts):
        # a partial of exactly 0 may be one float64 flushed (atan' at 1e300 is 1e-600):
        # mpmath's exponent range tells, at 20 digits
        m = precise(20)
        exact = [m.float(a) for a in args]
        for rule in op.partials:
            if rule is not None:
                d = rule(m, *exact, op.forward(m, *exact))
                if d != 0 and abs(d) < lo:
                    return None
    return float(ans)


class _Build:
    """What one example's expression is built from: the ops, the variables at their values,
    the op nodes made so far (reusing one makes a DAG)."""

    def __init__(self, ops: tuple[str, ...], offset: int, variables_, drawn: list[float], dtype: str,
                 vocabulary: Vocabulary, flush: bool = False):
        self.ops, self.offset, self.variables, self.drawn, self.dtype = ops, offset, variables_, drawn, dtype
        self.vocabulary, self.flush = vocabulary, flush
        self.shared: list[tuple[Node, float]] = []
        self.arity, self.edges = _plan(ops, dtype, vocabulary)
        self.asks: list[tuple[int, bool, bool]] = []   # the nodes being drawn, innermost last

    def node(self, draw, cap: int, root: bool = False, constant: bool = True) -> tuple[Node, float]:
        """A node of at most ``cap`` ops (``_node``), drawn as its own Hypothesis span."""
        self.asks.append((cap, root, constant))
        try:
            return draw(_NODE)
        finally:
            self.asks.pop()

    def stress(self, draw, op: str, x: float, arg: int) -> str:
        """``op``, or an op of its arity with an edge at ``x`` as its argument ``arg``: a value
        on an op's edge goes to that op, where drawn uniformly one op in 22 would waste it."""
        stressed = [name for name, at, windows in self.edges if at == arg and self.arity[name] == self.arity[op]
                    and any(lo <= x <= hi for lo, hi in windows)]
        return choice(draw, stressed) if stressed else op

    def leaf(self, draw, constant: bool = True) -> tuple[Node, float]:
        k = draw(_below(10))
        if k >= 8 and self.shared:
            return choice(draw, self.shared)
        if k >= 6 and constant:
            c = _draw_constant(draw, self.dtype, self.drawn, self.ops, self.vocabulary, self.flush)
            return const(c), c
        return self.variables[k % len(self.variables)]


@functools.lru_cache(maxsize=None)
def _plan(ops: tuple[str, ...], dtype: str, vocabulary: Vocabulary):
    """Each op's arity (its constants aside), and its edges as (name, argument, windows)."""
    arity = {o: vocabulary[o].arity - len(vocabulary[o].params) for o in ops}
    return arity, [(name, vocabulary[name].edge_arg, windows) for name, windows in edges(dtype, ops, vocabulary).items()]


# The builder of the example being drawn. Every node is a draw from one strategy, ``_NODE``,
# which finds what to build from here and its bounds on the builder's ``asks``: a strategy
# made per node (``_node(b, cap)``) was validated by Hypothesis at its first draw, which at
# every node was a third of generation's time.
_BUILD: ContextVar[_Build] = ContextVar("_BUILD")

# A node is a leaf when this draws 0: what the shrinker reaches for, so cutting a subtree is
# lowering one choice. Generation makes an op 7 times in 8, so sizes stay near the cap drawn.
_GROW = ints(0, 7)


@composite
def _node(draw) -> tuple[Node, float]:
    """An expression of at most ``cap`` op nodes. Every node is its own Hypothesis span, and
    its size comes from its own choices — ``cap`` only bounds it — so the shrinker can put a
    descendant in a node's place (abs(abs(x)) → abs(x)) without the choices after it being
    read differently. (A budget split exactly between children made every size change a
    coordinated edit of several choices, and reproducers stuck at chains like abs(abs(abs(x))).)
    ``constant`` False: this node may not be a constant leaf, since an op on constants alone
    is no op node (sin(2) is kept as 2: a whole unary chain over a constant came to nothing).
    (cap, root, constant) are the ones ``_Build.node`` was asked for."""
    b = _BUILD.get()
    cap, root, constant = b.asks[-1]
    grow = draw(_GROW)          # drawn even at cap 0, so a node reads the same choices at any cap
    if cap == 0 or (grow == 0 and not root):
        return b.leaf(draw, constant)
    n = len(b.ops)
    # uniform over every op, rotated by the example's offset: the runs of simplest choices
    # Hypothesis generates (index 0 everywhere) land on a different op in each example, so
    # no op is drawn five times as often as another for being first in the list
    op = b.ops[(b.offset + draw(_below(n))) % n]
    if b.arity[op] == 2:
        k = choice(draw, range(cap))
        before = len(b.shared)
        a = b.node(draw, k)
        if draw(_BOOL):
            # a again (x*x: several paths into one node), or a node inside a (s + f(s): paths
            # of different lengths, which a backward pass out of order gets wrong)
            inside = [a] + b.shared[before:-1][::-1] if a[0].op not in ("var", "const") else [a]
            x2 = choice(draw, inside)
        else:
            x2 = b.node(draw, cap - 1 - k, constant=a[0].op != "const")
        args = [a, x2]
        op = b.stress(draw, op, x2[1], 1)
    else:
        a = b.node(draw, cap - 1, constant=False)
        args = [a, _Constants(draw)]   # the constants, should the op take some (pow's exponent)
        op = b.stress(draw, op, a[1], 0)
    if all(x[0].op == "const" for x in args[:b.arity[op]]):
        return a
    found = _applicable(draw, b, op, args)
    if found is None:
        return a                       # nothing applies at these values: keep the argument
    spec, args, ans = found
    node = (apply(spec, *(x[0] for x in args)), _round(ans, b.dtype))
    b.shared.append(node)
    return node


_NODE = _node()


def _applicable(draw, b: _Build, op: str, args):
    """(op, its arguments, its value) for ``op`` if it is defined at the arguments' values;
    else for another op of its arity, drawn afresh, or one after it (taking the next one
    after ``op`` would give the op after one that is often undefined, after sqrt or log,
    that op's share too). None: no op of that arity applies."""
    found = _applied(b.vocabulary[op], args, b.dtype)
    if found is not None:
        return found
    same = [o for o in b.ops if b.arity[o] == b.arity[op]]
    j = draw(_below(len(same)))
    for o in same[j:] + same[:j]:      # from the fresh draw on, so no op is everyone's fallback
        found = _applied(b.vocabulary[o], args, b.dtype) if o != op else None
        if found is not None:
            return found
    return None


def _applied(op: Op, args, dtype: str):
    """(op, its arguments, its float64 value) where ``op`` is judgeable at them, else None."""
    args = _args(op, args, dtype)
    ans = _value(op, [x[1] for x in args], dtype)
    return None if ans is None else (op, args, ans)


def _args(op: Op, args, dtype: str):
    """A binary node's arguments as drawn; a unary node's are drawn as (argument, the raw
    choices of any constants): an op with parameters gets its constants made from them."""
    if op.arity - len(op.params) == 2:
        return args
    if not op.params:
        return args[:1]
    constants = iter([(const(c), c) for c in _param_values(op, args[0][1], args[1], dtype)])
    return [next(constants) if i in op.params else args[0] for i in range(op.arity)]


def _param_values(op: Op, x: float, raw: _Constants, dtype: str) -> list[float]:
    """leaky_relu's slope, clamp's bounds around ``x``; any other op's parameters take the
    exponent drawn (pow's, and an engine's own ops')."""
    if op.name == "leaky_relu":
        return [_round(raw.slope, dtype)]
    if op.name == "clamp":
        return [_round(c, dtype) for c in _clamp_bounds(x, *raw.clamp)]
    return [raw.exponent] * len(op.params)


def _clamp_bounds(x: float, where: str, w1: float, w2: float) -> tuple[float, float]:
    """(lo, hi) placed about x so that its kinks are met: x inside, on a bound (the ties),
    below or above; widths relative to |x|, so that a huge x is not its own bound."""
    s = max(abs(x), 1.0)
    if where == "inside":
        return x - w1 * s, x + w2 * s
    if where == "lo":
        return x, x + w1 * s
    if where == "hi":
        return x - w1 * s, x
    if where == "below":        # x < lo
        return x + w1 * s, x + (w1 + w2) * s
    return x - (w1 + w2) * s, x - w1 * s   # above: hi < x


# leaky_relu's usual slopes, and any; clamp's bounds: where x stands, and two widths
_SLOPES = (0.01, 0.1, 0.2, 1.5, -0.5)
_WIDTHS = (1.0, 0.5, 2.0, 1e-3, 10.0)
_EXPONENT = sampled(_EXPONENTS)
_SLOPE = st.one_of(sampled(_SLOPES), st.floats(-3.0, 3.0, allow_nan=False))
_CLAMP = st.tuples(sampled(("inside", "lo", "hi", "below", "above")), sampled(_WIDTHS), sampled(_WIDTHS))


class _Constants:
    """A unary node's constants, drawn when an op that takes them is first tried there:
    pow's exponent, leaky_relu's slope, clamp's (where, width, width). Few ops take constants
    (3 of the builtin's 33 unary ones): drawn at every node, they were 2 draws in 5."""

    def __init__(self, draw):
        self._draw = draw

    @functools.cached_property
    def exponent(self) -> float:
        return self._draw(_EXPONENT)

    @functools.cached_property
    def slope(self) -> float:
        return self._draw(_SLOPE)

    @functools.cached_property
    def clamp(self) -> tuple[str, float, float]:
        return self._draw(_CLAMP)


@functools.lru_cache(maxsize=None)
def sizes(max_nodes: int) -> st.SearchStrategy[int]:
    """1 to ``max_nodes``: sampled_from is uniform (integers favours 1) and still shrinks
    toward the first, 1."""
    return st.sampled_from(range(1, max_nodes + 1))


@composite
def cases(draw, ops: Sequence[str] | None = None, max_nodes: int = 12, n_vars: int = 3,
          dtype: str = "float64", vocabulary: Vocabulary = BUILTIN,
          capabilities: Capabilities = Capabilities(), judgeable: bool = True,
          screened: Counter | None = None) -> Case:
    """An expression of at most ``max_nodes`` ops of ``vocabulary`` (all its scalar ops, or
    those named in ``ops``) over ``n_vars`` variables, and a point; no subnormal input for
    an engine that declares it flushes them (``capabilities``).

    A point where the reference could not decide — an argument within rounding reach of a
    pole, an intermediate quantity outside the float range (``truth.judge.foresee``) — is passed
    over (unless ``judgeable`` is False): Hypothesis draws another, and ``screened`` (when
    given) counts it by cause."""
    flush = capabilities.flush
    ops = tuple(o for o in check_ops(tuple(vocabulary) if ops is None else ops, vocabulary=vocabulary)
                if o in vocabulary)
    offset = draw(_below(len(ops)))
    names = VAR_NAMES[:max(1, min(n_vars, len(VAR_NAMES)))]
    drawn: list[float] = []
    for name in names:
        drawn.append(draw_value(draw, dtype, drawn, tuple(ops), vocabulary=vocabulary, flush=flush))
    point = dict(zip(names, drawn))
    b = _Build(ops, offset, [(var(n), point[n]) for n in names], drawn, dtype, vocabulary, flush)
    token = _BUILD.set(b)
    try:
        out = b.node(draw, draw(sizes(max_nodes)), root=True)[0]
    finally:
        _BUILD.reset(token)
    if out.is_leaf:
        reject()  # every op fell outside its domain here: rare, and no case beats a fake one
    case = Case(out, {v: point[v] for v in variables(out)}, ops=vocabulary)
    why = foresee(case, dtype) if judgeable else None
    if why is not None:
        if screened is not None:
            screened[why[0]] += 1
        reject()
    return case
