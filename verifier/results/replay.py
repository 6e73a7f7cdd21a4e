"""Replay files: one discrepancy as data (our own versioned JSON IR, never code)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from verifier.floor.ir import Node, variables
from verifier.floor.program import is_tensor_program, shapes
from verifier.floor.serial import (FormatError, expr_from_json, expr_to_json, num, num_from_json, point_from_json,
                                   point_to_json, read_json)
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import Case

__all__ = ["REPLAY_FORMAT", "replay_doc", "read_replay", "Replay"]

REPLAY_FORMAT = "adverify-replay"
REPLAY_VERSION = 1
_TEXT_FIELDS = {"engine": 200, "kind": 40, "culprit_op": 40, "variable": 64, "expression": 20000, "signature": 200}
_NUM_FIELDS = {"expected", "actual"}


class Replay:
    def __init__(self, case: Case, fields: dict[str, Any]):
        self.case, self.fields = case, fields

    @property
    def engine(self) -> str | None:
        return self.fields.get("engine")


def replay_doc(case: Case, engine: str, kind: str, culprit: str | None, variable: str | None,
               expected: float | None, actual: float | None, text: str, signature: str) -> dict:
    return {
        "format": REPLAY_FORMAT, "version": REPLAY_VERSION, "engine": engine, "kind": kind,
        "culprit_op": culprit, "variable": variable, "expected": num(expected), "actual": num(actual),
        "expression": text, "signature": signature,
        "expr": expr_to_json(case.expr), "point": point_to_json(case.point),
    }


def read_replay(path: str | Path, vocabulary: Vocabulary | None = BUILTIN) -> Replay:
    """A replay file, checked field by field; its expression read in ``vocabulary`` (the
    campaign's that re-checks it), so an op that vocabulary lacks is a one-line error.
    ``vocabulary`` None reads the expression as a graph only (to show it, not to check it)."""
    doc = read_json(path, "replay file")
    if not isinstance(doc, dict):
        raise FormatError(f"replay file {str(path)!r} must hold a JSON object")
    if doc.get("format") != REPLAY_FORMAT:
        raise FormatError(f"{str(path)!r} is not an adverify replay file (format {REPLAY_FORMAT!r})")
    if type(doc.get("version")) is not int or doc["version"] != REPLAY_VERSION:
        raise FormatError(f"{str(path)!r}: unsupported replay version {str(doc.get('version'))[:20]!r}")
    allowed = {"format", "version", "expr", "point"} | set(_TEXT_FIELDS) | _NUM_FIELDS
    extra = set(doc) - allowed
    if extra:
        raise FormatError(f"replay file has unknown field {sorted(extra)[0][:40]!r}")
    fields: dict[str, Any] = {}
    for key, limit in _TEXT_FIELDS.items():
        v = doc.get(key)
        if v is not None and (not isinstance(v, str) or len(v) > limit):
            raise FormatError(f"replay field {key!r} must be a string of at most {limit} characters")
        fields[key] = v
    for key in _NUM_FIELDS:
        v = doc.get(key)
        fields[key] = None if v is None else num_from_json(v, f"replay field {key!r}")
    if "expr" not in doc or "point" not in doc:
        raise FormatError("replay file lacks 'expr' or 'point'")
    expr: Node = expr_from_json(doc["expr"], "replay expr", vocabulary)
    point = point_from_json(doc["point"], "replay point")
    missing = [v for v in variables(expr) if v not in point]
    if missing:
        raise FormatError(f"replay point has no value for variable {missing[0]!r}")
    case = Case(expr, {v: point[v] for v in variables(expr)}, ops=vocabulary or BUILTIN)
    if vocabulary is not None:
        _fits(case)
    return Replay(case, fields)


def _fits(case: Case) -> None:
    """A tensor program's shapes must fit together into a scalar: checked here, so that a
    hand-made file fails in one line instead of deep inside the oracles."""
    if not is_tensor_program(case.expr, case.point):
        return
    try:
        shape = shapes(case.expr, case.point, case.ops.tensor)[case.expr]
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise FormatError(f"replay: the shapes do not fit ({str(e)[:200]})") from None
    if shape != ():
        raise FormatError(f"replay: the expression's value has shape {shape}, not a scalar")
