"""How often each op appears in generated expressions: the generation distribution, measured.

    python3 benchmarks/op_counts.py                     # 500 examples, seed 0, the builtin's ops
    python3 benchmarks/op_counts.py --examples 2000 --seed 3 --regimes
    python3 benchmarks/op_counts.py --tensor --examples 2000     # tensor programs (--tensor)

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

from op_draws import BANDS, draw_tensor, measure, tensor_presence  # noqa: E402
from verifier.floor.ops import SCALAR_OPS  # noqa: E402
from verifier.engines import engine_ops  # noqa: E402
from verifier.engines.builtin import BuiltinEngine  # noqa: E402
from verifier.floor.vocabulary import BUILTIN  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", help="comma-separated ops, in this order (default: the builtin engine's scalar ops)")
    p.add_argument("--regimes", action="store_true", help="also the magnitudes drawn")
    p.add_argument("--tensor", action="store_true", help="tensor programs: the programs holding each op")
    a = p.parse_args(argv)
    if a.tensor:
        return _tensor(a.examples, a.seed, tuple(a.ops.split(",")) if a.ops else None)
    if a.ops:
        ops = tuple(a.ops.split(","))
    else:   # in the order a campaign gets them: the engine's (sorted), so abs comes first
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


def _tensor(examples: int, seed: int, ops: tuple[str, ...] | None) -> int:
    """Per op, the share of tensor programs holding it, against the mean share: an op far
    above it crowds the others out (abs was in 40% of programs), one far below is seldom
    checked (powv: under 1%)."""
    ops = ops or tuple(sorted(BUILTIN.tensor))   # as a campaign gets them: the engine's, sorted
    programs = draw_tensor(examples, seed, ops=ops)
    present = tensor_presence(programs)
    shares = {o: present[o] / len(programs) for o in ops}
    mean = sum(shares.values()) / len(shares)
    print(f"{len(programs)} tensor programs, seed {seed}; mean share of programs per op {mean:.3f}")
    print(f"{'op':<13} {'programs':>8} {'share':>6} {'/mean':>6}")
    for op in sorted(ops, key=lambda o: -shares[o]):
        print(f"{op:<13} {present[op]:>8} {shares[op]:>6.3f} {shares[op] / mean:>6.2f}")
    print(f"max/mean {max(shares.values()) / mean:.2f}, min/mean {min(shares.values()) / mean:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
