"""What a campaign exercised: ops, parent→child op pairs, magnitude regimes, kinks.

Input magnitudes are counted per coordinate of a point; the stress regimes (a kink verdict,
an op next to a pole of its derivative, an intermediate at the edge of the float range) per
example. Finding those takes one float64 evaluation of the example: cheap next to a check.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from verifier.floor.ir import evaluate, toposort
from verifier.floor.mathns import F64
from verifier.model import Case, Verdict

__all__ = ["Coverage", "regime", "NEAR"]

NEAR = 1e-4                 # "next to a pole": this close to where a partial is infinite
HUGE, SMALL = 1e290, 1e-290  # intermediates this far out are at the edge of float64

def regime(x: float) -> str:
    a = abs(x)
    if a == 0:
        return "zero"
    if a < 1e-4:
        return "tiny"
    if a > 1e4:
        return "large"
    return "ordinary"


class Coverage:
    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.pairs: Counter[str] = Counter()
        self.regimes: Counter[str] = Counter()
        self.op_verdicts: dict[str, Counter[str]] = {}
        self.kinks: Counter[str] = Counter()      # op nodes exactly at their kink
        self.stressed = 0                         # examples the stress regimes were looked for in
        self.shared = 0

    def add(self, case: Case, verdict: Verdict) -> None:
        order = toposort(case.expr)
        users: Counter = Counter()
        for n in order:
            if n.is_leaf:
                continue
            self.ops[n.op] += 1
            self.op_verdicts.setdefault(n.op, Counter())[verdict.kind] += 1
            for s in n.src:
                users[s] += 1
                if not s.is_leaf:
                    self.pairs[f"{n.op}>{s.op}"] += 1
        self.shared += any(c > 1 and not n.is_leaf for n, c in users.items())
        for v in case.point.values():
            for x in np.ravel(v):          # a tensor variable counts each of its elements
                self.regimes[regime(float(x))] += 1
        if verdict.kind == "kink":
            self.regimes["kink"] += 1
        if all(n.op in ("var", "const") or n.op in case.ops for n in order):   # scalar programs
            self._stress(case, order)

    def _stress(self, case: Case, order) -> None:
        self.stressed += 1
        with np.errstate(all="ignore"):
            values = evaluate(case.expr, case.point, F64, ops=case.ops)
            pole = edge_hi = edge_lo = False
            for n in order:
                v = abs(float(values[n]))
                edge_hi |= HUGE <= v < math.inf
                edge_lo |= 0 < v <= SMALL
                if n.is_leaf:
                    continue
                args = [values[s] for s in n.src]
                spec = case.ops[n.op]
                if spec.pole is not None:
                    d = abs(float(spec.pole(*args)))
                    pole |= 0 < d < NEAR
                kink = spec.kink
                if kink is not None and float(kink.switch(*args)) == 0:
                    self.kinks[n.op] += 1
        for name, hit in (("near-pole", pole), ("overflow-edge", edge_hi), ("underflow-edge", edge_lo)):
            self.regimes[name] += hit

    def to_json(self) -> dict[str, Any]:
        return {"ops": dict(sorted(self.ops.items())), "pairs": dict(sorted(self.pairs.items())),
                "regimes": dict(sorted(self.regimes.items())), "shared_subexpressions": self.shared,
                "kinks": dict(sorted(self.kinks.items())), "stress_examples": self.stressed,
                "op_verdicts": {k: dict(sorted(v.items())) for k, v in sorted(self.op_verdicts.items())}}
