"""Run one case through an engine: build its graph, ask for gradients, check the answer's form.

Everything an engine can do wrong short of a wrong number is caught here and described:
it raises (``crash``, with ``origin``: the engine's own file:line that raised), returns the
wrong count, non-numbers or arrays that are not scalars (``malformed``), or changes its
inputs (``inconsistent``). A second, identical build that answers differently is returned
beside the first (``again``): the checker judges whether the difference is within the bound
(nondeterminism, a note) or not (``inconsistent``). What the engine prints is captured
(``output``). The protocol is docs/engine-protocol.md; the engine is only ever touched through it,
and every call into it is guarded: nothing it raises — not even ``SystemExit`` — gets past
``run_engine``, except a ``KeyboardInterrupt`` in the verifier's own process (it cannot be
told from the user's Ctrl-C there; in a forked worker, where SIGINT is ignored, it can).
"""
from __future__ import annotations

import math
import numbers
import time
import traceback
import zlib
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from verifier.checking.capture import Captured, crash_origin
from verifier.engines.command import EngineFailure, ProtocolError
from verifier.floor.ir import Node, show, toposort
from verifier.floor.program import iconst_value, params_of, tconst_value
from verifier.floor.tensor_ops import ENGINE_NAMES
from verifier.model import EngineRun

__all__ = ["run_engine", "run_second", "build_graph", "contain_interrupts", "METHODS", "SECOND_BUILD_EVERY"]

# an engine that declares ``compiles = True`` pays one compilation per build: its second,
# identical build (the consistency check) runs on one case in this many, chosen by a digest
# of the case, so the same case always gets the same treatment (a replay, a shrink step)
SECOND_BUILD_EVERY = 8


class _Failure(Exception):
    def __init__(self, status: str, message: str, where: str = "", origin: str = ""):
        super().__init__(message)
        self.status, self.message, self.where, self.origin = status, message, where, origin


_CONTAINED = False


def contain_interrupts() -> None:
    """Treat a KeyboardInterrupt raised by the engine as a crash. Only for a worker process
    that ignores SIGINT: there, no KeyboardInterrupt can come from the user."""
    global _CONTAINED
    _CONTAINED = True


def _describe(e: BaseException) -> str:
    origin = crash_origin(e)
    frame = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    at = f" ({origin or f'{Path(frame[0].filename).name}:{frame[0].lineno}'})" if frame else ""
    try:
        text = str(e)
    except Exception:  # an exception whose __str__ raises is still a crash worth naming
        text = "<unprintable>"
    return (f"{type(e).__name__}" + (f": {text[:300]}" if text else "") + at).replace("\n", " ")


def _call(where: str, fn: Callable, *args) -> Any:
    """Call into the engine; whatever it raises becomes a ``crash`` that names ``where``."""
    try:
        return fn(*args)
    except (_Failure, ProtocolError):   # a protocol error is not a finding: the campaign stops
        raise
    except EngineFailure as e:          # an engine program that died, hung or answered an error
        raise _Failure(e.status, e.message, where, e.origin) from None
    except KeyboardInterrupt as e:
        if not _CONTAINED:
            raise
        raise _Failure("crash", _describe(e), where, crash_origin(e)) from None
    except BaseException as e:  # SystemExit, GeneratorExit, MemoryError, RecursionError, ...
        raise _Failure("crash", _describe(e), where, crash_origin(e)) from None


def _scalar(x: Any, what: str) -> float:
    """A gradient or value as a float: a real number, or an array/tensor holding exactly one
    (shape () or (1,), as torch and numpy give for a scalar leaf). Strings, booleans and
    complex numbers are not gradients, even where ``float()`` would accept them."""
    if x is None:
        return 0.0  # the protocol reads None as "does not depend on it"
    try:
        if isinstance(x, (str, bytes, bool, np.bool_)) or isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real):
            raise TypeError
        if not isinstance(x, numbers.Real) and hasattr(x, "item"):
            shape = tuple(getattr(x, "shape", ()))
            if shape not in ((), (1,)):
                raise _Failure("malformed", f"{what} has shape {shape}, expected a scalar")
            x = x.item()
            if isinstance(x, (bool, complex)) or not isinstance(x, numbers.Real):
                raise TypeError
        return float(x)
    except _Failure:
        raise
    except OverflowError:
        raise _Failure("malformed", f"{what} is out of float range") from None
    except KeyboardInterrupt:
        if not _CONTAINED:
            raise
        raise _Failure("crash", "KeyboardInterrupt while reading a number", "gradients") from None
    except BaseException:
        raise _Failure("malformed", f"{what} is not a number: {type(x).__name__}") from None


