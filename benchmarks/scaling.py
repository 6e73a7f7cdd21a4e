"""Examples per second with 1 and N worker processes, and on a Dask cluster; one table.

    python3 benchmarks/scaling.py [--examples 2000] [--workers 2] [--engine builtin] [--repeat 1]

Every row is ``adverify campaign`` run as a command, timed from outside: interpreter start,
imports, the forkserver, the campaign, merging and rendering the report — what a user waits
for. Rows: the plain campaign (one process); ``--workers 1`` and ``--workers N`` (local
processes); the same plan on a Dask ``LocalCluster`` of N single-threaded worker processes
(skipped without Dask; the cluster's start-up is timed apart). With ``--repeat R`` the rows
run in R rounds, interleaved, so a burst of other work hits every row alike; the best wall
time of each row is kept.

Beside the rates, where the time went: ``slowest worker`` is the longest any one search took
(the sum of its chunks' campaign time, from summary.json); ``overhead`` is the wall time
beyond it (start-up, imports, merge, report); ``balance`` is the mean worker time over the
slowest (1.00: they finished together); ``cpu s`` is the CPU time of the whole process tree.

A 2-core machine shared with other work cannot show a 2× speed-up whatever adverify does, so
the script measures the machine's own ceiling too: how much faster a pure-Python loop runs on
N processes than on one (best of a few interleaved tries), just before and just after the
rows, and prints the load average (1, 5, 15 minutes) at start and end. A speed-up near the
ceiling is all the machine allowed at the time.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from verifier.results.summary import load_summary  # noqa: E402


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _spin(n: int) -> float:
    """A pure-Python busy loop; returns its own wall time (the pool's start-up excluded)."""
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t


def ceiling(workers: int, n: int = 3_000_000, tries: int = 3) -> float:
    """Speed-up of ``workers`` processes over one on the same loop, best of ``tries`` each,
    interleaved; the processes exist before the clock starts, so only the machine is measured."""
    one, many = float("inf"), float("inf")
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(_spin, [10_000] * workers))          # every process started and warm
        for _ in range(tries):
            one = min(one, ex.submit(_spin, n).result())
            t = time.perf_counter()
            list(ex.map(_spin, [n] * workers, chunksize=1))
            many = min(many, time.perf_counter() - t)
    return workers * one / many


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)   # every reaped descendant, recursively
    return r.ru_utime + r.ru_stime


def run(argv: list[str], out: Path) -> dict:
    """One ``adverify campaign`` as a command: wall and CPU time, and what its summary says."""
    cpu, t = _cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "verifier", "campaign", *argv, "--quiet", "--out", str(out)],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - t, _cpu() - cpu
    if proc.returncode not in (0, 1):
        raise SystemExit(f"adverify campaign {' '.join(argv)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    r = load_summary(out / "summary.json")
    per_worker: dict[int, float] = {}
    for p in r.parallel.get("parts", []):
        per_worker[p["worker"]] = per_worker.get(p["worker"], 0.0) + p["elapsed_s"]
        # a chunk's process is the forkserver's child (or a Dask worker's), never reaped by
        # the command: its summary entry carries its CPU time
        cpu += p.get("cpu_s", 0.0)
    times = list(per_worker.values()) or [r.elapsed_s]
    return {"wall": wall, "cpu": cpu, "examples": r.examples, "slowest": max(times),
            "balance": sum(times) / len(times) / max(times) if max(times) > 0 else 1.0, "lost": len(r.lost)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--engine", default="builtin")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="rounds of every row; the best time of each is kept")
    p.add_argument("--no-dask", action="store_true", help="skip the Dask row")
    args = p.parse_args(argv)
    print(describe())
    print(f"load average (1, 5, 15 min) at start: {_load()}")
    tmp = Path(tempfile.mkdtemp(prefix="adverify-scaling-"))
    common = ["--engine", args.engine, "--examples", str(args.examples), "--seed", str(args.seed)]
    n = args.workers
    rows = [("plain campaign", 1, common),
            ("--workers 1", 1, common + ["--workers", "1", "--recycle-after",
                                         str(args.examples)]),   # a plan of one chunk: the parallel path
            (f"--workers {n}", n, common + ["--workers", str(n)])]
    cluster, startup = None, 0.0
    if not args.no_dask:
        try:
            import distributed
            t = time.perf_counter()
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=None)
            startup = time.perf_counter() - t
            rows.append((f"--backend dask, LocalCluster of {n}", n,
                         common + ["--workers", str(n), "--backend", "dask", "--address", cluster.scheduler_address]))
        except ImportError:
            print("(Dask is not installed: pip install 'adverify[dask]' for its row)")

    before = ceiling(n)
    best: dict[str, dict] = {}
    loads = []
    try:
        for k in range(args.repeat):
            for name, _, argv_ in rows:
                m = run(argv_, tmp / f"{len(loads)}")
                loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
                if name not in best or m["wall"] < best[name]["wall"]:
                    best[name] = m
    finally:
        if cluster is not None:
            cluster.close()
    after = ceiling(n)

    base = best["--workers 1"]["examples"] / best["--workers 1"]["wall"]
    plain = best["plain campaign"]["examples"] / best["plain campaign"]["wall"]
    print(f"\nengine {args.engine}, {args.examples} examples, seed {args.seed}, best of {args.repeat}; "
          "each row is `adverify campaign ...` timed from outside\n")
    head = (f"{'setup':<34}{'procs':>6}{'examples':>9}{'wall s':>8}{'ex/s':>8}{'× w1':>7}{'× plain':>8}"
            f"{'slowest worker s':>17}{'overhead s':>11}{'balance':>8}{'cpu s':>7}")
    print(head)
    print("-" * len(head))
    for name, procs, _ in rows:
        m = best[name]
        rate = m["examples"] / m["wall"]
        print(f"{name:<34}{procs:>6}{m['examples']:>9}{m['wall']:>8.1f}{rate:>8.1f}{rate / base:>7.2f}"
              f"{rate / plain:>8.2f}{m['slowest']:>17.1f}{m['wall'] - m['slowest']:>11.1f}{m['balance']:>8.2f}"
              f"{m['cpu']:>7.1f}" + (f"  ({m['lost']} chunks lost)" if m["lost"] else ""))
    print("-" * len(head))
    print(f"machine ceiling: a pure-Python loop ran {before:.2f}× (before the rows) and {after:.2f}× (after) "
          f"faster on {n} processes than on 1")
    if cluster is not None:
        print(f"(the Dask cluster took {startup:.1f} s to start, not counted above)")
    print(f"load average (1 min) after each row: {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"load average (1, 5, 15 min) at end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
