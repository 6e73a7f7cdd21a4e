"""Detection power: adverify against what a user has today, on every scalar planted bug.

    python3 benchmarks/detection.py                        # every scalar mutant, 10 s each, seed 0
    python3 benchmarks/detection.py --budget 5 --seeds 0,1,2 --mutants tanh-rule,overwrite

For each mutant, with the same time budget per mutant and method:

- adverify unguided and adverify guided (``Options.guided``: hypothesis.target steering,
  see campaign._targets; the line above the table says which is the default), same seeds:
  seconds to the first
  failing example (before shrinking), shrunk reproducer size, culprit right;
- gradcheck-ops: what most engines test today — each op alone at random normal points
  (inside its domain), torch.autograd.gradcheck's test: central differences with eps 1e-6,
  pass if |analytic - numeric| <= atol + rtol·|numeric| (atol 1e-5, rtol 1e-3), float64.
  Its reproducer is the op alone (1 node), its culprit the op it was checking;
- gradcheck-expr: the same test on random expressions drawn by adverify's own strategy, with
  no shrinking and no blame: its reproducer is the expression as drawn.

A gradcheck failure only counts if the correct builtin engine passes the same check on the
same input; otherwise the finite difference itself is wrong there (a kink, a step of 1e-6
lost on a huge argument) and it is counted as a false alarm, which a user would have to
investigate by hand. That is generous to the baseline. The last row runs every method on the
correct engine: anything found there is a false alarm. Prints one table; asserts nothing.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, seed as hseed, settings  # noqa: E402

from verifier.search.campaign import Options  # noqa: E402
from verifier.engines import engine_ops  # noqa: E402
from verifier.engines.builtin import BuiltinEngine  # noqa: E402
from verifier.floor.ir import Node, apply, const, size, toposort, var, variables  # noqa: E402
from verifier.engines.mutants import MUTANTS, Mutant  # noqa: E402
from verifier.floor.ops import SCALAR_OPS  # noqa: E402
from verifier.interfaces.selftest import run_one  # noqa: E402
from verifier.search.strategies import cases  # noqa: E402

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3          # torch.autograd.gradcheck's defaults
EXPONENTS = (2.0, 3.0, -1.0, 0.5, -0.5, 1.5, 4.0, -2.0, 1.0 / 3.0, 2.5)


@dataclass
class Outcome:
    found: bool = False
    seconds: float | None = None
    examples: int = 0
    nodes: int | None = None
    culprit_right: bool | None = None       # None: no blame (gradcheck-expr) or nothing to name
    false_alarms: int = 0


# ── the gradcheck baseline ────────────────────────────────────────────────────────────────

def _build(engine, expr: Node, point):
    built = {}
    for n in toposort(expr):
        if n.op == "var":
            built[n] = engine.variable(point[n.arg])
        elif n.op == "const":
            built[n] = engine.constant(n.arg)
        else:
            built[n] = engine.ops[n.op](*(built[s] for s in n.src))
    return built[expr], [built[var(v)] for v in variables(expr)]


def gradcheck(engine, expr: Node, point) -> bool:
    """torch.autograd.gradcheck on one input: True if it passes. Raising fails, as in torch."""
    try:
        with np.errstate(all="ignore"):
            out, leaves = _build(engine, expr, point)
            analytic = [0.0 if g is None else float(g) for g in engine.gradients(out, leaves)]
            for v, a in zip(variables(expr), analytic):
                f = [float(engine.value(_build(engine, expr, {**point, v: point[v] + h})[0])) for h in (EPS, -EPS)]
                numeric = (f[0] - f[1]) / (2 * EPS)
                if not abs(a - numeric) <= ATOL + RTOL * abs(numeric):    # a nan fails too
                    return False
    except Exception:
        return False
    return True


class _Stop(BaseException):
    """Ends a Hypothesis run at once (it does not catch BaseException)."""


def _ops(m: Mutant, engine) -> list[str]:
    return [o for o in (m.ops or engine_ops(engine)) if o in SCALAR_OPS]


def _op_case(op: str, rng: np.random.Generator):
    """The op alone on fresh variables, at a random normal point inside its domain."""
    spec = SCALAR_OPS[op]
    while True:
        args, point = [], {}
        for i in range(spec.arity):
            if i in spec.params:
                c = float(rng.choice(EXPONENTS))
                args.append(const(c))
            else:
                name = "xyz"[i]
                point[name] = float(rng.standard_normal())
                args.append(var(name))
        values = [a.arg if a.op == "const" else point[a.arg] for a in args]
        if spec.domain(*values):
            return apply(op, *args), point


def gradcheck_ops(m: Mutant, budget: float, seed: int) -> Outcome:
    engine, correct = m.make(), BuiltinEngine()
    ops, rng = _ops(m, engine), np.random.default_rng(seed)
    out, start = Outcome(), time.monotonic()
    while time.monotonic() - start < budget:
        for op in ops:                       # one round: every op once, at a fresh point
            expr, point = _op_case(op, rng)
            out.examples += 1
            if gradcheck(engine, expr, point):
                continue
            if not gradcheck(correct, expr, point):
                out.false_alarms += 1
                continue
            out.found, out.seconds, out.nodes = True, time.monotonic() - start, 1
            out.culprit_right = m.blamed_right(op, "local-rule")   # () (composition): never right
            return out
    return out


def gradcheck_expr(m: Mutant, budget: float, seed: int) -> Outcome:
    engine, correct = m.make(), BuiltinEngine()
    out, start = Outcome(), time.monotonic()

    @hseed(seed)
    @settings(max_examples=10 ** 9, phases=(Phase.generate,), database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(ops=_ops(m, engine)))
    def search(case) -> None:
        if time.monotonic() - start > budget:
            raise _Stop
        out.examples += 1
        if gradcheck(engine, case.expr, case.point):
            return
        if not gradcheck(correct, case.expr, case.point):
            out.false_alarms += 1
            return
        out.found, out.seconds, out.nodes = True, time.monotonic() - start, size(case.expr)
        raise _Stop
    try:
        search()
    except _Stop:
        pass
    return out


def adverify(m: Mutant, budget: float, seed: int, guided: bool, examples: int) -> Outcome:
    row = run_one(m, examples=examples, seed=seed, time_budget=budget, guided=guided)
    return Outcome(row.found, row.seconds, row.examples, row.nodes, row.culprit_right)


# ── the table ─────────────────────────────────────────────────────────────────────────────

METHODS = ("unguided", "guided", "gc-ops", "gc-expr")


def _run(m: Mutant, method: str, budget: float, seed: int, examples: int) -> Outcome:
    if method == "unguided":
        return adverify(m, budget, seed, False, examples)
    if method == "guided":
        return adverify(m, budget, seed, True, examples)
    if method == "gc-ops":
        return gradcheck_ops(m, budget, seed)
    return gradcheck_expr(m, budget, seed)


def _cell(outs: list[Outcome], method: str) -> str:
    """found/seeds, median seconds, median nodes, culprit; false alarms for gradcheck."""
    hits = [o for o in outs if o.found]
    n = f"{len(hits)}/{len(outs)}"
    if not hits:
        s = f"{n:>4} {'—':>6} {'—':>3} {'—':>2}"
    else:
        right = [o.culprit_right for o in hits]
        c = "—" if all(r is None for r in right) else "ok" if all(r in (True, None) for r in right) else "x"
        s = (f"{n:>4} {statistics.median(o.seconds for o in hits):>6.2f} "
             f"{statistics.median(o.nodes for o in hits):>3g} {c:>2}")
    if method.startswith("gc"):
        s += f" {sum(o.false_alarms for o in outs):>3}"
    return s


def _widths(method: str) -> int:
    return 21 if method.startswith("gc") else 17


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=10.0, help="seconds per mutant and method (default 10)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--mutants", help="comma-separated mutant names (default: every scalar mutant)")
    p.add_argument("--examples", type=int, default=10_000, help="adverify's example cap (default 10000: "
                   "the time budget binds)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [x for x in args.methods.split(",") if x]
    names = args.mutants.split(",") if args.mutants else [n for n, m in MUTANTS.items() if not m.options]
    mutants = [MUTANTS[n] for n in names]
    correct = Mutant("(correct engine)", "none: false alarms", "the builtin engine, unmodified",
                     BuiltinEngine, culprits=None)

    default = "guided" if Options().guided else "unguided"
    print(f"detection: {len(mutants)} mutants, {args.budget:g} s per mutant and method, seeds {args.seeds}; "
          f"adverify's default is {default}")
    print("each method: found/seeds, median seconds to first detection, median reproducer nodes, "
          "culprit (ok/x/—); gradcheck: + false alarms")
    head = f"{'mutant':<20} {'bug class':<24}" + "".join(f" | {m:<{_widths(m)}}" for m in methods)
    print(head)
    results: dict[str, dict[str, list[Outcome]]] = {}
    for m in [*mutants, correct]:
        results[m.name] = {meth: [_run(m, meth, args.budget, s, args.examples) for s in seeds] for meth in methods}
        print(f"{m.name:<20} {m.bug_class:<24}"
              + "".join(f" | {_cell(results[m.name][meth], meth):<{_widths(meth)}}" for meth in methods), flush=True)

    print()
    print(f"{'method':<10} {'found':>9} {'median s':>9} {'mean s*':>8} {'median nodes':>13} {'> 5 nodes':>10} "
          f"{'culprit right':>14} {'false alarms':>13} {'on correct':>11}")
    medians = {}
    for meth in methods:
        outs = [o for n in names for o in results[n][meth]]
        hits = [o for o in outs if o.found]
        named = [o for o in hits if o.culprit_right is not None]
        blamed = sum(bool(o.culprit_right) for o in named)
        # a run that found nothing counts as the whole budget: the mean then rewards finding more
        mean = statistics.fmean(o.seconds if o.found else args.budget for o in outs)
        medians[meth] = statistics.median(o.seconds for o in hits) if hits else math.nan
        culprit = f"{blamed}/{len(named)}" if named else "—"
        on_correct = sum(o.found + o.false_alarms for o in results[correct.name][meth])
        nodes = statistics.median(o.nodes for o in hits) if hits else math.nan
        print(f"{meth:<10} {f'{len(hits)}/{len(outs)}':>9} {medians[meth]:>9.3f} {mean:>8.2f} {nodes:>13g} "
              f"{sum(o.nodes > 5 for o in hits):>10} {culprit:>14} {sum(o.false_alarms for o in outs):>13} "
              f"{on_correct:>11}")
    print("  * mean over every run, a miss counted as the full budget. false alarms: gradcheck failures the "
          "correct engine fails too (discarded); on correct: failures reported on the correct engine")
    if default in methods:
        print(f"median time to first detection relative to adverify ({default}): "
              + ", ".join(f"{meth} {medians[meth] / medians[default]:.2g}x" for meth in methods if meth != default))
    return 0


if __name__ == "__main__":
    sys.exit(main())
