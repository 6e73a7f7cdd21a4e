"""Fault injection, the fixtures: engines that crash, hang, lie or misbehave, what each one
must be found as, and a whole campaign run against one and judged.

Each engine is the builtin engine with one thing broken. ``run_fault`` runs a campaign through
the command line (``adverify campaign --engine tests/faulty_engines.py:NAME``, in this process)
with a small example count and a short --check-timeout. A row passes when the campaign exits 1
(0 for the rows that are not faults of the gradients: noise on stdout, shape-(1,) arrays), every
finding has the expected verdict, summary.json loads through its schema check, and every
finding's replay file is there.

tests/test_faults.py checks every row; benchmarks/faults.py runs them all and prints ``table``,
which the README quotes. This module imports only the installed package.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from verifier.engines.autograd.tensor import make_op
from verifier.engines.builtin import BuiltinEngine
from verifier.floor.ops import SCALAR_OPS

# ── the faulty engines (module level, so `--engine tests/faulty_engines.py:Name` finds them) ──
class Raises(BuiltinEngine):
    name = "fault-raises"

    def gradients(self, output, variables):
        raise RuntimeError("backward pass not implemented for this graph")


class RaisesInOp(BuiltinEngine):
    name = "fault-raises-in-op"

    def __init__(self):
        super().__init__()
        self.ops["sin"] = self._sin

    @staticmethod
    def _sin(x):
        raise ValueError("sin: unsupported operand")


class RaisesInVariable(BuiltinEngine):
    name = "fault-raises-in-variable"

    def variable(self, value):
        raise TypeError("variable() takes a tensor, not a float")


class RaisesInConstant(BuiltinEngine):
    name = "fault-raises-in-constant"

    def constant(self, value):
        raise TypeError("constants are not supported")


class RaisesInValue(BuiltinEngine):
    name = "fault-raises-in-value"

    def value(self, x):
        raise AttributeError("no .data on this node")


class SystemExits(BuiltinEngine):
    name = "fault-system-exit"

    def gradients(self, output, variables):
        sys.exit(3)


class KeyboardInterrupts(BuiltinEngine):
    name = "fault-keyboard-interrupt"

    def gradients(self, output, variables):
        raise KeyboardInterrupt


class OsExits(BuiltinEngine):
    name = "fault-os-exit"

    def gradients(self, output, variables):
        os._exit(7)


class Segfaults(BuiltinEngine):
    name = "fault-segfault"

    def gradients(self, output, variables):
        import ctypes
        ctypes.string_at(0)   # reads address 0: SIGSEGV


class Hangs(BuiltinEngine):
    name = "fault-hangs"

    def gradients(self, output, variables):
        while True:
            pass


class HangsSometimes(BuiltinEngine):
    """Every third backward pass in a worker never returns."""
    name = "fault-hangs-sometimes"
    calls = 0

    def gradients(self, output, variables):
        HangsSometimes.calls += 1
        if HangsSometimes.calls % 3 == 0:
            time.sleep(3600)
        return super().gradients(output, variables)


class Hoards(BuiltinEngine):
    """Allocates without bound: the worker's memory cap turns it into a MemoryError."""
    name = "fault-allocates"

    def gradients(self, output, variables):
        hoard = []
        while True:
            hoard.append(bytearray(16 << 20))


class WrongCount(BuiltinEngine):
    name = "fault-wrong-count"

    def gradients(self, output, variables):
        return super().gradients(output, variables)[:-1]


class EndlessGradients(BuiltinEngine):
    name = "fault-endless-generator"

    def gradients(self, output, variables):
        grads = super().gradients(output, variables)

        def forever():
            yield from grads
            while True:
                yield 0.0
        return forever()


class NotNumbers(BuiltinEngine):
    name = "fault-not-numbers"

    def gradients(self, output, variables):
        return [str(g) for g in super().gradients(output, variables)]


class WrongShape(BuiltinEngine):
    name = "fault-wrong-shape"

    def gradients(self, output, variables):
        return [np.array([g, g]) for g in super().gradients(output, variables)]


class NaNs(BuiltinEngine):
    name = "fault-nan"

    def gradients(self, output, variables):
        return [float("nan")] * len(variables)


class WrongValue(BuiltinEngine):
    """Right gradients, wrong forward value."""
    name = "fault-wrong-value"

    def value(self, x):
        return float(x.value) * (1 + 1e-3)


class MutatesInputs(BuiltinEngine):
    name = "fault-mutates-inputs"

    def gradients(self, output, variables):
        grads = super().gradients(output, variables)
        for v in variables:
            v.value = v.value + 1.0          # "zeroes the leaves" for the next step, wrongly
        return grads


