"""The other end of the engine protocol: a Python engine served as a program
(docs/protocol.md; ``verifier.protocol.serve``, ``adverify serve SPEC``).

Each request's case is read with the replay files' schema-checked reader, built on the
engine by the runner — the same calls, in the same order, as a campaign in one process makes
— and answered with the engine's own numbers, exactly. Served and in-process campaigns of the
same seed therefore reach the same verdicts: the protocol is tested against every engine
adverify can import. Whatever the engine prints goes to standard error (standard output
carries the protocol only), where the client keeps it with the check.
"""
from __future__ import annotations

import os
import sys
from typing import Any, BinaryIO, Mapping

import numpy as np

from verifier.checking.runner import run_engine
from verifier.engines import (engine_capabilities, engine_dtype, engine_name, engine_ops, engine_vocabulary,
                              has_forward_mode)
from verifier.floor.serial import FormatError, expr_from_json, name_from_json
from verifier.floor.vocabulary import Vocabulary
from verifier.floor.wire import METHODS, VERSION, WireError, array, array_from, decode, encode, number, number_from

__all__ = ["serve", "hello"]

_MODES = dict(zip(METHODS, ("reverse", "forward", "second")))


def hello(engine: Any, vocabulary: Vocabulary, tensor: bool) -> dict[str, Any]:
    """The engine's answer to ``hello``: its name, dtype, ops, and what else it can do."""
    caps = engine_capabilities(engine, vocabulary)
    capabilities: dict[str, Any] = {"value": callable(getattr(engine, "value", None))}
    if has_forward_mode(engine):
        capabilities["forward_gradients"] = True
    if callable(getattr(engine, "second_derivatives", None)):
        capabilities["second_derivatives"] = True
    if tensor:
        capabilities.update(tensor=True, max_rank=caps.max_rank, broadcasting=caps.broadcasting,
                            op_limits={op: {p: list(v) for p, v in params} for op, params in caps.op_limits})
    if getattr(engine, "compiles", False) is True:
        capabilities["compiles"] = True
    capabilities["subnormals"] = caps.subnormals
    return {"protocol": VERSION, "name": engine_name(engine), "dtype": engine_dtype(engine),
            "ops": engine_ops(engine, vocabulary), "capabilities": capabilities}


def _point(doc: Any, names: list[str], tensor: bool) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise WireError("'point' must be an object")
    missing = [n for n in names if n not in doc]
    if missing:
        raise WireError(f"'point' has no value for {missing[0]!r}")
    read = array_from if tensor else number_from
    return {name_from_json(n, "a name in 'point'"): read(v, f"point.{n}") for n, v in doc.items()}


def _answer(request: Mapping[str, Any], engine: Any, vocabulary: Vocabulary, tensor: bool) -> dict[str, Any]:
    method = request.get("method")
    if method == "hello":
        return hello(engine, vocabulary, tensor)
    if method not in METHODS:
        raise WireError(f"unknown method {str(method)[:40]!r}: hello, {', '.join(METHODS)}")
    if request.get("protocol") != VERSION:
        raise WireError(f"this engine speaks protocol version {VERSION}, not {str(request.get('protocol'))[:20]}")
    try:
        expr = expr_from_json(request.get("expression"), "'expression'", vocabulary)
    except FormatError as e:
        raise WireError(str(e)) from None
    names = request.get("variables")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise WireError("'variables' must be a list of names")
    point = _point(request.get("point"), names, tensor)
    run = run_engine(engine, expr, point, repeat=False, mode=_MODES[method])
    if run.output:
        sys.stderr.write(run.output)
        sys.stderr.flush()
    if run.status != "ok":
        answer = {"error": run.message if run.status == "crash" else f"{run.status}: {run.message}"}
        return {**answer, "origin": run.origin} if run.origin else answer
    grads = list(run.grads)
    if method == "second_derivatives":
        n = len(names)
        return {method: [[number(x) for x in grads[i * n:(i + 1) * n]] for i in range(n)]}
    answer = {method: [array(g) if tensor else number(g) for g in grads]}
    if request.get("value") is True and run.value is not None:
        answer["value"] = number(np.asarray(run.value).item())
    return answer


def serve(engine: Any, *, tensor: bool = False, stdin: BinaryIO | None = None,
          stdout: BinaryIO | None = None) -> int:
    """Answer protocol requests for ``engine`` until the input ends; returns 0. ``tensor``:
    the engine takes tensor programs (a tensor adapter: ``load_engine(spec, tensor=True)``).

    Without streams given it reads standard input and writes standard output, after pointing
    file descriptor 1 at standard error: a ``print`` in the engine, or a C extension's
    ``printf``, would otherwise be read as a protocol line."""
    if stdout is None:
        stdout = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    stdin = stdin if stdin is not None else sys.stdin.buffer
    vocabulary = engine_vocabulary(engine)
    for line in stdin:
        if not line.strip():
            continue
        request: dict[str, Any] = {}
        try:
            request = decode(line, "request")
            answer = _answer(request, engine, vocabulary, tensor)
        except (WireError, FormatError) as e:
            answer = {"error": f"protocol: {e}"}
        except Exception as e:   # the server's own trouble (an engine whose capabilities do not read): said, not fatal
            answer = {"error": f"{type(e).__name__}: {e}"}
        id_ = request.get("id")
        stdout.write(encode({"id": id_ if isinstance(id_, int) and not isinstance(id_, bool) else None, **answer}))
        stdout.flush()
    return 0
