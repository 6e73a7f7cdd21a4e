"""One report from many: the chunks of a parallel campaign, or the shards of one run on
several machines (``adverify merge DIR... --out DIR``).

Every input is read through ``load_summary`` (schema-checked; nothing is unpickled) and
every replay file through ``read_replay``. Counts are summed (verdicts, examples, shrink
checks, coverage), severities pooled, undecided examples pooled (the first UNDECIDED_KEPT of
each cause, in chunk order), and distinct discrepancies de-duplicated by signature
(kind + culprit op): when two parts found the same one, the smaller reproducer is kept
(fewer nodes, then shorter text), the other's case joining its more examples (up to
MORE_EXAMPLES), and the replay files are renumbered into the one report.

Parts of a parallel campaign carry their place in its plan (``parallel``): merging
checks that they belong to one campaign, that no part comes twice, and names every planned
part that is missing, so a lost shard is reported rather than silently not counted.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from verifier.floor.serial import FormatError
from verifier.model import MORE_EXAMPLES, UNDECIDED_KEPT, CampaignResult, Finding, Severities
from verifier.results.events import DISAGREEMENTS_LOGGED, logged_disagreements
from verifier.results.folder import ReportFolder
from verifier.results.plan import Plan
from verifier.results.replay import read_replay
from verifier.results.summary import PARTIAL, load_summary

__all__ = ["MergeError", "Part", "read_part", "salvage", "combine", "merge", "merge_dirs", "check_dirs",
           "kept_undecided"]


class MergeError(FormatError):
    """Reports that cannot be merged into one: a one-line input error (exit 2)."""


@dataclass(frozen=True)
class Part:
    result: CampaignResult
    folder: Path

    @property
    def parallel(self) -> dict[str, Any] | None:
        return self.result.parallel or None

    @property
    def keys(self) -> list[tuple[int, int]]:
        """(worker, chunk) of every chunk this report holds."""
        info = self.parallel
        return [(p["worker"], p["chunk"]) for p in info["parts"]] if info else []


def read_part(folder: Path | str) -> Part:
    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        raise MergeError(f"{folder} is not a report folder (no summary.json)")
    return Part(load_summary(folder / "summary.json"), folder)


def salvage(folder: Path) -> Part | None:
    """What a chunk whose process died had found: its partial summary, if it found anything."""
    path = folder / PARTIAL
    return Part(load_summary(path), folder) if path.is_file() else None


def _add(a: Any, b: Any) -> Any:
    """Coverage merged: counts summed at every depth, lists joined."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _add(out[k], v) if k in out else v
        return dict(sorted(out.items()))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    return a


def _smaller(a: Finding, b: Finding) -> bool:
    return (a.nodes, len(a.expression), a.expression) < (b.nodes, len(b.expression), b.expression)


def _check_parallel(parts: Sequence[Part]) -> dict[str, Any] | None:
    """The plan the parts share (None for plain reports); refuses a mix or a duplicate."""
    infos = [p.parallel for p in parts]
    if all(i is None for i in infos):
        seen: dict[tuple, Path] = {}
        for p in parts:
            key = (p.result.seed, p.result.options.get("examples"))
            if key in seen:
                raise MergeError(f"{p.folder} and {seen[key]} are the same campaign (seed {key[0]}): "
                                 "merging both would count it twice")
            seen[key] = p.folder
        return None
    if any(i is None for i in infos):
        raise MergeError("cannot merge the parts of a parallel campaign with a plain campaign's report")
    plans = {tuple(sorted(Plan.from_json(i, f"{p.folder} parallel").to_json().items()))
             for p, i in zip(parts, infos)}
    if len(plans) > 1:
        raise MergeError("these reports are parts of different campaigns (their seed, examples, "
                         "workers or --recycle-after differ)")
    where: dict[tuple[int, int], Path] = {}
    for p in parts:
        for key in p.keys:
            if key in where:
                raise MergeError(f"worker {key[0]} chunk {key[1]} is in both {where[key]} and {p.folder}")
            where[key] = p.folder
    return dict(plans.pop())


