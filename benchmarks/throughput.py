"""Examples per second of the default campaigns, and what they cost against the engine alone.

    python benchmarks/throughput.py [--examples 1000]
    python benchmarks/throughput.py --against /path/to/other/checkout [--rounds 2]

For the scalar and the tensor campaign of the builtin engine: campaign examples/s (checks in
the forked worker, as `adverify campaign` runs them, and in-process), then the bare cost of
the engine's forward + backward on the same cases, and the ratio. One run, one table.

``--against DIR``: the same measurement for another checkout (an older commit: ``git worktree
add DIR REV``) and for this one, each in its own process, taking turns for ``--rounds``
rounds on the same machine, then one table of both rates and their ratio (best of the rounds:
a round slowed by the machine is the noise, not the code).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from benchmarks.drawing import drawn  # noqa: E402
from benchmarks.machine import describe  # noqa: E402
from verifier.search.campaign import Options, run_campaign  # noqa: E402
from verifier.engines import load_engine  # noqa: E402
from verifier.checking.runner import build_graph  # noqa: E402
from verifier.search.strategies import cases  # noqa: E402
from verifier.search.tensor_strategies import tensor_cases  # noqa: E402


def _bare(engine, cases_) -> float:
    """Seconds per case for the engine's own forward + backward, nothing else."""
    t = time.perf_counter()
    for c in cases_:
        out, leaves, _ = build_graph(engine, c.expr, c.point)
        engine.gradients(out, leaves)
    return (time.perf_counter() - t) / len(cases_)


def _rates(tree: Path, examples: int) -> dict[tuple[str, str], float]:
    """(campaign, checks in) -> examples/s, from the table ``tree``'s own script prints."""
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / "throughput.py"), "--examples", str(examples)],
                         capture_output=True, text=True, check=True, cwd=tree).stdout
    rows = [line.split(" | ") for line in out.splitlines() if line.count(" | ") == 4]
    return {(r[0], r[1]): float(r[2]) for r in rows if r[0] in ("scalar", "tensor")}


def compare(other: Path, examples: int, rounds: int) -> int:
    here = Path(__file__).resolve().parent.parent
    best: dict[Path, dict] = {other: {}, here: {}}
    for _ in range(rounds):
        for tree in (other, here):
            for key, rate in _rates(tree, examples).items():
                best[tree][key] = max(rate, best[tree].get(key, 0.0))
    print(f"against {other} ({rounds} rounds, best of each)")
    print("campaign | checks in | before (examples/s) | after (examples/s) | after / before")
    for key in best[other]:
        before, after = best[other][key], best[here].get(key, float("nan"))
        print(f"{key[0]} | {key[1]} | {before:.0f} | {after:.0f} | {after / before:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--against", type=Path, help="another checkout to measure side by side with this one")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    print(describe())
    if a.against:
        return compare(a.against.resolve(), a.examples, a.rounds)
    print("campaign | checks in | examples/s | engine alone (examples/s) | ratio")
    for tensor in (False, True):
        n = a.examples if not tensor else max(100, a.examples // 3)
        engine = load_engine("builtin", tensor=tensor)
        options = dict(examples=n, seed=1, tensor=tensor, max_nodes=6 if tensor else 12)
        bare = _bare(engine, drawn(tensor_cases() if tensor else cases(), n, 1))
        # a short campaign first: one-time imports and caches are not the first row's to pay
        run_campaign(engine, Options(examples=20, seed=2, tensor=tensor, check_timeout=None))
        for timeout, where in ((5.0, "forked worker"), (None, "process")):
            t = time.perf_counter()
            r = run_campaign(engine, Options(check_timeout=timeout, **options))
            rate = r.examples / (time.perf_counter() - t)
            print(f"{'tensor' if tensor else 'scalar'} | {where} | {rate:.0f} | {1 / bare:.0f} | "
                  f"{(1 / bare) / rate:.0f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
