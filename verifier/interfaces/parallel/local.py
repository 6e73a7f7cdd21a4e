"""Chunks on this machine: ``concurrent.futures.ProcessPoolExecutor``, one per chunk.

Every chunk runs in a fresh process (so ``--recycle-after`` is simply more, smaller chunks),
up to ``concurrency`` at a time, taken in the order chunk 0 of every worker, then chunk 1 of
every worker, ...: a slot that finishes early takes the next chunk whoever's it is, so a
worker whose examples happen to be slow does not keep the others waiting at the end (the
plan fixed every chunk's seed and size, so which process runs it changes nothing). One
executor per chunk, not one pool for all: a pool whose process dies is broken, and it takes
every other running chunk down with it; here a death costs only that chunk.

Processes come from a ``forkserver`` that has imported the verifier once (a chunk starts in
a fraction of a second, not the seconds SymPy and NumPy take to import), and they are not
daemons, so each campaign can fork its own check workers.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from verifier.checking.executor import how_it_ended
from verifier.interfaces.parallel.worker import run_job
from verifier.results.plan import Chunk
from verifier.search.errors import CampaignError
from verifier.search.stop import STOP

__all__ = ["Outcome", "ParallelError", "run_local", "death"]


class ParallelError(CampaignError):
    """A chunk failed with an error (not a death): the same error would end every chunk."""


@dataclass(frozen=True)
class Outcome:
    chunk: Chunk
    folder: Path
    lost: str | None = None      # why the chunk's process died, if it did


def death(code: int | None) -> str:
    if code is None:
        return "the worker process died"
    if code < 0:
        return f"the worker process was killed by {how_it_ended(code)}"
    return f"the worker process exited with code {code}"


# imported once by the forkserver, not by every chunk: the worker and what a campaign
# imports lazily (SymEngine, when installed; a missing module is skipped)
PRELOAD = ["verifier.interfaces.parallel.worker", "oracles.symengine_backend"]


def _context():
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def _pid(folder: Path) -> int | None:
    """The chunk's process, from the first line of its event log (written as it starts)."""
    try:
        with (folder / "events.jsonl").open() as f:
            return int(json.loads(f.readline())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _order(slots: Sequence[Sequence[tuple[Chunk, dict[str, Any]]]]) -> list[tuple[Chunk, dict[str, Any]]]:
    """Chunk 0 of every worker, then chunk 1 of every worker, ...: with a time budget the
    chunks left unstarted are the last ones of every worker, not all of the last workers'."""
    depth = max((len(s) for s in slots), default=0)
    return [s[j] for j in range(depth) for s in slots if j < len(s)]


def run_local(slots: Sequence[Sequence[tuple[Chunk, dict[str, Any]]]], concurrency: int,
              on_tick: Callable[[], None] | None = None) -> tuple[list[Outcome], bool]:
    """Run every slot's (chunk, job) pairs, ``concurrency`` chunks at a time (``on_tick`` is
    called about once a second, for a progress bar).
    Returns the outcomes and whether the run was interrupted (then unstarted chunks are skipped;
    so are those left when the time budget is spent: starting them would only stop them)."""
    ctx = _context()
    queue = deque(_order(slots))
    running: dict[Any, tuple[Chunk, dict, ProcessPoolExecutor, list]] = {}
    outcomes: list[Outcome] = []
    interrupted = False
    error: str | None = None

    def start() -> None:
        chunk, job = queue.popleft()
        if job.get("deadline") is not None and time.time() >= job["deadline"]:
            queue.clear()
            return
        ex = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
        fut = ex.submit(run_job, {**job, "campaign_pid": os.getpid()})   # see worker._watch_campaign
        # the Process objects, for the exit code if it dies (BrokenProcessPool does not say)
        procs = list(getattr(ex, "_processes", {}).values())
        running[fut] = (chunk, job, ex, procs)

    def stop_all() -> None:
        for _, job, _, procs in running.values():
            for pid in [p.pid for p in procs] or [_pid(Path(job["folder"]))]:
                try:
                    if pid:
                        os.kill(pid, signal.SIGTERM)   # each chunk ends as interrupted, its summary written
                except OSError:
                    pass

    def fill() -> None:
        while len(running) < concurrency and queue and not interrupted:
            start()

    def finished(fut) -> None:
        nonlocal error, interrupted
        chunk, job, ex, procs = running[fut]
        lost = None
        try:
            fut.result()
        except BrokenProcessPool:
            ex.shutdown(wait=True)   # joins the dead process: its exit code is known after this
            codes = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            lost = death(codes[0] if codes else None)
        except KeyboardInterrupt:
            lost = "interrupted before its campaign began"
        except MemoryError:   # the verifier itself ran out (a cap on the process, or the machine's)
            lost = "the worker process ran out of memory (MemoryError)"
        except Exception as e:   # our code or the engine's loading failed: not a death
            if error is None:
                error = str(e) if isinstance(e, CampaignError) else \
                    f"worker {chunk.worker} chunk {chunk.index}: {type(e).__name__}: {e}"
                stop_all()
                interrupted = True
        # recorded before anything that can be interrupted: a finished chunk is never dropped
        outcomes.append(Outcome(chunk, Path(job["folder"]), lost))
        del running[fut]
        ex.shutdown(wait=True)

    while running or (queue and not interrupted):
        # Ctrl-C or SIGTERM (raised here as KeyboardInterrupt) can land anywhere in this loop,
        # even while a chunk is being started: every chunk already running is stopped and
        # waited for, so each writes its summary and the merged report is complete
        try:
            if STOP and not interrupted:
                raise KeyboardInterrupt   # one that was swallowed (verifier.search.stop)
            fill()
            if not running:
                break
            # never unbounded: a swallowed interrupt is seen within a second
            done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
            if on_tick:
                on_tick()
            for fut in done:
                finished(fut)
        except KeyboardInterrupt:
            if not interrupted:
                interrupted = True
                stop_all()
    if error:
        raise ParallelError(error)
    return outcomes, interrupted
