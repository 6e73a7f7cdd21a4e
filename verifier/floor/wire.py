"""The messages of the engine protocol (docs/protocol.md): one JSON object per line, floats
exact, arrays as shape and row-major values.

Both ends use this module: the client that runs an engine program (``engines.command``) and
the server that lets a Python engine be one (``checking.serving``). What the other end wrote
is data: it is read by ``serial.loads`` (no NaN tokens, no duplicate keys, size- and
depth-limited) and checked here field by field; a message that breaks the protocol is a
``WireError`` saying how, in one line.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

from verifier.floor.ir import Node
from verifier.floor.serial import MAX_ELEMENTS, FormatError, expr_to_json, loads

__all__ = ["VERSION", "MAX_LINE", "METHODS", "WireError", "encode", "decode", "number", "number_from",
           "array", "array_from", "check_request", "answer_from", "snippet"]

VERSION = 1
MAX_LINE = 1 << 20    # bytes in one message, its newline included
# what a check may ask, and the field its answer comes in (the same word)
METHODS = ("gradients", "forward_gradients", "second_derivatives")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+\Z")
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_MAX_SIZE = 64        # elements along one axis of an array the protocol carries


class WireError(ValueError):
    """A message that breaks the protocol; the text says how, in one line."""


def snippet(line: bytes | str, limit: int = 200) -> str:
    """The offending line as an error message shows it: quoted, cut, one line."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    text = text.rstrip("\n")
    return repr(text if len(text) <= limit else text[:limit] + "…")


def encode(message: Mapping[str, Any]) -> bytes:
    """A message as its line. Floats are written by ``repr`` (the shortest text that reads
    back as the same double, -0.0 included); a non-finite float must have become a string
    (``number``) before: ``allow_nan=False`` refuses to write a NaN token."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def decode(line: bytes, what: str = "message") -> dict[str, Any]:
    """One line as a JSON object, or a WireError."""
    if len(line) > MAX_LINE:
        raise WireError(f"the {what} is longer than {MAX_LINE} bytes")
    try:
        doc = loads(line, what)
    except FormatError as e:
        raise WireError(str(e)) from None
    if not isinstance(doc, dict):
        raise WireError(f"the {what} is JSON but not an object: {snippet(line)}")
    return doc


def number(x: float) -> float | str:
    """A float as the protocol writes it: itself (json writes its exact repr), or a string
    for NaN and the infinities, which JSON has no token for."""
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def number_from(v: Any, where: str) -> float:
    """A number the other end wrote: a JSON number that fits a double, a C99 hexadecimal
    float in a string, or "nan"/"inf"/"-inf"."""
    if isinstance(v, float):
        if math.isfinite(v):
            return v
        raise WireError(f"{where} overflows a double: write \"inf\" or \"-inf\"")
    if isinstance(v, int) and not isinstance(v, bool):
        try:
            return float(v)
        except OverflowError:
            raise WireError(f"{where} overflows a double: write \"inf\" or \"-inf\"") from None
    if isinstance(v, str):
        if v in _NONFINITE:
            return _NONFINITE[v]
        if _HEX.match(v):
            try:
                return float.fromhex(v)
            except (ValueError, OverflowError):
                pass
        raise WireError(f"{where} is the string {v[:40]!r}, not a number (only \"nan\", \"inf\", "
                        "\"-inf\" and hexadecimal floats such as \"0x1.8p+1\" may be strings)")
    if v is None:
        raise WireError(f"{where} is null, not a number (JavaScript's JSON.stringify writes NaN and "
                        "±Infinity as null: write \"nan\", \"inf\", \"-inf\")")
    raise WireError(f"{where} is {'a boolean' if isinstance(v, bool) else 'a ' + type(v).__name__}, not a number")


def array(a: Any) -> dict[str, Any]:
    """An array as the protocol writes it: its shape and its values in row-major order."""
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "values": [number(v) for v in a.ravel().tolist()]}


def array_from(v: Any, where: str) -> np.ndarray:
    """An array object the other end wrote, as a float64 array of its shape."""
    if not isinstance(v, dict) or "shape" not in v or "values" not in v:
        raise WireError(f"{where} must be an array object {{\"shape\": [...], \"values\": [...]}}")
    shape, values = v["shape"], v["values"]
    if (not isinstance(shape, list) or len(shape) > 4
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= _MAX_SIZE for d in shape)):
        raise WireError(f"{where}.shape must list at most 4 sizes from 1 to {_MAX_SIZE}")
    if not isinstance(values, list) or len(values) > MAX_ELEMENTS:
        raise WireError(f"{where}.values must be a list of numbers")
    if len(values) != math.prod(shape):
        raise WireError(f"{where} has {len(values)} values for shape {shape} ({math.prod(shape)} elements)")
    return np.array([number_from(x, f"{where}.values[{i}]") for i, x in enumerate(values)],
                    dtype=np.float64).reshape(shape)


def check_request(id_: int, method: str, expr: Node, point: Mapping[str, Any], names: Sequence[str],
                  tensor: bool, value: bool) -> dict[str, Any]:
    """The request of one check: ``method`` of ``expr`` at ``point``, the derivatives asked in
    the order of ``names``; in tensor checks every variable is an array object."""
    message: dict[str, Any] = {"protocol": VERSION, "id": id_, "method": method}
    if value:
        message["value"] = True
    message["variables"] = list(names)
    message["point"] = {n: array(point[n]) if tensor else number(point[n]) for n in names}
    message["expression"] = expr_to_json(expr)
    return message


def answer_from(doc: Mapping[str, Any], method: str, names: Sequence[str], tensor: bool,
                value: bool) -> tuple[float | None, list[Any]]:
    """The value (None unless ``value``) and the answer of a check's response: one number
    (one array object in tensor checks) per name, in order; for ``second_derivatives`` one row
    of numbers per name. A response that lacks them or holds anything else is a WireError;
    the ``id`` and an ``error`` are the caller's to read first."""
    if method not in doc:
        raise WireError(f"the answer has neither {method!r} nor 'error'")
    got, n = doc[method], len(names)
    if not isinstance(got, list):
        raise WireError(f"{method!r} must be a list, not {type(got).__name__}")
    if len(got) != n:
        raise WireError(f"{method!r} holds {len(got)} item{'s' * (len(got) != 1)} for {n} "
                        f"variable{'s' * (n != 1)} ({', '.join(names)})")
    if method == "second_derivatives":
        rows = []
        for i, row in enumerate(got):
            if not isinstance(row, list) or len(row) != n:
                raise WireError(f"second_derivatives[{i}] must be a row of {n} numbers")
            rows.append([number_from(x, f"second_derivatives[{i}][{j}]") for j, x in enumerate(row)])
        return None, rows
    read = array_from if tensor else number_from
    answer = [read(x, f"{method}[{i}] (for {names[i]})") for i, x in enumerate(got)]
    if not value:
        return None, answer
    if "value" not in doc:
        raise WireError("the answer has no 'value' (the engine's hello declared the value capability)")
    return number_from(doc["value"], "'value'"), answer
