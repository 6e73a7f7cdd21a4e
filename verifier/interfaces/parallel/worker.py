"""One chunk of a parallel campaign, run in its own process: ``run_job(job) -> folder``.

A job is plain JSON (our own document: engine spec, options, plan, chunk, folder), so the
same chunk runs in a local pool process, in a subprocess on a Dask worker
(``python -m verifier.interfaces.parallel.worker JOB.json``) or by hand. The engine is loaded here,
from its spec: engine objects never cross a process boundary.

The chunk's folder is a report folder as the campaign goes: each finding's replay file and
``summary.json.partial`` (every finding so far, through the same schema as ``summary.json``)
are written the moment it is found, so a process that dies loses its examples' counts, not
its discoveries. ``summary.json`` is written at the end; nothing is rendered (the merged
report is).
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import warnings
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from verifier.checking.memory import TRIM_EVERY
from verifier.engines import EngineError, engine_dtype, engine_name, load_engine
from verifier.floor.serial import expr_from_json, expr_to_json, point_from_json, point_to_json
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import CampaignResult, Case, Finding
from verifier.results.folder import ReportFolder
from verifier.results.plan import Chunk, Plan
from verifier.results.summary import PARTIAL, dump_summary
from verifier.search.campaign import Options, Regression, UnknownOpsWarning, run_campaign, speaking
from verifier.search.errors import CampaignError
from verifier.search.stop import stop_on_signals

__all__ = ["job_doc", "run_job"]



def job_doc(spec: str, options: Options, plan: Plan, chunk: Chunk, folder: Path | str,
            deadline: float | None = None) -> dict[str, Any]:
    """Everything a worker needs, as JSON. ``deadline`` is wall-clock (time.time()), so a
    chunk that starts late on a busy cluster gets only what is left of the time budget."""
    # the vocabulary is the engine's: a worker derives it from the engine it builds
    opts = {f.name: getattr(options, f.name) for f in fields(Options) if f.name not in ("regressions", "vocabulary")}
    opts["ops"] = list(options.ops) if options.ops else None
    # old reproducers are re-checked once per campaign: by its first chunk
    first = chunk.worker == 0 and chunk.index == 0
    regressions = [{"expr": expr_to_json(c.expr), "point": point_to_json(c.point), "source": c.source,
                    "mode": dict(r.mode) if isinstance(r, Regression) else {}}
                   for r, c in ((r, r.case if isinstance(r, Regression) else r) for r in options.regressions)
                   ] if first else []
    return {"spec": spec, "options": opts, "regressions": regressions, "plan": plan.to_json(),
            "chunk": chunk.to_json(), "folder": str(folder), "deadline": deadline}


def _options(job: dict[str, Any], chunk: Chunk, vocabulary: Vocabulary = BUILTIN) -> Options:
    opts = dict(job["options"])
    opts["ops"] = tuple(opts["ops"]) if opts.get("ops") else None
    cases = tuple(Regression(Case(expr_from_json(r["expr"], vocabulary=vocabulary), point_from_json(r["point"]),
                                  r.get("source"), ops=vocabulary), r.get("mode") or {})
                  for r in job["regressions"])
    budget = opts.get("time_budget")
    if job.get("deadline") is not None:
        # a chunk with no time left still starts (and stops at once): its report says so
        budget = max(1e-3, job["deadline"] - time.time())
    opts.update(regressions=cases, seed=chunk.seed, examples=chunk.examples, time_budget=budget,
                trim_every=opts.get("trim_every") or TRIM_EVERY)
    return Options(**opts)


def _chunk(doc: dict[str, Any]) -> Chunk:
    start, stop = doc["examples"]
    return Chunk(doc["worker"], doc["chunk"], doc["seed"], start, stop)


class PartOutput(ReportFolder):
    """A chunk's folder: replays and events as found, a partial summary after each finding,
    summary.json (with the chunk's place in its plan) at the end; no rendering."""

    def __init__(self, path: Path, engine: str, dtype: str, parallel: dict[str, Any]):
        super().__init__(path, overwrite=True)
        self.engine, self.dtype, self.parallel = engine, dtype, parallel
        self.findings: list[Finding] = []
        # first: see local._pid; with the plan, so the folder alone says where the chunk belongs
        # (a parallel run killed before it merged is rebuilt from its chunks' logs)
        plan = {k: v for k, v in parallel.items() if k != "parts"}
        self.event({"event": "worker", "pid": os.getpid(), **parallel["parts"][0], "plan": plan})

    def _summary(self, result: CampaignResult) -> CampaignResult:
        part = {**self.parallel["parts"][0], "checked": result.examples, "elapsed_s": result.elapsed_s}
        return replace(result, parallel={**self.parallel, "parts": [part]})

    @staticmethod
    def _cpu_s() -> float:
        """CPU time of this chunk's process and its reaped check workers: beside elapsed_s it
        tells a chunk that waited for a core (a busy machine) from one that worked slowly."""
        import resource
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return round(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, 3)

    def write_replay(self, f: Finding, case: Case, engine: str) -> None:
        super().write_replay(f, case, engine)
        self.findings.append(f)
        partial = CampaignResult(engine=self.engine, dtype=self.dtype, seed=self.parallel["parts"][0]["seed"],
                                 examples=0, elapsed_s=0.0, verdicts={}, discrepancies=list(self.findings),
                                 ops=[], stopped="running")
        dump_summary(self._summary(partial), self.path / PARTIAL)   # atomic: replaced whole

    def finish(self, result: CampaignResult) -> CampaignResult:
        done = self._summary(result)
        parts = [{**done.parallel["parts"][0], "cpu_s": self._cpu_s()}]
        done = replace(done, parallel={**done.parallel, "parts": parts})
        dump_summary(done, self.path / "summary.json")
        (self.path / PARTIAL).unlink(missing_ok=True)
        self.event({"event": "end", "stopped": result.stopped, "examples": result.examples})
        return done


def _die_with_parent() -> None:
    """A chunk whose parent (the pool, the Dask worker) is gone has no one to report to."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


_CAMPAIGN: list = []   # [pid, pidfd or None, when to look next] of the process that runs the campaign


def _watch_campaign(pid: int | None) -> None:
    """A local chunk's parent is the forkserver, not the campaign, and the forkserver lives
    as long as any chunk does (each holds its "alive" pipe): PR_SET_PDEATHSIG alone would let
    chunks of a killed campaign run on to the end. So the chunk watches the campaign's own
    process (a pidfd: immune to the pid being reused) and stops, as if interrupted and with
    its summary written, when that process is gone."""
    if not pid:
        return
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    _CAMPAIGN[:] = [pid, fd, 0.0]


def _campaign_gone() -> bool:
    pid, fd, next_at = _CAMPAIGN
    now = time.monotonic()
    if now < next_at:
        return False
    _CAMPAIGN[2] = now + 0.5
    if fd is not None:
        return bool(select.select([fd], [], [], 0)[0])   # readable once the process has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass
    return False


_GONE: list[bool] = []


def _stop_check(*progress) -> None:
    """Called after every example: a chunk whose campaign process died stops here, as if
    interrupted. (A SIGTERM that landed where Python ignores exceptions is the campaign's
    own to see: verifier.search.stop.)"""
    if _CAMPAIGN and _campaign_gone():
        _GONE.append(True)
        raise KeyboardInterrupt


def run_job(job: dict[str, Any]) -> str:
    """Run one chunk into its folder; returns the folder."""
    _die_with_parent()
    _watch_campaign(job.get("campaign_pid"))
    # SIGTERM (the campaign stopping its chunks) or Ctrl-C: the chunk ends as if interrupted,
    # its summary still written
    with stop_on_signals():
        chunk, plan = _chunk(job["chunk"]), Plan.from_json(job["plan"], "job plan")
        engine = load_engine(job["spec"], tensor=bool(job["options"].get("tensor")))
        parallel = {**plan.to_json(), "parts": [chunk.to_json()]}
        out = PartOutput(Path(job["folder"]), engine_name(engine), engine_dtype(engine), parallel)
        with warnings.catch_warnings():   # the campaign's own process has said it once
            warnings.simplefilter("ignore", UnknownOpsWarning)
            options = speaking(engine, _options(job, chunk))
            run_campaign(engine, _options(job, chunk, options.vocabulary), out, progress=_stop_check)
    if _GONE:
        # its summary is written; no one is left to take the result, and the pool's loop would
        # wait for its next job on a pipe this process itself holds open: leave now
        os._exit(0)
    return job["folder"]


def main(argv: list[str]) -> int:
    """``python -m verifier.interfaces.parallel.worker JOB.json``: how a Dask task runs a chunk in a
    process of its own (a main thread for SymPy's time limit, room to fork check workers)."""
    job = json.loads(Path(argv[0]).read_text())
    try:
        run_job(job)
    except (EngineError, CampaignError) as e:   # the same for every chunk: the client says it once
        print(f"adverify: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
