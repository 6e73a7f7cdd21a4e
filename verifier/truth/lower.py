"""Lowering: a tensor program at a point becomes an element-level scalar DAG.

Each tensor value is a numpy object array of interned scalar nodes; ops lower through
numpy (broadcasting, reductions) onto the scalar op table. The lowered DAG is an ordinary
scalar expression, so the symbolic and path-product oracles, kinks and bounds all apply to
it unchanged. Element ``x[i, j]`` of a variable becomes the scalar variable ``x_i_j``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from verifier.floor.ir import Node, const, toposort, var
from verifier.floor.program import forward, iconst_value, params_of, tconst_value
from verifier.floor.tensor_ops import TENSOR_OPS, TensorOp

__all__ = ["Lowered", "lower", "lower_elements", "element_name"]


def element_name(name: str, index: tuple[int, ...]) -> str:
    return "_".join([name, *map(str, index)]) if index else name


@dataclass(frozen=True)
class Lowered:
    out: Node                               # the scalar DAG of the program's (scalar) output
    point: dict[str, float]                 # scalar point: element name -> value
    elements: dict[str, dict[tuple, str]]   # tensor variable -> index -> element name
    shapes: dict[str, tuple]                # tensor variable -> shape
    # where's condition variables with an element exactly at the switch point c = 0, where
    # the function jumps from one branch to the other (conditions are leaves: no rounding)
    switches: tuple[str, ...] = ()
    # the element DAGs of where's unselected branches: not in the function, but an engine
    # computes them, and a zero cotangent times their non-finite derivative is NaN
    unselected: tuple[Node, ...] = ()


def lower(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp] = TENSOR_OPS) -> Lowered:
    (index, lowered), *rest = rows = lower_elements(out, point, ops)
    if rest or index != ():
        raise ValueError(f"a tensor case's output must be a scalar, not {len(rows)} elements")
    return lowered


def lower_elements(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp] = TENSOR_OPS
                   ) -> list[tuple[tuple, Lowered]]:
    """One ``Lowered`` per element of ``out``, by index: the rows of its Jacobian; each op's
    record comes from ``ops`` (a campaign's ``vocabulary.tensor``)."""
    arrays, elements, scalar_point = _arrays(out, point, ops)
    shapes = {k: np.shape(point[k]) for k in elements}
    switches, unselected = _selections(out, point, arrays)
    result = arrays[out]
    return [(i, Lowered(result[i], scalar_point, elements, shapes, switches, unselected))
            for i in np.ndindex(result.shape)]


def _selections(out: Node, point: Mapping[str, Any], arrays: Mapping[Node, np.ndarray]
                ) -> tuple[tuple[str, ...], tuple[Node, ...]]:
    """Each ``where``'s condition variables at the switch point, and its unselected elements."""
    switches: dict[str, None] = {}
    unselected: dict[Node, None] = {}
    for n in toposort(out):
        if n.op != "where":
            continue
        cond = n.src[0]
        c = np.asarray(point[cond.arg] if cond.op == "var" else tconst_value(cond) if cond.op == "tconst"
                       else cond.arg, dtype=np.float64)
        c, a, b = np.broadcast_arrays(c, arrays[n.src[1]], arrays[n.src[2]])
        if cond.op == "var" and np.any(c == 0):
            switches[cond.arg] = None
        for i in np.ndindex(c.shape):
            unselected[b[i] if c[i] > 0 else a[i]] = None
    return tuple(switches), tuple(unselected)


def _arrays(out: Node, point: Mapping[str, Any], ops: Mapping[str, TensorOp]):
    values = forward(out, point, ops)
    arrays: dict[Node, np.ndarray] = {}
    elements: dict[str, dict[tuple, str]] = {}
    scalar_point: dict[str, float] = {}
    for n in toposort(out):
        if n.op == "var":
            a = np.asarray(point[n.arg], dtype=np.float64)
            obj = np.empty(a.shape, dtype=object)
            elements[n.arg] = {}
            for i in np.ndindex(a.shape):
                name = element_name(n.arg, i)
                obj[i] = var(name)
                elements[n.arg][i] = name
                scalar_point[name] = float(a[i])
            arrays[n] = obj
        elif n.op == "const":
            arrays[n] = np.array(n, dtype=object).reshape(())
        elif n.op == "iconst":   # indices: known here, so the ops that read them pick nodes
            arrays[n] = iconst_value(n)
        elif n.op == "tconst":
            a = tconst_value(n)
            arrays[n] = np.frompyfunc(lambda v: const(float(v)), 1, 1)(a) if a.ndim else np.array(const(float(a)), dtype=object).reshape(())
        else:
            spec = ops[n.op]
            arrays[n] = np.asarray(spec.lower([arrays[s] for s in n.src], [values[s] for s in n.src],
                                             **params_of(n)), dtype=object)
    return arrays, elements, scalar_point
