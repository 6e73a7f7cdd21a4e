"""Where engine code runs: in this process, or in a worker process that can be abandoned.

An engine under test may hang, exhaust memory or take the interpreter down with it.
``Worker`` runs each check in a child process and waits at most ``timeout`` seconds: a stuck
child is killed and replaced, and the check becomes a ``timeout`` finding; a child that dies
(a segfault, ``os._exit``) becomes a ``crash``. The child is forked from this process, so
the engine object, whatever it is, needs no pickling — except once JAX has run here: XLA's
runtime does not survive fork, so the child is a fresh interpreter that rebuilds the engine
(``rebuild_recipe``), and only an engine that cannot be rebuilt runs in this process. The
worker is fenced in:

- its memory is capped (``RLIMIT_DATA``, ``MEMORY_LIMIT`` bytes above what it starts with;
  ``ADVERIFY_WORKER_MEMORY`` in MiB overrides, 0 turns it off): an engine that allocates
  without bound gets a ``MemoryError`` — a crash finding — instead of the machine's OOM
  killer. RLIMIT_DATA counts memory written to, not address space reserved, so runtimes
  that reserve large regions up front still start;
- it ignores SIGINT (so any KeyboardInterrupt there is the engine's own, reported as a
  crash, like SystemExit), dies with SIGTERM, and dies with its parent (PR_SET_PDEATHSIG):
  a campaign killed with SIGKILL leaves no engine spinning behind it;
- its stdin and stdout are /dev/null, and during a check descriptors 1 and 2 go to a file
  (``capture.capture_descriptors``): what an engine prints, C extensions included, becomes
  the check's ``EngineRun.output`` and never mixes into the terminal or the report;
- it writes no core files (RLIMIT_CORE 0): a segfault is reported, not dumped, per example.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import select
import signal
import sys
import time
import warnings
from collections import deque
from typing import Any, Mapping

from verifier.checking.capture import capture_descriptors
from verifier.checking.runner import contain_interrupts, run_engine
from verifier.engines import load_engine
from verifier.engines.command import CommandEngine, how_it_ended
from verifier.floor.ir import Node
from verifier.model import EngineRun

__all__ = ["InProcess", "OwnProcess", "Worker", "make_executor", "rebuild_recipe", "how_it_ended", "MEMORY_LIMIT"]

MEMORY_LIMIT = 4 << 30     # bytes a worker may allocate beyond its own start
STARTUP_LIMIT = 120.0      # seconds a fresh worker may take to import and build the engine
KEPT_EXPRESSIONS = 256     # the worker keeps the last expressions it was sent alive (see _serve)
_READY = "ready"


class InProcess:
    def __init__(self, engine: Any):
        self.engine = engine

    def run(self, expr: Node, point: Mapping[str, float], mode: str = "reverse") -> EngineRun:
        return run_engine(self.engine, expr, point, mode=mode)

    def close(self) -> None:
        pass


class OwnProcess(InProcess):
    """Checks of an engine that is a process of its own (``cmd:``, engines.command): its
    process is the fence, so they run from here, and the engine kills its process when a
    request outlives the time limit."""

    def __init__(self, engine: CommandEngine, timeout: float | None):
        super().__init__(engine)
        self.timeout = timeout

    def run(self, expr: Node, point: Mapping[str, float], mode: str = "reverse") -> EngineRun:
        with self.engine.time_limit(self.timeout):
            return run_engine(self.engine, expr, point, mode=mode)


def _memory_limit() -> int:
    text = os.environ.get("ADVERIFY_WORKER_MEMORY")
    if text:
        try:
            return max(0, int(text)) << 20
        except ValueError:
            pass
    return MEMORY_LIMIT


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


def _fence(parent: int) -> None:
    """The worker's limits, set once after fork (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    contain_interrupts()
    capture_descriptors()
    _die_with_parent(parent)
    import faulthandler
    faulthandler.disable()   # a segfault per example is a finding, not a traceback on stderr each time
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass
    try:
        import resource
    except ImportError:   # not a POSIX system: the timeout is the only fence
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # a segfault per example, but no core file each
    except (OSError, ValueError):
        pass
    limit = _memory_limit()
    if limit:
        try:
            used = 0
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmData:"):
                        used = int(line.split()[1]) << 10
            soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
            want = used + limit if hard == resource.RLIM_INFINITY else min(used + limit, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
        except (OSError, ValueError):
            pass   # no /proc: the timeout is the only fence


def _send(conn, message: Any) -> None:
    """One ``pickle.dumps`` and one write. ``Connection.send`` pickles through ForkingPickler
    (a buffer and a pickler object per message, for handles our messages never hold)."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _receive(conn) -> Any:
    return pickle.loads(conn.recv_bytes())   # our own process's bytes, made by _send


def _serve(engine: Any, conn, parent: int, recipe: bytes | None = None) -> None:
    _fence(parent)
    if recipe is not None:
        # a fresh interpreter: build the engine, then say so, for the time limit of the first
        # check not to count the imports (JAX takes seconds)
        try:
            engine = _rebuild(recipe)
        except BaseException as e:
            _send(conn, f"{type(e).__name__}: {e}"[:300])
            return
        _send(conn, _READY)
    # Nodes are interned weakly: once a check is over its expression died here, and the next
    # job rebuilt every node of its own, shared ones too. Hypothesis sends one expression at
    # several points and shrinking resends them; kept alive, their nodes are found, not built
    # (unpickling a scalar case: 15 µs -> 9)
    recent: deque[Node] = deque(maxlen=KEPT_EXPRESSIONS)
    while True:
        try:
            job = _receive(conn)
        except (EOFError, OSError):
            return
        if job is None:
            return
        expr, point, mode = job
        recent.append(expr)
        try:
            _send(conn, run_engine(engine, expr, point, mode=mode))
        except MemoryError:
            # the answer could not even be sent: go, and let the parent report the crash
            os._exit(75)


class Worker:
    """Checks in a child process: forked with the engine in it, or, given a ``recipe``
    (``rebuild_recipe``), a fresh interpreter that rebuilds the engine from it."""

    def __init__(self, engine: Any, timeout: float, recipe: bytes | None = None):
        self.engine, self.timeout, self.recipe = engine, timeout, recipe
        self._ctx = mp.get_context("fork" if recipe is None else "spawn")
        self._proc = self._conn = self._answered = None

    def _start(self) -> str | None:
        """Start the worker; for a fresh interpreter, wait until it has built the engine.
        Returns why it could not start, or None."""
        parent, child = self._ctx.Pipe()
        engine = self.engine if self.recipe is None else None
        self._proc = self._ctx.Process(target=_serve, args=(engine, child, os.getpid(), self.recipe), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        # one poll object for the worker's life: Connection.poll builds a selector per call,
        # some 10 µs of every check
        self._answered = select.poll()
        self._answered.register(parent.fileno(), select.POLLIN)
        if self.recipe is None:
            return None
        try:
            if not self._wait(max(STARTUP_LIMIT, self.timeout)):
                return f"the engine's process did not start within {max(STARTUP_LIMIT, self.timeout):g} s"
            answer = _receive(parent)
        except (EOFError, OSError):
            self._proc.join(1)
            return f"the engine's process died as it started ({how_it_ended(self._proc.exitcode)})"
        return None if answer == _READY else f"the engine could not be built in a fresh process: {answer}"

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(1)
            self._conn.close()
        self._proc = self._conn = self._answered = None

    def _wait(self, seconds: float) -> bool:
        """Whether the worker answered (or hung up: the read then says so) within ``seconds``."""
        return bool(self._answered.poll(max(0.0, seconds) * 1000))   # poll() waits forever on < 0

    def run(self, expr: Node, point: Mapping[str, float], mode: str = "reverse") -> EngineRun:
        """One check in the worker. Each mode (``runner.METHODS``) is a job of its own, with
        its own time limit: a hang in forward mode is reported as forward mode's."""
        if self._proc is None or not self._proc.is_alive():
            self._kill()
            began = time.perf_counter()
            why = self._start()
            if why is not None:
                self._kill()
                return EngineRun("crash", message=why, elapsed=time.perf_counter() - began)
        start = time.perf_counter()
        try:
            _send(self._conn, (expr, dict(point), mode))
            if not self._wait(self.timeout):
                self._kill()
                return EngineRun("timeout", message=f"no answer within {self.timeout:g} s",
                                 elapsed=time.perf_counter() - start)
            answer = _receive(self._conn)
            if isinstance(answer, EngineRun):
                return answer
            why = f"the engine's process answered with {type(answer).__name__}"
        except (EOFError, OSError):   # the worker died
            self._proc.join(1)
            why = f"the engine's process died ({how_it_ended(self._proc.exitcode)})"
        except Exception as e:        # its answer was not readable
            why = f"the engine's process sent an unreadable answer ({type(e).__name__})"
        self._kill()
        return EngineRun("crash", message=why, elapsed=time.perf_counter() - start)

    def close(self) -> None:
        if self._conn is not None:
            try:
                _send(self._conn, None)
            except OSError:
                pass
        self._kill()


def _xla_started() -> bool:
    """JAX has computed in this process. XLA's runtime does not survive fork: a worker forked
    after that hangs in its first compile (py-spy: backend_compile_and_load), and every check
    would end as a false ``timeout``."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    started = getattr(bridge, "backends_are_initialized", None)
    try:
        return bool(started and started())
    except Exception:   # a JAX without this private function: assume fork is safe, as before
        return False


def _rebuild(recipe: bytes) -> Any:
    how, what = pickle.loads(recipe)   # our own bytes, made by rebuild_recipe in the parent
    if how == "load":
        return load_engine(*what)
    return what


def _fingerprint(engine: Any) -> tuple:
    """What a rebuilt engine must share with the original: its class, name and dtype, and
    per op the code it runs (an op patched after loading has other code, or another object)."""
    def code(f: Any) -> Any:
        f = getattr(f, "__func__", f)
        return getattr(f, "__code__", f)
    ops = getattr(engine, "ops", {})
    return (type(engine), getattr(engine, "name", None), getattr(engine, "dtype", None),
            sorted(((k, id(code(f))) for k, f in ops.items()), key=lambda kv: kv[0]))


def rebuild_recipe(engine: Any) -> bytes | None:
    """Bytes from which a fresh interpreter builds this engine again, or None: the engine
    itself when it pickles, else what ``load_engine`` was given for it (a name, a
    ``module:attr``, an importable class or factory), provided that builds the same engine
    here — one changed after loading has no recipe, and is not silently checked unchanged."""
    try:
        return pickle.dumps(("object", engine))
    except Exception:
        pass
    source = getattr(engine, "adverify_source", None)
    if source is None:
        return None
    try:
        recipe = pickle.dumps(("load", source))
        same = _fingerprint(_rebuild(recipe)) == _fingerprint(engine)
    except Exception:
        return None
    return recipe if same else None


def make_executor(engine: Any, timeout: float | None):
    """A worker process where the platform has fork and a timeout is asked for; this process
    if neither, or if JAX has run here and the engine cannot be rebuilt elsewhere. An engine
    program (``cmd:``) is fenced by its own process."""
    if isinstance(engine, CommandEngine):
        return OwnProcess(engine, timeout)
    if timeout and hasattr(os, "fork"):
        if not _xla_started():
            return Worker(engine, timeout)
        recipe = rebuild_recipe(engine)
        why = "it cannot be rebuilt there (load it by name or module:attr)"
        if recipe is not None:
            # started now: a fresh interpreter that cannot build what this one built (a class
            # only the parent can import) says so once, instead of every check being a crash
            worker = Worker(engine, timeout, recipe)
            failed = worker._start()
            if failed is None:
                return worker
            worker.close()
            why = failed
        warnings.warn("adverify: JAX has already run in this process and XLA does not survive fork, "
                      f"and the engine cannot be checked in a fresh process: {why}: checks run in "
                      "this process, without a time limit", RuntimeWarning, stacklevel=2)
    return InProcess(engine)
