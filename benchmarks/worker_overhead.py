"""What a check costs in the forked worker beyond the same check in this process.

    python benchmarks/worker_overhead.py [--examples 1000] [--rounds 3] [--tensor] [--campaign]

Draws the campaign's cases once, then runs the same checks (``run_engine`` with its repeat,
output capture and all) through ``InProcess`` and through ``Worker``, taking turns for
``--rounds`` rounds, and prints per check, for each, the wall-clock time and the CPU time
(this process's, plus the worker's, read from /proc) — best round: a round slowed by the
machine is the noise, not the code — and the differences: the worker's overhead per check.
On a busy machine the wall-clock difference is mostly the wait for a free core (the worker
must be scheduled twice per check); the CPU difference is what the code costs.

Back to back, the worker is always awake and its caches warm. In a campaign it waits some
milliseconds between checks (the search, the oracles) and each check starts cold:
``--campaign`` times the executor's ``run`` inside ``run_campaign`` instead, both ways.
``--profile parent|child`` prints a cProfile of one back-to-back Worker round, this process's
side or the worker's.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.drawing import drawn as draw_cases  # noqa: E402
from verifier.checking import checker, executor as ex  # noqa: E402
from verifier.engines import load_engine  # noqa: E402
from verifier.search.campaign import Options, run_campaign  # noqa: E402
from verifier.search.strategies import cases  # noqa: E402
from verifier.search.tensor_strategies import tensor_cases  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int | None) -> float:
    """CPU seconds a process has used (user + system), 0 if there is none or no /proc. In
    clock ticks (10 ms): summed over a thousand checks, the rounding evens out."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class _Timed:
    """An executor that adds up the wall-clock and CPU time its checks take."""

    def __init__(self, executor):
        self.executor, self.wall, self.cpu, self.checks = executor, 0.0, 0.0, 0

    def _worker(self) -> int | None:
        proc = getattr(self.executor, "_proc", None)
        return proc.pid if proc is not None else None

    def run(self, expr, point, mode="reverse"):
        pid = self._worker()
        child = _cpu_of(pid)   # read outside the timed span: the reading costs this process
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.executor.run(expr, point, mode=mode)
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            if pid is not None and pid == self._worker():   # not a worker started by this check
                self.cpu += _cpu_of(pid) - child
            self.checks += 1

    def close(self):
        self.executor.close()

    def per_check(self) -> tuple[float, float]:
        """(wall, CPU) milliseconds per check."""
        return self.wall * 1000 / self.checks, self.cpu * 1000 / self.checks


def _back_to_back(executor, drawn) -> tuple[float, float]:
    timed = _Timed(executor)
    for c in drawn:
        run = timed.run(c.expr, c.point)
        if run.status in ("crash", "timeout"):
            raise SystemExit(f"unexpected {run.status}: {run.message}")
    return timed.per_check()


def _in_campaign(engine, tensor: bool, examples: int, timeout: float | None) -> tuple[float, float]:
    """Per check of the executor a campaign makes, timed inside the campaign."""
    made: list[_Timed] = []
    real = checker.make_executor

    def timed(*args, **kwargs):
        made.append(_Timed(real(*args, **kwargs)))
        return made[-1]
    checker.make_executor = timed
    try:
        run_campaign(engine, Options(check_timeout=timeout, examples=examples, seed=1, tensor=tensor,
                                     max_nodes=6 if tensor else 12))
    finally:
        checker.make_executor = real
    checks = sum(t.checks for t in made)
    return sum(t.wall for t in made) * 1000 / checks, sum(t.cpu for t in made) * 1000 / checks


def _profile(engine, drawn, side: str) -> None:
    worker = ex.Worker(engine, timeout=5.0)
    if side == "parent":
        cProfile.runctx("_back_to_back(worker, drawn)", globals(), locals(), sort="tottime")
        worker.close()
        return
    # the worker's side: its serve loop under cProfile, the statistics written before the
    # last check (close() kills the worker right after asking it to stop)
    serve, run_engine = ex._serve, ex.run_engine
    path = Path(tempfile.mkdtemp()) / "worker.prof"
    count = [0]

    def profiled(*args):
        prof = cProfile.Profile()

        def counted(*a, **k):
            count[0] += 1
            if count[0] == len(drawn):
                prof.disable()
                prof.dump_stats(path)
            return run_engine(*a, **k)
        ex.run_engine = counted
        prof.runcall(serve, *args)
    ex._serve = profiled
    try:
        _back_to_back(worker, drawn)
        worker.close()
    finally:
        ex._serve, ex.run_engine = serve, run_engine
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(25)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tensor", action="store_true")
    p.add_argument("--campaign", action="store_true", help="time the checks inside run_campaign")
    p.add_argument("--profile", choices=("parent", "child"))
    a = p.parse_args()
    print(describe())
    engine = load_engine("builtin", tensor=a.tensor)
    drawn = draw_cases(tensor_cases() if a.tensor else cases(), a.examples, 1)
    if a.profile:
        _profile(engine, drawn, a.profile)
        return 0
    inproc, worker = ex.InProcess(engine), ex.Worker(engine, timeout=5.0)
    worker.run(drawn[0].expr, drawn[0].point)   # the fork itself is not a per-check cost
    best = {"in-process": (float("inf"),) * 2, "worker": (float("inf"),) * 2}
    for _ in range(a.rounds):
        for where, timeout, executor in (("in-process", None, inproc), ("worker", 5.0, worker)):
            got = (_in_campaign(engine, a.tensor, a.examples, timeout) if a.campaign
                   else _back_to_back(executor, drawn))
            best[where] = tuple(map(min, best[where], got))
    worker.close()
    print(f"{len(drawn)} {'tensor' if a.tensor else 'scalar'} cases "
          f"{'in a campaign' if a.campaign else 'back to back'}, best of {a.rounds} rounds")
    print("checks in | wall ms/check | CPU ms/check")
    for where, (wall, cpu) in best.items():
        print(f"{where} | {wall:.3f} | {cpu:.3f}")
    (w1, c1), (w0, c0) = best["worker"], best["in-process"]
    print(f"overhead | {w1 - w0:.3f} | {c1 - c0:.3f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
