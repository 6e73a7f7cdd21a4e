"""The schema of summary.json and of the event log's records: each reader checks a field's
type and shape before a renderer takes it for granted, and says in one line where a
hand-edited or cut-short file is wrong. Nothing is evaluated; numbers come through
``serial.num_from_json``.
"""
from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from verifier.floor.serial import FormatError, array_from_json, expr_from_json, name_from_json, num, num_from_json
from verifier.model import CampaignResult, Finding, Severities

__all__ = ["result_from_json", "finding_from_json", "example_from_json", "undecided_from_json", "severities_from_json",
           "clean", "expect", "check_type",
           "check_dict", "check_list", "check_counts", "check_chunk", "short_key", "STR", "INT", "OPT_STR", "OPT_INT",
           "SCALAR"]


def severities_from_json(doc: Any, where: str) -> dict[str, Any]:
    if isinstance(doc, list):   # summaries before the counts held every value
        return Severities.of(num_from_json(x, where) for x in doc).to_json()
    doc = check_dict(doc, where)
    for key in ("checks", "exact"):
        check_type(doc.get(key), INT, f"{where}.{key}")
    worst = num_from_json(doc.get("worst"), f"{where}.worst")
    decades = check_dict(doc.get("decades"), f"{where}.decades")
    for d, c in decades.items():
        check_type(c, INT, f"{where}.decades[{d!r}]")
        try:
            int(d)
        except ValueError:
            raise FormatError(f"{where}.decades: {d!r} is not a decade") from None
    return Severities().pool({"checks": doc["checks"], "exact": doc["exact"], "worst": worst,
                              "decades": decades}).to_json()


_FLOATS = {"expected", "actual", "bound", "severity"}


def clean(x: Any) -> Any:
    """JSON-safe: non-finite floats as strings, as DESIGN §7 asks."""
    if isinstance(x, float):
        return num(x)
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    return x


def expect(doc: dict, key: str, types, where: str):
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, types):
        raise FormatError(f"{where}.{key} has the wrong type")
    return v


def finding_from_json(doc: Any, where: str) -> Finding:
    if not isinstance(doc, dict):
        raise FormatError(f"{where} must be an object")
    known = {f.name for f in fields(Finding)}
    extra = set(doc) - known
    if extra:
        raise FormatError(f"{where} has unknown field {short_key(sorted(extra)[0])}")
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
            v = {name_from_json(k, f"{at} key"): num_from_json(x, f"{at}.{k}") for k, x in check_dict(v, at).items()}
        elif f.name == "point":
            v = _point(v, at)
        elif f.name in ("graph", "paths"):
            _picture_check(f.name, v, at)
        elif f.name == "expr":
            if check_dict(v, at):
                expr_from_json(v, at, None)   # a drawable expression (in any vocabulary), or nothing
        elif f.name == "checks":
            v = [_check_record(c, f"{at}[{i}]") for i, c in enumerate(check_list(v, at))]
        elif f.name == "shapes":
            v = {name_from_json(k, f"{at} key"): _ints(x, f"{at}.{k}") for k, x in check_dict(v, at).items()}
        elif f.name == "mode":
            for k, x in check_dict(v, at).items():
                if not isinstance(x, SCALAR):
                    raise FormatError(f"{at}.{short_key(k)} has the wrong type")
        elif f.name == "examples":
            v = [example_from_json(x, f"{at}[{i}]") for i, x in enumerate(check_list(v, at))]
        elif f.name == "enclosure":
            v = _enclosure(v, at)
        else:
            check_type(v, _FINDING_TYPES[f.name], at)
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
STR, INT, OPT_STR, OPT_INT = (str,), "count", (str, type(None)), (int, type(None))
_FINDING_TYPES = {"kind": STR, "expression": STR, "nodes": INT, "variable": OPT_STR, "culprit_op": OPT_STR,
                  "culprit_node": OPT_INT, "blame": STR, "message": STR, "replay": STR, "signature": STR,
                  "steps": "strs", "kinks": "strs", "found_after": INT, "found_at_s": "seconds",
                  "paths_total": INT, "picture_note": STR, "output": STR, "precision_bits": INT}
SCALAR = (str, int, float, bool, type(None))


def short_key(k: Any) -> str:
    return repr(str(k)[:40])


