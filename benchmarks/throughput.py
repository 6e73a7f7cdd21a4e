"""Examples per second of the default campaigns, and what they cost against the engine alone.

    python benchmarks/throughput.py [--examples 1000]

For the scalar and the tensor campaign of the builtin engine: campaign examples/s (checks in
the forked worker, as `adverify campaign` runs them, and in-process), then the bare cost of
the engine's forward + backward on the same cases, and the ratio. One run, one table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from benchmarks.machine import describe  # noqa: E402
from verifier.campaign import Options, run_campaign  # noqa: E402
from verifier.engines import load_engine  # noqa: E402
from verifier.runner import build_graph  # noqa: E402
from verifier.strategies import cases  # noqa: E402
from verifier.tensor.strategies import tensor_cases  # noqa: E402


def _cases(strategy, n: int, s: int) -> list:
    drawn = []

    @seed(s)
    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        drawn.append(case)
    collect()
    return drawn


def _bare(engine, drawn) -> float:
    """Seconds per case for the engine's own forward + backward, nothing else."""
    t = time.perf_counter()
    for c in drawn:
        out, leaves, _ = build_graph(engine, c.expr, c.point)
        engine.gradients(out, leaves)
    return (time.perf_counter() - t) / len(drawn)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=1000)
    a = p.parse_args()
    print(describe())
    print("campaign | checks in | examples/s | engine alone (examples/s) | ratio")
    for tensor in (False, True):
        n = a.examples if not tensor else max(100, a.examples // 3)
        engine = load_engine("builtin", tensor=tensor)
        options = dict(examples=n, seed=1, tensor=tensor, max_nodes=6 if tensor else 12)
        bare = _bare(engine, _cases(tensor_cases() if tensor else cases(), n, 1))
        for timeout, where in ((5.0, "forked worker"), (None, "process")):
            t = time.perf_counter()
            r = run_campaign(engine, Options(check_timeout=timeout, **options))
            rate = r.examples / (time.perf_counter() - t)
            print(f"{'tensor' if tensor else 'scalar'} | {where} | {rate:.0f} | {1 / bare:.0f} | "
                  f"{(1 / bare) / rate:.0f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
