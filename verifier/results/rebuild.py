"""A campaign killed before it wrote its summary, rebuilt from what it left on disk: its event
log, its chunks' folders (a parallel campaign) and replay files whose log line never came."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from verifier.floor.serial import FormatError, loads
from verifier.model import CampaignResult, Finding, make_finding
from verifier.results.events import EVENTS_FORMAT, EVENTS_VERSION, event_lines
from verifier.results.merge import Part, combine, kept_undecided
from verifier.results.replay import read_replay
from verifier.results.schema import (INT, OPT_INT, STR, check_chunk, check_counts, check_dict, check_list, check_type,
                                     example_from_json, expect, finding_from_json, result_from_json,
                                     undecided_from_json)
from verifier.results.summary import load_summary


def load_events(folder: str | Path) -> CampaignResult:
    """The campaign in ``folder`` as far as it got: ``events.jsonl`` (a start record, verdict
    counts every few seconds, every finding in full, the undecided examples it kept) plus any
    replay file whose finding never reached the log. A last line cut short by the kill is ignored.

    A parallel campaign's own log holds only its start and its plan: what its chunks had
    done is in their folders under ``parts/``, each read the same way (or from its
    summary.json, if it finished), and combined as a merge would, its findings left where
    they are (``parts/<chunk>/replays/``)."""
    result, plan, _ = _read_events(Path(folder))
    if plan is not None:
        return _rebuild_parallel(Path(folder), result, plan)
    return result


def _read_events(folder: Path) -> tuple[CampaignResult, dict | None, dict | None]:
    """The log's campaign; the plan if it is a parallel campaign's top folder; the chunk
    record (worker, chunk, seed, examples) if it is one chunk's folder."""
    lines = event_lines(folder)
    start, counts, end, plan, chunk = None, {}, None, None, None
    findings: list[Finding] = []
    more: dict[str, list[dict]] = {}   # replay file -> more cases of its signature (logged at the end)
    undecided: list[dict] = []         # undecided examples, as logged (ReportFolder.undecided)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"events.jsonl line {i}"
        rec = check_dict(loads(line, where), where)
        kind = rec.get("event")
        if kind == "start":
            if rec.get("format") != EVENTS_FORMAT or type(rec.get("version")) is not int \
                    or rec["version"] != EVENTS_VERSION:
                raise FormatError(f"{where}: not an adverify event log of version {EVENTS_VERSION}")
            start = start or rec
        elif kind in ("progress", "finding"):
            expect(rec, "examples", int, where)
            check_counts(rec.get("verdicts"), f"{where}.verdicts")
            for key in ("elapsed_s", "shrink_checks"):
                check_type(rec.get(key, 0), (int, float), f"{where}.{key}")
            for key in ("undecided", "notes", "screened"):   # newer: logs without them load
                check_counts(rec.get(key, {}), f"{where}.{key}")
            counts = rec
            if kind == "finding":
                findings.append(finding_from_json(rec.get("finding"), f"{where}.finding"))
        elif kind == "examples":
            check_type(rec.get("replay"), STR, f"{where}.replay")
            more[rec["replay"]] = [example_from_json(x, f"{where}.examples[{k}]")
                                   for k, x in enumerate(check_list(rec.get("examples"), f"{where}.examples"))]
        elif kind == "undecided":
            undecided.append(undecided_from_json(rec.get("example"), f"{where}.example"))
        elif kind == "end":
            end = rec
        elif kind == "parallel" and plan is None:
            plan = {k: rec.get(k) for k in ("seed", "examples", "workers", "recycle_after")}
            for key, types in (("seed", INT), ("examples", INT), ("workers", INT), ("recycle_after", OPT_INT)):
                check_type(plan[key], types, f"{where}.{key}")
        elif kind == "worker" and chunk is None:
            check_chunk(rec, where, {})
            chunk = {k: rec[k] for k in ("worker", "chunk", "seed", "examples")}
            if rec.get("plan") is not None:
                plan_of_chunk = check_dict(rec["plan"], f"{where}.plan")
                for key, types in (("seed", INT), ("examples", INT), ("workers", INT),
                                   ("recycle_after", OPT_INT)):
                    check_type(plan_of_chunk.get(key), types, f"{where}.plan.{key}")
                chunk["plan"] = {k: plan_of_chunk.get(k) for k in ("seed", "examples", "workers", "recycle_after")}
        # other records (a merged run's "part", "lost", ...) say nothing a summary needs
    if start is None:
        raise _NoStart(f"{str(folder / 'events.jsonl')!r} has no start record")
    findings = [replace(f, examples=more[f.replay]) if f.replay in more else f for f in findings]
    findings += _orphan_replays(folder, {f.replay for f in findings})
    doc = {k: start[k] for k in ("engine", "dtype", "seed", "ops", "options", "engine_spec") if k in start}
    doc.update(examples=counts.get("examples", 0), verdicts=counts.get("verdicts", {}),
               elapsed_s=counts.get("elapsed_s", 0.0), shrink_checks=counts.get("shrink_checks", 0),
               undecided=counts.get("undecided", {}), notes=counts.get("notes", {}),
               screened=counts.get("screened", {}),
               stopped=end.get("stopped") if isinstance(end, dict) and isinstance(end.get("stopped"), str)
               else "killed", discrepancies=[])
    if isinstance(end, dict) and isinstance(end.get("error"), str):
        doc["error"] = end["error"]
    result = replace(result_from_json(doc, "events.jsonl start record"), discrepancies=findings,
                     undecided_examples=kept_undecided(undecided))
    if chunk is not None and chunk.get("plan"):   # one chunk of a parallel campaign: its place in the plan
        entry = {k: chunk[k] for k in ("worker", "chunk", "seed", "examples")}
        result = replace(result, parallel={**chunk["plan"], "parts": [
            {**entry, "checked": result.examples, "elapsed_s": result.elapsed_s}]})
    return result, plan, chunk


def _rebuild_parallel(folder: Path, start: CampaignResult, plan: dict) -> CampaignResult:
    """A parallel campaign killed before it merged: its chunks' folders, combined."""
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
    found = []
    for f in sorted((folder / "replays").glob("*.json"))[:1000]:
        rel = f"replays/{f.name}"
        if rel in logged:
            continue
        try:
            rep = read_replay(f, None)   # its graph and numbers: the finding is shown, not re-checked
        except FormatError:
            continue   # cut short while being written: nothing to recover
        x = rep.fields
        found.append(make_finding(
            rep.case, kind=x.get("kind") or "mismatch", signature=x.get("signature") or "", replay=rel,
            variable=x.get("variable"), expected=x.get("expected"), actual=x.get("actual"),
            culprit_op=x.get("culprit_op"), mode=rep.mode, tensor=bool(rep.mode.get("tensor")),
            message="recovered from its replay file (the campaign was killed)"))
    return found
