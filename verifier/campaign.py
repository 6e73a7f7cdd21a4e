"""A campaign: Hypothesis searches, every distinct discrepancy is shrunk, blamed and kept.

Hypothesis stops at the first failure and shrinks it. To collect *distinct* discrepancies,
the search runs in phases: a discrepancy whose signature (kind + culprit op) is already
known is counted but does not fail the property, so the next phase, seeded from the
campaign seed and the phase number, hunts for something new with the examples that are
left. The same seed and options give the same phases, examples and verdicts.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from hypothesis import HealthCheck, Phase, Verbosity, given, seed as hseed, settings

from .blame import Blame, blame
from .checker import Checker
from .coverage import Coverage
from .engines import engine_ops
from .ir import show, show_steps, size, toposort
from .judge import DISCREPANCIES, VERDICTS, Case, Verdict
from .output import Output
from .results import CampaignResult, Finding
from .serial import expr_to_json
from .strategies import cases, check_ops

__all__ = ["Options", "run_campaign", "finding_for"]


@dataclass(frozen=True)
class Options:
    examples: int = 1000
    seed: int = 0
    time_budget: float | None = None
    ops: tuple[str, ...] | None = None
    max_nodes: int = 12
    n_vars: int = 3
    check_timeout: float | None = 5.0
    regressions: tuple[Case, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"examples": self.examples, "seed": self.seed, "time_budget": self.time_budget,
                "ops": list(self.ops) if self.ops else None, "max_nodes": self.max_nodes,
                "vars": self.n_vars, "check_timeout": self.check_timeout}


class _Found(Exception):
    """Raised inside the property so Hypothesis shrinks toward it."""

    def __init__(self, case: Case, verdict: Verdict, culprit: Blame):
        super().__init__(f"{verdict.kind} in {culprit.op}")
        self.case, self.verdict, self.culprit = case, verdict, culprit


class _OutOfTime(BaseException):
    """Ends a phase at once: Hypothesis does not catch (or shrink) a BaseException."""


def signature(verdict: Verdict, culprit: Blame) -> str:
    """What makes two discrepancies "the same": the kind and the op to blame. A composition
    failure (every op right alone) is one engine-wide fault, whichever op shows it first:
    an accumulation bug shows in x*x, x + x and x/x alike, and is one finding, not three.
    So is a loss of precision that every op shows."""
    where = culprit.how if culprit.how in ("composition", "precision") else culprit.op or "?"
    return f"{verdict.kind}:{where}"


def finding_for(case: Case, verdict: Verdict, culprit: Blame, checker: Checker, replay: str = "",
                found_after: int = 0, found_at: float = 0.0) -> Finding:
    ref = checker.reference(case)
    bad = verdict.failing
    var = bad.variable if bad else None
    oracles = {name: vals[var] for name, vals in ref.oracles.items() if var in vals}
    return Finding(
        kind=verdict.kind, expression=show(case.expr), nodes=size(case.expr), variable=var,
        point=dict(case.point), expected=bad.expected if bad else None, actual=bad.actual if bad else None,
        bound=bad.bound if bad else None, severity=bad.severity if bad else None, oracles=oracles,
        culprit_op=culprit.op, culprit_node=culprit.node, blame=culprit.how,
        message=verdict.reason + (f" — {culprit.detail}" if culprit.detail else ""),
        replay=replay, signature=signature(verdict, culprit), steps=show_steps(case.expr),
        expr=expr_to_json(case.expr),
        checks=[{"variable": c.variable, "verdict": c.verdict, "expected": c.expected, "actual": c.actual,
                 "bound": c.bound, "low": c.low, "high": c.high} for c in verdict.checks],
        kinks=list(ref.kinks), found_after=found_after, found_at_s=round(found_at, 3))


class _Tally:
    def __init__(self) -> None:
        self.examples = 0
        self.shrink_checks = 0
        self.verdicts: Counter[str] = Counter({k: 0 for k in VERDICTS})
        self.coverage = Coverage()
        self.severities: list[float] = []

    def add(self, case: Case, verdict: Verdict) -> None:
        self.examples += 1
        self.verdicts[verdict.kind] += 1
        self.coverage.add(case, verdict)
        for c in verdict.checks:
            if c.severity is not None and math.isfinite(c.severity):
                self.severities.append(c.severity)


def run_campaign(engine: Any, options: Options = Options(), out: Output | None = None,
                 progress: Callable[[int, int, int, float], None] | None = None) -> CampaignResult:
    available = engine_ops(engine)
    ops = check_ops(options.ops) if options.ops else available
    missing = [o for o in ops if o not in available]
    if missing:
        raise ValueError(f"engine {getattr(engine, 'name', '?')!r} does not implement op {missing[0]!r}")
    if not ops:
        raise ValueError("the engine implements none of adverify's ops")
    start = time.monotonic()
    deadline = start + options.time_budget if options.time_budget else math.inf
    tally = _Tally()
    findings: list[Finding] = []
    regressions: list[dict] = []
    known: set[str] = set()
    stopped = "completed"

    with Checker(engine, options.check_timeout) as checker:
        def record(case: Case, verdict: Verdict, culprit: Blame) -> None:
            sig = signature(verdict, culprit)
            known.add(sig)
            path = out.replay_path(len(findings) + 1, sig) if out else ""
            f = finding_for(case, verdict, culprit, checker, path, tally.examples, time.monotonic() - start)
            if out:
                out.write_replay(f, case, checker.name)
                out.event({"event": "finding", **{k: getattr(f, k) for k in ("kind", "culprit_op", "expression", "replay")}})
            findings.append(f)

        try:
            for case in options.regressions:          # old reproducers first: did they come back?
                verdict = checker.check(case)
                status = "still failing" if verdict.is_discrepancy else "fixed"
                regressions.append({"expression": show(case.expr), "point": dict(case.point),
                                    "verdict": verdict.kind, "status": status})
                if verdict.is_discrepancy:
                    culprit = blame(case, verdict, checker.check)
                    if signature(verdict, culprit) not in known:
                        record(case, verdict, culprit)

            strategy = cases(ops=ops, max_nodes=options.max_nodes, n_vars=options.n_vars, dtype=checker.dtype)
            phase = 0
            while tally.examples < options.examples and stopped == "completed":
                found, why = _phase(strategy, checker, options, phase, tally, known, deadline, progress,
                                    len(findings))
                phase += 1
                if found is not None:
                    record(found.case, found.verdict, found.culprit)
                if why:
                    stopped = why
                elif found is None:
                    break
        except KeyboardInterrupt:
            stopped = "interrupted"

    result = CampaignResult(
        engine=checker.name, dtype=checker.dtype, seed=options.seed, examples=tally.examples,
        elapsed_s=round(time.monotonic() - start, 3), verdicts=dict(tally.verdicts), discrepancies=findings,
        ops=list(ops), options=options.to_json(), stopped=stopped, shrink_checks=tally.shrink_checks,
        regressions=regressions, coverage=tally.coverage.to_json(), severities=sorted(tally.severities))
    if out:
        out.finish(result)
    return result


def _phase(strategy, checker: Checker, options: Options, phase: int, tally: _Tally, known: set[str],
           deadline: float, progress, n_found: int) -> tuple[_Found | None, str | None]:
    """One Hypothesis run: (the shrunk new discrepancy or None, why the campaign must stop).

    If time runs out or the user interrupts while Hypothesis is shrinking, the smallest
    failing example seen so far is returned: a discrepancy once found is never lost."""
    best: _Found | None = None

    @hseed(options.seed * 1_000_003 + phase)
    @settings(max_examples=max(1, options.examples - tally.examples), database=None, deadline=None,
              derandomize=False, verbosity=Verbosity.quiet, report_multiple_bugs=False,
              phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(case: Case) -> None:
        nonlocal best
        if time.monotonic() > deadline:
            raise _OutOfTime()
        verdict = checker.check(case)
        if best is not None:
            tally.shrink_checks += 1
        else:
            tally.add(case, verdict)
            if progress:
                progress(tally.examples, options.examples, n_found, time.monotonic())
        if verdict.kind in DISCREPANCIES:
            culprit = blame(case, verdict, checker.check)
            if signature(verdict, culprit) not in known:
                found = _Found(case, verdict, culprit)
                if best is None or _smaller(case, best.case):
                    best = found
                raise found

    try:
        prop()
    except _Found as found:
        return found, None
    except _OutOfTime:
        return best, "time-budget"
    except KeyboardInterrupt:
        return best, "interrupted"
    return None, None


def _smaller(a: Case, b: Case) -> bool:
    return (size(a.expr), len(show(a.expr))) < (size(b.expr), len(show(b.expr)))
