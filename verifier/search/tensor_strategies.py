"""Hypothesis strategies for tensor programs over small shapes.

Variables get broadcast-compatible shapes (variants of one base shape with leading axes
dropped or axes set to 1), so elementwise ops broadcast; reductions, softmax, matmul,
reshapes and ``where`` are applied where they fit. ``where(c, sqrt(c), b)`` is built on
purpose: its unselected branch is NaN, and the function has no business seeing it. Every
program ends in ``sum(out * W)`` with W a fixed cotangent of exactly representable values.

Every op is drawn about as often as another, and an op not defined at the node drawn for it
goes to the next node where it is. What the engine declared (``engines.Capabilities``:
``max_rank``, ``broadcasting``, ``op_limits``, ``subnormals``) bounds what is drawn.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from hypothesis import reject, strategies as st

from verifier.engines import Capabilities
from verifier.floor.ir import Node, const, toposort, var
from verifier.floor.program import forward, reduce_with, tapply
from verifier.floor.tensor_ops import TensorOp
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import Case
from verifier.search.strategies import ELEMENT_REGIME, VAR_NAMES, composite, draw_value, sampled

__all__ = ["tensor_cases"]

_COTANGENT = (1.0, -1.0, 0.5, 1.25, -0.75, 2.0, -1.5, 0.625)
_EXPONENTS = (2.0, 3.0, 0.5, -1.0)
_MAX_SIZE = 12


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


@composite
def _shape(draw, max_rank: int = 3) -> tuple:
    rank = draw(sampled(tuple(r for r in (1, 0, 2, 3) if r <= max_rank)))
    dims = []
    for _ in range(rank):
        dims.append(draw(sampled((2, 1, 3, 4))))
        if math.prod(dims) > _MAX_SIZE:
            dims[-1] = 1
    return tuple(dims)


@composite
def _variant(draw, base: tuple) -> tuple:
    """A shape that broadcasts against ``base``: leading axes dropped, some axes set to 1."""
    drop = draw(st.integers(0, len(base)))
    return tuple(1 if draw(st.booleans()) and draw(st.booleans()) else d for d in base[drop:])


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
            # max_reduce's conventions live (the last choice shrinks toward no tie)
            if k and draw(st.integers(0, 3)) == 3:
                a[idx] = a.flat[draw(st.integers(0, k - 1))]
            else:
                a[idx] = draw_value(draw, dtype, drawn, elementwise, ELEMENT_REGIME, vocabulary, flush=caps.flush)
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


@composite
def tensor_cases(draw, ops: Sequence[str] | None = None, max_nodes: int = 6, n_vars: int = 2,
                 dtype: str = "float64", vocabulary: Vocabulary = BUILTIN,
                 capabilities: Capabilities = Capabilities()) -> Case:
    """A tensor program over ``ops`` and the point it is checked at, within what the engine
    declared (``capabilities``: ranks, broadcasting, per-op parameter limits, subnormals)."""
    caps = capabilities
    table = vocabulary.tensor
    ops = [o for o in (table if ops is None else ops) if o in table]
    elementwise = [o for o in ops if table[o].scalar is not None]
    structural = [o for o in ops if table[o].scalar is None and (caps.max_rank >= 2 or o not in ("matmul", "transpose"))]
    # every op's share the same wherever it stands in the list: Hypothesis' simplest choice
    # (index 0), which it makes often, lands on a different op in each program (it was abs
    # in 40% of programs)
    offset = draw(st.integers(0, max(len(ops) - 1, 0)))
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
        return found[len(found) - 1 - draw(st.integers(0, len(found) - 1))] if found else None

    def admit(node: Node, value: np.ndarray) -> bool:
        if _fits(value, dtype) and value.ndim <= caps.max_rank and math.prod(value.shape) <= 4 * _MAX_SIZE:
            pool.append((node, value))
            return True
        return False

    # every op as likely as another: a structural op drawn half the time made each one
    # twice as common as an elementwise op (and powv, seldom defined, 30 times rarer than abs)
    usable = elementwise + structural

    def rotated(family: list[str]) -> str:
        return family[(offset + draw(st.integers(0, len(family) - 1))) % len(family)]

    def apply_elementwise(name: str) -> None:
        """``name`` on the drawn node, or where it is not defined there (powv wants a
        positive base, log a positive argument), on the next node of the pool where it is:
        an op that is seldom defined is not seldom drawn."""
        spec = table[name]
        first = len(pool) - 1 - draw(st.integers(0, len(pool) - 1))
        order = pool[first::-1] + pool[:first:-1]   # the drawn node, then the ones before it
        twice = spec.arity == 2 and draw(st.integers(0, 3)) == 0
        c = draw(sampled(_EXPONENTS)) if spec.scalar.params else None
        for a in order:
            if spec.scalar.params:
                options = [[a, (const(c), np.asarray(c))]]
            elif spec.arity == 2:
                # another node, most often: two shapes that broadcast are where engines break
                partners = [b for b in order if b[0] is not a[0] and fits(b[1].shape, a[1].shape)]
                if partners and not twice:
                    k = draw(st.integers(0, len(partners) - 1))
                    partners = partners[k:] + partners[:k]
                options = [[a, a]] if twice else [[a, b] for b in partners[:3]] + [[a, a]]
            else:
                options = [[a]]
            for args in options:
                ans = _elementwise_ok(spec, [x[1] for x in args], dtype)
                if ans is not None and admit(tapply(spec, *(x[0] for x in args)), ans):
                    return

    def step() -> None:
        name = rotated(usable)
        if table[name].scalar is not None:
            apply_elementwise(name)
            return
        # on the drawn node, or the next one it applies to (softmax needs a rank, transpose two)
        first = len(pool) - 1 - draw(st.integers(0, len(pool) - 1))
        for a in pool[first::-1] + pool[:first:-1]:
            made = _structural(draw, name, a, pick, fits, caps, ops, point, names, table)
            if made is None or any(x is None for x in made[1]):
                continue
            name, args, params = made
            try:
                node = tapply(name, *(x[0] for x in args), **params)
                value = forward(node, point, table)[node]
            except ValueError:
                continue
            if admit(node, value):
                return

    for _ in range(draw(st.sampled_from(range(1, max_nodes + 1)))):
        step()
    out, value = pool[-1]
    if out.op == "var":
        reject()
    w = np.empty(value.shape)
    for idx in np.ndindex(value.shape):
        w[idx] = draw(sampled(_COTANGENT))
    program = reduce_with(out, w)
    used = {n.arg for n in _leaves(program) if n.op == "var"}
    return Case(program, {k: v for k, v in point.items() if k in used}, ops=vocabulary)


def _structural(draw, name: str, a, pick, fits, caps: Capabilities, ops, point, names, table):
    """The arguments and parameters of structural op ``name`` on node ``a`` (or None: it does
    not apply here)."""
    rank = a[1].ndim
    params: dict = {}
    if name in ("sum", "mean", "max_reduce", "logsumexp"):
        axes = _axis_options(caps, name, rank, (None, *range(rank)))
        if not axes:
            return None
        keep = caps.limit(name, "keepdims")
        params = {"axis": draw(sampled(axes)),
                  "keepdims": draw(st.booleans()) if keep is None else draw(sampled(keep))}
        args = [a]
    elif name == "softmax":
        axes = _axis_options(caps, name, rank, tuple(range(rank)))
        if rank == 0 or not axes:
            return None
        axis = draw(st.integers(0, rank - 1)) if caps.limit(name, "axis") is None else draw(sampled(axes))
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
        args = _where_args(draw, a, pick, fits, ops, point, names, table)
    else:
        return None
    return name, args, params


def _matmul_args(draw, a, pick):
    if a[1].ndim != 2:
        a = pick(lambda v: v.ndim == 2)
    if a is None:   # no matrix yet: make a column of the latest value
        v = pick()
        a = (tapply("reshape", v[0], shape=(v[1].size, 1)), v[1].reshape(v[1].size, 1))
    # matmul with its own transpose always fits, and shares a node between both sides
    if draw(st.booleans()):
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
    if guarded and draw(st.booleans()):
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
