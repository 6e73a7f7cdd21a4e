"""The one result model every report renders, and its versioned JSON form.

``Finding`` is one distinct discrepancy (shrunk, blamed, with its replay file);
``CampaignResult`` is a whole campaign. Both are plain data: renderers are pure functions
of them, and ``load_summary`` reads ``summary.json`` back through a schema check, so
``adverify report DIR`` re-renders byte-identical output.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .serial import FormatError, num, num_from_json, read_json

__all__ = ["Finding", "CampaignResult", "SUMMARY_FORMAT", "dump_summary", "load_summary", "to_json_text"]

SUMMARY_FORMAT = "adverify-summary"
SUMMARY_VERSION = 1


@dataclass(frozen=True)
class Finding:
    kind: str
    expression: str                      # infix text
    nodes: int
    variable: str | None
    point: dict[str, float]
    expected: float | None
    actual: float | None
    bound: float | None
    severity: float | None
    oracles: dict[str, float]            # oracle -> its value for the failing variable
    culprit_op: str | None
    culprit_node: int | None             # index into ``steps``' order (toposort), for drawing
    blame: str                           # local-rule | composition | forward | crash | timeout | unknown
    message: str
    replay: str                          # path of the replay file, relative to the report
    signature: str
    steps: list[str] = field(default_factory=list)
    expr: dict = field(default_factory=dict)      # the IR (adverify-expr JSON)
    checks: list[dict] = field(default_factory=list)
    kinks: list[str] = field(default_factory=list)
    found_after: int = 0                 # examples checked when it was first seen
    found_at_s: float = 0.0


@dataclass(frozen=True)
class CampaignResult:
    engine: str
    dtype: str
    seed: int | None
    examples: int
    elapsed_s: float
    verdicts: dict[str, int]
    discrepancies: list[Finding]
    ops: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    stopped: str = "completed"           # completed | time-budget | interrupted
    shrink_checks: int = 0
    regressions: list[dict] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    severities: list[float] = field(default_factory=list)   # error/bound of judged checks

    @property
    def failed(self) -> bool:
        return bool(self.discrepancies)


_FLOATS = {"expected", "actual", "bound", "severity"}


def _clean(x: Any) -> Any:
    """JSON-safe: non-finite floats as strings, as DESIGN §7 asks."""
    if isinstance(x, float):
        return num(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def to_json_text(result: CampaignResult) -> str:
    doc = {"format": SUMMARY_FORMAT, "version": SUMMARY_VERSION, **asdict(result)}
    return json.dumps(_clean(doc), indent=2, sort_keys=False, allow_nan=False) + "\n"


def dump_summary(result: CampaignResult, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(to_json_text(result))
    tmp.replace(path)  # atomic: a reader never sees half a summary


def _expect(doc: dict, key: str, types, where: str):
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, types):
        raise FormatError(f"{where}.{key} has the wrong type")
    return v


def _finding(doc: Any, where: str) -> Finding:
    if not isinstance(doc, dict):
        raise FormatError(f"{where} must be an object")
    known = {f.name for f in fields(Finding)}
    extra = set(doc) - known
    if extra:
        raise FormatError(f"{where} has unknown field {sorted(extra)[0]!r}")
    kw = {}
    for f in fields(Finding):
        if f.name not in doc:
            if f.default is MISSING and f.default_factory is MISSING:
                raise FormatError(f"{where} lacks {f.name}")
            continue
        v = doc[f.name]
        if f.name in _FLOATS:
            v = None if v is None else num_from_json(v, f"{where}.{f.name}")
        elif f.name == "oracles":
            if not isinstance(v, dict):
                raise FormatError(f"{where}.oracles must be an object")
            v = {str(k): num_from_json(x, f"{where}.oracles.{k}") for k, x in v.items()}
        elif f.name == "point":
            if not isinstance(v, dict):
                raise FormatError(f"{where}.point must be an object")
            v = {str(k): num_from_json(x, f"{where}.point.{k}") for k, x in v.items()}
        kw[f.name] = v
    return Finding(**kw)


def load_summary(path: str | Path) -> CampaignResult:
    doc = read_json(path, "summary")
    where = "summary"
    if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT:
        raise FormatError(f"{path} is not an adverify summary")
    if doc.get("version") != SUMMARY_VERSION:
        raise FormatError(f"{path}: unsupported summary version {doc.get('version')!r}")
    items = _expect(doc, "discrepancies", list, where)
    kw = {f.name: doc[f.name] for f in fields(CampaignResult) if f.name in doc}
    for key, types in (("engine", str), ("dtype", str), ("examples", int), ("elapsed_s", (int, float)),
                       ("verdicts", dict), ("ops", list)):
        _expect(doc, key, types, where)
    kw["discrepancies"] = [_finding(d, f"{where}.discrepancies[{i}]") for i, d in enumerate(items)]
    kw["severities"] = [num_from_json(x, f"{where}.severities") for x in doc.get("severities", [])]
    return CampaignResult(**kw)
