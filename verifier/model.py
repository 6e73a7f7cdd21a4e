"""The model: the plain data every layer above passes around, and nothing else.

A ``Case`` (an expression and a point) goes to the oracles, which make a ``Reference``; the
engine's answer is an ``EngineRun``; the judge compares them into ``Check``s and one
``Verdict``. A campaign keeps each distinct discrepancy as a ``Finding`` and ends with a
``CampaignResult``, which every report renders. No I/O, no oracles, no engines here.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from verifier.floor.ir import Node, show, show_steps, size
from verifier.floor.serial import expr_to_json, point_to_json
from verifier.floor.vocabulary import BUILTIN, Vocabulary

__all__ = ["VERDICTS", "VERDICT_RANK", "DISCREPANCIES", "UNDECIDED_CAUSES", "NOTES", "MORE_EXAMPLES", "UNDECIDED_KEPT", "Case", "Reference", "Check", "Verdict", "worst_check", "EngineRun",
           "Finding", "make_finding", "CampaignResult", "Severities"]

VERDICTS = ("agree", "kink", "undecided", "oracle-disagreement", "mismatch", "nonfinite",
            "inconsistent", "crash", "timeout")
DISCREPANCIES = frozenset({"mismatch", "nonfinite", "inconsistent", "crash", "timeout"})
VERDICT_RANK = {k: i for i, k in enumerate(VERDICTS)}   # the order a verdict of several checks takes the worst in
# why no verdict: every undecided reference names one (counted in summaries and reports)
UNDECIDED_CAUSES = ("outside-domain", "out-of-range", "ill-conditioned", "near-pole", "near-kink", "no-enclosure",
                    "no-truth", "subnormal", "too-many-kinks")
# what a check may note besides its verdict, counted and never failing: two identical builds
# differing within the bound, and an engine that printed something while checked
NOTES = ("nondeterministic", "engine-output")
MORE_EXAMPLES = 5      # discrepant cases a finding keeps besides its own (Finding.examples)
UNDECIDED_KEPT = 3     # undecided examples a campaign keeps per cause (CampaignResult.undecided_examples)


@dataclass(frozen=True)
class Case:
    """An expression at a point, in the vocabulary its ops come from."""
    expr: Node
    point: Mapping[str, float]
    # the replay file it was read from (a regression), for the command that re-runs it;
    # not part of what the case is
    source: str | None = field(default=None, compare=False)
    # the campaign's vocabulary (floor.vocabulary): every layer that needs an op's record —
    # oracles, bound, blame, coverage — looks it up here, so a case carries its own ops
    ops: Vocabulary = field(default=BUILTIN, compare=False)


@dataclass(frozen=True)
class Reference:
    """What the oracles say about a case, at the precision of a given engine dtype."""
    case: Case
    dtype: str
    status: str                                  # ok | undecided | oracle-disagreement
    reason: str = ""
    valid: bool = True                           # inside every op's domain (else no finding)
    value: float | None = None                   # the true forward value (rounded to float)
    value_bound: float = 0.0
    value_unstable: bool = False                 # rounding moves a local partial: no first-order bound
    truth: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)     # kink interval (== truth elsewhere)
    high: dict[str, float] = field(default_factory=dict)
    bound: dict[str, float] = field(default_factory=dict)
    unstable: dict[str, bool] = field(default_factory=dict)
    kinks: tuple[str, ...] = ()                  # ops at (or within rounding of) a kink
    scale: dict[str, float] = field(default_factory=dict)   # Σ_paths Π|partial|, every side
    oracles: dict[str, dict[str, float]] = field(default_factory=dict)
    # at kinks: the gradient for each choice of one-sided partials (a vertex of the set of
    # limiting gradients); the engine's whole vector must lie in their convex hull
    vertices: tuple[dict[str, float], ...] = ()
    cause: str = ""                              # undecided: one of UNDECIDED_CAUSES
    # the certified truth (ball arithmetic, oracles.enclosure): per variable, [lo, hi] proven to
    # hold the exact derivative at the exact point (at kinks, every one-sided choice's), floats
    # rounded outward; empty where no enclosure was made. ``precision``: the bits it took
    enclosure: dict[str, tuple[float, float]] = field(default_factory=dict)
    precision: int = 0


@dataclass(frozen=True)
class Check:
    """One quantity judged: a variable's gradient, or (variable None) the forward value."""
    variable: str | None
    verdict: str
    expected: float | None
    actual: float | None
    bound: float | None = None
    low: float | None = None
    high: float | None = None
    mode: str = ""                 # "forward" or "reverse" when both modes are checked (--forward)
    # the certified [lo, hi] of the exact value (Reference.enclosure): a mismatch is a proof
    # when the engine's value is outside [lo - bound, hi + bound]
    enclosure: tuple[float, float] | None = None

    @property
    def severity(self) -> float | None:
        if self.expected is None or self.actual is None or not self.bound:
            return None
        if not math.isfinite(self.actual):
            return math.inf
        lo = self.low if self.low is not None else self.expected
        hi = self.high if self.high is not None else self.expected
        return max(lo - self.actual, self.actual - hi, 0.0) / self.bound


