"""The full Jacobian of a small output, row by row: one one-hot cotangent per output element.

The random-cotangent check ``sum(out * W)`` sees every wrong Jacobian entry with probability 1,
but judges the engine's ``Jᵀw`` under one tolerance per input element, scaled to the whole
row mix: a wrong entry of size 1e-3 next to a right one of size 1e6 hides in the rounding
room of the big one. A row ``eᵢᵀJ`` is judged on its own scale, and a finding then names the
output element as well as the input element where the engine departs.

Rows are asked for only when the random cotangent agreed (a failing case is already a
finding, and the one-hot runs would cost as much again) and the output is small: each row
is one more engine run and one more reference.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from verifier.floor.ir import Node
from verifier.floor.program import reduce_with, tconst_value
from verifier.model import Case, EngineRun, Verdict
from verifier.truth.lower import Lowered, lower_elements
from verifier.truth.tensor_judge import TensorReference, element_label, tensor_judge

__all__ = ["MAX_ROWS", "reduced", "row_cases", "check_rows"]

MAX_ROWS = 6   # rows checked one by one up to this many output elements


def reduced(case: Case) -> tuple[Node, np.ndarray] | None:
    """``(out, W)`` when the case is ``sum(out * W)`` over all axes, as campaigns build it."""
    root = case.expr
    if root.op != "sum" or dict(root.arg).get("axis") is not None or root.src[0].op != "mul":
        return None
    out, w = root.src[0].src
    if w.op != "tconst":
        return None
    return out, tconst_value(w)


def row_cases(case: Case, max_rows: int = MAX_ROWS) -> list[tuple[tuple, Case]]:
    """One case per output element, its cotangent one-hot; none for scalar or large outputs."""
    split = reduced(case)
    if split is None:
        return []
    out, w = split
    if not 2 <= w.size <= max_rows:
        return []
    rows = []
    for index in np.ndindex(w.shape):
        onehot = np.zeros(w.shape)
        onehot[index] = 1.0
        rows.append((index, Case(reduce_with(out, onehot), case.point, ops=case.ops)))
    return rows


def check_rows(case: Case, verdict: Verdict, reference: Callable[[Case, Lowered], TensorReference],
               run: Callable[[Case], EngineRun], max_rows: int = MAX_ROWS) -> Verdict:
    """The random-cotangent ``verdict``, or the first Jacobian row the engine gets wrong.
    ``reference(row, lowered)`` judges a row from its element DAG; ``run(row)`` asks the engine."""
    if verdict.kind != "agree":
        return verdict
    rows = row_cases(case, max_rows)
    if not rows:
        return verdict
    out, _ = reduced(case)
    lowered = dict(lower_elements(out, case.point, case.ops.tensor))
    if set(lowered) != {index for index, _ in rows}:
        return verdict    # a W that broadcasts against out (a hand-written case): no rows to match
    for index, row in rows:
        row_verdict = tensor_judge(reference(row, lowered[index]), run(row))
        if row_verdict.is_discrepancy:
            label = element_label("out", index)
            return Verdict(row_verdict.kind, f"Jacobian row {label} (a one-hot cotangent): {row_verdict.reason}",
                           row_verdict.checks, row_verdict.where, row)
    return verdict
