"""Versioned JSON for expressions, cases and replay files, with a schema-checked reader.

Replay and result files are data that other people write: they are parsed with ``json``
(NaN/Infinity tokens and duplicate keys refused), size- and depth-limited, and every field
is checked before a single node is built. Nothing read is ever evaluated as code.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

from .ir import Node, apply, const, toposort, var
from .ops import OPS

__all__ = ["FormatError", "expr_to_json", "expr_from_json", "read_json", "loads",
           "point_from_json", "num", "num_from_json", "EXPR_FORMAT", "MAX_BYTES"]

EXPR_FORMAT = "adverify-expr"
EXPR_VERSION = 1
MAX_BYTES = 1 << 20        # 1 MiB: a reproducer is a few hundred bytes
MAX_NODES = 4096
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class FormatError(ValueError):
    """A document that is not what it claims to be; the message is one line."""


def _reject_constant(token: str):
    raise FormatError(f"non-standard JSON token {token}")


def _unique_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise FormatError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def loads(text: str | bytes, what: str = "document") -> Any:
    if len(text) > MAX_BYTES:
        raise FormatError(f"{what} is larger than {MAX_BYTES} bytes")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError(f"{what} is nested too deeply") from None
    except UnicodeDecodeError:
        raise FormatError(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise FormatError(f"{what} is not valid JSON ({e.msg} at line {e.lineno})") from None


def read_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise FormatError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None
    return loads(data, f"{what} {str(path)!r}")


# ── numbers: non-finite floats travel as strings ─────────────────────────────────────────
def num(x) -> float | str | None:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def num_from_json(v, where: str) -> float:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return _finite(v, where)


def _finite(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FormatError(f"{where} must be a number, got {type(v).__name__}")
    try:
        x = float(v)
    except OverflowError:
        raise FormatError(f"{where} is out of float range") from None
    if not math.isfinite(x):
        raise FormatError(f"{where} must be finite")
    return x


def _obj(v, where: str, required: set[str], optional: set[str] = frozenset()) -> Mapping:
    if not isinstance(v, dict):
        raise FormatError(f"{where} must be an object")
    missing = required - v.keys()
    if missing:
        raise FormatError(f"{where} lacks {', '.join(sorted(missing))}")
    extra = v.keys() - required - optional
    if extra:
        raise FormatError(f"{where} has unknown field {sorted(extra)[0]!r}")
    return v


def name_from_json(v, where: str) -> str:
    if not isinstance(v, str) or not _NAME.match(v):
        raise FormatError(f"{where} must be a plain identifier")
    return v


# ── expressions ───────────────────────────────────────────────────────────────────────────
def expr_to_json(out: Node) -> dict:
    order = toposort(out)
    index = {n: i for i, n in enumerate(order)}
    nodes = []
    for n in order:
        if n.op == "var":
            nodes.append({"op": "var", "name": n.arg})
        elif n.op == "const":
            nodes.append({"op": "const", "value": n.arg})
        else:
            nodes.append({"op": n.op, "args": [index[s] for s in n.src]})
    return {"format": EXPR_FORMAT, "version": EXPR_VERSION, "nodes": nodes, "output": index[out]}


def expr_from_json(doc: Any, where: str = "expression") -> Node:
    doc = _obj(doc, where, {"format", "version", "nodes", "output"})
    if doc["format"] != EXPR_FORMAT:
        raise FormatError(f"{where}: format must be {EXPR_FORMAT!r}")
    if doc["version"] != EXPR_VERSION:
        raise FormatError(f"{where}: unsupported version {doc['version']!r}")
    raw = doc["nodes"]
    if not isinstance(raw, list) or not raw:
        raise FormatError(f"{where}.nodes must be a non-empty list")
    if len(raw) > MAX_NODES:
        raise FormatError(f"{where} has more than {MAX_NODES} nodes")
    built: list[Node] = []
    for i, item in enumerate(raw):
        at = f"{where}.nodes[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise FormatError(f"{at} must be an object with a string 'op'")
        op = item["op"]
        if op == "var":
            built.append(var(name_from_json(_obj(item, at, {"op", "name"})["name"], f"{at}.name")))
        elif op == "const":
            built.append(const(_finite(_obj(item, at, {"op", "value"})["value"], f"{at}.value")))
        elif op in OPS:
            args = _obj(item, at, {"op", "args"})["args"]
            if not isinstance(args, list) or len(args) != OPS[op].arity:
                raise FormatError(f"{at}: op {op!r} takes {OPS[op].arity} arguments")
            for a in args:
                if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < i:
                    raise FormatError(f"{at}.args must index earlier nodes")
            try:
                built.append(apply(op, *(built[a] for a in args)))
            except ValueError as e:
                raise FormatError(f"{at}: {e}") from None
        else:
            raise FormatError(f"{at}: unknown op {op[:40]!r}")
    k = doc["output"]
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(built):
        raise FormatError(f"{where}.output must index a node")
    return built[k]


def point_from_json(doc: Any, where: str = "point") -> dict[str, float]:
    if not isinstance(doc, dict):
        raise FormatError(f"{where} must be an object")
    return {name_from_json(k, f"{where} key"): _finite(v, f"{where}.{k}") for k, v in doc.items()}
