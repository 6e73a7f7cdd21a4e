"""Milliseconds per case the Hypothesis strategies take to draw, nothing checked.

    python benchmarks/generation.py [--rounds 2]
    python benchmarks/generation.py --against /path/to/other/checkout [--rounds 3]

Draws cases as a campaign's generation does, through ``@given`` with a fixed seed: the scalar
``cases()`` (12 nodes at most, 3 variables) and the tensor ``tensor_cases(max_nodes=6)``.
Per case: wall-clock and CPU milliseconds (CPU time is steadier on a busy machine), the best
of ``--rounds`` runs, and how many distinct cases were drawn (the same for the same code: a
change there means the examples changed). A few cases are drawn first, out of the measure,
so that one-time imports (scipy.special at the first erf) are not counted.

``--against DIR``: the same measurement of another checkout (an older commit: ``git worktree
add DIR REV``; it needs no copy of this script), each tree in its own process, taking turns
for ``--rounds`` rounds, then one table of both and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from benchmarks.drawing import drawn  # noqa: E402  (imports nothing of adverify)

KINDS = {"scalar": 1000, "tensor": 333}   # cases drawn per run


def measure(tree: Path) -> dict[str, dict[str, float]]:
    """kind -> wall and CPU ms per case, and distinct cases, drawn with ``tree``'s strategies
    (this process imports them: call once per process)."""
    sys.path.insert(0, str(tree))
    from verifier.search.strategies import cases
    from verifier.search.tensor_strategies import tensor_cases
    strategies = {"scalar": cases(), "tensor": tensor_cases(max_nodes=6)}
    for strategy in strategies.values():
        drawn(strategy, 20)
    out = {}
    for kind, n in KINDS.items():
        wall, cpu = time.perf_counter(), time.process_time()
        cases_ = drawn(strategies[kind], n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[kind] = {"wall": 1000 * wall / n, "cpu": 1000 * cpu / n,
                     "distinct": len({(c.expr, repr(c.point)) for c in cases_})}
    return out


def _run(tree: Path) -> dict[str, dict[str, float]]:
    """``measure(tree)`` in a process of its own."""
    out = subprocess.run([sys.executable, __file__, "--tree", str(tree), "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def _best(runs: list[dict]) -> dict[str, dict[str, float]]:
    return {kind: {"wall": min(r[kind]["wall"] for r in runs), "cpu": min(r[kind]["cpu"] for r in runs),
                   "distinct": runs[-1][kind]["distinct"]} for kind in KINDS}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--against", type=Path, help="another checkout to measure side by side with this one")
    p.add_argument("--tree", type=Path, default=HERE, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.json:
        print(json.dumps(measure(a.tree.resolve())))
        return 0
    trees = [a.against.resolve(), HERE] if a.against else [HERE]
    runs: dict[Path, list] = {t: [] for t in trees}
    for _ in range(a.rounds):
        for t in trees:
            runs[t].append(_run(t))
    best = {t: _best(r) for t, r in runs.items()}
    print(f"best of {a.rounds} rounds; load average {os.getloadavg()[0]:.1f} at the end")
    if not a.against:
        print("cases | ms/case (wall) | ms/case (CPU) | distinct")
        for kind in KINDS:
            b = best[HERE][kind]
            print(f"{kind} | {b['wall']:.2f} | {b['cpu']:.2f} | {b['distinct']}/{KINDS[kind]}")
        return 0
    before, after = best[trees[0]], best[HERE]
    print(f"against {trees[0]}")
    print("cases | before ms/case (wall, CPU) | after ms/case (wall, CPU) | after / before (CPU) | distinct")
    for kind in KINDS:
        b, f = before[kind], after[kind]
        print(f"{kind} | {b['wall']:.2f}, {b['cpu']:.2f} | {f['wall']:.2f}, {f['cpu']:.2f} | {f['cpu'] / b['cpu']:.2f} | "
              f"{b['distinct']} -> {f['distinct']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
