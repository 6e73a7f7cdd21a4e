"""Chunks on a Dask cluster (``--backend dask [--address tcp://host:8786]``).

Each chunk is one Dask task; the task runs the chunk in a subprocess of its own
(``python -m verifier.interfaces.parallel.worker``), because a campaign needs a main thread (SymPy's
time limit is SIGALRM), its own Hypothesis state, and the right to fork check workers —
none of which a task thread in a daemonic Dask worker has. The subprocess writes its report
folder on the worker's disk; the task sends it back as text, and the client writes it into
``OUT/parts/`` and reads it through the same schema checks as any report.

Dask re-runs a task whose worker died (the plan fixed its seed, so the re-run checks the
same examples); only when it gives up (``KilledWorker``) is the chunk lost. Findings are
published to the scheduler as they are found (``log_event``), so even then none is lost.
Every worker needs adverify installed, and a file engine spec must exist at the same path.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from verifier.interfaces.parallel.local import Outcome, ParallelError, death
from verifier.results.plan import Chunk
from verifier.results.summary import PARTIAL
from verifier.search.stop import STOP

__all__ = ["run_dask", "cluster_threads", "run_remote"]

TOPIC = "adverify-partial"        # findings so far, published by each task as they come
_STOP = "adverify-stop-{}"        # a dask Event: the client was interrupted
_REPLAY = re.compile(r"replays/[A-Za-z0-9][A-Za-z0-9._-]*\.json")


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ParallelError("--backend dask needs Dask: pip install 'adverify[dask]'") from None
    return distributed


def _folder_texts(folder: Path) -> dict[str, str]:
    names = ["summary.json", PARTIAL, "events.jsonl"] + \
            [f"replays/{p.name}" for p in sorted((folder / "replays").glob("*.json"))]
    return {n: (folder / n).read_text() for n in names if (folder / n).is_file()}


def run_remote(job: dict[str, Any], stop: str) -> dict[str, Any]:
    """The Dask task: run the chunk in a subprocess; its folder's files, and why it died if it did."""
    distributed = _distributed()
    worker = distributed.get_worker()
    event = distributed.Event(stop)
    late = job.get("deadline") is not None and time.time() >= job["deadline"]
    if late or event.is_set():   # no time left, or the client was interrupted: the chunk does not run
        return {"files": {}, "lost": None, "skipped": True}
    with tempfile.TemporaryDirectory(prefix="adverify-") as tmp:
        folder, jobfile, errfile = Path(tmp) / "part", Path(tmp) / "job.json", Path(tmp) / "stderr"
        jobfile.write_text(json.dumps({**job, "folder": str(folder)}))
        with errfile.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "verifier.interfaces.parallel.worker", str(jobfile)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        seen, stopping = None, False
        while proc.poll() is None:
            time.sleep(0.5)
            partial = folder / PARTIAL
            stamp = partial.stat().st_mtime_ns if partial.is_file() else None
            if stamp != seen:
                seen = stamp
                texts = _folder_texts(folder)
                worker.log_event(TOPIC, {"chunk": job["chunk"], "files": texts})
            if not stopping and event.is_set():
                stopping = True
                proc.send_signal(signal.SIGTERM)   # ends as interrupted, with its summary
        texts = _folder_texts(folder)
        lost = None
        if proc.returncode == 2:   # a one-line input error (the worker's main): every chunk would hit it
            return {"files": {}, "lost": None, "error": errfile.read_text().strip().splitlines()[-1]}
        if "summary.json" not in texts:
            tail = errfile.read_text()[-400:].strip().splitlines()
            lost = death(proc.returncode) + (f" ({tail[-1]})" if tail else "")
        return {"files": texts, "lost": lost}


def _write(folder: Path, files: dict[str, str]) -> None:
    (folder / "replays").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if name in ("summary.json", PARTIAL, "events.jsonl") or _REPLAY.fullmatch(name):
            (folder / name).write_text(text)


def _salvage(client, chunk: Chunk, folder: Path) -> None:
    """The last findings a lost chunk published, into its folder."""
    latest = None
    for _, msg in client.get_events(TOPIC):
        if isinstance(msg, dict) and msg.get("chunk") == chunk.to_json():
            latest = msg
    if latest:
        _write(folder, latest["files"])


def cluster_threads(address: str | None) -> int:
    """How many searches to plan when --workers is not given: one per thread of the cluster."""
    if not address:
        return os.cpu_count() or 1
    distributed = _distributed()
    with distributed.Client(address, timeout="20s") as client:
        return max(1, sum(client.nthreads().values()))


def run_dask(slots: Sequence[Sequence[tuple[Chunk, dict[str, Any]]]], address: str | None,
             concurrency: int | None) -> tuple[list[Outcome], bool]:
    distributed = _distributed()
    jobs = [pair for slot in slots for pair in slot]
    cluster = None
    try:
        if address:
            client = distributed.Client(address, timeout="20s")
        else:   # a cluster on this machine: one single-threaded worker process per search
            cluster = distributed.LocalCluster(n_workers=concurrency or len(slots), threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
    except (OSError, TimeoutError) as e:
        raise ParallelError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    stop = _STOP.format(time.time_ns())
    interrupted = False
    outcomes: list[Outcome] = []
    try:
        futures = {client.submit(run_remote, job, stop, pure=False, key=f"adverify-{chunk.name}-{stop[-12:]}"):
                   (chunk, Path(job["folder"])) for chunk, job in jobs}
        pending = set(futures)
        ready = None
        while pending:
            try:
                if STOP and not interrupted:
                    raise KeyboardInterrupt   # one that was swallowed (verifier.search.stop)
                # polled, not waited on, so that is seen at once; made afresh after an
                # interrupt, which may have cut a batch short
                if ready is None:
                    ready = distributed.as_completed(list(pending))
                done = ready.next_batch(block=False)
                if not done:
                    time.sleep(0.2)
                for fut in done:
                    pending.discard(fut)
                    chunk, folder = futures[fut]
                    outcome = _outcome(client, fut, chunk, folder, distributed)
                    if outcome is not None:
                        outcomes.append(outcome)
            except KeyboardInterrupt:
                ready = None
                if interrupted:
                    raise
                interrupted = True
                distributed.Event(stop, client=client).set()   # running chunks end and report
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes, interrupted


def _outcome(client, fut, chunk: Chunk, folder: Path, distributed) -> Outcome | None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        answer = fut.result()
    except distributed.KilledWorker:
        _salvage(client, chunk, folder)
        return Outcome(chunk, folder, "every Dask worker that ran it died (KilledWorker)")
    except distributed.client.FutureCancelledError:
        _salvage(client, chunk, folder)
        return Outcome(chunk, folder, "cancelled")
    except Exception as e:
        _salvage(client, chunk, folder)
        return Outcome(chunk, folder, f"the Dask task failed: {type(e).__name__}: {e}")
    if answer.get("error"):
        raise ParallelError(answer["error"].removeprefix("adverify: error: "))
    if answer.get("skipped"):
        return None
    _write(folder, answer["files"])
    return Outcome(chunk, folder, answer["lost"])
