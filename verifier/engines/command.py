"""An engine that is a program: ``--engine 'cmd:COMMAND'`` (docs/protocol.md).

``CommandEngine`` starts the command, greets it (``hello``: its name, dtype, ops and
capabilities), and answers each check by one request carrying the whole case — the
expression as the replay files' JSON, the point, what is asked — and one response. The
runner hands it the case whole (``answer_case``) instead of building a graph op by op: the
engine builds its own graph from the request.

The process is the engine's fence, so checks need no worker of their own
(``checking.executor.OwnProcess``): a request not answered in time kills the process group
(``EngineFailure("timeout")``), a process that dies is a ``crash`` that names its exit code
or signal, and either way the next check starts the command again. What the engine writes to
standard error while it answers is written to this process's ``sys.stderr``, where the
runner captures it into that check's output. A response that breaks the protocol is a
``ProtocolError``: a campaign stops at it (exit code 2), since nothing the engine says after
it can be trusted.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np

from verifier.floor.ir import Node, show, variables
from verifier.floor.numtext import exact
from verifier.floor.tensor_ops import IR_NAMES
from verifier.floor.wire import METHODS, VERSION, WireError, answer_from, check_request, decode, encode, snippet

__all__ = ["CommandEngine", "EngineFailure", "ProtocolError", "how_it_ended", "HELLO_LIMIT", "CLOSE_GRACE"]

HELLO_LIMIT = 60.0    # seconds a started engine may take to answer hello (a JIT, a big runtime)
CLOSE_GRACE = 2.0     # seconds an engine has to exit once its input is closed
STDERR_KEPT = 1 << 16  # bytes of an engine's standard error kept per request: its head and tail


class EngineFailure(Exception):
    """The engine's process failed one check: ``status`` is the runner's (``crash`` or
    ``timeout``), ``origin`` where in the engine's code, when it said."""

    def __init__(self, status: str, message: str, origin: str = ""):
        super().__init__(message)
        self.status, self.message, self.origin = status, message, origin


class ProtocolError(ValueError):
    """The engine broke the protocol: one line naming the request and the offending line."""


def how_it_ended(code: int | None) -> str:
    """A child process's exit status in words: ``signal SIGSEGV``, ``exit code 3``."""
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("adverify")
    except Exception:   # not installed (a source tree on sys.path): the field is informative only
        return "unknown"


_PRCTL = None
if sys.platform.startswith("linux"):
    try:   # looked up here: the child may not load libraries between fork and exec
        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        pass


def _die_with_parent() -> None:
    """In the child before exec: die when the thread that started it does. Only asked from
    the main thread, whose end is the process's (a pool thread may end long before)."""
    _PRCTL(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG


def _describe_point(point: Mapping[str, Any], names: list[str]) -> str:
    parts = []
    for n in names:
        v = point[n]
        parts.append(f"{n} = {exact(float(v))}" if np.ndim(v) == 0 else f"{n} of shape {list(np.shape(v))}")
    return ", ".join(parts)


class _Process:
    """One running copy of the command, its pipes, and what it has written to stderr."""

    def __init__(self, argv: list[str], command: str):
        main = threading.current_thread() is threading.main_thread()
        try:
            self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=0, start_new_session=True,
                                          preexec_fn=_die_with_parent if main and _PRCTL else None)
        except OSError as e:
            raise ProtocolError(f"cannot start engine command {command!r}: {e.strerror or e}") from None
        self.out, self.err = self.popen.stdout.fileno(), self.popen.stderr.fileno()
        self.poll = select.poll()
        self.poll.register(self.out, select.POLLIN)
        self.poll.register(self.err, select.POLLIN)
        self.buffer = b""
        self.stderr = bytearray()
        self.stderr_cut = 0
        self.ids = itertools.count()
        self._finalizer = weakref.finalize(self, _stop, self.popen)

    def send(self, message: dict[str, Any]) -> None:
        self.send_all([message])

    def send_all(self, messages: list[dict[str, Any]]) -> None:
        """Written whole (a write to a pipe may take part of it); raises BrokenPipeError once
        the process is gone."""
        data = memoryview(b"".join(encode(m) for m in messages))
        while data:
            data = data[self.popen.stdin.write(data):]

    def line(self, limit: float | None) -> bytes | None:
        """The next line on stdout; None if the process closed it (it died, or is dying).
        Raises TimeoutError after ``limit`` seconds."""
        deadline = None if limit is None else time.monotonic() + limit
        while b"\n" not in self.buffer:
            wait = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            events = self.poll.poll(wait)
            if not events and deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError
            for fd, _ in events:
                chunk = os.read(fd, 1 << 16)
                if fd == self.err:
                    if chunk:
                        self._keep(chunk)
                    else:
                        self.poll.unregister(self.err)
                elif not chunk:
                    return None
                else:
                    self.buffer += chunk
                    if len(self.buffer) > 2 * (1 << 20) and b"\n" not in self.buffer:
                        return self.buffer   # a line past any limit: the caller refuses it
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def _keep(self, chunk: bytes) -> None:
        self.stderr += chunk
        if len(self.stderr) > STDERR_KEPT:   # keep the head and the tail, as capture.trim does
            half = STDERR_KEPT // 2
            self.stderr_cut += len(self.stderr) - STDERR_KEPT
            del self.stderr[half:len(self.stderr) - half]

    def drain(self) -> str:
        """What the engine wrote to stderr since the last drain (what is there now)."""
        while True:
            ready = [fd for fd, _ in self.poll.poll(0) if fd == self.err]
            if not ready:
                break
            chunk = os.read(self.err, 1 << 16)
            if not chunk:
                self.poll.unregister(self.err)
                break
            self._keep(chunk)
        text = self.stderr.decode("utf-8", errors="replace")
        if self.stderr_cut:
            half = len(text) // 2
            text = f"{text[:half]}\n[… {self.stderr_cut} bytes cut …]\n{text[half:]}"
        self.stderr.clear()
        self.stderr_cut = 0
        return text

    def ended(self) -> str:
        """How the process ended (waiting a moment for it to finish dying)."""
        try:
            self.popen.wait(1.0)
        except subprocess.TimeoutExpired:
            pass
        return how_it_ended(self.popen.returncode)

    def kill(self) -> None:
        self._finalizer.detach()
        _kill(self.popen)

    def close(self) -> None:
        self._finalizer()


