"""Does a correct engine ever get flagged? Long campaigns of the builtin engines.

    python benchmarks/false_alarms.py                 # 20,000 scalar + 10,000 tensor per engine
    python benchmarks/false_alarms.py --scalar 2000 --tensor 500
    python benchmarks/false_alarms.py --scalar 0 --tensor 0 --order2 5000 --forward 10000
    python benchmarks/false_alarms.py --scalar 0 --tensor 0 --order2 5000 --seed 1

Prints one row per campaign: examples, every verdict count, discrepancies (must be 0), and
then what the undecided examples were undecided for (their causes, counted). ``--order2``
adds an order-2 (Hessian) campaign per engine. Exit 1 if any correct engine was flagged.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe  # noqa: E402
from verifier.search.campaign import Options, run_campaign  # noqa: E402
from verifier.engines import load_engine  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scalar", type=int, default=20_000)
    p.add_argument("--tensor", type=int, default=10_000)
    p.add_argument("--order2", type=int, default=0, help="examples of an order-2 campaign per engine")
    p.add_argument("--forward", type=int, default=0, help="examples of a --forward (scalar) campaign per engine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", default="builtin,builtin-paths")
    a = p.parse_args()
    print(describe())
    header = ("engine", "mode", "examples", "agree", "kink", "undecided", "oracle-dis", "discrepancies", "ex/s")
    print(" | ".join(header))
    flagged = 0
    for spec in a.engines.split(","):
        for mode, n in (("scalar", a.scalar), ("tensor", a.tensor), ("order 2", a.order2), ("forward", a.forward)):
            if not n:
                continue
            tensor = mode == "tensor"
            engine = load_engine(spec, tensor=tensor)
            t = time.perf_counter()
            r = run_campaign(engine, Options(examples=n, seed=a.seed, tensor=tensor, order=2 if mode == "order 2" else 1,
                                             forward=mode == "forward", max_nodes=6 if tensor else 12,
                                             check_timeout=None))
            dt = time.perf_counter() - t
            v = r.verdicts
            flagged += len(r.discrepancies)
            print(" | ".join(map(str, (spec, mode, r.examples, v["agree"], v["kink"],
                                       v["undecided"], v["oracle-disagreement"], len(r.discrepancies),
                                       f"{r.examples / dt:.0f}"))), flush=True)
            if r.undecided:
                causes = sorted(r.undecided.items(), key=lambda item: -item[1])
                print("    undecided by cause: " + ", ".join(f"{cause} {count}" for cause, count in causes), flush=True)
            if r.screened:
                causes = sorted(r.screened.items(), key=lambda item: -item[1])
                print(f"    passed over ({sum(r.screened.values())} drawn points, not examples): "
                      + ", ".join(f"{cause} {count}" for cause, count in causes), flush=True)
            for f in r.discrepancies:
                print(f"    FLAGGED {f.kind} {f.culprit_op}: {f.expression} at {f.point}", flush=True)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
