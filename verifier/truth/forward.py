"""Forward mode (``--forward``): the engine's JVPs judged against the reference, and against
its own reverse mode.

An engine with ``forward_gradients(output, variables)`` (one JVP per variable, a unit
tangent each) computes the same gradient twice, by two different sets of rules: JVP rules
and VJP rules are written separately in most engines (PyTorch's forward-AD formulas, HIPS
autograd's ``defjvp``), and a slip in one is invisible to the other. Each check then asks
both modes (checking.modes.Forward), in the forked worker, each with its own time limit;
this module judges what they answer:

1. reverse mode is judged as always; if it departs, that is the finding (reverse first);
2. forward mode is judged against the same reference, truth, kink interval and bound: a
   crash, a timeout, a malformed answer or a wrong value is a finding of forward mode;
3. the two modes are compared with each other, variable by variable: each is an
   approximation of the same number within the reference's bound ``b`` (the rounding model
   does not depend on the order in which the chain rule's products are summed: it bounds
   every partial's rounding and the accumulation along every path, which forward and reverse
   mode both do), so ``|forward - reverse| <= b + b``. Where both modes are within the bound
   of the truth this follows from the triangle inequality and adds nothing; it decides where
   the reference alone cannot: at points where rounding moves the gradient by more than 1%
   of its scale (``undecided``), two modes that evaluate the same rounded forward values
   must still agree with each other. Kinks are left out: there each mode may pick its own
   value between the one-sided derivatives (a convention, not a bug).

Forward mode holds quantities reverse mode never forms: the tangents d node / d v. Where one
of them leaves the normal range of the dtype (a tangent of 1e-308, which XLA on CPU flushes
to zero), forward mode cannot hold the computation, just as reverse mode cannot with such an
adjoint (the reference is then undecided): a forward departure for that variable is
``undecided``, not a finding.

The verdict's ``mode`` is "forward" when forward mode departs; its reason starts with
"forward mode:", and a campaign's signature ends in ``:forward``, so a forward and a reverse
fault in the same op are two findings.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping

from oracles import paths as paths_oracle
from oracles.base import OracleError
from verifier.floor.ir import variables
from verifier.floor.numtext import exact, short
from verifier.model import VERDICT_RANK, Case, Check, Reference, Verdict, worst_check
from verifier.truth.bounds import PRECISIONS

__all__ = ["forward_verdict", "combine_modes", "tangents_outside", "MODE"]

MODE = "forward"


def forward_verdict(reverse: Verdict, forward: Verdict, scalar: Reference,
                    labels: Mapping[str, str] | None = None) -> Verdict:
    """Reverse mode's verdict and forward mode's, each judged against the same reference, as
    one verdict. ``scalar`` is that reference (a tensor program's lowered one, whose element
    variables checks name by ``labels``: ``x[0, 1]``)."""
    outside: set[str] = set()
    if forward.kind in ("mismatch", "nonfinite") or any(c.verdict == "undecided" for c in forward.checks):
        labels = labels or {}
        outside = {labels.get(v, v) for v in tangents_outside(scalar.case, scalar.dtype)}
        forward = _undecided_where(forward, outside)
    return combine_modes(reverse, forward, outside)


def tangents_outside(case: Case, dtype: str) -> set[str]:
    """The variables v for which some tangent d node / d v is outside the normal range of
    ``dtype`` (the bounds the reference applies to adjoints, values and partials)."""
    prec = PRECISIONS[dtype]
    try:
        g = paths_oracle.stable_graph(case.expr, case.point, case.ops)
    except (OracleError, ArithmeticError):
        return set()
    lo, hi = prec.normal_min, prec.max / 4
    return {v for v in variables(case.expr)
            if any(abs(t) > hi or (t != 0 and abs(t) < lo) for t in paths_oracle.tangents(g, v).values())}


def _undecided_where(forward: Verdict, outside: set[str]) -> Verdict:
    """Forward mode's departures for variables whose tangents leave the range: undecided."""
    if not outside:
        return forward
    checks = tuple(replace(c, verdict="undecided") if c.variable in outside and c.verdict in ("mismatch", "nonfinite")
                   else c for c in forward.checks)
    worst = worst_check(checks)
    if worst.verdict == forward.kind:
        return replace(forward, checks=checks)
    reason = ("a tangent d node / d variable leaves the normal range of the dtype" if worst.verdict == "undecided"
              else "")
    return Verdict(worst.verdict, reason, checks, forward.where,
                   cause="out-of-range" if worst.verdict == "undecided" else "")


def _tag(checks, mode: str) -> tuple[Check, ...]:
    return tuple(c if c.variable is None else replace(c, mode=mode) for c in checks)


def combine_modes(reverse: Verdict, forward: Verdict, outside: set[str] = frozenset()) -> Verdict:
    """One verdict for both modes: forward mode's discrepancy, or the two modes apart by more
    than their bounds allow, or else the worse of the two verdicts. Variables in ``outside``
    (tangents out of range) are not compared: forward mode cannot hold them."""
    checks = _tag(reverse.checks, "reverse") + _tag(forward.checks, MODE)
    if forward.is_discrepancy:
        return Verdict(forward.kind, f"forward mode: {forward.reason}", checks, forward.where, mode=MODE)
    apart = _apart(reverse.checks, tuple(c for c in forward.checks if c.variable not in outside))
    if apart:
        worst = max(apart, key=lambda a: a[0].severity or 0.0)
        return Verdict("mismatch", _apart_reason(*worst), checks + tuple(a[0] for a in apart), mode=MODE)
    if VERDICT_RANK[forward.kind] > VERDICT_RANK[reverse.kind]:
        return Verdict(forward.kind, f"forward mode: {forward.reason}" if forward.reason else "", checks,
                       forward.where, mode=MODE, cause=forward.cause)
    return Verdict(reverse.kind, reverse.reason, checks, reverse.where, cause=reverse.cause)


def _apart(reverse: tuple[Check, ...], forward: tuple[Check, ...]) -> list[tuple[Check, Check, Check]]:
    """(the comparison, reverse's check, forward's check) for each variable where the two
    modes differ by more than the sum of their bounds."""
    out = []
    rev = {c.variable: c for c in reverse if c.variable is not None}
    for f in forward:
        r = rev.get(f.variable)
        if r is None or f.variable is None or r.actual is None or f.actual is None:
            continue
        if not (r.bound and f.bound) or r.low is not None or f.low is not None:
            continue   # no bound (a gradient of the wrong shape), or a kink: nothing to compare
        if not (math.isfinite(r.actual) and math.isfinite(f.actual)):
            continue   # a non-finite answer where the truth is finite was judged already
        both = r.bound + f.bound
        if abs(f.actual - r.actual) > both:
            out.append((Check(f.variable, "mismatch", r.actual, f.actual, both, mode=MODE), r, f))
    return out


def _apart_reason(c: Check, r: Check, f: Check) -> str:
    truth = f.expected
    who = ""
    if truth is not None and math.isfinite(truth):
        # the mode farther from the exact value is the one that departs
        far = MODE if abs(f.actual - truth) >= abs(r.actual - truth) else "reverse"
        who = f"; the exact value {exact(truth)} is nearer {'reverse' if far == MODE else 'forward'} mode"
    return (f"forward mode: d/d{c.variable}: forward {exact(f.actual)}, reverse {exact(r.actual)}, apart by "
            f"{short(abs(f.actual - r.actual))} where each may be off by {short(r.bound)} (the reference alone "
            f"cannot decide: rounding moves this gradient by more than 1% of its scale){who}")