def _engine_op(ops: Any, op: str) -> Callable:
    """The engine's function for ``op``: under the name engines call it by (variance is
    "var": in the IR, "var" is a variable), else under the IR's name."""
    names = dict.fromkeys((ENGINE_NAMES.get(op, op), op))
    for name in names:
        try:
            return ops[name]
        except Exception:
            continue
    raise _Failure("crash", f"engine has no op {next(iter(names))!r}", op)


def _names(order: list[Node]) -> list[str]:
    """``variables(out)`` from a walk already made: ``order`` is ``toposort(out)``."""
    return sorted({n.arg for n in order if n.op == "var"})


def build_graph(engine, out: Node, point: Mapping[str, float],
                order: list[Node] | None = None) -> tuple[Any, list[Any], dict[Node, Any]]:
    """The engine's graph for ``out``: one value per node, shared nodes passed to every user.
    ``order`` is ``toposort(out)`` when the caller has it: a check builds twice, and three
    walks of the DAG per build were a fifth of a check of the builtin engine."""
    order = toposort(out) if order is None else order
    names = _names(order)
    leaves = {name: _call("variable", engine.variable, point[name]) for name in names}
    ops = _call("ops", getattr, engine, "ops")
    built: dict[Node, Any] = {}
    for n in order:
        if n.op == "var":
            built[n] = leaves[n.arg]
        elif n.op == "const":
            built[n] = _call("constant", engine.constant, n.arg)
        elif n.op == "tconst":
            built[n] = _call("constant", engine.constant, tconst_value(n))
        elif n.op == "iconst":   # indices and targets: plain int64, never a leaf of the engine's graph
            built[n] = iconst_value(n)
        else:
            fn = _engine_op(ops, n.op)
            params = params_of(n)   # tensor ops take keyword parameters (axis=…, keepdims=…)
            built[n] = _call(n.op, (lambda *a, fn=fn: fn(*a, **params)) if params else fn,
                             *(built[s] for s in n.src))
    return built[out], [leaves[v] for v in names], built


