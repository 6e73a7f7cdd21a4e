"""The one result model every report renders, and its versioned JSON form.

``Finding`` is one distinct discrepancy (shrunk, blamed, with its replay file);
``CampaignResult`` is a whole campaign. Both are plain data: renderers are pure functions
of them, and ``load_summary`` reads ``summary.json`` back through a schema check, so
``adverify report DIR`` re-renders byte-identical output.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from .serial import (array_from_json, FormatError, expr_from_json, expr_to_json, loads, name_from_json, num,
                     num_from_json, point_from_json, point_to_json, read_json)

__all__ = ["Finding", "CampaignResult", "SUMMARY_FORMAT", "EVENTS_FORMAT", "dump_summary", "load_summary",
           "load_events", "finding_to_json", "to_json_text"]

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
    shapes: dict[str, list] = field(default_factory=dict)   # tensor programs: each variable's shape
    found_after: int = 0                 # examples checked when it was first seen
    found_at_s: float = 0.0
    # the seed's picture (report.picture): node values and edge partials, and the paths to
    # ``variable`` with their products (the largest first, at most 64 of ``paths_total``)
    graph: dict = field(default_factory=dict)
    paths: list[dict] = field(default_factory=list)
    paths_total: int = 0
    picture_note: str = ""               # why the picture is missing or partial


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
    # error/bound of the judged checks, counted (``Severities``): a list of every value grew a
    # 50,000-example chunk's summary past the 1 MiB a summary may have, and merging refused it
    severities: dict[str, Any] = field(default_factory=lambda: Severities().to_json())
    # a parallel or sharded campaign (verifier.parallel): its plan (seed, examples, workers,
    # recycle_after) and every chunk merged into it (worker, chunk, seed, examples range,
    # checked, elapsed_s, and cpu_s: its process's CPU time, absent from older summaries)
    parallel: dict[str, Any] = field(default_factory=dict)
    # chunks whose process died: worker, chunk, seed, examples [start, stop], reason, how many
    # it had checked (its last logged count; optional) and how many discrepancies it had
    # found (those are kept: they were on disk)
    lost: list[dict] = field(default_factory=list)
    # how to replay a finding from the folder the campaign ran in: the --engine spec and the
    # PYTHONPATH a fresh process needs (engines.spec.EngineSpec; empty: the engine has no
    # name a command line can give), and the report folder as that command line named it
    engine_spec: dict[str, Any] = field(default_factory=dict)
    report_dir: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.discrepancies)


class Severities:
    """Error/bound of judged checks as counts: exact answers, and one count per decade
    (clamped to ±DECADE_RANGE, where the report's histogram piles them up anyway), plus the
    worst. Bounded whatever the number of examples, and summed exactly when chunks merge."""

    DECADE_RANGE = 17

    def __init__(self) -> None:
        self.checks, self.exact, self.worst = 0, 0, 0.0
        self.decades: Counter[int] = Counter()

    def add(self, severity: float) -> None:
        self.checks += 1
        self.worst = max(self.worst, severity)
        if severity == 0:
            self.exact += 1
        else:
            k = self.DECADE_RANGE
            self.decades[min(max(math.floor(math.log10(severity)), -k), k)] += 1

    def pool(self, doc: Mapping[str, Any]) -> "Severities":
        self.checks += doc["checks"]
        self.exact += doc["exact"]
        self.worst = max(self.worst, doc["worst"])
        self.decades.update({int(d): c for d, c in doc["decades"].items()})
        return self

    def to_json(self) -> dict[str, Any]:
        return {"checks": self.checks, "exact": self.exact, "worst": self.worst,
                "decades": {str(d): c for d, c in sorted(self.decades.items())}}

    @classmethod
    def of(cls, values) -> "Severities":
        counts = cls()
        for v in values:
            counts.add(v)
        return counts


def _severities(doc: Any, where: str) -> dict[str, Any]:
    if isinstance(doc, list):   # summaries before the counts held every value
        return Severities.of(num_from_json(x, where) for x in doc).to_json()
    doc = _dict(doc, where)
    for key in ("checks", "exact"):
        _typed(doc.get(key), _INT, f"{where}.{key}")
    worst = num_from_json(doc.get("worst"), f"{where}.worst")
    decades = _dict(doc.get("decades"), f"{where}.decades")
    for d, c in decades.items():
        _typed(c, _INT, f"{where}.decades[{d!r}]")
        try:
            int(d)
        except ValueError:
            raise FormatError(f"{where}.decades: {d!r} is not a decade") from None
    return Severities().pool({"checks": doc["checks"], "exact": doc["exact"], "worst": worst,
                              "decades": decades}).to_json()


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


def finding_to_json(f: Finding) -> dict:
    """One finding as summary.json holds it (the event log carries the same record)."""
    return _clean(asdict(f))


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
        raise FormatError(f"{where} has unknown field {_short(sorted(extra)[0])}")
    kw = {}
    for f in fields(Finding):
        if f.name not in doc:
            if f.default is MISSING and f.default_factory is MISSING:
                raise FormatError(f"{where} lacks {f.name}")
            continue
        v = doc[f.name]
        at = f"{where}.{f.name}"
        if f.name in _FLOATS:
            v = None if v is None else num_from_json(v, at)
        elif f.name == "oracles":
            v = {name_from_json(k, f"{at} key"): num_from_json(x, f"{at}.{k}") for k, x in _dict(v, at).items()}
        elif f.name == "point":
            # a tensor variable's value is a nested list: kept as the list, checked like a replay's
            v = {name_from_json(k, f"{at} key"): array_from_json(x, f"{at}.{k}").tolist() if isinstance(x, list)
                 else num_from_json(x, f"{at}.{k}") for k, x in _dict(v, at).items()}
        elif f.name in ("graph", "paths"):
            _picture_check(f.name, v, at)
        elif f.name == "expr":
            if _dict(v, at):
                expr_from_json(v, at)   # a drawable expression, or nothing
        elif f.name == "checks":
            v = [_check_record(c, f"{at}[{i}]") for i, c in enumerate(_list(v, at))]
        elif f.name == "shapes":
            v = {name_from_json(k, f"{at} key"): _ints(x, f"{at}.{k}") for k, x in _dict(v, at).items()}
        else:
            _typed(v, _FINDING_TYPES[f.name], at)
        kw[f.name] = v
    _picture_matches(kw.get("graph") or {}, kw.get("paths") or [], kw.get("expr") or {}, where)
    return Finding(**kw)


def _picture_matches(graph: dict, paths: list, expr: dict, where: str) -> None:
    """The picture is of this finding's expression: the same nodes and edges, and every path
    follows edges from the output down. Reports draw it trusting exactly that."""
    nodes = expr.get("nodes", [])
    edges = {(a, i, k) for i, n in enumerate(nodes) for k, a in enumerate(n.get("args", []))}
    if graph.get("nodes"):
        if [n["op"] for n in graph["nodes"]] != [n["op"] for n in nodes] \
                or {(e["src"], e["dst"], e["arg"]) for e in graph["edges"]} != edges \
                or len(graph["edges"]) != len(edges):
            raise FormatError(f"{where}.graph is not the graph of its expression")
    for i, p in enumerate(paths):
        ids, args = p["nodes"], p["args"]
        if not ids or len(args) != len(ids) - 1 \
                or any((ids[j + 1], ids[j], a) not in edges for j, a in enumerate(args)):
            raise FormatError(f"{where}.paths[{i}] does not follow the expression's edges")


# ── the schema of the plain fields: what renderers may take for granted ─────────────────
_STR, _INT, _OPT_STR, _OPT_INT = (str,), "count", (str, type(None)), (int, type(None))
_FINDING_TYPES = {"kind": _STR, "expression": _STR, "nodes": _INT, "variable": _OPT_STR, "culprit_op": _OPT_STR,
                  "culprit_node": _OPT_INT, "blame": _STR, "message": _STR, "replay": _STR, "signature": _STR,
                  "steps": "strs", "kinks": "strs", "found_after": _INT, "found_at_s": "seconds",
                  "paths_total": _INT, "picture_note": _STR}
_SCALAR = (str, int, float, bool, type(None))


def _short(k: Any) -> str:
    return repr(str(k)[:40])


def _typed(v: Any, types, where: str) -> None:
    if types == "strs":
        if not all(isinstance(x, str) for x in _list(v, where)):
            raise FormatError(f"{where} must be a list of strings")
        return
    if types == "count":
        _counts(v, where, 0)
        return
    if types == "seconds":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= float(min(v, 1e300)) < 1e300:
            raise FormatError(f"{where} must be a number of seconds")
        return
    if (isinstance(v, bool) and bool not in types) or not isinstance(v, types):
        raise FormatError(f"{where} has the wrong type ({type(v).__name__})")


def _dict(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise FormatError(f"{where} must be an object")
    return v


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise FormatError(f"{where} must be a list")
    return v


def _ints(v: Any, where: str) -> list:
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in _list(v, where)):
        raise FormatError(f"{where} must be a list of sizes")
    return v


def _check_record(c: Any, where: str) -> dict:
    """One judged quantity: numbers as floats (non-finite ones were written as strings)."""
    c = dict(_dict(c, where))
    for key in ("variable", "verdict"):
        _typed(c.get(key), _OPT_STR, f"{where}.{key}")
    for key, x in c.items():
        if key in ("expected", "actual", "bound", "low", "high"):
            c[key] = None if x is None else num_from_json(x, f"{where}.{key}")
        elif not isinstance(x, _SCALAR) and not (isinstance(x, list) and all(isinstance(i, int) for i in x)):
            raise FormatError(f"{where}.{_short(key)} has the wrong type")
    return c


def _counts(v: Any, where: str, levels: int = 1) -> None:
    """A table of counts (``levels`` 1: name -> count; 2: name -> name -> count; 0: a count)."""
    if levels == 0:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise FormatError(f"{where} must be a count")
        return
    for k, x in _dict(v, where).items():
        _counts(x, f"{where}.{_short(k)}", levels - 1)


# coverage (verifier.coverage): how deep each table is; a table not named here is name -> count
_COVERAGE = {"shared_subexpressions": 0, "stress_examples": 0, "op_verdicts": 2}


# the picture's shape: field -> accepted types; numbers stay as written (num's strings too)
_NUM = (int, float, str, type(None))
_SHAPES = {"nodes": {"id": int, "op": str, "label": str, "value": _NUM},
           "edges": {"src": int, "dst": int, "arg": int, "partial": _NUM},
           "paths": {"nodes": list, "args": list, "product": _NUM}}


def _picture_check(name: str, v: Any, where: str) -> None:
    """Reports draw the picture as it is, so a hand-edited file fails here, with one line."""
    if name == "graph":
        if not isinstance(v, dict) or (v and set(v) != {"nodes", "edges"}):
            raise FormatError(f"{where} must be an object with nodes and edges")
        groups = {k: v.get(k, []) for k in ("nodes", "edges")}
    else:
        groups = {"paths": v}
    for group, items in groups.items():
        if not isinstance(items, list):
            raise FormatError(f"{where}: {group} must be a list")
        shape = _SHAPES[group]
        for i, x in enumerate(items):
            at = f"{where}[{i}]" if group == "paths" else f"{where}.{group}[{i}]"
            if not isinstance(x, dict) or set(x) != set(shape):
                raise FormatError(f"{at} must be an object with {', '.join(shape)}")
            for key, types in shape.items():
                if isinstance(x[key], bool) or not isinstance(x[key], types):
                    raise FormatError(f"{at}.{key} has the wrong type")
                if types is _NUM and isinstance(x[key], str):
                    num_from_json(x[key], f"{at}.{key}")
            ids = [x.get("src"), x.get("dst")] if group == "edges" else x["nodes"] + x["args"] if group == "paths" else []
            if group == "nodes" and x["id"] != i:
                raise FormatError(f"{at}.id must be {i}")
            if any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in ids):
                raise FormatError(f"{at} refers to a node by something other than its id")
            if group == "edges" and max(ids) >= len(groups["nodes"]):
                raise FormatError(f"{at} refers to a node that is not there")


def _chunk_record(x: Any, where: str, more: dict) -> None:
    """One chunk of a parallel campaign: worker, chunk, seed, examples [start, stop], and ``more``."""
    x = _dict(x, where)
    for key, types in {"worker": _INT, "chunk": _INT, "seed": _INT, **more}.items():
        _typed(x.get(key), types, f"{where}.{key}")
    if len(_ints(x.get("examples"), f"{where}.examples")) != 2:
        raise FormatError(f"{where}.examples must be [start, stop]")


def load_summary(path: str | Path) -> CampaignResult:
    doc = read_json(path, "summary")
    if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT:
        raise FormatError(f"{str(path)!r} is not an adverify summary")
    if type(doc.get("version")) is not int or doc["version"] != SUMMARY_VERSION:
        raise FormatError(f"{str(path)!r}: unsupported summary version {str(doc.get('version'))[:20]!r}")
    extra = set(doc) - {f.name for f in fields(CampaignResult)} - {"format", "version"}
    if extra:
        raise FormatError(f"summary has unknown field {_short(sorted(extra)[0])}")
    return _result(doc, "summary")


def _result(doc: dict, where: str) -> CampaignResult:
    for f in fields(CampaignResult):
        if f.name not in doc and f.default is MISSING and f.default_factory is MISSING:
            raise FormatError(f"{where} lacks {f.name}")
    items = _expect(doc, "discrepancies", list, where)
    kw = {f.name: doc[f.name] for f in fields(CampaignResult) if f.name in doc}
    for key, types in (("engine", str), ("dtype", str), ("verdicts", dict), ("ops", list)):
        _expect(doc, key, types, where)
    _typed(doc["examples"], "count", f"{where}.examples")
    _typed(doc["elapsed_s"], "seconds", f"{where}.elapsed_s")
    _typed(doc.get("seed"), _OPT_INT, f"{where}.seed")
    _counts(doc["verdicts"], f"{where}.verdicts")
    _typed(doc["ops"], "strs", f"{where}.ops")
    for key, types in (("stopped", _STR), ("shrink_checks", _INT), ("report_dir", _STR)):
        if key in doc:
            _typed(doc[key], types, f"{where}.{key}")
    spec = _dict(doc.get("engine_spec", {}), f"{where}.engine_spec")
    if spec:
        if set(spec) != {"text", "pythonpath"}:
            raise FormatError(f"{where}.engine_spec must be an object with text and pythonpath")
        _typed(spec["text"], _STR, f"{where}.engine_spec.text")
        _typed(spec["pythonpath"], _OPT_STR, f"{where}.engine_spec.pythonpath")
    for k, x in _dict(doc.get("options", {}), f"{where}.options").items():
        if not isinstance(x, _SCALAR) and not (isinstance(x, list) and all(isinstance(i, _SCALAR) for i in x)):
            raise FormatError(f"{where}.options.{_short(k)} has the wrong type")
    for k, x in _dict(doc.get("coverage", {}), f"{where}.coverage").items():
        _counts(x, f"{where}.coverage.{_short(k)}", _COVERAGE.get(k, 1))
    for i, r in enumerate(_list(doc.get("regressions", []), f"{where}.regressions")):
        at = f"{where}.regressions[{i}]"
        for key in ("expression", "verdict", "status"):
            _typed(_dict(r, at).get(key), _STR, f"{at}.{key}")
        for k, x in r.items():
            if k != "point" and not isinstance(x, _SCALAR):
                raise FormatError(f"{at}.{_short(k)} has the wrong type")
        _dict(r.get("point", {}), f"{at}.point")
    par = _dict(doc.get("parallel", {}), f"{where}.parallel")
    if par:
        for key, types in (("seed", _INT), ("examples", _INT), ("workers", _INT), ("recycle_after", _OPT_INT)):
            _typed(par.get(key), types, f"{where}.parallel.{key}")
        for i, x in enumerate(_list(par.get("parts"), f"{where}.parallel.parts")):
            _chunk_record(x, f"{where}.parallel.parts[{i}]", {"checked": _INT, "elapsed_s": "seconds",
                          **({"cpu_s": "seconds"} if isinstance(x, dict) and "cpu_s" in x else {})})
    for i, x in enumerate(_list(doc.get("lost", []), f"{where}.lost")):
        # "checked" (examples it had checked before it died) is newer: summaries without it load
        _chunk_record(x, f"{where}.lost[{i}]", {"reason": _STR, "findings": _INT,
                                                  **({"checked": _INT} if isinstance(x, dict) and "checked" in x else {})})
    kw["discrepancies"] = [_finding(d, f"{where}.discrepancies[{i}]") for i, d in enumerate(items)]
    kw["severities"] = _severities(doc.get("severities", []), f"{where}.severities")
    return CampaignResult(**kw)


# ── rebuilding a summary from the event log (a campaign killed before it could write one) ──
EVENTS_FORMAT = "adverify-events"
EVENTS_VERSION = 1
MAX_EVENTS_BYTES = 64 << 20


def load_events(folder: str | Path) -> CampaignResult:
    """The campaign in ``folder`` as far as it got: ``events.jsonl`` (a start record, verdict
    counts every few seconds, every finding in full) plus any replay file whose finding
    never reached the log. A last line cut short by the kill is ignored.

    A parallel campaign's own log holds only its start and its plan: what its chunks had
    done is in their folders under ``parts/``, each read the same way (or from its
    summary.json, if it finished), and combined as a merge would, its findings left where
    they are (``parts/<chunk>/replays/``)."""
    result, plan, _ = _read_events(Path(folder))
    if plan is not None:
        return _rebuild_parallel(Path(folder), result, plan)
    return result


def _event_lines(folder: Path) -> list[bytes]:
    path = folder / "events.jsonl"
    try:
        with path.open("rb") as f:
            data = f.read(MAX_EVENTS_BYTES + 1)
    except OSError as e:
        raise FormatError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if len(data) > MAX_EVENTS_BYTES:
        raise FormatError(f"{str(path)!r} is larger than {MAX_EVENTS_BYTES} bytes")
    lines = data.split(b"\n")
    if lines[-1].strip():   # no newline at the end: a record the kill cut short
        lines = lines[:-1]
    return lines


DISAGREEMENTS_LOGGED = 20   # oracle disagreements a campaign's log keeps the case of


def logged_disagreements(folder: Path) -> list[dict[str, Any]]:
    """The oracle disagreements a campaign logged, each checked and written afresh from
    what was read (reason, expr, point): a merge carries them into its own log."""
    out = []
    for i, line in enumerate(_event_lines(Path(folder)), 1):
        if b"oracle-disagreement" not in line:
            continue
        where = f"events.jsonl line {i}"
        rec = _dict(loads(line, where), where)
        if rec.get("event") != "oracle-disagreement":
            continue
        _typed(rec.get("reason"), _STR, f"{where}.reason")
        out.append({"reason": rec["reason"], "expr": expr_to_json(expr_from_json(rec.get("expr"), f"{where}.expr")),
                    "point": point_to_json(point_from_json(rec.get("point"), f"{where}.point"))})
    return out


def _read_events(folder: Path) -> tuple[CampaignResult, dict | None, dict | None]:
    """The log's campaign; the plan if it is a parallel campaign's top folder; the chunk
    record (worker, chunk, seed, examples) if it is one chunk's folder."""
    lines = _event_lines(folder)
    start, counts, end, plan, chunk = None, {}, None, None, None
    findings: list[Finding] = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"events.jsonl line {i}"
        rec = _dict(loads(line, where), where)
        kind = rec.get("event")
        if kind == "start":
            if rec.get("format") != EVENTS_FORMAT or type(rec.get("version")) is not int \
                    or rec["version"] != EVENTS_VERSION:
                raise FormatError(f"{where}: not an adverify event log of version {EVENTS_VERSION}")
            start = start or rec
        elif kind in ("progress", "finding"):
            _expect(rec, "examples", int, where)
            _counts(rec.get("verdicts"), f"{where}.verdicts")
            for key in ("elapsed_s", "shrink_checks"):
                _typed(rec.get(key, 0), (int, float), f"{where}.{key}")
            counts = rec
            if kind == "finding":
                findings.append(_finding(rec.get("finding"), f"{where}.finding"))
        elif kind == "end":
            end = rec
        elif kind == "parallel" and plan is None:
            plan = {k: rec.get(k) for k in ("seed", "examples", "workers", "recycle_after")}
            for key, types in (("seed", _INT), ("examples", _INT), ("workers", _INT), ("recycle_after", _OPT_INT)):
                _typed(plan[key], types, f"{where}.{key}")
        elif kind == "worker" and chunk is None:
            _chunk_record(rec, where, {})
            chunk = {k: rec[k] for k in ("worker", "chunk", "seed", "examples")}
            if rec.get("plan") is not None:
                plan_of_chunk = _dict(rec["plan"], f"{where}.plan")
                for key, types in (("seed", _INT), ("examples", _INT), ("workers", _INT),
                                   ("recycle_after", _OPT_INT)):
                    _typed(plan_of_chunk.get(key), types, f"{where}.plan.{key}")
                chunk["plan"] = {k: plan_of_chunk.get(k) for k in ("seed", "examples", "workers", "recycle_after")}
        # other records (a merged run's "part", "lost", ...) say nothing a summary needs
    if start is None:
        raise _NoStart(f"{str(folder / 'events.jsonl')!r} has no start record")
    findings += _orphan_replays(folder, {f.replay for f in findings})
    doc = {k: start[k] for k in ("engine", "dtype", "seed", "ops", "options", "engine_spec") if k in start}
    doc.update(examples=counts.get("examples", 0), verdicts=counts.get("verdicts", {}),
               elapsed_s=counts.get("elapsed_s", 0.0), shrink_checks=counts.get("shrink_checks", 0),
               stopped=end.get("stopped") if isinstance(end, dict) and isinstance(end.get("stopped"), str)
               else "killed", discrepancies=[])
    result = replace(_result(doc, "events.jsonl start record"), discrepancies=findings)
    if chunk is not None and chunk.get("plan"):   # one chunk of a parallel campaign: its place in the plan
        entry = {k: chunk[k] for k in ("worker", "chunk", "seed", "examples")}
        result = replace(result, parallel={**chunk["plan"], "parts": [
            {**entry, "checked": result.examples, "elapsed_s": result.elapsed_s}]})
    return result, plan, chunk


def _rebuild_parallel(folder: Path, start: CampaignResult, plan: dict) -> CampaignResult:
    """A parallel campaign killed before it merged: its chunks' folders, combined."""
    from .merge import Part, combine
    parts = []
    for sub in sorted(p for p in (folder / "parts").glob("w*-c*") if p.is_dir())[:100_000]:
        if (sub / "summary.json").is_file():
            r = load_summary(sub / "summary.json")
        elif (sub / "events.jsonl").is_file():
            try:
                r, _, chunk = _read_events(sub)
            except _NoStart:
                continue   # killed before its campaign began: it checked nothing
            if chunk is None:
                raise FormatError(f"{str(sub)!r} is not a chunk of a parallel campaign")
            if not r.parallel:   # written before chunks logged their plan: the campaign's is theirs
                entry = {k: chunk[k] for k in ("worker", "chunk", "seed", "examples")}
                r = replace(r, parallel={**plan, "parts": [{**entry, "checked": r.examples,
                                                             "elapsed_s": r.elapsed_s}]})
        else:
            continue
        parts.append(Part(r, sub))
    stopped = "killed"
    if not parts:
        return replace(start, stopped=stopped, parallel={**plan, "parts": []})
    result, best = combine(parts, stopped=stopped, options=start.options)
    findings = []
    for f, where in best:
        try:
            findings.append(replace(f, replay=str((where / f.replay).relative_to(folder))))
        except ValueError:   # an absolute path in a log: not one this campaign wrote
            raise FormatError(f"{str(where)!r}: replay path {f.replay[:80]!r} is outside the report") from None
    return replace(result, discrepancies=findings)


class _NoStart(FormatError):
    """A log without its start record (a chunk killed before its campaign began)."""


def _orphan_replays(folder: Path, logged: set[str]) -> list[Finding]:
    """Findings whose replay file was written but whose log line was not: the kill fell
    between the two. What the replay file holds is kept; the rest (bound, picture) is lost."""
    from .ir import size, show_steps
    from .replay import read_replay
    from .serial import expr_to_json
    found = []
    for f in sorted((folder / "replays").glob("*.json"))[:1000]:
        rel = f"replays/{f.name}"
        if rel in logged:
            continue
        try:
            rep = read_replay(f)
        except FormatError:
            continue   # cut short while being written: nothing to recover
        x = rep.fields
        found.append(Finding(
            kind=x.get("kind") or "mismatch", expression=x.get("expression") or "", nodes=size(rep.case.expr),
            variable=x.get("variable"), point=_clean(point_to_json(rep.case.point)), expected=x.get("expected"),
            actual=x.get("actual"), bound=None, severity=None, oracles={}, culprit_op=x.get("culprit_op"),
            culprit_node=None, blame="unknown", message="recovered from its replay file (the campaign was killed)",
            replay=rel, signature=x.get("signature") or "", steps=show_steps(rep.case.expr),
            expr=expr_to_json(rep.case.expr), found_after=0))
    return found