def _kill(popen: subprocess.Popen) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)   # its children too: `sh -c '…'` wrappers
    except (ProcessLookupError, PermissionError):
        pass
    try:
        popen.wait(5)
    except subprocess.TimeoutExpired:
        pass
    for pipe in (popen.stdin, popen.stdout, popen.stderr):
        try:
            pipe.close()
        except OSError:
            pass


def _stop(popen: subprocess.Popen) -> None:
    """Close the engine's input and let it exit; kill it if it does not within CLOSE_GRACE."""
    try:
        popen.stdin.close()
    except OSError:
        pass
    try:
        popen.wait(CLOSE_GRACE)
    except subprocess.TimeoutExpired:
        pass
    _kill(popen)


def _marker(name: str):
    def runs_elsewhere(*args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"op {name!r} runs in the engine's process: adverify sends it the whole case")
    runs_elsewhere.__name__ = name
    return runs_elsewhere


_CAPABILITY_ATTRIBUTES = ("subnormals", "max_rank", "broadcasting", "op_limits", "compiles")


class CommandEngine:
    """``cmd:COMMAND``: an engine program, spoken to in lines of JSON (docs/protocol.md).
    Started and greeted at once, so a command that does not start or does not speak the
    protocol is a one-line error before any check (``ProtocolError``)."""

    def __init__(self, command: str, tensor: bool = False):
        self.command, self.tensor = command, tensor
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise ProtocolError(f"engine command {command!r} cannot be split into words: {e}") from None
        if not self.argv:
            raise ProtocolError("cmd: needs a command to run, e.g. --engine 'cmd:node engine.js'")
        self.name = command
        self._process: _Process | None = None
        self._limit: float | None = None
        hello = self._start()
        self._greeted(hello)

    def __reduce__(self):   # a fresh process (a spawned worker) starts a copy of its own
        return (CommandEngine, (self.command, self.tensor))

    # ── the process ──────────────────────────────────────────────────────────────────────
    def _start(self) -> dict[str, Any]:
        """Start the command and say hello; its answer, checked for form."""
        process = _Process(self.argv, self.command)
        self._process = process
        request = {"protocol": VERSION, "id": next(process.ids), "method": "hello", "adverify": _version()}
        try:
            process.send(request)
            line = process.line(HELLO_LIMIT)
        except TimeoutError:
            self._drop()
            raise ProtocolError(f"engine command {self.command!r} did not answer hello within {HELLO_LIMIT:g} s") from None
        except OSError:
            line = None
        if line is None:
            said = process.drain().strip()
            ended = process.ended()
            self._drop()
            raise ProtocolError(f"engine command {self.command!r} ended before it answered hello ({ended})"
                                + (f"; it wrote: {snippet(said.splitlines()[-1])}" if said else ""))
        try:
            doc = decode(line, "hello answer")
            _check_id(doc, request["id"])
            if "error" in doc:
                raise WireError(f"it answered hello with an error: {str(doc['error'])[:300]}")
            version = doc.get("protocol")
            if version != VERSION:
                raise WireError(f"it speaks protocol version {str(version)[:20]}; this adverify speaks {VERSION}"
                                if version is not None else "its hello answer has no 'protocol' version")
        except WireError as e:
            self._drop()
            raise ProtocolError(f"engine command {self.command!r}: {e}; its line: {snippet(line)}") from None
        process.drain()   # start-up chatter belongs to no check
        return doc

    def _greeted(self, doc: Mapping[str, Any]) -> None:
        """Take the engine's name, dtype, ops and capabilities from its hello answer."""
        def bad(what: str) -> ProtocolError:
            self.close()
            return ProtocolError(f"engine command {self.command!r}: its hello answer {what}")
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise bad("needs a 'name': a short string")
        self.name = name.strip()
        self.dtype = doc.get("dtype", "float64")
        if self.dtype not in ("float64", "float32"):
            raise bad(f"names dtype {str(self.dtype)[:20]!r}: \"float64\" or \"float32\"")
        ops = doc.get("ops")
        if not isinstance(ops, list) or not all(isinstance(o, str) and 0 < len(o) <= 40 for o in ops):
            raise bad("needs 'ops': a list of op names")
        self.ops = {IR_NAMES.get(o, o): _marker(o) for o in ops}
        caps = doc.get("capabilities", {})
        if not isinstance(caps, dict):
            raise bad("has 'capabilities' that is not an object")
        self.capabilities = caps
        if self.tensor and caps.get("tensor") is not True:
            raise bad('does not declare "tensor": true in its capabilities: it does not take tensor programs')
        for attribute in _CAPABILITY_ATTRIBUTES:   # checked with a Python engine's (engine_capabilities)
            if attribute in caps:
                setattr(self, attribute, caps[attribute])
        # the optional methods mark what a campaign may ask (--forward, --order 2); the answers
        # come through answer_case
        for method in METHODS[1:]:
            if caps.get(method) is True:
                setattr(self, method, _marker(method))
        self._value = caps.get("value") is True

    def _drop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None

    def close(self) -> None:
        """Close the engine's input and let it exit (killed after CLOSE_GRACE seconds)."""
        if self._process is not None:
            self._process.close()
            self._process = None

    @contextmanager
    def time_limit(self, seconds: float | None) -> Iterator[None]:
        """Within this block, each request waits at most ``seconds`` for its answer."""
        saved, self._limit = self._limit, seconds
        try:
            yield
        finally:
            self._limit = saved

    # ── one check ────────────────────────────────────────────────────────────────────────
    def answer_case(self, expr: Node, point: Mapping[str, Any], method: str,
                    times: int = 1) -> list[tuple[float | None, list[Any]]]:
        """``method``'s answer for ``expr`` at ``point``, and the forward value when the engine
        gives one, ``times`` times (the runner's hook for an engine that takes a case whole).
        The ``times`` requests are written together and answered in order: the builds of a
        check cost the engine's process one wake-up, not one each."""
        names = variables(expr)
        if self._process is None:
            try:
                self._greeted(self._start())
            except ProtocolError as e:   # it started once: now not starting is this check's crash
                raise EngineFailure("crash", f"the engine's process could not be started again: {e}") from None
        process = self._process
        value = self._value and method != "second_derivatives"
        # the same request each time but for its id: the case is written to JSON once
        request = check_request(next(process.ids), method, expr, point, names, self.tensor, value)
        requests = [request, *({**request, "id": next(process.ids)} for _ in range(times - 1))]
        try:
            process.send_all(requests)
        except OSError:
            pass   # it is gone: reading says how it ended
        answers, failure = [], None
        for request in requests:
            line = self._line(process)
            try:
                doc = decode(line, "answer")
                _check_id(doc, request["id"])
                if "error" in doc:
                    origin = doc.get("origin")
                    failure = failure or EngineFailure("crash", f"the engine answered an error: {_text(doc['error'])}",
                                                       _text(origin, 120) if isinstance(origin, str) else "")
                    continue
                answers.append(answer_from(doc, method, names, self.tensor, value))
            except WireError as e:
                self._drop()
                raise ProtocolError(f"protocol: engine {self.name!r} broke the protocol answering request "
                                    f"{request['id']} ({method} of {_short(show(expr))} at "
                                    f"{_describe_point(point, names)}): {e}; its line: {snippet(line)}") from None
        sys.stderr.write(process.drain())
        if failure is not None:
            raise failure
        return answers

    def _line(self, process: _Process) -> bytes:
        """The next answer line, or an EngineFailure: the process died, or did not answer in time."""
        try:
            line = process.line(self._limit)
        except TimeoutError:
            sys.stderr.write(process.drain())
            self._drop()
            raise EngineFailure("timeout", f"no answer within {self._limit:g} s") from None
        except KeyboardInterrupt:   # Ctrl-C mid-request: its answer would be read as the next one's
            self._drop()
            raise
        if line is None:
            sys.stderr.write(process.drain())
            ended = process.ended()
            self._drop()
            raise EngineFailure("crash", f"the engine's process died ({ended})")
        return line


def _check_id(doc: Mapping[str, Any], expected: int) -> None:
    got = doc.get("id")
    if got != expected or isinstance(got, bool):
        raise WireError(f"the answer's id is {str(got)[:20]}, the request's {expected}"
                        if "id" in doc else "the answer has no 'id'")


def _text(v: Any, limit: int = 300) -> str:
    text = v if isinstance(v, str) else repr(v)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
