"""Where a campaign's time goes: a cProfile of the default campaigns of the builtin engine,
grouped by the part of the pipeline each function belongs to, then the top functions.

    python benchmarks/profile_campaign.py [--examples 1000] [--top 25]

Checks run in this process (the forked worker's own cost is measured by
benchmarks/throughput.py). The parts: Hypothesis (its engine and the strategies it drives),
generation (our strategies), the reference (oracles, bound), the engine, the judge and
everything else. A part's time is the inclusive time of its entry points, so a part that
calls another (the reference calls SymEngine) holds it.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe  # noqa: E402
from verifier.engines import load_engine  # noqa: E402
from verifier.search.campaign import Options, run_campaign  # noqa: E402

# (part, file suffix, function): inclusive time of these entry points
PARTS = (
    ("generation (strategies)", "verifier/search/strategies.py", "cases"),
    ("generation (strategies)", "verifier/search/tensor_strategies.py", "tensor_cases"),
    ("reference (oracles, bound)", "verifier/checking/checker.py", "reference"),
    ("engine (run in process)", "verifier/checking/runner.py", "run_engine"),
    ("blame and shrinking", "verifier/search/blame.py", "blame"),
)


def _inclusive(stats: pstats.Stats, suffix: str, name: str) -> float:
    return sum(v[3] for (path, _, fn), v in stats.stats.items() if path.endswith(suffix) and fn == name)


def profile(tensor: bool, examples: int, top: int) -> None:
    engine = load_engine("builtin", tensor=tensor)
    options = Options(examples=examples, seed=1, tensor=tensor, max_nodes=6 if tensor else 12, check_timeout=None)
    run_campaign(engine, Options(examples=20, seed=2, tensor=tensor, check_timeout=None))   # imports, caches
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    result = run_campaign(engine, options)
    prof.disable()
    wall = time.perf_counter() - t
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())
    print(f"\n## {'tensor' if tensor else 'scalar'}: {result.examples} examples, {wall:.1f} s under the profiler "
          f"({result.examples / wall:.0f} examples/s profiled)\n")
    print("part | seconds | share")
    print("---|---:|---:")
    parts: dict[str, float] = {}
    for part, suffix, name in PARTS:
        parts[part] = parts.get(part, 0.0) + _inclusive(stats, suffix, name)
    for part, s in parts.items():
        print(f"{part} | {s:.2f} | {s / total:.0%}")
    rest = total - sum(parts.values())
    print(f"Hypothesis's engine and the rest | {rest:.2f} | {rest / total:.0%}")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    print(f"\ntop {top} functions by own time:\n")
    print("```")
    for ln in lines[start:start + top + 1]:
        print(ln.replace(str(Path(sys.prefix)), "…").replace(str(Path(__file__).resolve().parent.parent) + "/", ""))
    print("```")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    print(describe())
    profile(False, a.examples, a.top)
    profile(True, max(100, a.examples // 3), a.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
