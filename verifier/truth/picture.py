"""The seed's picture of a finding, as plain data a report can draw without recomputing.

Every node's value and every edge's local derivative (the path-product oracle's local graph,
at the precision where they stop moving), and the output→input paths to the failing
variable with their products. Node ids are positions in ``toposort(expr)``: the ids of the
expression's JSON form and of ``Finding.culprit_node``. Numbers go through ``serial.num``
so the picture is JSON-safe as it is, and a summary read back renders the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from oracles.base import OracleError
from oracles.paths import PATH_CAP, count_paths, enumerate_paths, stable_graph
from verifier.floor.ir import Node, toposort
from verifier.floor.ops import Op
from verifier.floor.serial import num
from verifier.floor.vocabulary import BUILTIN

__all__ = ["Picture", "picture", "PATHS_KEPT"]

PATHS_KEPT = 64     # a reader follows a few dozen paths; the rest are counted, not listed


@dataclass(frozen=True)
class Picture:
    graph: dict = field(default_factory=dict)   # {"nodes": [...], "edges": [...]}
    paths: list = field(default_factory=list)   # [{"nodes": [ids, output first], "product"}]
    paths_total: int = 0
    note: str = ""                              # why something is missing, in one line


def _label(n: Node) -> str:
    if n.op == "var":
        return n.arg
    if n.op == "const":   # as ir.show writes it: 2, not 2.0
        text = repr(n.arg)
        return text[:-2] if text.endswith(".0") and abs(n.arg) < 1e16 else text
    return n.op


def _f(x) -> float | str | None:
    try:
        return num(float(x))
    except (OverflowError, ValueError):
        return "nan"


def picture(out: Node, point: Mapping[str, float], variable: str | None,
            ops: Mapping[str, Op] = BUILTIN) -> Picture:
    order = toposort(out)
    index = {n: i for i, n in enumerate(order)}
    if any(not n.is_leaf and n.op not in ops for n in order):
        return Picture(note="a tensor program: the graph of local derivatives is drawn for scalar expressions")
    try:
        g = stable_graph(out, point, ops)
    except (OracleError, KeyError, ArithmeticError, ValueError) as e:
        return Picture(note=f"no local graph at this point: {e}")
    nodes = [{"id": i, "op": n.op, "label": _label(n), "value": _f(g.values[n])} for i, n in enumerate(order)]
    edges = [{"src": index[s], "dst": index[n], "arg": k, "partial": _f(g.partials[(n, k)]) if (n, k) in g.partials else None}
             for n in order for k, s in enumerate(n.src)]
    graph = {"nodes": nodes, "edges": edges}
    if variable is None:
        return Picture(graph, note="the forward value is wrong: there is no gradient path to draw")
    total = count_paths(out).get(variable, 0)
    if total == 0:
        return Picture(graph, note=f"the output does not depend on {variable}")
    if total > PATH_CAP:
        return Picture(graph, paths_total=total, note=f"{total} paths to {variable}: too many to enumerate")
    found = enumerate_paths(g, variable)
    # the largest products first: they are what the gradient is made of
    ranked = sorted(found, key=lambda p: (-abs(p[1]), [index[n] for n, _ in p[0]], [k for _, k in p[0]]))
    leaf = index[next(n for n in order if n.op == "var" and n.arg == variable)]
    # "args" tells apart the two edges of x + x, which join the same pair of nodes
    paths = [{"nodes": [index[n] for n, _ in path] + [leaf], "args": [k for _, k in path], "product": _f(prod)}
             for path, prod in ranked[:PATHS_KEPT]]
    return Picture(graph, paths, len(found))