def check_type(v: Any, types, where: str) -> None:
    if types == "strs":
        if not all(isinstance(x, str) for x in check_list(v, where)):
            raise FormatError(f"{where} must be a list of strings")
        return
    if types == "count":
        check_counts(v, where, 0)
        return
    if types == "seconds":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= float(min(v, 1e300)) < 1e300:
            raise FormatError(f"{where} must be a number of seconds")
        return
    if (isinstance(v, bool) and bool not in types) or not isinstance(v, types):
        raise FormatError(f"{where} has the wrong type ({type(v).__name__})")


def check_dict(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise FormatError(f"{where} must be an object")
    return v


def check_list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise FormatError(f"{where} must be a list")
    return v


def _ints(v: Any, where: str) -> list:
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in check_list(v, where)):
        raise FormatError(f"{where} must be a list of sizes")
    return v


_EXAMPLE = {"kind": STR, "expression": STR, "variable": OPT_STR}


def example_from_json(x: Any, where: str) -> dict:
    """One more discrepant case of a finding's signature (``Finding.examples``)."""
    x = _record(x, where, _EXAMPLE, ("expected", "actual"))
    for key in ("expected", "actual"):
        x[key] = None if x.get(key) is None else num_from_json(x[key], f"{where}.{key}")
    return x


_UNDECIDED = {"cause": STR, "reason": STR, "expression": STR}


def undecided_from_json(x: Any, where: str) -> dict:
    """One undecided example (``CampaignResult.undecided_examples``): cause, reason,
    expression, point. A cause this version does not name still loads: it is only shown."""
    return _record(x, where, _UNDECIDED)


def _record(x: Any, where: str, types: dict, more: tuple[str, ...] = ()) -> dict:
    """A case kept as an example: the plain fields of ``types``, a point, and ``more``."""
    x = dict(check_dict(x, where))
    extra = set(x) - set(types) - {"point", *more}
    if extra:
        raise FormatError(f"{where} has unknown field {short_key(sorted(extra)[0])}")
    for key, t in types.items():
        check_type(x.get(key), t, f"{where}.{key}")
    x["point"] = _point(x.get("point"), f"{where}.point")
    return x


def _point(p: Any, where: str) -> dict:
    """A case's point as a result keeps it: name -> a number (non-finite ones as their
    text), or a tensor variable's nested list, kept as the list and checked like a replay's."""
    return {name_from_json(k, f"{where} key"): array_from_json(v, f"{where}.{k}").tolist() if isinstance(v, list)
            else num_from_json(v, f"{where}.{k}") for k, v in check_dict(p, where).items()}


def _enclosure(v: Any, where: str) -> list[float] | None:
    """A certified [lo, hi] (or nothing): the sentence of a proven mismatch states it."""
    if v is None:
        return None
    if len(check_list(v, where)) != 2:
        raise FormatError(f"{where} must be [lo, hi]")
    lo, hi = (num_from_json(x, f"{where}[{i}]") for i, x in enumerate(v))
    if not lo <= hi:
        raise FormatError(f"{where} must be [lo, hi] with lo <= hi")
    return [lo, hi]


def _check_record(c: Any, where: str) -> dict:
    """One judged quantity: numbers as floats (non-finite ones were written as strings)."""
    c = dict(check_dict(c, where))
    for key in ("variable", "verdict"):
        check_type(c.get(key), OPT_STR, f"{where}.{key}")
    for key, x in c.items():
        if key in ("expected", "actual", "bound", "low", "high"):
            c[key] = None if x is None else num_from_json(x, f"{where}.{key}")
        elif key == "enclosure":
            c[key] = _enclosure(x, f"{where}.{key}")
        elif not isinstance(x, SCALAR) and not (isinstance(x, list) and all(isinstance(i, int) for i in x)):
            raise FormatError(f"{where}.{short_key(key)} has the wrong type")
    return c


def check_counts(v: Any, where: str, levels: int = 1) -> None:
    """A table of counts (``levels`` 1: name -> count; 2: name -> name -> count; 0: a count)."""
    if levels == 0:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise FormatError(f"{where} must be a count")
        return
    for k, x in check_dict(v, where).items():
        check_counts(x, f"{where}.{short_key(k)}", levels - 1)


# coverage (verifier.search.coverage): how deep each table is; a table not named here is name -> count
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


