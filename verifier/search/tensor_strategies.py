"""Hypothesis strategies for tensor programs over small shapes.

Variables get broadcast-compatible shapes (variants of one base shape with leading axes
dropped or axes set to 1), so elementwise ops broadcast; reductions, softmax, matmul,
reshapes and ``where`` are applied where they fit. ``where(c, sqrt(c), b)`` is built on
purpose: its unselected branch is NaN, and the function has no business seeing it. Every
program ends in ``sum(out * W)`` with W a fixed cotangent of exactly representable values.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from hypothesis import reject, strategies as st

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
def _shape(draw) -> tuple:
    rank = draw(sampled((1, 0, 2, 3)))
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


@composite
def tensor_cases(draw, ops: Sequence[str] | None = None, max_nodes: int = 6, n_vars: int = 2,
                 dtype: str = "float64", vocabulary: Vocabulary = BUILTIN) -> Case:
    table = vocabulary.tensor
    ops = [o for o in (table if ops is None else ops) if o in table]
    elementwise = [o for o in ops if table[o].scalar is not None]
    structural = [o for o in ops if table[o].scalar is None]
    base = draw(_shape())
    names = VAR_NAMES[:max(1, min(n_vars, len(VAR_NAMES)))]
    drawn: list[float] = []
    point: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        shape = base if i == 0 else draw(_variant(base))
        a = np.empty(shape)
        for k, idx in enumerate(np.ndindex(shape)):
            # an element equal to an earlier one, often: ties inside a tensor are where
            # max_reduce's conventions live (the last choice shrinks toward no tie)
            if k and draw(st.integers(0, 3)) == 3:
                a[idx] = a.flat[draw(st.integers(0, k - 1))]
            else:
                a[idx] = draw_value(draw, dtype, drawn, tuple(elementwise), ELEMENT_REGIME, vocabulary)
            drawn.append(float(a[idx]))
        point[name] = a
    pool: list[tuple[Node, np.ndarray]] = [(var(n), point[n]) for n in names]

    def pick(pred=lambda v: True, other=None) -> tuple[Node, np.ndarray] | None:
        fits = [p for p in pool if pred(p[1]) and (other is None or p[0] is not other[0])]
        if not fits and other is not None:
            return other
        return fits[len(fits) - 1 - draw(st.integers(0, len(fits) - 1))] if fits else None

    def step() -> None:
        # the kind first: structural ops are a third of the vocabulary, and where engines break
        family = structural if structural and (not elementwise or draw(st.booleans())) else elementwise
        name = draw(sampled(family))
        a = pick()
        spec = table[name]
        if spec.scalar is not None:
            if spec.scalar.params:
                args = [a, (const(c := draw(sampled(_EXPONENTS))), np.asarray(c))]
            elif spec.arity == 2:
                # another node, most often: two shapes that broadcast are where engines break
                b = a if draw(st.integers(0, 3)) == 0 else pick(lambda v: _broadcasts(v.shape, a[1].shape), a)
                args = [a, b]
            else:
                args = [a]
            ans = _elementwise_ok(spec, [x[1] for x in args], dtype)
            if ans is not None:
                pool.append((tapply(spec, *(x[0] for x in args)), ans))
            return
        rank = a[1].ndim
        params: dict = {}
        if name in ("sum", "mean", "max_reduce", "logsumexp"):
            params = {"axis": draw(sampled((None, *range(rank)))), "keepdims": draw(st.booleans())}
            args = [a]
        elif name == "softmax":
            if rank == 0:
                return
            params, args = {"axis": draw(st.integers(0, rank - 1))}, [a]
        elif name == "transpose":
            if rank < 2:
                return
            args = [a]
        elif name == "reshape":
            size = a[1].size
            params, args = {"shape": draw(sampled(((size,), (1, size), (size, 1))))}, [a]
        elif name == "broadcast_to":
            params, args = {"shape": (draw(sampled((2, 3))),) + a[1].shape}, [a]
        elif name == "matmul":
            if rank != 2:
                a = pick(lambda v: v.ndim == 2)
            if a is None:   # no matrix yet: make a column of the latest value
                v = pool[-1]
                a = (tapply("reshape", v[0], shape=(v[1].size, 1)), v[1].reshape(v[1].size, 1))
            # matmul with its own transpose always fits, and shares a node between both sides
            if draw(st.booleans()):
                t = tapply("transpose", a[0])
                b = (t, a[1].T)
            else:
                b = pick(lambda v: v.ndim == 2 and v.shape[0] == a[1].shape[1])
            args = [a, b]
        elif name == "where":
            c = pick(lambda v: _broadcasts(v.shape, a[1].shape))
            c = c if c[0].op == "var" else (var(names[0]), point[names[0]])
            guarded = [o for o in ("sqrt", "log") if o in ops]
            if guarded and draw(st.booleans()):
                # where(c, sqrt(c), b): NaN where c <= 0, and no gradient may come from there
                poisoned = tapply(draw(sampled(guarded)), c[0])
                with np.errstate(all="ignore"):
                    pv = table[poisoned.op].forward([c[1]])
                args = [c, (poisoned, pv), a]
            else:
                b = pick(lambda v: _broadcasts(v.shape, a[1].shape))
                args = [c, a, b]
        else:
            return
        if any(x is None for x in args):
            return
        try:
            node = tapply(name, *(x[0] for x in args), **params)
            value = forward(node, point, table)[node]
        except ValueError:
            return
        if _fits(value, dtype) and math.prod(value.shape) <= 4 * _MAX_SIZE:
            pool.append((node, value))

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


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _leaves(out: Node):
    return [n for n in toposort(out) if n.is_leaf]
