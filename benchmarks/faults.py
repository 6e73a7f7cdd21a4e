"""Fault injection: engines that crash, hang, lie or misbehave — is each one a finding, and
does the campaign still end with a complete report?

    python3 benchmarks/faults.py                  # every fault, prints the table
    python3 benchmarks/faults.py --only hang,segfault

The faulty engines, what each must be found as, and the campaign that judges one are test
fixtures: tests/faulty_engines.py (tests/test_faults.py asserts the same table). Each fault is
the builtin engine with one thing broken, run through the command line (`adverify campaign
--engine tests/faulty_engines.py:NAME`, in this process) with a small example count and a short
--check-timeout. A row passes when the campaign exits 1 (0 for the rows that are not faults of
the gradients: noise on stdout, shape-(1,) arrays), every finding has the expected verdict,
summary.json loads through its schema check, and every finding's replay file is there.
Asserts nothing.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))   # the fixtures: tests/faulty_engines.py

from faulty_engines import FAULTS, run_fault, table  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated fault names")
    args = p.parse_args(argv)
    chosen = [f for f in FAULTS if not args.only or f.name in args.only.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in chosen:
            rows.append(run_fault(f, Path(tmp) / f.name))
            print(f"  {f.name}: {rows[-1].seconds:.1f} s", file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
