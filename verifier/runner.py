"""Run one case through an engine: build its graph, ask for gradients, check the answer's form.

Everything an engine can do wrong short of a wrong number is caught here and described:
it raises (``crash``), returns the wrong count or non-numbers (``malformed``), or gives a
different answer when the same graph is built again (``inconsistent``: state leaking between
calls, inputs mutated). The engine is only ever touched through the public protocol.
"""
from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .ir import Node, toposort, variables

__all__ = ["EngineRun", "run_engine", "build_graph"]


@dataclass(frozen=True)
class EngineRun:
    status: str                      # ok | crash | timeout | malformed | inconsistent
    grads: tuple[float, ...] = ()    # in the order of variables(expr)
    value: float | None = None
    message: str = ""
    elapsed: float = 0.0
    where: str = ""                  # the op (or phase) the failure happened in


class _Failure(Exception):
    def __init__(self, status: str, message: str, where: str = ""):
        super().__init__(message)
        self.status, self.message, self.where = status, message, where


def _scalar(x: Any, what: str) -> float:
    if x is None:
        return 0.0  # the protocol reads None as "does not depend on it"
    if hasattr(x, "item") and getattr(x, "shape", ()) not in ((), (1,)):
        raise _Failure("malformed", f"{what} has shape {tuple(x.shape)}, expected a scalar")
    try:
        return float(x.item() if hasattr(x, "item") else x)
    except Exception:
        raise _Failure("malformed", f"{what} is not a number: {type(x).__name__}") from None


def build_graph(engine, out: Node, point: Mapping[str, float]) -> tuple[Any, list[Any], dict[Node, Any]]:
    """The engine's graph for ``out``: one value per node, shared nodes passed to every user."""
    names = variables(out)
    leaves = {name: engine.variable(point[name]) for name in names}
    built: dict[Node, Any] = {}
    for n in toposort(out):
        if n.op == "var":
            built[n] = leaves[n.arg]
        elif n.op == "const":
            built[n] = engine.constant(n.arg)
        else:
            try:
                fn = engine.ops[n.op]
            except KeyError:
                raise _Failure("crash", f"engine has no op {n.op!r}", n.op) from None
            try:
                built[n] = fn(*(built[s] for s in n.src))
            except Exception as e:
                raise _Failure("crash", _describe(e), n.op) from None
    return built[out], [leaves[v] for v in names], built


def _describe(e: BaseException) -> str:
    frame = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    at = f" ({frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno})" if frame else ""
    return f"{type(e).__name__}: {str(e)[:300]}{at}"


def _once(engine, out: Node, point: Mapping[str, float]) -> tuple[tuple[float, ...], float | None]:
    output, leaves, _ = build_graph(engine, out, point)
    value = None
    if hasattr(engine, "value"):
        try:
            value = _scalar(engine.value(output), "the forward value")
        except _Failure:
            raise
        except Exception as e:
            raise _Failure("crash", _describe(e), "value") from None
    try:
        grads = engine.gradients(output, leaves)
    except Exception as e:
        raise _Failure("crash", _describe(e), "gradients") from None
    try:
        grads = list(grads)
    except TypeError:
        raise _Failure("malformed", f"gradients returned {type(grads).__name__}, not a sequence") from None
    if len(grads) != len(leaves):
        raise _Failure("malformed", f"gradients returned {len(grads)} values for {len(leaves)} variables")
    names = variables(out)
    result = tuple(_scalar(g, f"the gradient for {v}") for g, v in zip(grads, names))
    if hasattr(engine, "value"):
        for leaf, v in zip(leaves, names):
            now = _scalar(engine.value(leaf), f"variable {v}")
            if now != point[v] and not (math.isnan(now) and math.isnan(point[v])):
                raise _Failure("inconsistent", f"the engine changed variable {v} from {point[v]!r} to {now!r}")
    return result, value


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


def run_engine(engine, out: Node, point: Mapping[str, float], repeat: bool = True) -> EngineRun:
    """One check; with ``repeat`` the graph is built and differentiated twice, and the two
    answers must be identical (an engine that leaks state between calls fails here)."""
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            grads, value = _once(engine, out, point)
            if repeat:
                again, _ = _once(engine, out, point)
                if not _same(grads, again):
                    raise _Failure("inconsistent", f"a second identical graph gave gradients {list(again)} "
                                   f"after {list(grads)}")
    except _Failure as f:
        return EngineRun(f.status, message=f.message, where=f.where, elapsed=time.perf_counter() - start)
    except RecursionError:
        return EngineRun("crash", message="RecursionError in the engine", elapsed=time.perf_counter() - start)
    return EngineRun("ok", grads, value, elapsed=time.perf_counter() - start)
