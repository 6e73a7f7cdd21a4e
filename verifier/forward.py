"""Forward mode (``--forward``): the engine's JVPs judged against the reference, and against
its own reverse mode.

An engine with ``forward_gradients(output, variables)`` (one JVP per variable, a unit
tangent each) computes the same gradient twice, by two different sets of rules: JVP rules
and VJP rules are written separately in most engines (PyTorch's forward-AD formulas, HIPS
autograd's ``defjvp``), and a slip in one is invisible to the other. Each check then asks
both modes, in the forked worker, each with its own time limit:

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

The verdict's ``mode`` is "forward" when forward mode departs; its reason starts with
"forward mode:", and a campaign's signature ends in ``:forward``, so a forward and a reverse
fault in the same op are two findings.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .judge import _RANK, Case, Check, Verdict, judge

__all__ = ["forward_verdict", "combine_modes", "has_forward_mode", "MODE"]

MODE = "forward"


def has_forward_mode(engine: Any) -> bool:
    return callable(getattr(engine, "forward_gradients", None))


def forward_verdict(checker: Any, case: Case, ref: Any, reverse: Verdict) -> Verdict:
    """``reverse`` (the checker's verdict for ``case``) with forward mode judged too."""
    scalar = ref.scalar if checker.tensor else ref
    if not scalar.valid or reverse.is_discrepancy:
        # outside a domain nothing is held against either mode; a reverse finding comes first
        return reverse
    run = checker.executor.run(case.expr, case.point, mode=MODE)
    run = replace(run, value=None)   # the forward value was judged with reverse mode's run
    if checker.tensor:
        from .tensor.judge import tensor_judge
        forward = tensor_judge(ref, run)
    else:
        forward = judge(ref, run)
    return combine_modes(reverse, forward)


def _tag(checks, mode: str) -> tuple[Check, ...]:
    return tuple(c if c.variable is None else replace(c, mode=mode) for c in checks)


def combine_modes(reverse: Verdict, forward: Verdict) -> Verdict:
    """One verdict for both modes: forward mode's discrepancy, or the two modes apart by more
    than their bounds allow, or else the worse of the two verdicts."""
    checks = _tag(reverse.checks, "reverse") + _tag(forward.checks, MODE)
    if forward.is_discrepancy:
        return Verdict(forward.kind, f"forward mode: {forward.reason}", checks, forward.where, mode=MODE)
    apart = _apart(reverse.checks, forward.checks)
    if apart:
        worst = max(apart, key=lambda a: a[0].severity or 0.0)
        return Verdict("mismatch", _apart_reason(*worst), checks + tuple(a[0] for a in apart), mode=MODE)
    if _RANK[forward.kind] > _RANK[reverse.kind]:
        return Verdict(forward.kind, f"forward mode: {forward.reason}" if forward.reason else "", checks,
                       forward.where, mode=MODE)
    return Verdict(reverse.kind, reverse.reason, checks, reverse.where)


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
            continue   # no bound (shape errors, masked elements), or a kink: nothing to compare
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
        who = f"; the exact value {truth!r} is nearer {'reverse' if far == MODE else 'forward'} mode"
    return (f"forward mode: d/d{c.variable}: forward {f.actual!r}, reverse {r.actual!r}, apart by "
            f"{abs(f.actual - r.actual):.3g} where each may be off by {r.bound:.3g} (the reference alone "
            f"cannot decide: rounding moves this gradient by more than 1% of its scale){who}")
