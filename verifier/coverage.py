"""What a campaign exercised: ops, parent→child op pairs, magnitude regimes, kinks."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

from .ir import toposort
from .judge import Case, Verdict

__all__ = ["Coverage", "regime"]


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
            self.regimes[regime(v)] += 1
        if verdict.kind == "kink":
            self.regimes["kink"] += 1

    def to_json(self) -> dict[str, Any]:
        return {"ops": dict(sorted(self.ops.items())), "pairs": dict(sorted(self.pairs.items())),
                "regimes": dict(sorted(self.regimes.items())), "shared_subexpressions": self.shared,
                "op_verdicts": {k: dict(sorted(v.items())) for k, v in sorted(self.op_verdicts.items())}}
