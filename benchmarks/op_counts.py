"""How often each op appears in generated expressions: the generation distribution, measured.

    python3 benchmarks/op_counts.py                     # 500 examples, seed 0, the builtin's ops
    python3 benchmarks/op_counts.py --examples 2000 --seed 3 --regimes

An op the strategy seldom draws is an op whose bugs are seldom found: a mutant in it needs
many more examples (README "Does it find bugs?"). Counts are op nodes over all examples,
and the examples containing the op at least once (what matters for finding its bug). With
``--regimes``, also how the drawn variable values spread over magnitudes. Draws from
``verifier.strategies.cases`` exactly as a campaign does (same settings, same seed handling),
without checking anything. Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import Phase, given, seed as hseed, settings  # noqa: E402

from verifier.campaign import PROFILE, _no_local_constants  # noqa: E402
from verifier.ir import toposort  # noqa: E402
from verifier.ops import SCALAR_OPS  # noqa: E402
from verifier.strategies import cases  # noqa: E402

_BANDS = ((0.0, 0.0, "0"), (0.0, 1e-4, "<1e-4"), (1e-4, 1.0, "1e-4..1"), (1.0, 10.0, "1..10"),
          (10.0, 1e3, "10..1e3"), (1e3, 1e4, "1e3..1e4"), (1e4, math.inf, ">1e4"))


def _band(x: float) -> str:
    a = abs(x)
    if a == 0:
        return "0"
    for lo, hi, name in _BANDS[1:]:
        if lo < a <= hi or (lo == 0 and a <= hi):
            return name
    return ">1e4"


def measure(examples: int = 500, seed: int = 0, ops: tuple[str, ...] = tuple(SCALAR_OPS),
            max_nodes: int = 12, n_vars: int = 3) -> dict:
    nodes: Counter[str] = Counter()
    present: Counter[str] = Counter()
    args: dict[str, Counter[str]] = {}
    bands: Counter[str] = Counter()
    sizes: list[int] = []
    n = [0]

    @hseed(seed * 1_000_003)
    @settings(settings.get_profile(PROFILE), max_examples=examples, phases=(Phase.generate,))
    @given(cases(ops=ops, max_nodes=max_nodes, n_vars=n_vars))
    def draw(case) -> None:
        n[0] += 1
        order = [m for m in toposort(case.expr) if not m.is_leaf]
        sizes.append(len(order))
        from verifier.ir import evaluate
        from verifier.mathns import F64
        import numpy as np
        with np.errstate(all="ignore"):
            vals = evaluate(case.expr, case.point, F64)
        for m in order:
            nodes[m.op] += 1
            args.setdefault(m.op, Counter())[_band(float(vals[m.src[0]]))] += 1
        for op in {m.op for m in order}:
            present[op] += 1
        for v in case.point.values():
            bands[_band(v)] += 1

    with _no_local_constants():
        draw()
    return {"examples": n[0], "nodes": nodes, "present": present, "bands": bands, "args": args,
            "sizes": sizes}


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
        cells = " ".join(f"{b}:{spread[b]}" for _, _, b in _BANDS if spread[b])
        print(f"{op:<9} {r['nodes'][op]:>6} {r['present'][op]:>8}  {cells}")
    counts = [r["nodes"][o] for o in ops]
    print(f"max/min op nodes: {max(counts)}/{min(counts)}"
          f" = {max(counts) / max(1, min(counts)):.1f}")
    if a.regimes:
        vs = sum(r["bands"].values())
        print("variable values: " + ", ".join(f"{b} {100 * r['bands'][b] / vs:.0f}%" for _, _, b in _BANDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
