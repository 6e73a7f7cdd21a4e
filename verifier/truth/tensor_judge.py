"""Judging a tensor case: the lowered scalar reference, and the engine's arrays mapped onto it.

The engine answers with one gradient array per tensor variable. A wrong shape is a finding
that names both shapes. Elements the function does not depend on (masked by ``where``) must
get exactly zero: a NaN there is the classic leak through the unselected branch.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from itertools import chain

import numpy as np

from verifier.floor.ir import toposort, variables
from verifier.floor.program import forward, params_of
from verifier.model import Case, Check, EngineRun, Reference, Verdict
from verifier.truth.bounds import C2, PRECISIONS, RHO
from verifier.truth.judge import UNSTABLE, judge, reference
from verifier.truth.leaks import leak_in
from verifier.truth.lower import Lowered, lower

__all__ = ["TensorReference", "tensor_reference", "tensor_judge", "element_label"]


@dataclass(frozen=True)
class TensorReference:
    case: Case
    lowered: Lowered
    scalar: Reference

    @property
    def status(self) -> str:
        return self.scalar.status

    @property
    def labels(self) -> dict[str, str]:
        """The element label (``x[0, 1]``) of each scalar variable of the lowered DAG, as checks name them."""
        return {e: element_label(n, i) for n, items in self.lowered.elements.items() for i, e in items.items()}

    @property
    def oracles(self):
        """Each oracle's values by element label, as checks name them."""
        label = self.labels
        return {o: {label.get(k, k): v for k, v in vals.items()} for o, vals in self.scalar.oracles.items()}

    @property
    def kinks(self):
        return self.scalar.kinks


def _first(values, **params):
    return float(np.max(np.abs(values[0]), initial=0.0))


def _scores(values, **params):
    q, k = values[0], values[1]
    return float(np.max(np.abs(q @ k.T), initial=0.0)) / math.sqrt(q.shape[1])


def _centred(values, axis, eps=0.0):
    """variance, std, layer_norm: their backward passes read x - mean(x), whose absolute
    error n·u·max|x| the lowered DAG never sees (its chain rule is exactly shift invariant);
    relative to their gradient's scale, about n·max|x| / mean|x - mean(x)| per reduced slice
    (squared n: std's and layer_norm's rstd carry it again). With layer_norm's eps, only the
    share var/(var + eps) of the gradient reads the deviations. Infinite where a slice of
    equal non-zero values (more than one) leaves its deviations nothing but rounding."""
    x = np.asarray(values[0], dtype=np.float64)
    axes = tuple(range(x.ndim)) if axis is None else (axis % max(x.ndim, 1),)
    n = math.prod(x.shape[a] for a in axes if a < x.ndim)
    if n == 1:      # the mean of one element is that element: its deviation is exactly 0
        return 0.0
    d = np.abs(x - np.mean(x, axis=axes, keepdims=True))
    var = np.mean(d * d, axis=axes)
    big, small = np.max(np.abs(x), axis=axes), np.mean(d, axis=axes)
    with np.errstate(all="ignore"):
        ratio = np.where(big == 0, 0.0, n * n * big / small) * np.where(var == 0, 1.0 if eps == 0 else 0.0,
                                                                        var / (var + eps))
    return float(np.max(np.nan_to_num(ratio, nan=0.0, posinf=math.inf), initial=0.0))


# ops whose backward engines compute from a value the lowered DAG never reads, with an
# absolute rounding error of the size of their input: exp(x - lse) (the softmax family;
# attention's input to its softmax is the scores q kᵀ/√d), x - mean(x) (the centring ops).
# Each gives the relative error it adds, in units of roundoff, from its arguments' values.
_SHIFTED = {"logsumexp": _first, "softmax": _first, "log_softmax": _first, "cross_entropy": _first,
            "attention": _scores,
            "variance": lambda values, axis=None, **_: _centred(values, axis),      # the ops' defaults
            "std": lambda values, axis=None, **_: _centred(values, axis),
            "layer_norm": lambda values, eps=1e-5: _centred(values, -1, eps)}


def _spread(case: Case, values) -> float:
    return sum(_SHIFTED[n.op]([values[s] for s in n.src], **params_of(n))
               for n in toposort(case.expr) if n.op in _SHIFTED)


def tensor_reference(case: Case, dtype: str = "float64", lowered: Lowered | None = None) -> TensorReference:
    """``lowered``: the case's element-level DAG when the caller has it already (a Jacobian
    row lowers the unreduced program once for all its rows)."""
    lw = lowered or lower(case.expr, case.point, case.ops.tensor)
    scalar_case = Case(lw.out, lw.point, ops=case.ops)
    with np.errstate(all="ignore"):
        values = forward(case.expr, case.point, case.ops.tensor)
    why = _program_undecided(case, lw, values, PRECISIONS[dtype])
    if why:
        reason, cause = why
        return TensorReference(case, lw, Reference(scalar_case, dtype, "undecided", reason, cause=cause))
    ref = reference(scalar_case, dtype)
    if ref.status == "ok":
        spread = _spread(case, values)
        if math.isinf(spread):
            return TensorReference(case, lw, Reference(
                scalar_case, dtype, "undecided", "ill-conditioned: x - mean(x) over equal values is rounding alone, "
                "and a backward pass reads it", cause="ill-conditioned"))
        if spread:
            extra = C2 * RHO * PRECISIONS[dtype].u * spread
            # beyond 1% of the scale, as the scalar judge says: no honest verdict
            ref = replace(ref, bound={v: b + extra * ref.scale.get(v, 0.0) for v, b in ref.bound.items()},
                          unstable={v: u or extra > UNSTABLE for v, u in ref.unstable.items()})
    return TensorReference(case, lw, ref)


