"""A campaign per real-engine adapter, and the table docs/findings.md is written from.

    python3 benchmarks/adapters.py                       # every installed adapter, 2,000 examples
    python3 benchmarks/adapters.py torch jax --examples 500 --out /tmp/adapters
    python3 benchmarks/adapters.py --tensor --out reports/adapters-tensor   # tensor programs

Each campaign's full report (summary.md, replay files) goes to OUT/<adapter>/. Prints one
row per adapter (verdict counts, time) and one line per distinct discrepancy. Asserts
nothing: deciding what each discrepancy is (bug, convention, precision) is a human's job.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from verifier.search.campaign import Options, run_campaign  # noqa: E402
from verifier.engines import ADAPTERS, TENSOR_ADAPTERS, EngineError, load_engine  # noqa: E402
from verifier.interfaces.output import Output  # noqa: E402

REAL = [name for name in ADAPTERS if not name.startswith("builtin")]
REAL_TENSOR = [name for name in TENSOR_ADAPTERS if not name.startswith("builtin")]
COLUMNS = ("agree", "kink", "undecided", "oracle-disagreement", "mismatch", "nonfinite", "inconsistent",
           "crash", "timeout")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("adapters", nargs="*", help="adapter names (default: every real adapter)")
    p.add_argument("--examples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="report folder (default reports/adapters, or reports/adapters-tensor)")
    p.add_argument("--check-timeout", type=float, default=None,
                   help="seconds per check (default 5; 60 for tinygrad, which compiles a kernel per expression)")
    p.add_argument("--tensor", action="store_true", help="tensor programs, with each engine's tensor adapter")
    args = p.parse_args(argv)
    names = args.adapters or (REAL_TENSOR if args.tensor else REAL)
    out = args.out or Path("reports/adapters-tensor" if args.tensor else "reports/adapters")

    header = f"{'adapter':<17}{'dtype':<8}{'examples':>9}" + "".join(f"{c[:9]:>10}" for c in COLUMNS) + f"{'time s':>9}"
    rows, notes = [header], []
    for name in names:
        if args.tensor and name not in TENSOR_ADAPTERS:
            rows.append(f"{name:<17}no tensor adapter")
            continue
        try:
            engine = load_engine(name, tensor=args.tensor)
        except EngineError as e:
            rows.append(f"{name:<17}not installed ({e})")
            continue
        start = time.monotonic()
        timeout = args.check_timeout or (60.0 if name.startswith("tinygrad") else 5.0)
        result = run_campaign(engine, Options(examples=args.examples, seed=args.seed, check_timeout=timeout,
                                              tensor=args.tensor, max_nodes=6 if args.tensor else 12),
                              Output(out / name, overwrite=True))
        v = result.verdicts
        rows.append(f"{name:<17}{result.dtype:<8}{result.examples:>9}" + "".join(f"{v.get(c, 0):>10}" for c in COLUMNS)
                    + f"{time.monotonic() - start:>9.0f}")
        for f in result.discrepancies:
            notes.append(f"{name}: {f.kind} in {f.culprit_op} ({f.blame}): {f.expression} at "
                         f"{f.point}; expected {f.expected!r}, actual {f.actual!r} — {f.replay}")
        print(rows[-1], flush=True)
    print("\n".join(rows))
    print("\n".join(notes) if notes else "no discrepancy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
