"""What the engine protocol adds to a campaign: the builtin engine served through it
(``cmd:python -m verifier serve builtin``, docs/protocol.md) against the same engine checked
as a Python engine (the default: a forked worker), side by side.

    python benchmarks/protocol.py [--examples 1000] [--rounds 3] [--seed 0] [--modes scalar,tensor]

Each round runs both campaigns on the same seed, taking turns, and the table shows the best
round of each (a round slowed by the machine is noise, not code), their ratio, and whether
the two reached the same verdicts (they must: the protocol carries floats exactly). The
issue's goal: the protocol adds at most 30% (a ratio of at most 1.30).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe  # noqa: E402
from verifier.engines import load_engine  # noqa: E402
from verifier.search.campaign import Options, run_campaign  # noqa: E402

GOAL = 1.30


def _campaign(spec: str, tensor: bool, examples: int, seed: int):
    engine = load_engine(spec, tensor=tensor)
    options = Options(examples=examples, seed=seed, tensor=tensor, max_nodes=6 if tensor else 12)
    start = time.perf_counter()
    result = run_campaign(engine, options)
    elapsed = time.perf_counter() - start
    close = getattr(engine, "close", None)
    if close:
        close()
    return elapsed, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", default="scalar,tensor")
    args = p.parse_args()
    print(describe())
    served = f"cmd:{shlex.quote(sys.executable)} -m verifier serve builtin"
    rows = []
    for mode in args.modes.split(","):
        tensor = mode == "tensor"
        best = {"builtin": float("inf"), "served": float("inf")}
        verdicts = {}
        for _ in range(args.rounds):
            for name, spec in (("builtin", "builtin"), ("served", served + (" --tensor" if tensor else ""))):
                elapsed, result = _campaign(spec, tensor, args.examples, args.seed)
                best[name] = min(best[name], elapsed)
                verdicts[name] = (result.verdicts, [f.signature for f in result.discrepancies])
        rows.append((mode, best["builtin"], best["served"], verdicts["builtin"] == verdicts["served"]))
    print(f"\n{args.examples} examples, seed {args.seed}, best of {args.rounds} rounds (wall-clock seconds)\n")
    print(f"{'mode':<8} {'in-process':>11} {'served':>9} {'ratio':>7} {'examples/s':>12}  same verdicts")
    for mode, here, there, same in rows:
        print(f"{mode:<8} {here:>11.2f} {there:>9.2f} {there / here:>6.2f}× {args.examples / there:>6.0f} vs "
              f"{args.examples / here:<4.0f} {'yes' if same else 'NO'}")
    worst = max(there / here for _, here, there, _ in rows)
    print(f"\nthe protocol adds {100 * (worst - 1):+.0f}% at worst (goal: at most {100 * (GOAL - 1):.0f}%)")


if __name__ == "__main__":
    main()
