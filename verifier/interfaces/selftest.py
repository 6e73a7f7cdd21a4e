"""``adverify selftest``: does the verifier find every planted bug, fast, small and blamed right?

One campaign per mutant, stopped at its first distinct discrepancy (shrunk and blamed). A row
says whether it was found, after how many examples and seconds (when the first failing
example was checked, before shrinking), how small the reproducer is, whether blame named
the op the bug was planted in, and the verdict. A mutant that survives is a failure of the
verifier, so the exit code is 1.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence, TextIO

from verifier.engines.mutants import MUTANTS, Mutant
from verifier.search.campaign import Options, run_campaign

__all__ = ["Row", "run_selftest", "render_row", "header", "summary", "selftest"]


@dataclass(frozen=True)
class Row:
    mutant: Mutant
    found: bool
    examples: int               # examples checked when first seen (or in all, if it survived)
    seconds: float | None       # from campaign start to the first failing example
    nodes: int | None           # of the shrunk reproducer
    kind: str | None
    culprit_op: str | None
    blame: str | None
    culprit_right: bool | None  # None: the fault has no op to name (leaves, state)
    expression: str = ""
    elapsed: float = 0.0        # the whole campaign, shrinking and blame included

    @property
    def kind_expected(self) -> bool:
        return self.kind in self.mutant.kinds


def run_one(m: Mutant, examples: int = 500, seed: int = 0, time_budget: float | None = None,
            guided: bool | None = None) -> Row:
    """One campaign against one mutant, stopped at its first discrepancy. ``guided`` None:
    the campaign's default."""
    options = Options(examples=examples, seed=seed, time_budget=time_budget, ops=m.ops, stop_after=1)
    if guided is not None:
        options = replace(options, guided=guided)
    options = replace(options, **dict(m.options))
    start = time.monotonic()
    r = run_campaign(m.make(), options)
    elapsed = time.monotonic() - start
    if r.stopped == "interrupted":   # a campaign ends quietly on Ctrl-C; the suite must stop too
        raise KeyboardInterrupt
    if not r.discrepancies:
        return Row(m, False, r.examples, None, None, None, None, None, None, elapsed=elapsed)
    f = r.discrepancies[0]
    return Row(m, True, f.found_after, f.found_at_s, f.nodes, f.kind, f.culprit_op, f.blame,
               m.blamed_right(f.culprit_op, f.blame), f.expression, elapsed)


def run_selftest(mutants: Sequence[Mutant], examples: int = 500, seed: int = 0,
                 time_budget: float | None = None, guided: bool | None = None,
                 on_row: Callable[[Row], None] | None = None) -> list[Row]:
    rows = []
    for m in mutants:
        rows.append(run_one(m, examples, seed, time_budget, guided))
        if on_row:
            on_row(rows[-1])
    return rows


# the name column fits the longest mutant's name, so the table stays one row per line
_COLUMNS = (("mutant", max(map(len, MUTANTS))), ("bug class", 24), ("found", 5), ("examples", 8), ("seconds", 7),
            ("nodes", 5), ("culprit", 28), ("verdict", 0))


def header() -> str:
    return "  ".join(f"{name:>{w}}" if name in ("examples", "seconds", "nodes") else f"{name:<{w}}"
                     for name, w in _COLUMNS).rstrip()


def render_row(row: Row) -> str:
    m = row.mutant
    if not row.found:
        cells = (m.name, m.bug_class, "NO", str(row.examples), "—", "—", "—", "survived")
    else:
        right = {True: "right", False: "WRONG", None: "n/a"}[row.culprit_right]
        culprit = f"{row.culprit_op or '—'} ({row.blame}): {right}"
        verdict = row.kind if row.kind_expected else f"{row.kind} (expected {'/'.join(m.kinds)})"
        cells = (m.name, m.bug_class, "yes", str(row.examples), f"{row.seconds:.2f}", str(row.nodes),
                 culprit, verdict)
    return "  ".join(f"{c:>{w}}" if name in ("examples", "seconds", "nodes") else f"{c:<{w}}"
                     for c, (name, w) in zip(cells, _COLUMNS)).rstrip()


def summary(rows: Sequence[Row]) -> str:
    found = [r for r in rows if r.found]
    blamed = [r for r in found if r.culprit_right is not None]
    right = sum(r.culprit_right for r in blamed)
    parts = [f"found {len(found)}/{len(rows)}"]
    if found:
        parts.append(f"median {statistics.median(r.seconds for r in found):.2f} s and "
                     f"{statistics.median(r.examples for r in found):g} examples to first detection")
        parts.append(f"median reproducer {statistics.median(r.nodes for r in found):g} nodes "
                     f"(largest {max(r.nodes for r in found)})")
    if blamed:
        parts.append(f"culprit right {right}/{len(blamed)} ({100 * right / len(blamed):.0f}%)"
                     + (f", {len(found) - len(blamed)} with no op to name" if len(found) > len(blamed) else ""))
    odd = [r.mutant.name for r in found if not r.kind_expected]
    if odd:
        parts.append(f"unexpected verdict: {', '.join(odd)}")
    survivors = [r.mutant.name for r in rows if not r.found]
    if survivors:
        parts.append(f"SURVIVED: {', '.join(survivors)}")
    return "selftest: " + "; ".join(parts)


def selftest(mutants: Sequence[Mutant] | None = None, examples: int = 500, seed: int = 0,
             time_budget: float | None = None, guided: bool | None = None, stream: TextIO | None = None) -> int:
    """Print the table row by row and the summary; 0 if every mutant was found, else 1."""
    stream = stream or sys.stdout
    mutants = list(MUTANTS.values()) if mutants is None else list(mutants)
    print(f"adverify selftest: {len(mutants)} mutants, {examples} examples each"
          + (f", {time_budget:g} s each at most" if time_budget else "") + f", seed {seed}", file=stream)
    print(header(), file=stream)

    def show(row: Row) -> None:
        print(render_row(row), file=stream, flush=True)
    rows = run_selftest(mutants, examples, seed, time_budget, guided, on_row=show)
    print(summary(rows), file=stream)
    return 0 if all(r.found for r in rows) else 1
