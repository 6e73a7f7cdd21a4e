"""``adverify ops``: every op adverify can check, from the op tables themselves.

One row per op — scalar ops (elementwise in ``--tensor`` too), then the structural tensor
ops, then any op the named engine declares of its own — with its arguments (parameters and
integer inputs marked), its domain, its kinks, and which engines have it. Everything shown
comes from the records (``floor.ops``, ``floor.tensor_ops``, ``floor.custom``), so the list
cannot drift from what is generated and checked.
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Mapping, TextIO

from verifier.engines import ADAPTERS, EngineError, load_engine
from verifier.floor.ops import Op
from verifier.floor.tensor_ops import ENGINE_NAMES, TensorOp
from verifier.floor.vocabulary import Vocabulary

__all__ = ["op_rows", "installed_engines", "render_ops"]


def installed_engines(tensor: bool) -> dict[str, Any]:
    """Every registered adapter that loads here (in tensor mode, its tensor adapter)."""
    engines = {}
    for name in ADAPTERS:
        if name.endswith(("-paths", "-float32", "-float64")):
            continue   # the same engine's ops again
        try:
            engines[name] = load_engine(name, tensor=tensor)
        except EngineError:
            continue
    return engines


def arguments(op: Op) -> list[str]:
    """The argument names of a scalar op, as its SymPy form names them (pow: x, c)."""
    try:
        names = list(inspect.signature(op.sympy).parameters)[1:]
    except (TypeError, ValueError):
        names = []
    if len(names) != op.arity or any(n.startswith("*") for n in names):
        names = [f"x{i}" for i in range(op.arity)]
    return names


def _scalar_row(op: Op, custom: Mapping[str, str]) -> dict[str, Any]:
    names = arguments(op)
    return {"op": op.name, "mode": "custom" if op.name in custom else "scalar",
            "arguments": names, "parameters": [names[i] for i in op.params],
            "domain": op.where or "all reals", "kinks": op.kink.where if op.kink else "",
            "doc": op.doc}


def _tensor_row(op: TensorOp) -> dict[str, Any]:
    return {"op": op.name, "mode": "tensor", "arguments": [f"x{i}" for i in range(op.arity)],
            "integer_arguments": [f"x{i}" for i in op.integer],
            "parameters": [p if p == kind else f"{p} ({kind})" for p, kind in op.params.items()],
            "domain": op.where, "kinks": "", "doc": ""}


def op_rows(vocabulary: Vocabulary, scalar: Mapping[str, Any], tensor: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Scalar ops, then structural tensor ops, each with the engines whose ``ops`` has it
    (of ``scalar`` engines for a scalar op, of ``tensor`` engines for a structural one)."""
    rows = [_scalar_row(op, vocabulary.custom) for op in vocabulary.values()]
    rows += [_tensor_row(op) for name, op in vocabulary.tensor.items() if name not in vocabulary]
    for row in rows:
        engines = tensor if row["mode"] == "tensor" else scalar
        called = ENGINE_NAMES.get(row["op"], row["op"])    # an engine's var is the IR's variance
        row["engines"] = [name for name, engine in engines.items()
                          if {row["op"], called} & set(getattr(engine, "ops", {}))]
    order = {"scalar": 0, "custom": 1, "tensor": 2}
    return sorted(rows, key=lambda r: order[r["mode"]])


_TITLES = {"scalar": "scalar ops (elementwise in --tensor too)", "custom": "the engine's own ops (custom_ops)",
           "tensor": "tensor ops (--tensor)"}


def render_ops(rows: list[dict[str, Any]], out: TextIO, as_json: bool = False) -> None:
    if as_json:
        json.dump(rows, out, indent=1)
        out.write("\n")
        return
    width = max(len(r["op"]) for r in rows) + 2
    mode = None
    for r in rows:
        if r["mode"] != mode:
            mode = r["mode"]
            out.write(("\n" if r is not rows[0] else "") + f"{_TITLES[mode]}: {sum(x['mode'] == mode for x in rows)}\n")
        out.write(f"  {r['op']:<{width}}{_signature(r)}\n")
        facts = [f"domain: {r['domain']}" if r["domain"] else "", f"kinks: {r['kinks']}" if r["kinks"] else "",
                 f"engines: {' '.join(r['engines']) or 'none installed here'}"]
        out.write(f"  {'':<{width}}{'; '.join(f for f in facts if f)}\n")


def _signature(r: dict[str, Any]) -> str:
    if r["mode"] == "tensor":
        ints = set(r.get("integer_arguments", ()))
        args = ", ".join(f"{a}: int" if a in ints else a for a in r["arguments"])
        return f"({args})" + (f"  params: {', '.join(r['parameters'])}" if r["parameters"] else "")
    params = set(r["parameters"])
    args = ", ".join(f"{a}=const" if a in params else a for a in r["arguments"])
    return f"({args})"
