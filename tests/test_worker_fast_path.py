"""The forked worker's fast paths (executor, runner, capture) change its cost, never its answers:
the same checks answer the same in the worker as in this process, C's buffered output still
reaches its own check, and a quiet check after a loud one has no output. (Their speed is
measured by benchmarks/worker_overhead.py, not here.)"""
from __future__ import annotations

import ctypes
import math

import pytest

from verifier.checking import capture
from verifier.checking.executor import InProcess, Worker
from verifier.checking.runner import build_graph
from verifier.engines.builtin import BuiltinEngine
from verifier.floor.ir import apply, const, toposort, var

X, Y = var("x"), var("y")
SHARED = apply("sin", apply("mul", X, Y))
CASES = [
    (SHARED, {"x": 0.5, "y": 2.0}),
    (apply("add", SHARED, apply("exp", SHARED)), {"x": 0.5, "y": 2.0}),   # shares a sub-expression
    (SHARED, {"x": -1.25, "y": 3.0}),                                      # the same one, elsewhere
    (apply("div", X, const(3.0)), {"x": 7.0}),
    (apply("log", X), {"x": -1.0}),                                        # NaN, as answers go
]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_the_worker_answers_what_this_process_answers():
    engine = BuiltinEngine()
    here, worker = InProcess(engine), Worker(engine, timeout=10)
    try:
        for _ in range(2):   # a second round: expressions the worker has already seen
            for expr, point in CASES:
                want, got = here.run(expr, point), worker.run(expr, point)
                assert (got.status, got.message, got.output) == (want.status, want.message, want.output)
                assert len(got.grads) == len(want.grads) > 0
                assert all(map(_same, got.grads, want.grads)) and _same(got.value, want.value)
    finally:
        worker.close()


def test_a_walk_given_to_build_graph_builds_the_same_graph():
    engine = BuiltinEngine()
    expr, point = CASES[1]
    out, leaves, built = build_graph(engine, expr, point)
    out2, leaves2, built2 = build_graph(engine, expr, point, toposort(expr))
    assert list(built) == list(built2) and len(leaves) == len(leaves2) == 2
    assert engine.value(out) == engine.value(out2)


def _c_stdout():
    """C's ``stdout`` stream (glibc), or None."""
    try:
        return ctypes.c_void_p.in_dll(ctypes.CDLL(None), "stdout")
    except (OSError, ValueError, AttributeError):
        return None


class _Printf(BuiltinEngine):
    """Prints through C's stdio, fully buffered (as C buffers a file, unless Python runs
    unbuffered): only the flush at the end of a check puts it in that check's output."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def gradients(self, output, variables):
        self.calls += 1
        libc = ctypes.CDLL(None)
        if self.calls == 1:   # in the worker: this process's C stdout stays as it is
            # a buffer of our own: Python run unbuffered left stdout one byte of buffer
            self.buffer = ctypes.create_string_buffer(1 << 16)
            libc.setvbuf(_c_stdout(), self.buffer, 0, len(self.buffer))   # 0: _IOFBF
        libc.printf(b"from C, call %d\n", self.calls)
        return super().gradients(output, variables)


def _twice(engine):
    """The first case checked twice in one worker: the two runs."""
    worker = Worker(engine, timeout=10)
    expr, point = CASES[0]
    try:
        return worker.run(expr, point), worker.run(expr, point)
    finally:
        worker.close()


@pytest.mark.skipif(capture._c_fflush() is None or _c_stdout() is None, reason="not glibc")
def test_c_output_reaches_its_own_check():
    first, second = _twice(_Printf())
    # each check builds its graph twice (the determinism check): two calls each
    assert first.output == "from C, call 1\nfrom C, call 2\n"
    assert second.output == "from C, call 3\nfrom C, call 4\n"


def test_a_quiet_check_after_a_loud_one_has_no_output():
    class LoudOnce(BuiltinEngine):
        loud = True

        def gradients(self, output, variables):
            if LoudOnce.loud:
                print("only the first build")
                LoudOnce.loud = False
            return super().gradients(output, variables)
    first, second = _twice(LoudOnce())
    assert first.output == "only the first build\n" and second.output == ""
