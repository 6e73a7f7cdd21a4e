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

import numpy as np

from verifier.floor.ir import Node, apply, const, toposort, var
from verifier.floor.program import MAX_INT, iconst, tapply, tconst
from verifier.floor.vocabulary import BUILTIN, Vocabulary

__all__ = ["FormatError", "expr_to_json", "expr_from_json", "read_json", "loads",
           "point_from_json", "point_to_json", "num", "num_from_json", "EXPR_FORMAT", "MAX_BYTES"]

EXPR_FORMAT = "adverify-expr"
EXPR_VERSION = 1
MAX_BYTES = 1 << 20        # 1 MiB: a reproducer is a few hundred bytes
MAX_NODES = 1024          # a campaign's expressions have at most 64 ops
MAX_DEPTH = 256           # the longest chain of ops: deeper than the engines' own recursion allows
MAX_NESTING = 32          # JSON arrays and objects inside each other
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class FormatError(ValueError):
    """A document that is not what it claims to be; the message is one line."""


def _reject_constant(token: str):
    raise FormatError(f"non-standard JSON token {token}")


def _unique_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise FormatError(f"duplicate key {k[:40]!r}")
        obj[k] = v
    return obj


def _plain(doc: Any, what: str) -> None:
    """Nesting within MAX_NESTING, and text that can be written back out: JSON's \\ud800
    escapes decode to lone surrogates, which no UTF-8 file or terminal takes."""
    stack = [(doc, 0)]
    while stack:
        x, depth = stack.pop()
        if isinstance(x, str):
            if not x.isascii():
                try:
                    x.encode("utf-8")
                except UnicodeEncodeError:
                    raise FormatError(f"{what} holds text that is not valid Unicode") from None
        elif isinstance(x, (list, dict)):
            if depth >= MAX_NESTING:
                raise FormatError(f"{what} is nested more than {MAX_NESTING} deep")
            items = x.items() if isinstance(x, dict) else ((None, v) for v in x)
            for k, v in items:
                stack.append((v, depth + 1))
                if k is not None:
                    stack.append((k, depth + 1))


def loads(text: str | bytes, what: str = "document") -> Any:
    if len(text) > MAX_BYTES:
        raise FormatError(f"{what} is larger than {MAX_BYTES} bytes")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        try:
            doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        except FormatError as e:   # from the hooks, which do not know the document's name
            raise FormatError(f"{what}: {e}") from None
        _plain(doc, what)
        return doc
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
        raise FormatError(f"{where} has unknown field {sorted(extra)[0][:40]!r}")
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
        elif n.op in ("tconst", "iconst"):
            shape, flat = n.arg
            nodes.append({"op": n.op, "shape": list(shape), "values": list(flat)})
        else:
            item = {"op": n.op, "args": [index[s] for s in n.src]}
            if isinstance(n.arg, tuple):   # a tensor op's keyword parameters
                item["params"] = {k: _listed(v) for k, v in n.arg}
            nodes.append(item)
    return {"format": EXPR_FORMAT, "version": EXPR_VERSION, "nodes": nodes, "output": index[out]}


def _listed(v):
    """A parameter as JSON has it: tuples (shapes, slices' triples) as lists."""
    return [_listed(e) for e in v] if isinstance(v, tuple) else v


_OP_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")   # an op a report draws by name only


