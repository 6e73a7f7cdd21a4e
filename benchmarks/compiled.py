"""What a compile-per-graph engine gains from the one-call protocol: examples/s before/after.

    python3 benchmarks/compiled.py [--examples 60] [--seed 0]      # needs: pip install jax

The engine is JAX with ``jax.jit`` on every question, as a compiling engine (a Theano-family
compiler, ``tf.function``, tinygrad) works: each graph is compiled before it runs, so each
compilation is real XLA work, not a sleep.

- *before*: ``value()`` and ``gradients()`` each compile their own function, and every
  check builds the graph twice (the consistency check): four compilations a check;
- *after*: the same engine with ``evaluate(output, variables, method)`` (one
  ``jax.jit(jax.value_and_grad(f))``: one compilation) and ``compiles = True`` (the second
  build on one case in ``runner.SECOND_BUILD_EVERY``): about one compilation a check.

Both run the same campaign (same seed, same cases, in this process: XLA does not survive
fork), and the engine alone is timed on the same cases. One run, one table. docs/engine-protocol.md
describes the protocol; jax is not a test dependency, so this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import jax
except ImportError:
    sys.exit("benchmarks/compiled.py needs JAX: python3 -m pip install jax")

from verifier.checking.runner import SECOND_BUILD_EVERY, run_engine  # noqa: E402
from verifier.engines.jax_engine import JaxEngine, as_number, x64  # noqa: E402
from verifier.engines.recipe import Step  # noqa: E402
from verifier.search.campaign import Options, run_campaign  # noqa: E402


class JitBefore(JaxEngine):
    """JAX compiling each question: value() and gradients() each jit their own function."""

    def __init__(self):
        super().__init__("float64")
        self.name = "jax-jit (value + gradients)"

    def value(self, x: Step) -> Any:
        if not x.args:   # value() is asked of every leaf: a leaf's value needs no compiling
            return as_number(x.value)
        with x64(True):
            return as_number(jax.jit(self.function(x, ()))())

    def gradients(self, output: Step, variables: Sequence[Step]) -> list[Any]:
        if not variables:
            return []
        with x64(True):
            grad = jax.jit(jax.grad(self.function(output, variables), argnums=tuple(range(len(variables)))))
            return [as_number(g) for g in grad(*self.arguments(variables))]


class JitAfter(JitBefore):
    """The same engine, answering a check in one call, and declaring that it compiles."""
    compiles = True

    def __init__(self):
        super().__init__()
        self.name = "jax-jit (evaluate, compiles)"

    def evaluate(self, output: Step, variables: Sequence[Step], method: str) -> Any:
        if method != "gradients" or not variables:
            return NotImplemented
        with x64(True):
            f = self.function(output, variables)
            both = jax.jit(jax.value_and_grad(f, argnums=tuple(range(len(variables)))))
            value, grads = both(*self.arguments(variables))
            return as_number(value), [as_number(g) for g in grads]


def _campaign(engine, examples: int, seed: int) -> tuple[float, list]:
    start = time.perf_counter()
    result = run_campaign(engine, Options(examples=examples, seed=seed, check_timeout=None))
    elapsed = time.perf_counter() - start
    return result.examples / elapsed, result


def _engine_alone(engine, cases) -> float:
    start = time.perf_counter()
    for case in cases:
        run_engine(engine, case.expr, case.point)
    return len(cases) / (time.perf_counter() - start)


def _cases(examples: int, seed: int) -> list:
    from hypothesis import given, seed as hseed, settings
    from verifier.search.strategies import cases
    drawn: list = []

    @hseed(seed)
    @settings(max_examples=examples, database=None, deadline=None)
    @given(cases())
    def draw(case):
        drawn.append(case)
    draw()
    return drawn


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    JitBefore().value(Step("add", (Step("var", value=1.0),) * 2))   # JAX's own start-up, paid once
    cases = _cases(a.examples, a.seed)
    rows = []
    for engine in (JitBefore(), JitAfter()):
        rate, result = _campaign(engine, a.examples, a.seed)
        alone = _engine_alone(engine, cases)
        rows.append((engine.name, rate, alone, sum(result.verdicts.values()), len(result.discrepancies)))
    print(f"jax {jax.__version__}, {a.examples} examples, seed {a.seed}, "
          f"second build on 1 case in {SECOND_BUILD_EVERY} after")
    print(f"{'engine':<32} {'campaign ex/s':>14} {'engine alone ex/s':>18} {'findings':>9}")
    for name, rate, alone, _, found in rows:
        print(f"{name:<32} {rate:>14.2f} {alone:>18.2f} {found:>9}")
    print(f"{'gain (after / before)':<32} {rows[1][1] / rows[0][1]:>13.2f}x {rows[1][2] / rows[0][2]:>17.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
