"""Replay files: one discrepancy as data (our own versioned JSON IR, never code).

Version 2 records the mode the discrepancy was found in (``mode``: order, forward, tensor,
dtype, and the check options a re-check needs), so a replay re-checks it in that mode.
Version 1 files still load, their mode inferred: order 1, forward if the signature ends in
``:forward``, tensor if the point holds arrays, no recorded check timeout.

A case with ops the engine declared of its own (``custom_ops``) records each one's name and
the fingerprint of its definition (``custom_ops``: name -> fingerprint): replayed against an
engine whose definition changed, the replay can say so. The definition itself is never in
the file: the file is data, the definition is the engine's code."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from verifier.floor.ir import Node, toposort, variables
from verifier.floor.program import is_tensor_program, shapes
from verifier.floor.serial import (FormatError, expr_from_json, expr_to_json, num, num_from_json, point_from_json,
                                   point_to_json, read_json)
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import Case

__all__ = ["REPLAY_FORMAT", "REPLAY_VERSION", "replay_doc", "read_replay", "Replay"]

REPLAY_FORMAT = "adverify-replay"
REPLAY_VERSION = 2
_READABLE = (1, 2)
# the mode's fields and their types (check_timeout None: no limit)
_MODE_FIELDS = {"order": (int,), "forward": (bool,), "tensor": (bool,), "dtype": (str,),
                "check_timeout": (int, float, type(None)), "strict_determinism": (bool,)}
_TEXT_FIELDS = {"engine": 200, "kind": 40, "culprit_op": 40, "variable": 64, "expression": 20000, "signature": 200}
_NUM_FIELDS = {"expected", "actual"}
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")


class Replay:
    def __init__(self, case: Case, fields: dict[str, Any], mode: dict[str, Any] | None = None,
                 custom: dict[str, str] | None = None):
        self.case, self.fields = case, fields
        # the engine's own ops the case uses: name -> fingerprint of the definition then
        self.custom = custom or {}
        # order, forward, tensor always; dtype, check_timeout, strict_determinism when recorded
        self.mode = mode or {"order": 1, "forward": False, "tensor": False}

    @property
    def engine(self) -> str | None:
        return self.fields.get("engine")

    def changed(self, vocabulary: Vocabulary) -> list[str]:
        """The custom ops whose definition in ``vocabulary`` is not the one the file was
        written with, each as a sentence."""
        now = vocabulary.custom
        return [f"custom op {name!r} has changed since this replay was written (definition {was} then, "
                f"{now[name]} now): the verdict below is against the new definition"
                for name, was in sorted(self.custom.items()) if name in now and now[name] != was]


def replay_doc(case: Case, engine: str, kind: str, culprit: str | None, variable: str | None,
               expected: float | None, actual: float | None, text: str, signature: str,
               mode: dict[str, Any] | None = None) -> dict:
    """``mode``: ``Finding.mode`` (``Checker.mode_record``); without it, what version 1
    would infer (order 1, tensor from the point, forward from the signature)."""
    return {
        "format": REPLAY_FORMAT, "version": REPLAY_VERSION, "engine": engine, "kind": kind,
        "culprit_op": culprit, "variable": variable, "expected": num(expected), "actual": num(actual),
        "expression": text, "signature": signature,
        "mode": {k: v for k, v in (mode or _inferred(case, signature)).items() if k in _MODE_FIELDS},
        **({"custom_ops": used} if (used := _custom_used(case)) else {}),
        "expr": expr_to_json(case.expr), "point": point_to_json(case.point),
    }


def _custom_used(case: Case) -> dict[str, str]:
    ops = {n.op for n in toposort(case.expr)}
    return {name: fp for name, fp in sorted(case.ops.custom.items()) if name in ops}


def _inferred(case: Case, signature: str | None) -> dict[str, Any]:
    """The mode of a file that does not record it (version 1)."""
    return {"order": 1, "forward": (signature or "").endswith(":forward"),
            "tensor": is_tensor_program(case.expr, case.point)}


def _mode(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise FormatError("replay field 'mode' must be an object")
    extra = set(doc) - set(_MODE_FIELDS)
    if extra:
        raise FormatError(f"replay mode has unknown field {sorted(extra)[0][:40]!r}")
    for key, types in _MODE_FIELDS.items():
        v = doc.get(key)
        if key not in doc and key not in ("order", "forward", "tensor"):
            continue
        if (isinstance(v, bool) and bool not in types) or not isinstance(v, types):
            raise FormatError(f"replay mode field {key!r} has the wrong type")
    if doc["order"] not in (1, 2):
        raise FormatError(f"replay mode: order must be 1 or 2, not {doc['order']}")
    timeout = doc.get("check_timeout")
    if timeout is not None and not 0 < timeout < 1e9:
        raise FormatError("replay mode: check_timeout must be a positive number of seconds")
    if len(doc.get("dtype") or "") > 40:
        raise FormatError("replay mode: dtype is too long")
    return dict(doc)


def read_replay(path: str | Path, vocabulary: Vocabulary | None = BUILTIN) -> Replay:
    """A replay file, checked field by field; its expression read in ``vocabulary`` (the
    campaign's that re-checks it), so an op that vocabulary lacks is a one-line error.
    ``vocabulary`` None reads the expression as a graph only (to show it, not to check it)."""
    doc = read_json(path, "replay file")
    if not isinstance(doc, dict):
        raise FormatError(f"replay file {str(path)!r} must hold a JSON object")
    if doc.get("format") != REPLAY_FORMAT:
        raise FormatError(f"{str(path)!r} is not an adverify replay file (format {REPLAY_FORMAT!r})")
    if type(doc.get("version")) is not int or doc["version"] not in _READABLE:
        raise FormatError(f"{str(path)!r}: unsupported replay version {str(doc.get('version'))[:20]!r}")
    allowed = {"format", "version", "expr", "point"} | set(_TEXT_FIELDS) | _NUM_FIELDS
    if doc["version"] >= 2:
        allowed |= {"mode", "custom_ops"}
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
    custom = _custom(doc.get("custom_ops", {}))
    missing = [name for name in custom if vocabulary is not None and name not in vocabulary]
    if missing:
        raise FormatError(f"the replay uses op {missing[0]!r}, an engine's own op (custom_ops), and the engine "
                          "it is replayed against does not declare it")
    expr: Node = expr_from_json(doc["expr"], "replay expr", vocabulary)
    point = point_from_json(doc["point"], "replay point")
    missing = [v for v in variables(expr) if v not in point]
    if missing:
        raise FormatError(f"replay point has no value for variable {missing[0]!r}")
    case = Case(expr, {v: point[v] for v in variables(expr)}, ops=vocabulary or BUILTIN)
    if vocabulary is not None:
        _fits(case)
    mode = _mode(doc["mode"]) if "mode" in doc else _inferred(case, fields["signature"])
    return Replay(case, fields, mode, custom)


def _custom(doc: Any) -> dict[str, str]:
    if not isinstance(doc, dict) or len(doc) > 64:
        raise FormatError("replay field 'custom_ops' must be an object of at most 64 ops")
    for name, fingerprint in doc.items():
        if not name.isidentifier() or len(name) > 64 or not isinstance(fingerprint, str) \
                or not _FINGERPRINT.fullmatch(fingerprint):
            raise FormatError("replay field 'custom_ops' maps op names to 16-digit hex fingerprints")
    return dict(doc)


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