@dataclass(frozen=True)
class Verdict:
    kind: str
    reason: str = ""
    checks: tuple[Check, ...] = ()
    where: str = ""                # the op a crash happened in, if the engine said
    case: Any = None               # the case the checks judged, when not the one asked about (a Jacobian row)
    mode: str = ""                 # "forward": forward mode departs (verifier.truth.forward, --forward)
    cause: str = ""                # undecided: one of UNDECIDED_CAUSES
    origin: str = ""               # a crash: the engine's file:line that raised (one root cause)
    notes: tuple[str, ...] = ()    # not discrepancies, counted: "nondeterministic"
    output: str = ""               # what the engine printed during the check

    @property
    def failing(self) -> Check | None:
        """The check that decided the verdict (the worst one)."""
        worst = [c for c in self.checks if c.verdict == self.kind]
        return max(worst, key=lambda c: c.severity or 0.0) if worst else None

    @property
    def is_discrepancy(self) -> bool:
        return self.kind in DISCREPANCIES


def worst_check(checks) -> Check:
    """The check that decides a verdict: the worst kind, in the order of ``VERDICTS``."""
    return max(checks, key=lambda c: VERDICT_RANK[c.verdict])


@dataclass(frozen=True)
class EngineRun:
    status: str                      # ok | crash | timeout | malformed | inconsistent
    grads: tuple[float, ...] = ()    # in the order of variables(expr)
    value: float | None = None
    message: str = ""
    elapsed: float = 0.0
    where: str = ""                  # the op (or phase) the failure happened in
    origin: str = ""                 # a crash: the engine's file:line that raised
    # the second identical build's answer, when it differs from the first (a consistency
    # check): within the bound it is nondeterminism, beyond it ``inconsistent``
    again: tuple[float, ...] | None = None
    again_value: float | None = None
    output: str = ""                 # what the engine printed during the check (stdout + stderr)


@dataclass(frozen=True)
class Finding:
    kind: str
    expression: str                      # infix text
    nodes: int
    variable: str | None
    point: dict[str, float]
    expected: float | None
    actual: float | None
    bound: float | None
    severity: float | None
    oracles: dict[str, float]            # oracle -> its value for the failing variable
    culprit_op: str | None
    culprit_node: int | None             # index into ``steps``' order (toposort), for drawing
    blame: str                           # local-rule | composition | precision | forward | crash | timeout |
                                         # inconsistent | zero-times-inf | unknown
    message: str
    replay: str                          # path of the replay file, relative to the report
    signature: str
    steps: list[str] = field(default_factory=list)
    expr: dict = field(default_factory=dict)      # the IR (adverify-expr JSON)
    checks: list[dict] = field(default_factory=list)
    kinks: list[str] = field(default_factory=list)
    shapes: dict[str, list] = field(default_factory=dict)   # tensor programs: each variable's shape
    found_after: int = 0                 # examples checked when it was first seen
    found_at_s: float = 0.0
    # the seed's picture (report.picture): node values and edge partials, and the paths to
    # ``variable`` with their products (the largest first, at most 64 of ``paths_total``)
    graph: dict = field(default_factory=dict)
    paths: list[dict] = field(default_factory=list)
    paths_total: int = 0
    picture_note: str = ""               # why the picture is missing or partial
    # what a replay must re-check it as: order, forward, tensor, dtype, check_timeout
    mode: dict = field(default_factory=dict)
    # more discrepant cases of the same signature (at most MORE_EXAMPLES): expression, point,
    # variable, expected, actual — the spread a maintainer fixes in one go
    examples: list[dict] = field(default_factory=list)
    output: str = ""                     # what the engine printed while failing (trimmed)
    # the failing check's certified enclosure [lo, hi] of the exact value, and the bits of
    # ball arithmetic it took (0: none was made)
    enclosure: list[float] | None = None
    precision_bits: int = 0


