"""How often each op appears in generated expressions: the generation distribution, measured.

    python3 benchmarks/op_counts.py                     # 500 examples, seed 0, the builtin's ops
    python3 benchmarks/op_counts.py --examples 2000 --seed 3 --regimes

An op the strategy seldom draws is an op whose bugs are seldom found: a mutant in it needs
many more examples (README "Does it find bugs?"). Counts are op nodes over all examples,
and the examples containing the op at least once (what matters for finding its bug). With
``--regimes``, also how the drawn variable values spread over magnitudes. Draws from
``verifier.search.strategies.cases`` exactly as a campaign does (same settings, same seed handling),
without checking anything (tests/op_draws.py). Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # the measuring: tests/op_draws.py (tests/test_ir.py uses it too)

from op_draws import BANDS, measure  # noqa: E402
from verifier.floor.ops import SCALAR_OPS  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", help="comma-separated ops, in this order (default: the builtin engine's scalar ops)")
    p.add_argument("--regimes", action="store_true", help="also the magnitudes drawn")
    a = p.parse_args(argv)
    if a.ops:
        ops = tuple(a.ops.split(","))
    else:   # in the order a campaign gets them: the engine's (sorted), so abs comes first
        from verifier.engines import engine_ops
        from verifier.engines.builtin import BuiltinEngine
        ops = tuple(o for o in engine_ops(BuiltinEngine()) if o in SCALAR_OPS)
    r = measure(a.examples, a.seed, ops)
    total = sum(r["nodes"].values())
    print(f"{r['examples']} examples, {total} op nodes, mean {total / max(1, r['examples']):.1f} per example")
    print(f"{'op':<9} {'nodes':>6} {'examples':>8}  first argument's magnitude")
    for op in ops:
        spread = r["args"].get(op, Counter())
        cells = " ".join(f"{b}:{spread[b]}" for _, _, b in BANDS if spread[b])
        print(f"{op:<9} {r['nodes'][op]:>6} {r['present'][op]:>8}  {cells}")
    counts = [r["nodes"][o] for o in ops]
    print(f"max/min op nodes: {max(counts)}/{min(counts)}"
          f" = {max(counts) / max(1, min(counts)):.1f}")
    if a.regimes:
        vs = sum(r["bands"].values())
        print("variable values: " + ", ".join(f"{b} {100 * r['bands'][b] / vs:.0f}%" for _, _, b in BANDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
