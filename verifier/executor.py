"""Where engine code runs: in this process, or in a forked worker that can be abandoned.

An engine under test may hang or take the interpreter down with it. ``Forked`` runs each
check in a child process forked from this one (so the engine object, whatever it is, needs
no pickling) and waits at most ``timeout`` seconds: a stuck child is killed and replaced,
and the check becomes a ``timeout`` finding; a child that dies becomes a ``crash``.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from typing import Any, Mapping

from .ir import Node
from .runner import EngineRun, run_engine

__all__ = ["InProcess", "Forked", "make_executor"]


class InProcess:
    def __init__(self, engine: Any):
        self.engine = engine

    def run(self, expr: Node, point: Mapping[str, float]) -> EngineRun:
        return run_engine(self.engine, expr, point)

    def close(self) -> None:
        pass


def _serve(engine: Any, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides when to stop
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(run_engine(engine, *job))


class Forked:
    def __init__(self, engine: Any, timeout: float):
        self.engine, self.timeout = engine, timeout
        self._ctx = mp.get_context("fork")
        self._proc = self._conn = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(self.engine, child), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(1)
            self._conn.close()
        self._proc = self._conn = None

    def run(self, expr: Node, point: Mapping[str, float]) -> EngineRun:
        if self._proc is None or not self._proc.is_alive():
            self._kill()
            self._start()
        start = time.perf_counter()
        try:
            self._conn.send((expr, dict(point)))
            if self._conn.poll(self.timeout):
                return self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            pass
        else:
            self._kill()
            return EngineRun("timeout", message=f"no answer within {self.timeout:g} s",
                             elapsed=time.perf_counter() - start)
        code = self._proc.exitcode if self._proc else None
        self._proc.join(1)
        code = self._proc.exitcode
        self._kill()
        how = f"signal {-code}" if code and code < 0 else f"exit code {code}"
        return EngineRun("crash", message=f"the engine's process died ({how})",
                         elapsed=time.perf_counter() - start)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
        self._kill()


def make_executor(engine: Any, timeout: float | None):
    """A forked worker where the platform has fork and a timeout is asked for."""
    if timeout and hasattr(os, "fork"):
        return Forked(engine, timeout)
    return InProcess(engine)