def expr_from_json(doc: Any, where: str = "expression", vocabulary: Vocabulary | None = BUILTIN) -> Node:
    """The expression a document describes, its ops looked up in ``vocabulary``: a name it has
    no record of is an error, never code to run. ``vocabulary`` None reads the graph only, for
    drawing it (a report of a campaign with ops of its own): an op name that is not the
    built-in vocabulary's is kept as a name, its arguments as given."""
    known = BUILTIN if vocabulary is None else vocabulary
    doc = _obj(doc, where, {"format", "version", "nodes", "output"})
    if doc["format"] != EXPR_FORMAT:
        raise FormatError(f"{where}: format must be {EXPR_FORMAT!r}")
    if type(doc["version"]) is not int or doc["version"] != EXPR_VERSION:
        raise FormatError(f"{where}: unsupported version {str(doc['version'])[:20]!r}")
    raw = doc["nodes"]
    if not isinstance(raw, list) or not raw:
        raise FormatError(f"{where}.nodes must be a non-empty list")
    if len(raw) > MAX_NODES:
        raise FormatError(f"{where} has more than {MAX_NODES} nodes")
    built: list[Node] = []
    depth: list[int] = []        # ops on the longest chain down to a leaf
    for i, item in enumerate(raw):
        at = f"{where}.nodes[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise FormatError(f"{at} must be an object with a string 'op'")
        op = item["op"]
        if op == "var":
            built.append(var(name_from_json(_obj(item, at, {"op", "name"})["name"], f"{at}.name")))
        elif op == "const":
            built.append(const(_finite(_obj(item, at, {"op", "value"})["value"], f"{at}.value")))
        elif op == "tconst":
            item = _obj(item, at, {"op", "shape", "values"})
            value = array_from_json(item["values"], f"{at}.values")
            built.append(tconst(value.reshape(_leaf_shape(item["shape"], value, at))))
        elif op == "iconst":
            item = _obj(item, at, {"op", "shape", "values"})
            value = _ints_from_json(item["values"], f"{at}.values")
            built.append(iconst(value.reshape(_leaf_shape(item["shape"], value, at))))
        elif op not in known and known.knows(op):
            item = _obj(item, at, {"op", "args"}, {"params"})
            spec = known.tensor_op(op)
            args = item["args"]
            if not isinstance(args, list) or len(args) != spec.arity:
                raise FormatError(f"{at}: op {op!r} takes {spec.arity} arguments")
            for a in args:
                if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < i:
                    raise FormatError(f"{at}.args must index earlier nodes")
            params = item.get("params", {})
            if not isinstance(params, dict):
                raise FormatError(f"{at}.params must be an object")
            try:
                built.append(tapply(spec, *(built[a] for a in args), **params))
            except (ValueError, TypeError, KeyError) as e:   # parameters that do not fit the op
                raise FormatError(f"{at}: {str(e)[:200]}") from None
        elif op in known:
            record = known[op]
            args = _obj(item, at, {"op", "args"})["args"]
            if not isinstance(args, list) or len(args) != record.arity:
                raise FormatError(f"{at}: op {op!r} takes {record.arity} arguments")
            for a in args:
                if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < i:
                    raise FormatError(f"{at}.args must index earlier nodes")
            try:
                built.append(apply(record, *(built[a] for a in args)))
            except ValueError as e:
                raise FormatError(f"{at}: {e}") from None
        elif vocabulary is None and _OP_NAME.fullmatch(op):
            args = _obj(item, at, {"op", "args"})["args"]
            if not isinstance(args, list) or len(args) > 8:
                raise FormatError(f"{at}.args must be a list of at most 8 arguments")
            for a in args:
                if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < i:
                    raise FormatError(f"{at}.args must index earlier nodes")
            built.append(Node(op, tuple(built[a] for a in args)))
        else:
            raise FormatError(f"{at}: unknown op {op[:40]!r}")
        below = item["args"] if built[-1].src else []   # leaves have no arguments
        depth.append(1 + max((depth[a] for a in below), default=-1))
        if depth[-1] > MAX_DEPTH:
            raise FormatError(f"{where} is more than {MAX_DEPTH} ops deep")
    k = doc["output"]
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(built):
        raise FormatError(f"{where}.output must index a node")
    return built[k]


MAX_ELEMENTS = 4096


def _leaf_shape(shape: Any, flat: np.ndarray, at: str) -> tuple:
    """A tensor leaf's shape: at most 4 sizes in [1, 64], as many elements as ``flat``."""
    if (not isinstance(shape, list) or len(shape) > 4
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 64 for d in shape)
            or flat.ndim != 1 or flat.size != math.prod(shape)):
        raise FormatError(f"{at}: shape must list at most 4 sizes matching the values")
    return tuple(shape)


def _ints_from_json(v: Any, where: str) -> np.ndarray:
    """A flat, non-empty list of integers (indices: booleans and floats refused)."""
    if not isinstance(v, list) or not v or len(v) > MAX_ELEMENTS:
        raise FormatError(f"{where} must be a non-empty list of at most {MAX_ELEMENTS} integers")
    if not all(isinstance(e, int) and not isinstance(e, bool) and abs(e) < MAX_INT for e in v):
        raise FormatError(f"{where} must hold integers within ±{MAX_INT}")
    return np.array(v, dtype=np.int64)


def array_from_json(v: Any, where: str):
    """A rectangular nested list of finite numbers (rank ≤ 4, ≤ MAX_ELEMENTS) as an array."""

    def walk(x, depth):
        if isinstance(x, list):
            if depth >= 4:
                raise FormatError(f"{where} is nested more than 4 deep")
            if not x:
                raise FormatError(f"{where} has an empty list")
            return [walk(e, depth + 1) for e in x]
        return _finite(x, where)

    if isinstance(v, list) and len(v) > MAX_ELEMENTS:
        raise FormatError(f"{where} has more than {MAX_ELEMENTS} elements")
    nested = walk(v, 0)
    try:
        a = np.array(nested, dtype=np.float64)
    except ValueError:
        raise FormatError(f"{where} is not rectangular") from None
    if a.size > MAX_ELEMENTS:
        raise FormatError(f"{where} has more than {MAX_ELEMENTS} elements")
    return a


def point_to_json(point: Mapping[str, Any]) -> dict[str, Any]:
    """Floats stay floats; tensor values become nested lists (shapes survive the trip)."""
    return {k: v.tolist() if getattr(v, "ndim", 0) else float(v) for k, v in point.items()}


def point_from_json(doc: Any, where: str = "point") -> dict[str, Any]:
    """Variable name -> a finite float, or (tensor programs) a rectangular nested list."""
    if not isinstance(doc, dict):
        raise FormatError(f"{where} must be an object")
    return {name_from_json(k, f"{where} key"): array_from_json(v, f"{where}.{k}") if isinstance(v, list)
            else _finite(v, f"{where}.{k}") for k, v in doc.items()}
