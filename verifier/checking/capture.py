"""What an engine leaves besides its answer: what it printed during a check, and the line of
its own code a crash came from.

Output (stdout, stderr, the warnings it raised, and in a worker file descriptors 1 and 2) is
kept per check, trimmed, instead of reaching the terminal: one engine's compiler printed
1,092 lines per check. The origin of a crash — the engine's innermost ``file:line`` — is
what makes crashes with one root cause one finding (search.blame).
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import sys
import sysconfig
import tempfile
import traceback
import warnings
from pathlib import Path

__all__ = ["Captured", "capture_descriptors", "crash_origin", "trim", "OUTPUT_LIMIT"]

OUTPUT_LIMIT = 4096   # characters of engine output kept per check: its head and its tail

# frames that are not the engine's: adverify's own machinery, and Python's standard library.
# The adapters and planted-bug engines under verifier/engines are engines (but the recipe
# helper that replays a recording for them is not).
_OURS = Path(__file__).resolve().parents[1]
_ENGINES = _OURS / "engines"
_HELPERS = (_ENGINES / "recipe.py", _ENGINES / "__init__.py")
_STDLIB = tuple(Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib"))
_SITE = ("site-packages", "dist-packages")


def _engines_frame(filename: str) -> bool:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    if path.is_relative_to(_OURS):
        return path.is_relative_to(_ENGINES) and path not in _HELPERS
    in_stdlib = any(path.is_relative_to(root) for root in _STDLIB)
    return not in_stdlib or any(part in _SITE for part in path.parts)


def crash_origin(e: BaseException) -> str:
    """The engine's own ``file:line`` that raised ``e``: the innermost frame of its traceback
    outside adverify's machinery and the standard library, as basename:line (the same on
    every machine), so crashes with one root cause can be told apart from others. Empty
    when the traceback holds no engine frame."""
    frames = traceback.extract_tb(e.__traceback__) if e.__traceback__ else []
    for frame in reversed(frames):
        if _engines_frame(frame.filename):
            return f"{Path(frame.filename).name}:{frame.lineno}"
    return ""



_SCRATCH: list = []
_FDS = False


def capture_descriptors() -> None:
    """Capture what the engine writes to file descriptors 1 and 2 as well, during each check:
    C extensions print there, past ``sys.stdout``. Only for a worker process, whose
    descriptors are its own: in the verifier's process they are the user's terminal."""
    global _FDS
    _FDS = True


def _scratch():
    """The file engine output goes to: a real file, so that engines asking it for fileno()
    or isatty() still work; one per process, emptied before each check."""
    if not _SCRATCH:
        # line-buffered: Python's lines reach the file in the order C's writes do
        f = tempfile.TemporaryFile("w+", buffering=1, encoding="utf-8", errors="replace")
        atexit.register(f.close)
        _SCRATCH.append(f)
    return _SCRATCH[0]


@functools.cache
def _c_fflush():
    """C's ``fflush``, looked up once: ``ctypes.CDLL`` builds a class per call (10-25 µs, twice
    per check in a worker). None where there is no C library to ask (not a POSIX system)."""
    try:
        return ctypes.CDLL(None).fflush
    except (OSError, AttributeError):
        return None


def _flush_c() -> None:
    """Flush C's stdio buffers: a C extension's printf to a file is buffered until then."""
    fflush = _c_fflush()
    if fflush is not None:
        fflush(None)


def trim(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """``text`` cut to about ``limit`` characters at line ends: its head and its tail (where a
    traceback starts, and where it says what went wrong), saying how many lines were cut."""
    if len(text) <= limit:
        return text
    lines = text.splitlines(keepends=True)
    half = limit // 2
    i, j, used = 0, len(lines), 0
    while i < j and used + len(lines[i]) <= half:
        used += len(lines[i])
        i += 1
    used = 0
    while j > i and used + len(lines[j - 1]) <= half:
        used += len(lines[j - 1])
        j -= 1
    if i == 0 and j == len(lines):   # one line longer than the limit: cut inside it
        return f"{text[:half]}\n[… {len(text) - 2 * half} characters cut …]\n{text[-half:]}"
    return "".join(lines[:i]) + f"[… {j - i} lines cut …]\n" + "".join(lines[j:])


def _read(f) -> str:
    """The scratch file's text, trimmed; of a huge one (an engine that printed gigabytes)
    only the head and the tail are read."""
    raw = f.buffer
    size = os.fstat(f.fileno()).st_size
    if not size:   # the usual check, which printed nothing: no seeking, reading, decoding
        return ""
    raw.seek(0)
    if size <= 4 * OUTPUT_LIMIT:
        text = trim(raw.read().decode("utf-8", errors="replace"))
    else:
        half = OUTPUT_LIMIT // 2
        head = raw.read(half)
        raw.seek(size - half)
        text = (head + f"\n[… {size - 2 * half} bytes cut …]\n".encode() + raw.read()).decode(
            "utf-8", errors="replace")
    raw.seek(0)
    f.seek(0)
    return text


def _warning_line(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})\n"


class Captured:
    """What the engine prints during one check — ``sys.stdout``, ``sys.stderr``, the
    warnings it raises, and in a worker (``capture_descriptors``) file descriptors 1 and 2 —
    kept as ``text`` (trimmed) instead of reaching the terminal or the report."""

    def __enter__(self) -> "Captured":
        self.file = f = _scratch()
        f.seek(0)
        f.truncate()
        self.saved: list[tuple[int, int]] = []
        if _FDS:
            sys.stdout.flush()
            sys.stderr.flush()
            _flush_c()
            for fd in (1, 2):
                try:
                    self.saved.append((fd, os.dup(fd)))
                    os.dup2(f.fileno(), fd)
                except OSError:
                    pass
        self.stack = contextlib.ExitStack()
        self.stack.enter_context(contextlib.redirect_stdout(f))
        self.stack.enter_context(contextlib.redirect_stderr(f))
        self.caught = self.stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")   # each warning of each check, not once per process
        self.text = ""
        return self

    def __exit__(self, *exc) -> bool:
        self.stack.close()
        f = self.file
        try:
            f.flush()
        except (OSError, ValueError):
            pass
        if self.saved:
            _flush_c()
            for fd, copy in self.saved:
                os.dup2(copy, fd)
                os.close(copy)
        warned = "".join(_warning_line(w) for w in self.caught if _engines_frame(w.filename))
        self.text = _read(f) + trim(warned, OUTPUT_LIMIT // 4)
        return False