def make_finding(case: Case, *, kind: str, signature: str, replay: str, tensor: bool = False,
                 variable: str | None = None, expected: float | None = None, actual: float | None = None,
                 bound: float | None = None, severity: float | None = None, oracles: Mapping[str, float] = {},
                 culprit_op: str | None = None, culprit_node: int | None = None, blame: str = "unknown",
                 message: str = "", checks: tuple[Check, ...] = (), kinks: tuple[str, ...] = (),
                 found_after: int = 0, found_at_s: float = 0.0, picture: Mapping[str, Any] | None = None,
                 picture_note: str = "", mode: Mapping[str, Any] = {}, examples: list[dict] = [],
                 output: str = "", precision_bits: int = 0) -> Finding:
    """The one way a Finding is made, from its case and what was found out about it: the
    campaign gives everything; the rebuild of a killed campaign what a replay file kept.
    What is read off the case (its text, size, steps, IR, point, shapes) is read here."""
    failing = next((c for c in checks if c.variable == variable and c.verdict == kind), None)
    return Finding(
        kind=kind, expression=show(case.expr),
        nodes=size(case.expr) - (2 if tensor else 0),   # not counting the reduction sum(out * W)
        variable=variable, point=point_to_json(case.point),
        shapes={k: list(np.shape(v)) for k, v in case.point.items()} if tensor else {},
        expected=expected, actual=actual, bound=bound, severity=severity, oracles=dict(oracles),
        culprit_op=culprit_op, culprit_node=culprit_node, blame=blame, message=message, replay=replay,
        signature=signature, steps=show_steps(case.expr), expr=expr_to_json(case.expr),
        checks=[{"variable": c.variable, "verdict": c.verdict, "expected": c.expected, "actual": c.actual,
                 "bound": c.bound, "low": c.low, "high": c.high, **({"mode": c.mode} if c.mode else {}),
                 **({"enclosure": list(c.enclosure)} if c.enclosure else {})}
                for c in checks],
        enclosure=list(failing.enclosure) if failing is not None and failing.enclosure else None,
        precision_bits=precision_bits,
        kinks=list(kinks), found_after=found_after, found_at_s=round(found_at_s, 3),
        picture_note=picture_note, mode=dict(mode), examples=list(examples), output=output, **(picture or {}))


@dataclass(frozen=True)
class CampaignResult:
    engine: str
    dtype: str
    seed: int | None
    examples: int
    elapsed_s: float
    verdicts: dict[str, int]
    discrepancies: list[Finding]
    ops: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    stopped: str = "completed"           # completed | time-budget | interrupted | protocol-error
    # what stopped it, when that was an error: an engine program that broke the protocol
    # (docs/protocol.md); its checks until then are all here
    error: str = ""
    shrink_checks: int = 0
    regressions: list[dict] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    # error/bound of the judged checks, counted (``Severities``): a list of every value grew a
    # 50,000-example chunk's summary past the 1 MiB a summary may have, and merging refused it
    severities: dict[str, Any] = field(default_factory=lambda: Severities().to_json())
    # a parallel or sharded campaign (verifier.interfaces.parallel): its plan (seed, examples, workers,
    # recycle_after) and every chunk merged into it (worker, chunk, seed, examples range,
    # checked, elapsed_s, and cpu_s: its process's CPU time, absent from older summaries)
    parallel: dict[str, Any] = field(default_factory=dict)
    # chunks whose process died: worker, chunk, seed, examples [start, stop], reason, how many
    # it had checked (its last logged count; optional) and how many discrepancies it had
    # found (those are kept: they were on disk)
    lost: list[dict] = field(default_factory=list)
    # how to replay a finding from the folder the campaign ran in: the --engine spec and the
    # PYTHONPATH a fresh process needs (engines.spec.EngineSpec; empty: the engine has no
    # name a command line can give), and the report folder as that command line named it
    engine_spec: dict[str, Any] = field(default_factory=dict)
    report_dir: str = ""
    # undecided examples counted by cause (UNDECIDED_CAUSES), and notes by kind (NOTES)
    undecided: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    # a few undecided examples per cause (at most UNDECIDED_KEPT each): cause, reason,
    # expression, point — what the HTML report lists under "undecided"
    undecided_examples: list[dict] = field(default_factory=list)
    # drawn points the generator passed over because the reference could not decide there
    # (verifier.truth.judge.foresee), by cause: not examples, and not counted in ``undecided``
    screened: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.discrepancies)


class Severities:
    """Error/bound of judged checks as counts: exact answers, and one count per decade
    (clamped to ±DECADE_RANGE, where the report's histogram piles them up anyway), plus the
    worst. Bounded whatever the number of examples, and summed exactly when chunks merge."""

    DECADE_RANGE = 17

    def __init__(self) -> None:
        self.checks, self.exact, self.worst = 0, 0, 0.0
        self.decades: Counter[int] = Counter()

    def add(self, severity: float) -> None:
        self.checks += 1
        self.worst = max(self.worst, severity)
        if severity == 0:
            self.exact += 1
        else:
            k = self.DECADE_RANGE
            self.decades[min(max(math.floor(math.log10(severity)), -k), k)] += 1

    def pool(self, doc: Mapping[str, Any]) -> "Severities":
        self.checks += doc["checks"]
        self.exact += doc["exact"]
        self.worst = max(self.worst, doc["worst"])
        self.decades.update({int(d): c for d, c in doc["decades"].items()})
        return self

    def to_json(self) -> dict[str, Any]:
        return {"checks": self.checks, "exact": self.exact, "worst": self.worst,
                "decades": {str(d): c for d, c in sorted(self.decades.items())}}

    @classmethod
    def of(cls, values) -> "Severities":
        counts = cls()
        for v in values:
            counts.add(v)
        return counts
