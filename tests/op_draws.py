"""How often each op appears in generated expressions: the generation distribution, measured.

``measure`` draws from ``verifier.search.strategies.cases`` exactly as a campaign does (the
campaign's Hypothesis profile, its seed handling, no literals taken from local modules),
without checking anything. tests/test_ir.py asserts that every op is drawn about as often
wherever it stands in the list; benchmarks/op_counts.py prints the table. An op the strategy
seldom draws is an op whose bugs are seldom found.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from hypothesis import Phase, given, seed as hseed, settings

from verifier.engines import Capabilities
from verifier.floor.ir import evaluate, toposort
from verifier.floor.mathns import F64
from verifier.floor.ops import SCALAR_OPS
# the campaign's own settings and its guard against Hypothesis's local constants, on purpose:
# a measurement that drew differently from a campaign would measure nothing
from verifier.search.campaign import PROFILE, no_local_constants
from verifier.search.strategies import cases
from verifier.search.tensor_strategies import tensor_cases

# magnitude bands of a value: (low, high, name), |x| in (low, high]
BANDS = ((0.0, 0.0, "0"), (0.0, 1e-4, "<1e-4"), (1e-4, 1.0, "1e-4..1"), (1.0, 10.0, "1..10"),
         (10.0, 1e3, "10..1e3"), (1e3, 1e4, "1e3..1e4"), (1e4, math.inf, ">1e4"))


def band(x: float) -> str:
    """The name of the band of BANDS that ``x``'s magnitude falls in."""
    a = abs(x)
    if a == 0:
        return "0"
    for lo, hi, name in BANDS[1:]:
        if lo < a <= hi or (lo == 0 and a <= hi):
            return name
    return ">1e4"


def measure(examples: int = 500, seed: int = 0, ops: tuple[str, ...] = tuple(SCALAR_OPS),
            max_nodes: int = 12, n_vars: int = 3) -> dict:
    """Draw ``examples`` cases as a campaign with this seed would. Returns the examples drawn,
    op nodes per op (``nodes``), examples holding the op at least once (``present``), the
    bands of the variables' values (``bands``) and of each op's first argument (``args``),
    and each example's op count (``sizes``)."""
    nodes: Counter[str] = Counter()
    present: Counter[str] = Counter()
    args: dict[str, Counter[str]] = {}
    bands: Counter[str] = Counter()
    sizes: list[int] = []
    n = [0]

    @hseed(seed * 1_000_003)
    @settings(settings.get_profile(PROFILE), max_examples=examples, phases=(Phase.generate,))
    @given(cases(ops=ops, max_nodes=max_nodes, n_vars=n_vars))
    def draw(case) -> None:
        n[0] += 1
        order = [m for m in toposort(case.expr) if not m.is_leaf]
        sizes.append(len(order))
        with np.errstate(all="ignore"):
            vals = evaluate(case.expr, case.point, F64)
        for m in order:
            nodes[m.op] += 1
            args.setdefault(m.op, Counter())[band(float(vals[m.src[0]]))] += 1
        for op in {m.op for m in order}:
            present[op] += 1
        for v in case.point.values():
            bands[band(v)] += 1

    with no_local_constants():
        draw()
    return {"examples": n[0], "nodes": nodes, "present": present, "bands": bands, "args": args,
            "sizes": sizes}


def draw_tensor(examples: int = 300, seed: int = 0, ops: tuple[str, ...] | None = None,
                capabilities=None, max_nodes: int = 6, n_vars: int = 2, blocks: bool = True) -> list:
    """``examples`` tensor programs (Cases) as a tensor campaign with this seed would draw
    them, for an engine with these ``capabilities`` (engines.Capabilities; None: none declared);
    ``blocks`` False: no transformer blocks (each holds seven ops at once)."""
    drawn: list = []

    @hseed(seed * 1_000_003)
    @settings(settings.get_profile(PROFILE), max_examples=examples, phases=(Phase.generate,))
    @given(tensor_cases(ops=ops, max_nodes=max_nodes, n_vars=n_vars,
                        capabilities=capabilities or Capabilities(), blocks=blocks))
    def draw(case) -> None:
        drawn.append(case)

    with no_local_constants():
        draw()
    return drawn


def tensor_presence(programs: list) -> Counter:
    """Per op, the programs that hold it at least once, not counting each program's final
    reduction sum(out * W) (every program has it: tensor_strategies)."""
    present: Counter[str] = Counter()
    for case in programs:
        body = case.expr.src[0].src[0]   # sum(mul(out, W)) -> out
        present.update({m.op for m in toposort(body) if not m.is_leaf})
    return present