class LeaksState(BuiltinEngine):
    """A tape shared between calls: each backward pass adds what the previous one left."""
    name = "fault-leaks-state"

    def __init__(self):
        super().__init__()
        self._left = 0.0

    def gradients(self, output, variables):
        grads = super().gradients(output, variables)
        out = [g + self._left for g in grads]
        self._left += 1.0
        return out


class PrintsGarbage(BuiltinEngine):
    """Correct, but chatty: what it prints must not reach the report."""
    name = "noise-prints-garbage"

    def gradients(self, output, variables):
        print("\x1b[31mDEBUG\x00 backward", "#" * 200)
        os.write(1, b"raw bytes on fd 1 \xff\xfe\n")
        return super().gradients(output, variables)


class ShapeOne(BuiltinEngine):
    """Correct, returning numpy arrays of shape (1,): a scalar, as torch gives it."""
    name = "noise-shape-one-arrays"

    def gradients(self, output, variables):
        return [np.array([g]) for g in super().gradients(output, variables)]


# ── engines whose findings blame must name right (tests/test_blame.py) ──
def _with_rule(op: str, index: int, rule):
    """The builtin op with one local partial replaced."""
    spec = SCALAR_OPS[op]
    return make_op(replace(spec, partials=tuple(rule if i == index else p for i, p in enumerate(spec.partials))))


class LogEpsilon(BuiltinEngine):
    """log' = 1/(x + 1e-6): 1e-6 relative off at x = 1, 1% off at x = 1e-4 — a wrong rule
    that looks like precision lost where x is large."""
    name = "fault-log-epsilon"

    def __init__(self):
        super().__init__()
        self.ops["log"] = _with_rule("log", 0, lambda m, x, ans: 1.0 / (x + 1e-6))


class SameNodeTwice(BuiltinEngine):
    """Every op raises when given the same node twice (x + x): one line, one root cause,
    whichever op meets it."""
    name = "fault-same-node-twice"

    def __init__(self):
        super().__init__()
        self.ops = {name: self._guarded(fn) for name, fn in self.ops.items()}

    @staticmethod
    def _guarded(fn):
        def call(*args):
            if len({id(a) for a in args}) < len(args):
                raise ValueError("an argument given twice is not supported")
            return fn(*args)
        return call


class DivOverflow(BuiltinEngine):
    """d(x/y)/dy written -x·y/y³ (as -(x·y)/(y·y)/y): at x = y = 1e200, x·y and y·y overflow and
    inf/inf = nan, where the truth -x/y² = -1e-200 is a number."""
    name = "fault-div-overflow"

    def __init__(self):
        super().__init__()
        self.ops["div"] = _with_rule("div", 1, lambda m, x, y, ans: -(x * y) / (y * y) / y)


class TieZero(BuiltinEngine):
    """maximum and minimum both route the gradient by strict comparisons: at a tie neither
    argument gets it, so max(x, x)' = min(x, x)' = 0 — one bug in each op."""
    name = "fault-tie-zero"

    def __init__(self):
        super().__init__()
        self.ops["maximum"] = _with_rule("maximum", 1, lambda m, x, y, ans: m.step(y - x))
        self.ops["minimum"] = _with_rule("minimum", 0, lambda m, x, y, ans: m.step(y - x))


class Flaky(BuiltinEngine):
    """Every second backward pass adds 1 to each gradient: two identical builds differ."""
    name = "fault-flaky"

    def __init__(self):
        super().__init__()
        self._calls = 0

    def gradients(self, output, variables):
        self._calls += 1
        return [g + (self._calls % 2) for g in super().gradients(output, variables)]


@dataclass(frozen=True)
class Fault:
    name: str
    engine: str                    # class name in this module
    what: str
    expect: tuple[str, ...]        # verdicts a finding may have; () = no finding at all
    ops: str = "sin,mul,add"
    examples: int = 8
    timeout: float = 2.0
    env: dict = field(default_factory=dict)