# causes the program decides, beyond its lowered DAG: the verdict is undecided as a whole,
# elements the function does not depend on included
_PROGRAM_CAUSES = ("subnormal", "near-kink")


def _program_undecided(case: Case, lw: Lowered, values, prec) -> tuple[str, str] | None:
    """Why the program as a whole has no verdict: subnormal inputs or intermediates, those of
    a where's unselected branch too (the engine computes them; scalar mode's policy, the same
    threshold), or a where's condition at the switch point, where the function jumps."""
    for n, v in chain(((n, case.point[n.arg]) for n in toposort(case.expr) if n.op == "var"), values.items()):
        a = np.abs(np.asarray(v, dtype=np.float64))
        if np.any((a != 0) & (a < prec.normal_min)):
            what = f"the input {n.arg}" if n.op == "var" else f"an intermediate value of {n.op}"
            return f"{what} is subnormal in {prec.name}", "subnormal"
    if lw.switches:
        return (f"at where's switch point: an element of its condition {', '.join(lw.switches)} is 0, where "
                f"the function jumps from one branch to the other (no derivative to hold an engine to)",
                "near-kink")
    return None


def element_label(name: str, index: tuple) -> str:
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def tensor_judge(ref: TensorReference, run: EngineRun) -> Verdict:
    if run.status != "ok" or not ref.scalar.valid or ref.scalar.cause in _PROGRAM_CAUSES:
        return judge(ref.scalar, run)   # nothing per element to add (only undecided references have a cause)
    lw = ref.lowered
    names = variables(ref.case.expr)
    arrays = {n: np.asarray(g, dtype=np.float64) for n, g in zip(names, run.grads)}
    for name in names:
        got = np.shape(arrays[name])
        if got != lw.shapes[name]:
            return Verdict("mismatch", f"the gradient for {name} has shape {got}, but {name} has shape "
                           f"{lw.shapes[name]}", (Check(name, "mismatch", None, None),))
    present = set(variables(lw.out))
    scalar_grads = tuple(float(arrays[n][i]) for n in names for i, e in lw.elements[n].items() if e in present)
    order = [e for n in names for e in lw.elements[n].values() if e in present]
    # the scalar judge expects its own variable order: sorted element names
    by_name = dict(zip(order, scalar_grads))
    verdict = judge(ref.scalar, EngineRun("ok", tuple(by_name[e] for e in variables(lw.out)), run.value,
                                          elapsed=run.elapsed))
    label = {e: element_label(n, i) for n in names for i, e in lw.elements[n].items()}
    checks = [Check(label.get(c.variable, c.variable) if c.variable else None, c.verdict, c.expected,
                    c.actual, c.bound, c.low, c.high) for c in verdict.checks]
    extra = []
    floor = 4 * float(np.finfo(ref.scalar.dtype).tiny)
    for n in names:
        for i, e in lw.elements[n].items():
            if e in present:
                continue
            g = float(arrays[n][i])
            kind = "nonfinite" if not math.isfinite(g) else "mismatch" if abs(g) > floor else "agree"
            extra.append(Check(element_label(n, i), kind, 0.0, g, floor))
    checks += extra
    if not extra or all(c.verdict == "agree" for c in extra):
        return _leak_said(ref, Verdict(verdict.kind, _relabel(verdict.reason, label), tuple(checks), verdict.where,
                                       cause=verdict.cause))
    worst = next(c for c in extra if c.verdict != "agree")
    kind = "nonfinite" if any(c.verdict == "nonfinite" for c in extra) else worst.verdict
    if verdict.kind in ("crash", "timeout", "nonfinite") or (verdict.kind == "mismatch" and kind == "mismatch"):
        return _leak_said(ref, Verdict(verdict.kind, _relabel(verdict.reason, label), tuple(checks), verdict.where))
    bad = next(c for c in extra if c.verdict == kind)
    return _leak_said(ref, Verdict(kind, f"d/d{bad.variable}: engine {bad.actual!r}, expected 0 (the output does "
                                   f"not depend on it)", tuple(checks)))


def _leak_said(ref: TensorReference, verdict: Verdict) -> Verdict:
    """A non-finite gradient where a where's unselected branch has a non-finite derivative:
    the reason says so (0·inf), and which op's derivative it was."""
    if verdict.kind != "nonfinite" or verdict.failing is None:
        return verdict
    element = {label: e for e, label in ref.labels.items()}.get(verdict.failing.variable)
    if element is None:
        return verdict
    leak = leak_in(ref.lowered, ref.case.ops, element)
    return replace(verdict, reason=f"{verdict.reason} — {leak[1]}") if leak else verdict


def _relabel(reason: str, label: dict[str, str]) -> str:
    """Element names as checks show them: d/dx_0_1 becomes d/dx[0, 1]."""
    for e, text in sorted(label.items(), key=lambda kv: -len(kv[0])):
        reason = re.sub(rf"d/d{re.escape(e)}(?![\w])", lambda _: f"d/d{text}", reason)
    return reason