def _array(x: Any, shape: tuple, what: str) -> np.ndarray:
    """A tensor variable's gradient as a float64 array; its shape is judged later, where the
    report can name both shapes."""
    if x is None:
        return np.zeros(shape)
    try:
        a = np.array(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    except Exception:
        raise _Failure("malformed", f"{what} is not an array of numbers: {type(x).__name__}") from None
    return a


def _gradient_list(grads: Any, n: int, method: str = "gradients") -> list[Any]:
    if isinstance(grads, (str, bytes, Mapping, set, frozenset)) or not hasattr(grads, "__iter__"):
        raise _Failure("malformed", f"{method} returned {type(grads).__name__}, not a sequence")
    # one more than needed is enough to see a wrong count (and an endless generator ends here)
    items = _call(method, lambda: list(islice(iter(grads), n + 1)))
    if len(items) != n:
        got = f"more than {n}" if len(items) > n else str(len(items))
        raise _Failure("malformed", f"{method} returned {got} values for {n} variable{'s' * (n != 1)}")
    return items


# which protocol method answers for each mode (``forward_gradients``: one JVP per variable)
METHODS = {"reverse": "gradients", "forward": "forward_gradients"}


def _answer(engine, output: Any, leaves: list[Any], method: str, value: bool = True) -> tuple[Any, Any]:
    """The forward value (None: the engine has no ``value``, or ``value`` False) and
    ``method``'s answer: one call to ``evaluate(output, variables, method)`` when the engine
    has it (a compiling engine compiles once), else ``value`` then ``method``. ``evaluate``
    may return NotImplemented for a method it does not answer."""
    evaluate = getattr(engine, "evaluate", None)
    if callable(evaluate):
        got = _call(method, evaluate, output, leaves, method)
        if got is not NotImplemented:
            if not isinstance(got, tuple) or len(got) != 2:
                raise _Failure("malformed", f"evaluate() returned {type(got).__name__}, "
                               f"not a pair (value, {method})")
            return got
    value_of = getattr(engine, "value", None) if value else None
    forward = _call("value", value_of, output) if value_of is not None else None
    return forward, _call(method, _call(method, getattr, engine, method), output, leaves)


def _whole(engine, out: Node, point: Mapping[str, float], method: str, order: list[Node],
           times: int) -> list[tuple[tuple[float, ...], float | None]]:
    """An engine program's answers (engines.command): it takes the case whole, in one request
    per build, and builds its graph itself from the case's JSON. The builds of one check are
    asked in one call, so they travel together: one wake-up of the engine's process, not two."""
    answers = _call(method, engine.answer_case, out, point, method, times)
    return [_read(raw, answer, point, method, order) for raw, answer in answers]


def _read(raw: Any, answer: Any, point: Mapping[str, float], method: str,
          order: list[Node]) -> tuple[tuple[float, ...], float | None]:
    """The forward value and the answer of one build, checked for form: one number per
    variable (an array of the variable's shape in tensor programs, judged later)."""
    value = None if raw is None else _scalar(raw, "the forward value")
    names = _names(order)
    grads = _gradient_list(answer, len(names), method)
    result = tuple(_array(g, np.shape(point[v]), f"the gradient for {v}") if np.ndim(point[v])
                   else _scalar(g, f"the gradient for {v}") for g, v in zip(grads, names))
    return result, value


def _once(engine, out: Node, point: Mapping[str, float], method: str,
          order: list[Node]) -> tuple[tuple[float, ...], float | None]:
    output, leaves, built = build_graph(engine, out, point, order)
    raw, answer = _answer(engine, output, leaves, method)
    result = _read(raw, answer, point, method, order)
    value_of = getattr(engine, "value", None)
    if value_of is not None:
        _unchanged(engine, value_of, built, point)
    return result


def _unchanged(engine, value_of: Callable, built: Mapping[Node, Any], point: Mapping[str, float]) -> None:
    """The inputs still hold what they were given: nothing may write to them. Each leaf is
    compared with a fresh leaf of the same value, so a value() that is merely wrong (the
    forward check's business) is not taken for a mutation."""
    for n, x in built.items():
        if n.op not in ("var", "const"):
            continue
        given = point[n.arg] if n.op == "var" else n.arg
        try:  # a constant may be a plain float that value() does not take: nothing to check
            now, was = value_of(x), value_of((engine.variable if n.op == "var" else engine.constant)(given))
        except KeyboardInterrupt:
            if not _CONTAINED:
                raise
            continue
        except BaseException:
            if n.op == "const":
                continue
            raise _Failure("crash", f"value() of variable {n.arg} failed after gradients()", "value") from None
        what = f"variable {n.arg}" if n.op == "var" else "a constant"
        if np.ndim(given):
            now, was = _array(now, (), what), _array(was, (), what)
            if now.shape != was.shape or not np.array_equal(now, was, equal_nan=True):
                raise _Failure("inconsistent", f"the engine changed {what}")
            continue
        now, was = _scalar(now, what), _scalar(was, what)
        if now != was and not (math.isnan(now) and math.isnan(was)):
            raise _Failure("inconsistent", f"the engine changed {what} from {was!r} to {now!r}")


def _same(a: tuple, b: tuple) -> bool:
    return all(np.shape(x) == np.shape(y) and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def _build_again(engine: Any, out: Node, point: Mapping[str, Any]) -> bool:
    """Whether this check builds the graph a second time: always, except for an engine that
    declares ``compiles`` (a compilation per build), where one case in SECOND_BUILD_EVERY
    does — the same cases every run, picked by a digest of the expression and the point."""
    try:
        compiles = bool(getattr(engine, "compiles", False))
    except Exception:   # a property that raises declares nothing
        compiles = False
    if not compiles:
        return True
    text = show(out) + "".join(f"|{k}={np.asarray(v, dtype=np.float64).tobytes().hex()}"
                               for k, v in sorted(point.items()))
    return zlib.crc32(text.encode()) % SECOND_BUILD_EVERY == 0


def run_second(engine: Any, out: Node, point: Mapping[str, float]) -> EngineRun:
    """The engine's Hessian, flattened row by row in the order of variables(out)."""
    order = toposort(out)
    names = _names(order)
    try:
        with np.errstate(all="ignore"):
            if hasattr(engine, "answer_case"):
                (_, rows), = _call("second_derivatives", engine.answer_case, out, point, "second_derivatives", 1)
            else:
                output, leaves, _ = build_graph(engine, out, point, order)
                _, rows = _answer(engine, output, leaves, "second_derivatives", value=False)
            rows = _call("second_derivatives", lambda: [list(r) for r in rows])
            if len(rows) != len(names) or any(len(r) != len(names) for r in rows):
                raise _Failure("malformed", f"second_derivatives returned a {len(rows)}-row matrix "
                               f"for {len(names)} variables")
            flat = tuple(_scalar(x, f"d²/d{names[i]}d{names[j]}") for i, r in enumerate(rows) for j, x in enumerate(r))
    except _Failure as f:
        return EngineRun(f.status, message=f.message, where=f.where, origin=f.origin)
    return EngineRun("ok", flat)


def run_engine(engine, out: Node, point: Mapping[str, float], repeat: bool = True,
               mode: str = "reverse") -> EngineRun:
    """One check; with ``repeat`` the graph is built and differentiated twice (for an engine
    that ``compiles``, on one case in SECOND_BUILD_EVERY). Two answers that differ come back
    as ``again``/``again_value`` beside the first, for the checker to judge against the
    bound: last-bit nondeterminism within it is a note, not a bug.

    ``mode`` "second" asks ``second_derivatives`` (the Hessian, row by row, flattened).
    ``mode`` "forward" asks ``forward_gradients`` instead of ``gradients``, on a graph of its
    own, once: the reverse run's repeat already catches state kept between calls, and a
    second round of JVPs (one per variable; JAX retraces each) would double the slowest part
    of a forward check for nothing new.

    What the engine prints meanwhile is captured into ``output``."""
    start = time.perf_counter()
    with Captured() as printed:
        run = _run(engine, out, point, repeat, mode)
    return replace(run, elapsed=time.perf_counter() - start, output=printed.text)


def _run(engine, out: Node, point: Mapping[str, float], repeat: bool, mode: str) -> EngineRun:
    if mode == "second":   # the Hessian, whose answer second.py reads and checks for form
        with np.errstate(all="ignore"):
            return run_second(engine, out, point)
    method = METHODS[mode]
    try:
        with np.errstate(all="ignore"):
            order = toposort(out)
            times = 2 if repeat and mode == "reverse" and _build_again(engine, out, point) else 1
            whole = _whole(engine, out, point, method, order, times) if hasattr(engine, "answer_case") else None
            grads, value = whole[0] if whole else _once(engine, out, point, method, order)
            if times == 2:
                again, value2 = whole[1] if whole else _once(engine, out, point, method, order)
                differs = value is not None and value2 is not None and not _same((value,), (value2,))
                if differs or not _same(grads, again):
                    return EngineRun("ok", grads, value, again=again, again_value=value2)
    except _Failure as f:
        return EngineRun(f.status, message=f.message, where=f.where, origin=f.origin)
    except RecursionError:  # a graph too deep for the verifier's own walk
        return EngineRun("crash", message="RecursionError in the engine")
    return EngineRun("ok", grads, value)
