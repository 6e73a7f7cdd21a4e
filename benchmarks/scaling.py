"""Examples per second with 1 and N worker processes, and on a Dask cluster; one run, one table.

    python3 benchmarks/scaling.py [--examples 1200] [--workers 2] [--engine builtin] [--repeat 1]

Rows: the plain campaign in this process; ``--workers 1`` and ``--workers N`` (local
processes, as `adverify campaign --workers` runs them); the same plan on a Dask
``LocalCluster`` of N single-threaded worker processes (skipped without Dask; the cluster's
start-up is timed apart). Each time is wall time around the whole run: process start-up,
the campaign, merging and rendering the report. The speed-up is against ``--workers 1`` (the same process start-up and merge) and against
the plain campaign.
The N searches run different examples (derived seeds) from the one search, so per-example
cost differs a little: use enough examples. Every number is distorted by anything else the
machine runs: the load average is printed before and after, and so is the ceiling: how much
faster a plain CPU loop ran on N processes than on one, measured just before.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe  # noqa: E402
from verifier.campaign import Options, run_campaign  # noqa: E402
from verifier.engines import load_engine  # noqa: E402
from verifier.output import Output  # noqa: E402
from verifier.parallel import Plan, run_parallel  # noqa: E402


def _timed(run, repeat: int) -> tuple[float, int]:
    """Best wall time of ``repeat`` runs (the least disturbed by other work), and examples."""
    best, examples = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        examples = run().examples
        best = min(best, time.perf_counter() - t)
    return best, examples


def _spin(n: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t


def _ceiling(workers: int, n: int = 5_000_000) -> float:
    """Speed-up of N processes over one on a pure CPU loop: what the machine allows now."""
    from concurrent.futures import ProcessPoolExecutor
    one = _spin(n)
    with ProcessPoolExecutor(workers) as ex:
        t = time.perf_counter()
        list(ex.map(_spin, [n] * workers))
        many = time.perf_counter() - t
    return workers * one / many


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=1200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--engine", default="builtin")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="runs per row; the best time is kept")
    args = p.parse_args(argv)
    print(describe())
    tmp = Path(tempfile.mkdtemp(prefix="adverify-scaling-"))
    options = Options(examples=args.examples, seed=args.seed)
    counter = iter(range(1 << 30))

    def out() -> Output:
        return Output(tmp / f"r{next(counter)}")

    def local(n: int):
        return lambda: run_parallel(args.engine, options, Plan(args.seed, args.examples, n), out())

    rows = [("plain campaign, this process", 1, lambda: run_campaign(load_engine(args.engine), options, out())),
            ("--workers 1 (local)", 1, local(1)),
            (f"--workers {args.workers} (local)", args.workers, local(args.workers))]
    cluster = None
    try:
        import distributed
        t = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        startup = time.perf_counter() - t
        rows.append((f"--backend dask, LocalCluster of {args.workers}", args.workers,
                     lambda: run_parallel(args.engine, options, Plan(args.seed, args.examples, args.workers), out(),
                                          backend="dask", address=cluster.scheduler_address)))
    except ImportError:
        print("(Dask is not installed: pip install 'adverify[dask]' for its row)")

    ceiling = _ceiling(args.workers)
    results = []
    try:
        for name, n, run in rows:
            seconds, examples = _timed(run, args.repeat)
            results.append((name, n, examples, seconds))
    finally:
        if cluster is not None:
            cluster.close()
    base = next(r[2] / r[3] for r in results if r[0].startswith("--workers 1"))
    plain = results[0][2] / results[0][3]
    print(f"\nengine {args.engine}, {args.examples} examples, seed {args.seed}, best of {args.repeat}")
    print(f"{'setup':<36}{'procs':>6}{'examples':>10}{'wall s':>9}{'examples/s':>12}{'× --workers 1':>15}"
          f"{'× plain':>9}")
    for name, n, examples, seconds in results:
        rate = examples / seconds
        print(f"{name:<36}{n:>6}{examples:>10}{seconds:>9.1f}{rate:>12.1f}{rate / base:>15.2f}{rate / plain:>9.2f}")
    print(f"ceiling: a plain CPU loop ran {ceiling:.2f}× faster on {args.workers} processes than on 1")
    if cluster is not None:
        print(f"(the Dask cluster took {startup:.1f} s to start, not counted above)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