def combine(parts: Sequence[Part], *, elapsed_s: float | None = None, lost: Iterable[dict] = (),
            stopped: str | None = None, complete: bool = False,
            options: dict[str, Any] | None = None) -> tuple[CampaignResult, list[tuple[Finding, Path]]]:
    """``parts`` as one result, written nowhere: its findings (de-duplicated, each with the
    folder its replay file is in) still name their replay files relative to that folder.
    ``merge`` copies them into one report; ``adverify report`` on a parallel run killed
    before it merged points at them where they are (``results.load_events``)."""
    if not parts:
        raise MergeError("nothing to merge")
    for attr in ("engine", "dtype"):
        values = sorted({getattr(p.result, attr) for p in parts})
        if len(values) > 1:
            raise MergeError(f"cannot merge reports of different {attr}s: {', '.join(values)}")
    finished = [p for p in parts if p.result.stopped != "running"]   # not salvaged from a dead chunk
    if len({bool(p.result.options.get("tensor")) for p in finished}) > 1:
        raise MergeError("cannot merge a tensor campaign with a scalar one")
    plan = _check_parallel(parts)
    if plan is not None:   # chunk order, not the order they finished in: the same merge every time
        parts = sorted(parts, key=lambda p: min(p.keys, default=(1 << 30, 0)))
    lost = [*(x for p in parts for x in p.result.lost), *lost]
    if plan is not None and complete:
        have = {k for p in parts for k in p.keys} | {(x["worker"], x["chunk"]) for x in lost}
        lost += [{**c.to_json(), "reason": "no report of this part among the merged folders", "findings": 0}
                 for c in Plan(**plan).all_chunks() if (c.worker, c.index) not in have]
    lost.sort(key=lambda x: (x.get("worker", 0), x.get("chunk", 0)))

    best: dict[str, tuple[Finding, Path]] = {}
    seen: dict[str, list[Finding]] = {}
    for p in parts:
        for f in p.result.discrepancies:
            seen.setdefault(f.signature, []).append(f)
            if f.signature not in best or _smaller(f, best[f.signature][0]):
                best[f.signature] = (f, p.folder)   # dicts keep the first-seen order
    best = {sig: (replace(f, examples=_examples(f, seen[sig])), folder) for sig, (f, folder) in best.items()}

    results = [p.result for p in parts]
    first = (finished or parts)[0].result   # a salvaged part's summary holds findings only
    if plan is not None:
        seed, examples = plan["seed"], plan["examples"]
        entries = sorted((x for r in results for x in r.parallel["parts"]),
                         key=lambda x: (x["worker"], x["chunk"]))
        info = {**plan, "parts": entries}
    else:
        seeds = {r.seed for r in results}
        seed = seeds.pop() if len(seeds) == 1 else None
        examples = sum(r.options.get("examples") or r.examples for r in results)
        info = {}   # independent campaigns: nothing to place them in
    rank = ["completed", "time-budget", "interrupted", "killed", "protocol-error"]
    stops = [r.stopped for r in results if r.stopped != "running"] or ["completed"]
    verdicts: dict[str, int] = {}
    for r in results:
        for k, v in r.verdicts.items():
            verdicts[k] = verdicts.get(k, 0) + v
    undecided: dict[str, int] = {}
    notes: dict[str, int] = {}
    screened: dict[str, int] = {}
    for r in results:
        undecided = _add(undecided, r.undecided)
        notes = _add(notes, r.notes)
        screened = _add(screened, r.screened)
    coverage: dict[str, Any] = {}
    for r in results:
        coverage = _add(coverage, r.coverage) if coverage else dict(r.coverage)
    result = CampaignResult(
        engine=first.engine, dtype=first.dtype, seed=seed, examples=sum(r.examples for r in results),
        elapsed_s=round(elapsed_s if elapsed_s is not None else max(r.elapsed_s for r in results), 3),
        verdicts=verdicts, discrepancies=[f for f, _ in best.values()],
        ops=sorted({o for r in results for o in r.ops}),
        options={**(options or first.options), "seed": seed, "examples": examples}, parallel=info,
        stopped=stopped or max(stops, key=lambda s: rank.index(s) if s in rank else len(rank)),
        shrink_checks=sum(r.shrink_checks for r in results),
        regressions=[x for r in results for x in r.regressions], coverage=coverage,
        severities=_pooled(r.severities for r in results), lost=lost, engine_spec=first.engine_spec,
        undecided=undecided, notes=notes, screened=screened, error=next((r.error for r in results if r.error), ""),
        undecided_examples=kept_undecided(x for r in results for x in r.undecided_examples))
    return result, list(best.values())