FAULTS = [
    Fault("raises", "Raises", "gradients() raises", ("crash",)),
    Fault("raises-in-op", "RaisesInOp", "an op raises", ("crash",)),
    Fault("raises-in-variable", "RaisesInVariable", "variable() raises", ("crash",)),
    Fault("raises-in-constant", "RaisesInConstant", "constant() raises", ("crash",), ops="pow,mul"),
    Fault("raises-in-value", "RaisesInValue", "value() raises", ("crash",)),
    Fault("system-exit", "SystemExits", "sys.exit() in gradients()", ("crash",)),
    Fault("keyboard-interrupt", "KeyboardInterrupts", "raises KeyboardInterrupt", ("crash",)),
    Fault("os-exit", "OsExits", "os._exit() kills the process", ("crash",), ops="sin"),
    Fault("segfault", "Segfaults", "segfaults", ("crash",), ops="sin"),
    Fault("hang", "Hangs", "never returns", ("timeout",), ops="sin", examples=3, timeout=0.3),
    Fault("hang-sometimes", "HangsSometimes", "every 3rd call never returns", ("timeout",), ops="sin",
          examples=6, timeout=0.3),
    Fault("allocates", "Hoards", "allocates without bound", ("crash",), ops="sin", examples=3,
          env={"ADVERIFY_WORKER_MEMORY": "64"}),
    Fault("wrong-count", "WrongCount", "one gradient too few", ("mismatch",)),
    Fault("endless-generator", "EndlessGradients", "an endless generator of gradients", ("mismatch",)),
    Fault("not-numbers", "NotNumbers", "gradients as strings", ("mismatch",)),
    Fault("wrong-shape", "WrongShape", "arrays of shape (2,)", ("mismatch",)),
    Fault("nan", "NaNs", "NaN everywhere", ("nonfinite",)),
    Fault("wrong-value", "WrongValue", "a wrong forward value", ("mismatch",), ops="exp,mul,add"),
    Fault("mutates-inputs", "MutatesInputs", "changes its input leaves", ("inconsistent",)),
    Fault("leaks-state", "LeaksState", "state leaks between calls", ("inconsistent",)),
    Fault("prints-garbage", "PrintsGarbage", "prints to stdout (not a fault)", ()),
    Fault("shape-one", "ShapeOne", "arrays of shape (1,) (not a fault)", ()),
]


@dataclass
class Row:
    fault: Fault
    code: int
    kinds: list[str]
    complete: bool
    seconds: float
    stdout_clean: bool
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def run_fault(fault: Fault, out: Path) -> Row:
    """One campaign against the faulty engine through `adverify campaign`, judged."""
    from verifier.interfaces.cli import main
    from verifier.results.summary import load_summary
    from verifier.floor.serial import FormatError

    saved = {k: os.environ.get(k) for k in fault.env}
    os.environ.update(fault.env)
    start = time.perf_counter()
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            code = main(["campaign", "--engine", f"{Path(__file__).resolve()}:{fault.engine}", "--quiet",
                         "--examples", str(fault.examples), "--seed", "0", "--ops", fault.ops, "--max-nodes", "4",
                         "--check-timeout", str(fault.timeout), "--out", str(out)])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    try:
        result = load_summary(out / "summary.json")
        kinds = [f.kind for f in result.discrepancies]
        complete = all(f.replay and (out / f.replay).is_file() for f in result.discrepancies)
    except FormatError as e:
        return Row(fault, code, [], False, seconds, False, f"summary: {e}")
    text = stdout.getvalue()
    clean = "DEBUG" not in text and "raw bytes" not in text
    row = Row(fault, code, kinds, complete, seconds, clean)
    want = 1 if fault.expect else 0
    if code != want:
        row.problem = f"exit {code}, expected {want}"
    elif fault.expect and not set(kinds) <= set(fault.expect):
        row.problem = f"verdicts {sorted(set(kinds))}, expected {list(fault.expect)}"
    elif not complete:
        row.problem = "a replay file is missing"
    elif not clean:
        row.problem = "the engine's output reached the report"
    return row


def table(rows: list[Row]) -> str:
    lines = ["| fault | the engine … | expected | found | exit | report complete | s |",
             "|---|---|---|---|---:|---|---:|"]
    for r in rows:
        found = ", ".join(sorted(set(r.kinds))) or "no discrepancy"
        lines.append(f"| {r.fault.name} | {r.fault.what} | {', '.join(r.fault.expect) or 'no discrepancy'} | "
                     f"{found}{'' if r.ok else ' ✗ ' + r.problem} | {r.code} | {'yes' if r.complete else 'no'} | "
                     f"{r.seconds:.1f} |")
    faults = [r for r in rows if r.fault.expect]
    lines.append("")
    lines.append(f"{sum(r.ok for r in faults)} of {len(faults)} injected faults found as the expected finding; "
                 f"{sum(r.ok for r in rows if not r.fault.expect)} of {len(rows) - len(faults)} harmless "
                 f"behaviours left alone; every campaign ended with a complete report: "
                 f"{'yes' if all(r.complete for r in rows) else 'no'}.")
    return "\n".join(lines)