def check_chunk(x: Any, where: str, more: dict) -> None:
    """One chunk of a parallel campaign: worker, chunk, seed, examples [start, stop], and ``more``."""
    x = check_dict(x, where)
    for key, types in {"worker": INT, "chunk": INT, "seed": INT, **more}.items():
        check_type(x.get(key), types, f"{where}.{key}")
    if len(_ints(x.get("examples"), f"{where}.examples")) != 2:
        raise FormatError(f"{where}.examples must be [start, stop]")


def result_from_json(doc: dict, where: str) -> CampaignResult:
    for f in fields(CampaignResult):
        if f.name not in doc and f.default is MISSING and f.default_factory is MISSING:
            raise FormatError(f"{where} lacks {f.name}")
    items = expect(doc, "discrepancies", list, where)
    kw = {f.name: doc[f.name] for f in fields(CampaignResult) if f.name in doc}
    for key, types in (("engine", str), ("dtype", str), ("verdicts", dict), ("ops", list)):
        expect(doc, key, types, where)
    check_type(doc["examples"], "count", f"{where}.examples")
    check_type(doc["elapsed_s"], "seconds", f"{where}.elapsed_s")
    check_type(doc.get("seed"), OPT_INT, f"{where}.seed")
    check_counts(doc["verdicts"], f"{where}.verdicts")
    check_type(doc["ops"], "strs", f"{where}.ops")
    for key, types in (("stopped", STR), ("error", STR), ("shrink_checks", INT), ("report_dir", STR)):
        if key in doc:
            check_type(doc[key], types, f"{where}.{key}")
    spec = check_dict(doc.get("engine_spec", {}), f"{where}.engine_spec")
    if spec:
        if set(spec) != {"text", "pythonpath"}:
            raise FormatError(f"{where}.engine_spec must be an object with text and pythonpath")
        check_type(spec["text"], STR, f"{where}.engine_spec.text")
        check_type(spec["pythonpath"], OPT_STR, f"{where}.engine_spec.pythonpath")
    for k, x in check_dict(doc.get("options", {}), f"{where}.options").items():
        if not isinstance(x, SCALAR) and not (isinstance(x, list) and all(isinstance(i, SCALAR) for i in x)):
            raise FormatError(f"{where}.options.{short_key(k)} has the wrong type")
    for key in ("undecided", "notes", "screened"):   # newer: summaries without them load
        check_counts(doc.get(key, {}), f"{where}.{key}")
    for k, x in check_dict(doc.get("coverage", {}), f"{where}.coverage").items():
        check_counts(x, f"{where}.coverage.{short_key(k)}", _COVERAGE.get(k, 1))
    for i, r in enumerate(check_list(doc.get("regressions", []), f"{where}.regressions")):
        at = f"{where}.regressions[{i}]"
        for key in ("expression", "verdict", "status"):
            check_type(check_dict(r, at).get(key), STR, f"{at}.{key}")
        for k, x in r.items():
            if k != "point" and not isinstance(x, SCALAR):
                raise FormatError(f"{at}.{short_key(k)} has the wrong type")
        check_dict(r.get("point", {}), f"{at}.point")
    par = check_dict(doc.get("parallel", {}), f"{where}.parallel")
    if par:
        for key, types in (("seed", INT), ("examples", INT), ("workers", INT), ("recycle_after", OPT_INT)):
            check_type(par.get(key), types, f"{where}.parallel.{key}")
        for i, x in enumerate(check_list(par.get("parts"), f"{where}.parallel.parts")):
            check_chunk(x, f"{where}.parallel.parts[{i}]", {"checked": INT, "elapsed_s": "seconds",
                        **({"cpu_s": "seconds"} if isinstance(x, dict) and "cpu_s" in x else {})})
    for i, x in enumerate(check_list(doc.get("lost", []), f"{where}.lost")):
        # "checked" (examples it had checked before it died) is newer: summaries without it load
        check_chunk(x, f"{where}.lost[{i}]", {"reason": STR, "findings": INT,
                                              **({"checked": INT} if isinstance(x, dict) and "checked" in x else {})})
    kw["discrepancies"] = [finding_from_json(d, f"{where}.discrepancies[{i}]") for i, d in enumerate(items)]
    kw["undecided_examples"] = [undecided_from_json(x, f"{where}.undecided_examples[{i}]") for i, x in   # newer
                                enumerate(check_list(doc.get("undecided_examples", []), f"{where}.undecided_examples"))]
    kw["severities"] = severities_from_json(doc.get("severities", []), f"{where}.severities")
    return CampaignResult(**kw)
