"""Hypothesis strategies for tensor programs over small shapes.

Variables get broadcast-compatible shapes (variants of one base shape with leading axes
dropped or axes set to 1), so elementwise ops broadcast; reductions, softmax, matmul,
reshapes and ``where`` are applied where they fit. ``where(c, sqrt(c), b)`` is built on
purpose: its unselected branch is NaN, and the function has no business seeing it. Every
program ends in ``sum(out * W)`` with W a fixed cotangent of exactly representable values.

Every op is drawn about as often as another, and an op not defined at the node drawn for it
goes to the next node where it is. What the engine declared (``engines.Capabilities``:
``max_rank``, ``broadcasting``, ``op_limits``, ``subnormals``) bounds what is drawn.

Integer arguments (cross_entropy's targets, gather's and embedding's indices) are ``iconst``
leaves drawn in range with Hypothesis integers, so they shrink toward 0, i.e. toward small
and repeated indices; half the time one index repeats another on purpose, since a backward
that assigns where it should accumulate is right until an index comes twice. A layer norm's
weight and bias are fresh variables (or nodes of the right shape already made).

One program in ``_BLOCK_SHARE`` is a whole small transformer block, when the engine has its
ops (``_block``): embedding, a norm, causal attention, a residual MLP, logits and the
cross-entropy loss, the composition where engines' rules meet.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from hypothesis import reject, strategies as st

from verifier.engines import Capabilities
from verifier.floor.ir import Node, const, toposort, var
from verifier.floor.program import forward, iconst, params_of, reduce_with, tapply, tconst
from verifier.floor.tensor_ops import ENGINE_NAMES, TensorOp
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import Case
from verifier.search.strategies import (ELEMENT_REGIME, REGIMES, VAR_NAMES, composite, draw_value, ints, sampled, sizes,
                                        value_in)

__all__ = ["tensor_cases"]

_BOOL = st.booleans()
# an element after the first: a copy of an earlier one a quarter of the time, else of a regime.
# One choice, not two (a draw costs the same whatever it decides), which shrinks toward no copy
_ELEMENT = sampled(REGIMES * 3 + ("copy",) * len(REGIMES))
_COTANGENT = (1.0, -1.0, 0.5, 1.25, -0.75, 2.0, -1.5, 0.625)
_EXPONENTS = (2.0, 3.0, 0.5, -1.0)
_MAX_SIZE = 12
RETRIES = 4       # ops drawn for one step at most, until one applies
_EPS = (1e-5, 1e-6, 0.1, 1.0)
_REDUCTIONS = ("mean", "sum")
# ops that take or make a matrix: none is drawn for an engine that declares rank 1 at most
_MATRIX = ("matmul", "transpose", "attention", "embedding", "cross_entropy")
# a transformer block needs every one of these ops and one of the norms
_BLOCK = ("embedding", "attention", "gelu", "matmul", "add", "cross_entropy")
_NORMS = ("layer_norm", "rms_norm")
# one program in about 40 is a block (Hypothesis draws the top of a range less often than
# its share): a block costs ten ordinary programs' checks, and the tensor campaign is to keep
# 80% of its throughput (at one in ten it kept 11%)
_BLOCK_SHARE = 25
# attention scores at most this far apart in a row: beyond, softmax underflows to subnormals,
# where the oracles are undecided, and a one-hot softmax hides most of attention's backward
_MAX_SPREAD = 300.0
_IR_NAMES = {called: name for name, called in ENGINE_NAMES.items()}
# of order 1, never 0 nor tiny: a weight of 1e-200 makes products subnormal, and a weight of
# 0 gradients that are exactly 0 by cancellation (a key shifted alike for every query), left
# as residues of 1e-400 the oracles take for subnormal: either way, undecided
_UNIT = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)


def _block_value(draw) -> float:
    x = draw(_UNIT)   # moved off 0 here, not by a .map: a mapped strategy is one draw more
    return x if abs(x) >= 0.01 else x + 0.01


def _fits(a: np.ndarray, dtype: str) -> bool:
    info = np.finfo(dtype)
    return bool(np.all(np.isfinite(a)) and np.all(np.abs(a) <= float(info.max) / 1e6)
                and np.all((a == 0) | (np.abs(a) >= float(info.tiny) * 1e6)))


def _elementwise_ok(spec: TensorOp, xs: list[np.ndarray], dtype: str) -> np.ndarray | None:
    b = np.broadcast_arrays(*xs)
    if not all(spec.scalar.domain(*(float(v[i]) for v in b)) for i in np.ndindex(b[0].shape)):
        return None
    ans = spec.forward(xs)
    if not _fits(ans, dtype):
        return None
    for g in spec.vjp(xs, ans, np.ones_like(ans)):
        if g is not None and not _fits(np.asarray(g), dtype):
            return None
    return ans


@functools.lru_cache(maxsize=None)   # one strategy per arguments (see strategies.ints)
@composite
def _shape(draw, max_rank: int = 3) -> tuple:
    rank = draw(sampled(tuple(r for r in (1, 0, 2, 3) if r <= max_rank)))
    dims = []
    for _ in range(rank):
        dims.append(draw(sampled((2, 1, 3, 4))))
        if math.prod(dims) > _MAX_SIZE:
            dims[-1] = 1
    return tuple(dims)


@functools.lru_cache(maxsize=None)   # one strategy per arguments (see strategies.ints)
@composite
def _variant(draw, base: tuple) -> tuple:
    """A shape that broadcasts against ``base``: leading axes dropped, some axes set to 1."""
    drop = draw(ints(0, len(base)))
    return tuple(1 if draw(_BOOL) and draw(_BOOL) else d for d in base[drop:])


def _point(draw, names, base: tuple, dtype: str, elementwise: tuple, vocabulary: Vocabulary,
           caps: Capabilities) -> dict[str, np.ndarray]:
    drawn: list[float] = []
    point: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        # an engine that does not broadcast gets every variable in one shape: binary ops
        # need partners of their own shape
        shape = base if i == 0 or not caps.broadcasting else draw(_variant(base))
        a = np.empty(shape)
        for k, idx in enumerate(np.ndindex(shape)):
            # an element equal to an earlier one, often: ties inside a tensor are where
            # max_reduce's conventions live
            regime = draw(_ELEMENT if k else ELEMENT_REGIME)
            if regime == "copy":
                a[idx] = a.flat[draw(ints(0, k - 1))]
            else:
                a[idx] = value_in(draw, regime, dtype, drawn, elementwise, vocabulary, flush=caps.flush)
            drawn.append(float(a[idx]))
        point[name] = a
    return point


def _axis_options(caps: Capabilities, op: str, rank: int, options: tuple) -> tuple:
    """``options`` for ``op``'s axis at this rank, or the engine's own limit on it (as the
    engine wrote it, -1 included) where that fits the rank."""
    limit = caps.limit(op, "axis")
    if limit is None:
        return options
    return tuple(a for a in limit if (a is None and None in options) or (a is not None and -rank <= a < rank))


def _cotangent(draw, shape: tuple) -> np.ndarray:
    w = np.empty(shape)
    for idx in np.ndindex(shape):
        w[idx] = draw(sampled(_COTANGENT))
    return w


def _indices(draw, shape: tuple, n: int, axis: int | None = None) -> np.ndarray:
    """Integers in [0, n) of this shape. Each shrinks toward 0, so a reproducer's indices are
    small and repeated; and half the time one of them (along ``axis``; None: anywhere)
    repeats an earlier one: an index used twice is where a backward that assigns instead of
    accumulating loses gradient, and drawn independently from 3 rows, 2 indices differ 2/3 of
    the time."""
    a = np.array([draw(ints(0, n - 1)) for _ in range(math.prod(shape))], dtype=np.int64).reshape(shape)
    fibres = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, -1)   # views: writes reach a
    m = fibres.shape[-1]
    if m >= 2 and n >= 2 and draw(_BOOL):
        k = draw(ints(1, m - 1))
        fibres[..., k] = fibres[..., draw(ints(0, k - 1))]
    return a


def _spread(x: np.ndarray, axis, nonzero: bool = False) -> bool:
    """Every slice ``axis`` reduces holds two clearly different values (``nonzero``: a value
    other than 0). Where they are all equal, std and norm sit on their kink (sqrt of 0) and
    var and layer_norm on a cancellation the oracles cannot decide: not a case to draw."""
    axes = () if x.ndim == 0 else tuple(range(x.ndim)) if axis is None else (axis % x.ndim,)
    if nonzero:
        return bool(np.all(np.max(np.abs(x), axis=axes) > 0))
    lo, hi = np.min(x, axis=axes), np.max(x, axis=axes)
    with np.errstate(all="ignore"):
        return bool(np.all(hi - lo > 1e-6 * np.maximum(np.abs(hi), np.abs(lo))))


def _grads_fit(spec: TensorOp, xs: list, ans: np.ndarray, params: dict, dtype: str) -> bool:
    """The op's own gradients, under a cotangent of ones, are representable: attention at
    values of 1e200 has a finite value and gradients that overflow."""
    with np.errstate(all="ignore"):
        grads = spec.vjp(xs, ans, np.ones_like(ans), **params)
    return all(g is None or _fits(np.asarray(g), dtype) for i, g in enumerate(grads) if i not in spec.nondiff)


@dataclass
class _Draws:
    """What an op's arguments are drawn from, inside one program: ``pick`` a node of the
    pool, ``fits`` two shapes as the engine takes them, ``fresh`` a new variable."""
    draw: Callable
    pick: Callable
    fits: Callable
    fresh: Callable
    caps: Capabilities
    ops: Sequence[str]
    point: dict
    names: Sequence[str]
    table: Mapping[str, TensorOp]


@composite
def tensor_cases(draw, ops: Sequence[str] | None = None, max_nodes: int = 6, n_vars: int = 2,
                 dtype: str = "float64", vocabulary: Vocabulary = BUILTIN,
                 capabilities: Capabilities = Capabilities(), blocks: bool = True) -> Case:
    """A tensor program over ``ops`` and the point it is checked at, within what the engine
    declared (``capabilities``: ranks, broadcasting, per-op parameter limits, subnormals).
    ``blocks`` False: never a transformer block (measuring how often each op is drawn)."""
    caps = capabilities
    table = vocabulary.tensor
    # variance as engines call it ("var") or as programs name it (a "var" node is a variable)
    ops = [o for o in (_IR_NAMES.get(o, o) for o in (table if ops is None else ops)) if o in table]
    norms = [o for o in _NORMS if o in ops]
    # a campaign asked for small programs (--max-nodes below the default 6) gets no block
    if (blocks and norms and caps.max_rank >= 2 and max_nodes >= 6 and all(o in ops for o in _BLOCK)
            and draw(ints(0, _BLOCK_SHARE - 1)) == _BLOCK_SHARE - 1):   # shrinks toward no block
        return draw(_block(dtype, vocabulary, tuple(norms)))
    elementwise = [o for o in ops if table[o].scalar is not None]
    structural = [o for o in ops if table[o].scalar is None and (caps.max_rank >= 2 or o not in _MATRIX)]
    # every op's share the same wherever it stands in the list: Hypothesis' simplest choice
    # (index 0), which it makes often, lands on a different op in each program (it was abs
    # in 40% of programs). Drawn as a sample, not as the integers the steps draw: Hypothesis
    # copies a draw into a later one of the same strategy, and offset + k with k == offset
    # lands on even positions only (the ops at odd ones got half their share)
    offset = draw(sampled(range(max(len(ops), 1))))
    base = draw(_shape(caps.max_rank))
    names = VAR_NAMES[:max(1, min(n_vars, len(VAR_NAMES)))]
    point = _point(draw, names, base, dtype, tuple(elementwise), vocabulary, caps)
    pool: list[tuple[Node, np.ndarray]] = [(var(n), point[n]) for n in names]

    def fits(x: tuple, y: tuple) -> bool:
        return x == y if not caps.broadcasting else _broadcasts(x, y)

    def pick(pred=lambda v: True, other=None) -> tuple[Node, np.ndarray] | None:
        found = [p for p in pool if pred(p[1]) and (other is None or p[0] is not other[0])]
        if not found and other is not None:
            return other
        return found[len(found) - 1 - draw(ints(0, len(found) - 1))] if found else None

    def admit(node: Node, value: np.ndarray) -> bool:
        if _fits(value, dtype) and value.ndim <= caps.max_rank and math.prod(value.shape) <= 4 * _MAX_SIZE:
            pool.append((node, value))
            return True
        return False

    # every op as likely as another: a structural op drawn half the time made each one
    # twice as common as an elementwise op (and powv, seldom defined, 30 times rarer than abs)
    usable = elementwise + structural

    def rotated(family: list[str]) -> str:
        return family[(offset + draw(ints(0, len(family) - 1))) % len(family)]

    def apply_elementwise(name: str) -> bool:
        """``name`` on the drawn node, or where it is not defined there (powv wants a
        positive base, log a positive argument), on the next node of the pool where it is:
        an op that is seldom defined is not seldom drawn."""
        spec = table[name]
        first = len(pool) - 1 - draw(ints(0, len(pool) - 1))
        order = pool[first::-1] + pool[:first:-1]   # the drawn node, then the ones before it
        twice = spec.arity == 2 and draw(ints(0, 3)) == 0
        # the constant parameters (pow's exponent, leaky_relu's slope, clamp's bounds), in
        # increasing order: clamp's lo < hi
        cs = sorted(draw(sampled(_EXPONENTS)) for _ in spec.scalar.params)
        for a in order:
            if spec.scalar.params:
                options = [[a, *((const(c), np.asarray(c)) for c in cs)]]
            elif spec.arity == 2:
                # another node, most often: two shapes that broadcast are where engines break
                partners = [b for b in order if b[0] is not a[0] and fits(b[1].shape, a[1].shape)]
                if partners and not twice:
                    k = draw(ints(0, len(partners) - 1))
                    partners = partners[k:] + partners[:k]
                options = [[a, a]] if twice else [[a, b] for b in partners[:3]] + [[a, a]]
            else:
                options = [[a]]
            for args in options:
                ans = _elementwise_ok(spec, [x[1] for x in args], dtype)
                if ans is not None and admit(tapply(spec, *(x[0] for x in args)), ans):
                    return True
        return False

    def step() -> bool:
        """One op applied, if it applies to some node: True when it did."""
        name = rotated(usable)
        if table[name].scalar is not None:
            return apply_elementwise(name)
        # on the drawn node, or the next one it applies to (softmax needs a rank, transpose two)
        first = len(pool) - 1 - draw(ints(0, len(pool) - 1))
        for a in pool[first::-1] + pool[:first:-1]:
            made = _structural(ctx, name, a)
            if made is None or any(x is None for x in made[1]):
                continue
            name, args, params = made
            spec = table[name]
            try:
                node = tapply(spec, *(x[0] for x in args), **params)
                value = forward(node, point, table)[node]
                if name in _CHECKED:   # the shapes as the op's record takes them, not as numpy does
                    spec.shape([x[1].shape for x in args], **params_of(node))
            except ValueError:
                continue
            if name in _CHECKED and not _grads_fit(spec, [x[1] for x in args], value, params_of(node), dtype):
                continue
            if admit(node, value):
                return True
        return False

    def fresh(shape: tuple) -> tuple[Node, np.ndarray]:
        """A variable of its own (a layer norm's weight), or a constant once every name is taken."""
        name = next((n for n in VAR_NAMES if n not in point), None)
        if name is None:
            w = _cotangent(draw, shape)
            return tconst(w), w
        ties = [float(v) for a in point.values() for v in a.ravel()]
        a = np.empty(shape)
        for idx in np.ndindex(shape):
            a[idx] = draw_value(draw, dtype, ties, tuple(elementwise), ELEMENT_REGIME, vocabulary, flush=caps.flush)
        point[name] = a
        return var(name), a

    ctx = _Draws(draw, pick, fits, fresh, caps, ops, point, names, table)
    # a step whose op applies to no node (log1p where every value is below -1, a layer norm
    # without a vector) draws another op, a few times: else the ops that apply anywhere (atan,
    # logsigmoid) take the places of those that seldom do
    for _ in range(draw(sizes(max_nodes))):
        any(step() for _ in range(RETRIES))
    out, value = pool[-1]
    if out.op == "var":
        reject()
    program = reduce_with(out, _cotangent(draw, value.shape))
    used = {n.arg for n in _leaves(program) if n.op == "var"}
    return Case(program, {k: v for k, v in point.items() if k in used}, ops=vocabulary)


# the ops of issue 17: their values are checked along with their gradients before they join
# the pool (the older ops keep the draws they had, so the planted bugs' seeds stay found)
_CHECKED = frozenset(("variance", "std", "norm", "log_softmax", "cross_entropy", "gather", "embedding", "slice",
                      "concat", "stack", "cumsum", "layer_norm", "rms_norm", "attention"))


def _structural(ctx: _Draws, name: str, a):
    """The arguments and parameters of structural op ``name`` on node ``a`` (or None: it does
    not apply here)."""
    draw, caps, pick = ctx.draw, ctx.caps, ctx.pick
    rank = a[1].ndim
    params: dict = {}
    if name in ("sum", "mean", "max_reduce", "logsumexp", "variance", "std", "norm"):
        axes = _axis_options(caps, name, rank, (None, *range(rank)))
        if name in ("variance", "std", "norm"):
            # only the axes it is decided along: a size-1 axis, or equal values, is its kink
            axes = tuple(x for x in axes if _spread(a[1], x, nonzero=name == "norm"))
        if not axes:
            return None
        keep = caps.limit(name, "keepdims")
        params = {"axis": draw(sampled(axes)),
                  "keepdims": draw(_BOOL) if keep is None else draw(sampled(keep))}
        if name in ("variance", "std"):
            params["correction"] = draw(sampled((0, 1)))
        args = [a]
    elif name in ("softmax", "log_softmax", "cumsum"):
        axes = _axis_options(caps, name, rank, tuple(range(rank)))
        if rank == 0 or not axes:
            return None
        axis = draw(ints(0, rank - 1)) if caps.limit(name, "axis") is None else draw(sampled(axes))
        params, args = {"axis": axis}, [a]
    elif name == "transpose":
        if rank < 2:
            return None
        args = [a]
    elif name == "reshape":
        size = a[1].size
        params, args = {"shape": draw(sampled(((size,), (1, size), (size, 1))))}, [a]
    elif name == "broadcast_to":
        if rank + 1 > caps.max_rank:
            return None
        params, args = {"shape": (draw(sampled((2, 3))),) + a[1].shape}, [a]
    elif name == "matmul":
        args = _matmul_args(draw, a, pick)
    elif name == "where":
        args = _where_args(draw, a, pick, ctx.fits, ctx.ops, ctx.point, ctx.names, ctx.table)
    elif name in _INDEXING:
        return _INDEXING[name](ctx, a)
    elif name in _SHAPING:
        return _SHAPING[name](ctx, a)
    else:
        return None
    return name, args, params


def _matrix(a, pick):
    """``a`` if it is a matrix, else a matrix of the pool (None: there is none)."""
    return a if a[1].ndim == 2 else pick(lambda v: v.ndim == 2)


def _int_leaf(a: np.ndarray):
    return iconst(a), a


def _cross_entropy(ctx: _Draws, a):
    # no matrix yet: logits of their own, not a vector reshaped into one as matmul does (four
    # ops that did made reshape the most common op of all)
    logits = _matrix(a, ctx.pick) or ctx.fresh((ctx.draw(ints(1, 3)), ctx.draw(ints(2, 4))))
    n, c = logits[1].shape
    targets = _int_leaf(_indices(ctx.draw, (n,), c))
    return "cross_entropy", [logits, targets], {"reduction": ctx.draw(sampled(_REDUCTIONS))}


def _gather(ctx: _Draws, a):
    draw, x = ctx.draw, a[1]
    axes = _axis_options(ctx.caps, "gather", x.ndim, tuple(range(x.ndim)))
    if x.ndim == 0 or not axes:
        return None
    axis = draw(sampled(axes))
    shape = list(x.shape)
    shape[axis] = draw(ints(1, 3))   # the other axes as x's: torch.gather takes no broadcast
    return "gather", [a, _int_leaf(_indices(draw, tuple(shape), x.shape[axis], axis))], {"axis": axis}


def _embedding(ctx: _Draws, a):
    draw = ctx.draw
    # no matrix yet: a table of its own (a model's embedding table is a parameter anyway)
    table = _matrix(a, ctx.pick) or ctx.fresh((draw(ints(2, 4)), draw(ints(1, 2))))
    # a batch of sequences (rank-2 indices) a quarter of the time, where the engine takes rank 3
    shape = (2, 2) if ctx.caps.max_rank >= 3 and draw(ints(0, 3)) == 3 else (draw(ints(2, 4)),)
    return "embedding", [table, _int_leaf(_indices(draw, shape, table[1].shape[0]))], {}


def _slice(ctx: _Draws, a):
    draw, x = ctx.draw, a[1]
    if x.ndim == 0:
        return None
    slices = []
    for n in x.shape[:draw(ints(1, x.ndim))]:
        start = draw(ints(0, n - 1))
        stop = n - draw(ints(0, n - 1 - start))   # shrinks toward the whole axis
        slices.append((start, stop, draw(ints(1, 2))))
    return "slice", [a], {"slices": tuple(slices)}


def _join(ctx: _Draws, a, name: str):
    """concat or stack of ``a`` and a node of a shape that joins it (or ``a`` itself)."""
    draw, x = ctx.draw, a[1]
    rank = x.ndim + (name == "stack")   # of the result
    if (name == "concat" and x.ndim == 0) or rank > ctx.caps.max_rank:
        return None
    axes = _axis_options(ctx.caps, name, rank, tuple(range(rank)))
    if not axes:
        return None
    axis = draw(sampled(axes))
    k = axis % rank

    def joins(v):
        if name == "stack":
            return v.shape == x.shape
        return v.ndim == x.ndim and v.shape[:k] + v.shape[k + 1:] == x.shape[:k] + x.shape[k + 1:]
    b = a if draw(ints(0, 3)) == 0 else ctx.pick(joins, other=a)
    return name, [a, b], {"axis": axis}


def _norm_layer(ctx: _Draws, a, name: str):
    x = a[1]
    if x.ndim == 0 or not _spread(x, -1, nonzero=name == "rms_norm"):
        return None
    d = (x.shape[-1],)
    args = [a]
    for _ in range(2 if name == "layer_norm" else 1):
        # a node of that shape half the time (values shared with the input's), else a new variable
        known = ctx.pick(lambda v: v.shape == d)
        args.append(known if known is not None and ctx.draw(_BOOL) else ctx.fresh(d))
    return name, args, {"eps": ctx.draw(sampled(_EPS))}


def _attention(ctx: _Draws, a):
    draw, pick = ctx.draw, ctx.pick
    if a[1].ndim == 1 and a[1].size > 1:
        # a vector as a sequence of T scalars: attention (self-attention above all) is the
        # op to apply to it, and its causal mask needs T > 1 to mask anything
        q = (tapply("reshape", a[0], shape=(a[1].size, 1)), a[1].reshape(-1, 1))
    else:
        q = _matrix(a, pick)
    if q is None:
        return None
    t, d = q[1].shape
    k = pick(lambda v: v.ndim == 2 and v.shape[1] == d) or q
    v = pick(lambda v: v.ndim == 2 and v.shape[0] == k[1].shape[0]) or k
    with np.errstate(all="ignore"):
        spread = np.ptp(q[1] @ k[1].T / math.sqrt(d), axis=1)
    if not np.all(spread <= _MAX_SPREAD):
        return None
    causal = t == k[1].shape[0] and draw(_BOOL)
    return "attention", [q, k, v], {"causal": causal}


_INDEXING = {"cross_entropy": _cross_entropy, "gather": _gather, "embedding": _embedding, "attention": _attention}
_SHAPING = {"slice": _slice, "concat": lambda c, a: _join(c, a, "concat"), "stack": lambda c, a: _join(c, a, "stack"),
            "layer_norm": lambda c, a: _norm_layer(c, a, "layer_norm"), "rms_norm": lambda c, a: _norm_layer(c, a, "rms_norm")}


def _matmul_args(draw, a, pick):
    a = _matrix(a, pick)
    if a is None:   # no matrix yet: make a column of the latest value
        v = pick()
        a = (tapply("reshape", v[0], shape=(v[1].size, 1)), v[1].reshape(v[1].size, 1))
    # matmul with its own transpose always fits, and shares a node between both sides
    if draw(_BOOL):
        return [a, (tapply("transpose", a[0]), a[1].T)]
    return [a, pick(lambda v: v.ndim == 2 and v.shape[0] == a[1].shape[1])]


def _where_args(draw, a, pick, fits, ops, point, names, table):
    c = pick(lambda v: fits(v.shape, a[1].shape))
    if c is None:
        return [None]
    if c[0].op != "var":
        c = (var(names[0]), point[names[0]])
        if not fits(c[1].shape, a[1].shape):
            return [None]
    guarded = [o for o in ("sqrt", "log") if o in ops]
    if guarded and draw(_BOOL):
        # where(c, sqrt(c), b): NaN where c <= 0, and no gradient may come from there
        poisoned = tapply(draw(sampled(guarded)), c[0])
        with np.errstate(all="ignore"):
            pv = table[poisoned.op].forward([c[1]])
        return [c, (poisoned, pv), a]
    b = pick(lambda v: fits(v.shape, a[1].shape))
    return [c, a, b]


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _leaves(out: Node):
    return [n for n in toposort(out) if n.is_leaf]


@functools.lru_cache(maxsize=None)   # one strategy per arguments (see strategies.ints)
@composite
def _block(draw, dtype: str, vocabulary: Vocabulary, norms: tuple[str, ...]) -> Case:
    """A small transformer block: tokens -> embedding -> norm -> causal attention of
    q = h Wq, k = h Wk, v = h Wv -> residual -> MLP (matmul, gelu, matmul) -> residual ->
    logits -> cross_entropy against targets. Its loss goes through sum(loss * w) like every
    program: a w other than 1 is what shows a backward that ignores its upstream gradient."""
    table = vocabulary.tensor
    # D 3 and a vocabulary of 4 one time in four: a block's check costs about its lowered
    # nodes times its variables' elements (0.25 s at D 2, 2 s at T, D, V = 3, 3, 4)
    t, d, v, h = (draw(sampled(s)) for s in ((2, 3), (2, 2, 2, 3), (3, 3, 3, 4), (2,)))
    norm = draw(sampled(norms))
    shapes = {"E": (v, d), "g": (d,), **({"b": (d,)} if norm == "layer_norm" else {}),
              "Wq": (d, d), "Wk": (d, d), "Wv": (d, d), "W1": (d, h), "W2": (h, d), "Wo": (d, v)}
    # values of order 1: the block is where rules compose, the regimes where one op breaks
    # are the other programs' business
    values = {name: np.array([_block_value(draw) for _ in range(math.prod(s))]).reshape(s)
              for name, s in shapes.items()}
    if dtype == "float32":
        values = {k: a.astype(np.float32).astype(np.float64) for k, a in values.items()}
    tokens, targets = _indices(draw, (t,), v), _indices(draw, (t,), v)
    if not _spread(values["E"][tokens], -1, nonzero=norm == "rms_norm"):
        reject()   # a token row whose values are all equal: the norm's cancellation, undecided
    # every weight but the table frozen (a constant) half the time: a block's check costs in
    # proportion to its variables' elements, and a frozen weight's backward is still taken
    # through (shrinking thaws them: a variable is the simpler choice)
    leaf = {name: var(name) if name == "E" or not draw(_BOOL) else tconst(a) for name, a in values.items()}

    def op(name: str, *src: Node, **params) -> Node:
        return tapply(table[name], *src, **params)
    x = op("embedding", leaf["E"], iconst(tokens))
    hn = op(norm, x, *(leaf[w] for w in ("g", "b") if w in leaf), eps=draw(sampled(_EPS)))
    q, k, vv = (op("matmul", hn, leaf[w]) for w in ("Wq", "Wk", "Wv"))
    r = op("add", x, op("attention", q, k, vv, causal=True))
    r = op("add", r, op("matmul", op("gelu", op("matmul", r, leaf["W1"])), leaf["W2"]))
    loss = op("cross_entropy", op("matmul", r, leaf["Wo"]), iconst(targets), reduction=draw(sampled(_REDUCTIONS)))
    point = {name: values[name] for name, n in leaf.items() if n.op == "var"}
    return Case(reduce_with(loss, _cotangent(draw, ())), point, ops=vocabulary)
