"""A stop asked for by SIGTERM or Ctrl-C, kept where no library can swallow it.

A signal handler raises KeyboardInterrupt in whatever Python code the main thread runs next,
and that is not always code it can travel up from. Hypothesis (6.155,
hypothesis/internal/conjecture/junkdrawer.py:463, installed at :484 the first time a test
runs) puts a Python callback in ``gc.callbacks``, called at every garbage collection, which
happens in the middle of drawing an example; a signal that arrives then is handled in that
callback, and the interpreter prints what it raises as "Exception ignored in ..." and drops
it (so would a ``__del__`` or a weakref callback). The campaign ran on to its end, deaf to
SIGTERM by then. So the handler also records the request here, and the campaign looks at it
before every example (``STOP.check()``): a swallowed interrupt stops it one example later,
and its report is written as for any interrupt.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["STOP", "StopRequest", "on_signal", "stop_on_signals"]


class StopRequest:
    """Which signal asked to stop, if any. Set by ``on_signal`` (or when the interpreter
    drops a KeyboardInterrupt), cleared only by ``stop_on_signals``: a request made between
    two campaigns of one command (selftest) stops the next one at its first example."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __bool__(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def clear(self) -> None:
        self.reason = None

    def check(self) -> None:
        if self.reason is not None:
            raise KeyboardInterrupt(self.reason)


STOP = StopRequest()


def on_signal(signum: int, frame) -> None:
    under_way = bool(STOP)
    STOP.request(signal.Signals(signum).name)   # first: the raise below may be swallowed
    if signum == signal.SIGTERM:
        # a SIGTERM after a stop was asked for (a supervisor repeating itself; the pool's
        # SIGTERM to a chunk that Ctrl-C reached too) must not cut the report short. A second
        # Ctrl-C still does: that is someone at the terminal who means it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if under_way:
            return
    raise KeyboardInterrupt


def _dropped(hook):
    def unraisable(u) -> None:
        if issubclass(u.exc_type, KeyboardInterrupt):
            # the interpreter dropped an interrupt: the stop it asked for is recorded (by
            # on_signal, or here), and a traceback on stderr would tell nothing more
            STOP.request("KeyboardInterrupt")
            return
        hook(u)
    return unraisable


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT and SIGTERM go through ``on_signal`` for the block, starting with no request;
    the handlers before it are put back after, so a caller in the same process (a test
    suite calling ``main``) is left as it was. Not SIGTERM once one came: it stays ignored
    to the end of the process, whose report is written and whose exit status a repeated
    SIGTERM must not change."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    STOP.clear()
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    sys.unraisablehook = ours = _dropped(hook)
    try:
        yield STOP
    finally:
        if sys.unraisablehook is ours:
            sys.unraisablehook = hook
        for s, handler in old.items():
            # None: set outside Python, and Python cannot put it back
            if handler is not None and signal.getsignal(s) is on_signal:
                signal.signal(s, handler)
        STOP.clear()
