"""Campaigns that outgrow one process: ``--workers N``, ``--shard K/N``, ``--backend dask``.

A campaign of E examples is split by a ``Plan`` (see ``plan``) into N independent Hypothesis
searches with derived seeds, each cut into chunks if ``--recycle-after`` asks; every chunk
runs in a process of its own (``local``: a ProcessPoolExecutor; ``dask``: a Dask cluster),
writes a report folder as it goes, and the folders are merged into one report (``merge``).
Nothing here schedules: the plan is fixed up front, so the same command gives the same
examples, wherever and in whatever order the chunks run.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

from verifier.engines import engine_dtype, engine_name, engine_ops, load_engine
from verifier.floor.serial import FormatError
from verifier.floor.vocabulary import BUILTIN
from verifier.interfaces.output import Output
from verifier.interfaces.parallel.local import run_local
from verifier.interfaces.parallel.worker import job_doc
from verifier.model import CampaignResult
from verifier.results.merge import Part, merge, read_part, salvage
from verifier.results.plan import MAX_WORKERS, Chunk, Plan, parse_shard
from verifier.results.rebuild import load_events
from verifier.search.campaign import Options, speaking, warn_unknown_ops
from verifier.search.errors import CampaignError

__all__ = ["Plan", "Chunk", "parse_shard", "run_parallel", "MAX_WORKERS", "absolute_spec"]


def absolute_spec(spec: str) -> str:
    """``./my_engine.py:Engine`` as an absolute path: a worker may start in another directory."""
    module, sep, attr = spec.rpartition(":")
    if sep and module.endswith(".py"):
        return f"{Path(module).resolve()}:{attr}"
    return spec


def run_parallel(spec: str, options: Options, plan: Plan, out: Output, *, workers: Sequence[int] | None = None,
                 concurrency: int | None = None, backend: str = "local", address: str | None = None,
                 progress: Callable[[int, int, int, float], None] | None = None) -> CampaignResult:
    """Run ``workers`` (default: all) of ``plan`` and merge them into ``out``.

    Chunks run in ``out/parts/``; the folders of those that finished are removed once merged,
    those of lost chunks are kept (their event log tells what they were doing)."""

    if options.vocabulary is not BUILTIN:
        # a worker rebuilds its options from JSON, and a record's rules are code, not JSON:
        # ops of the engine's own reach a worker through the engine (its custom_ops)
        raise CampaignError("a parallel campaign speaks the engine's vocabulary: declare ops of your own "
                            "in the engine's custom_ops, or run this vocabulary in one process")
    spec = absolute_spec(spec)
    workers = list(range(plan.workers)) if workers is None else list(workers)
    parts_dir = out.path / "parts"
    if parts_dir.exists():       # left by an earlier run into this folder (Output checked --overwrite)
        shutil.rmtree(parts_dir)
    start = time.monotonic()
    deadline = time.time() + options.time_budget if options.time_budget else None
    slots = [[(c, job_doc(spec, options, plan, c, parts_dir / c.name, deadline)) for c in plan.chunks(k)]
             for k in workers]
    # the start record first, as a plain campaign writes it: if this process is killed before
    # it merges, `adverify report OUT` rebuilds the report from it and the chunks' folders
    engine = load_engine(spec, tensor=options.tensor)
    vocabulary = speaking(engine, options).vocabulary
    warn_unknown_ops(engine, vocabulary)
    campaign_options = {**options.to_json(), "seed": plan.seed, "examples": plan.examples}
    out.start({"engine": engine_name(engine), "dtype": engine_dtype(engine), "seed": plan.seed,
               "ops": list(options.ops) if options.ops else engine_ops(engine, vocabulary),
               "options": campaign_options})
    out.event({"event": "parallel", "backend": backend, **plan.to_json(), "run": workers})
    if backend == "dask":
        from verifier.interfaces.parallel.dask_backend import run_dask  # Dask: an optional extra
        outcomes, interrupted = run_dask(slots, address, concurrency)
    else:
        total = sum(c.examples for slot in slots for c, _ in slot)

        def tick() -> None:
            done, found = _progress(parts_dir)
            progress(done, total, found, time.monotonic())

        outcomes, interrupted = run_local(slots, concurrency or len(slots), on_tick=tick if progress else None)
    parts, lost = [], []
    for o in outcomes:
        # a process that died after writing its summary had finished its chunk: nothing lost
        if o.lost is None or (o.folder / "summary.json").is_file():
            parts.append(read_part(o.folder))
            continue
        kept = salvage(o.folder)
        if kept is not None:
            parts.append(kept)
        lost.append({**o.chunk.to_json(), "reason": o.lost, "checked": _checked(o.folder),
                     "findings": len(kept.result.discrepancies) if kept else 0})
    if not parts:   # every chunk died before finding anything: still a report, of nothing
        parts = [_empty(engine, options, plan)]
    result = merge(parts, out, elapsed_s=time.monotonic() - start, lost=lost,
                   stopped="interrupted" if interrupted else None, options=campaign_options)
    for o in outcomes:
        if o.lost is None or (o.folder / "summary.json").is_file():
            shutil.rmtree(o.folder, ignore_errors=True)
    if not lost:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return result


def _progress(parts_dir: Path) -> tuple[int, int]:
    """(examples checked, distinct discrepancies found) so far, from the chunks' folders."""
    done, found = 0, set()
    for log in parts_dir.glob("*/events.jsonl"):
        with log.open("rb") as f:
            start = max(0, f.seek(0, 2) - 8192)   # the last lines: the latest count is there
            f.seek(start)
            lines = f.read().decode(errors="replace").splitlines()[1 if start else 0:]
        for line in reversed(lines):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "examples" in record and record.get("event") in ("progress", "end", "finding"):
                done += record["examples"]
                break
        found |= {p.stem.split("-", 1)[-1] for p in log.parent.glob("replays/*.json")}
    return done, len(found)


def _checked(folder: Path) -> int:
    """About how many examples a chunk that died had checked: its last count in its log
    (written every few seconds, so a lower bound); 0 if it left no readable count."""
    try:
        return load_events(folder).examples
    except (FormatError, OSError):
        return 0


def _empty(engine, options: Options, plan: Plan):
    result = CampaignResult(engine=engine_name(engine), dtype=engine_dtype(engine), seed=plan.seed, examples=0,
                            elapsed_s=0.0, verdicts={}, discrepancies=[], ops=[], options=options.to_json(),
                            stopped="running", parallel={**plan.to_json(), "parts": []})
    return Part(result, Path("."))