def merge(parts: Sequence[Part], out: ReportFolder, *, elapsed_s: float | None = None,
          lost: Iterable[dict] = (), stopped: str | None = None, complete: bool = False,
          options: dict[str, Any] | None = None) -> CampaignResult:
    """Merge ``parts`` into the report folder ``out`` (replays copied and renumbered, every
    format rendered). ``lost``: chunks whose process died (their salvaged findings are in
    ``parts``). ``complete``: name every planned chunk that no part holds as lost. ``options``:
    the campaign's own (by default the first part's, with the plan's seed and examples)."""
    result, best = combine(parts, elapsed_s=elapsed_s, lost=lost, stopped=stopped, complete=complete,
                           options=options)
    findings = []
    for i, (f, folder) in enumerate(best, 1):
        src = folder / f.replay
        if not f.replay or not src.is_file():
            raise MergeError(f"{folder}: the replay file of {f.signature!r} ({f.replay or 'none'}) is not there")
        read_replay(src, None)   # checked before it is copied into the merged report
        path = out.replay_path(i, f.signature)
        (out.path / path).write_text(src.read_text())
        findings.append(replace(f, replay=path))
    result = replace(result, discrepancies=findings)
    logged = [x for part in parts if (part.folder / "events.jsonl").is_file()
              for x in logged_disagreements(part.folder)]
    for x in logged[:DISAGREEMENTS_LOGGED]:   # the parts' folders may go: their cases stay
        out.event({"event": "oracle-disagreement", **x})
    for entry in result.parallel.get("parts", []):
        out.event({"event": "part", **entry})
    for entry in result.lost:
        out.event({"event": "lost", **entry})
    return out.finish(result)


def check_dirs(dirs: Sequence[Path], out: Path) -> None:
    """Before the output folder is opened: ``--out`` over an input with --overwrite would
    delete the report it is about to read."""
    folders = {Path(d).resolve() for d in dirs}
    if len(folders) < len(dirs):
        raise MergeError("a folder is named twice")
    for d in dirs:
        if not (Path(d) / "summary.json").is_file():
            raise MergeError(f"{d} is not a report folder (no summary.json)")
    if Path(out).resolve() in folders:
        raise MergeError(f"--out {out} is one of the folders to merge")


def merge_dirs(dirs: Sequence[Path], out: ReportFolder) -> CampaignResult:
    """``adverify merge``: report folders (shards, or whole campaigns) into one."""
    check_dirs(dirs, out.path)
    return merge([read_part(f) for f in dirs], out, complete=True)


def _examples(kept: Finding, same: list[Finding]) -> list[dict]:
    """The kept finding's more examples: its own, then the other parts' findings of its
    signature and theirs, in part order, each case once, at most MORE_EXAMPLES."""
    out: list[dict] = []
    keys = {(kept.expression, repr(kept.point))}
    for f in same:
        mine = [] if f is kept else [{"kind": f.kind, "expression": f.expression, "point": f.point,
                                      "variable": f.variable, "expected": f.expected, "actual": f.actual}]
        for x in (kept.examples if f is kept else []) + mine + ([] if f is kept else f.examples):
            key = (x["expression"], repr(x["point"]))
            if key not in keys and len(out) < MORE_EXAMPLES:
                keys.add(key)
                out.append(x)
    return out


def kept_undecided(examples: Iterable[dict]) -> list[dict]:
    """The undecided examples a result keeps: the first UNDECIDED_KEPT of each cause, in the
    order given (a merge: chunk order, so the same merge keeps the same ones)."""
    seen: dict[str, int] = {}
    out = []
    for x in examples:
        seen[x["cause"]] = seen.get(x["cause"], 0) + 1
        if seen[x["cause"]] <= UNDECIDED_KEPT:
            out.append(x)
    return out


def _pooled(docs) -> dict:
    pool = Severities()
    for doc in docs:
        pool.pool(doc)
    return pool.to_json()
