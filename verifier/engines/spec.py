"""How to name an engine again on a command line: the ``--engine`` word and what a fresh
``adverify`` process needs to import it (``PYTHONPATH``).

A replay command is printed in one process and pasted into another, started from the same
folder by a person's shell. Names of adapters and mutants, and ``./file.py:Class`` paths,
work as they are there; a ``module:attr`` works when its module is installed or sits in
that folder (``load_engine`` looks there last, as ``python -m`` does). Any other folder the
module came from — ``PYTHONPATH=src``, a path a test runner inserted — goes in front of the
command, or the pasted command would fail on an import.
"""
from __future__ import annotations

import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EngineSpec", "spec_of", "import_root"]


@dataclass(frozen=True)
class EngineSpec:
    text: str                       # what follows --engine
    pythonpath: str | None = None   # a folder a fresh process must be told about

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "pythonpath": self.pythonpath}


def spec_of(source: Any) -> EngineSpec | None:
    """The spec that loads ``source`` (what ``load_engine`` was given) in a fresh process
    started in this folder. None for anything but a spec string: an object, class or
    factory is named only once a replay proved the name rebuilds it (``gate``)."""
    if not isinstance(source, str):
        return None
    text = source
    if text.startswith("cmd:"):   # a program: run again from the same folder, as the user typed it
        return EngineSpec(text)
    module, _, _ = text.rpartition(":")
    if not module or module.endswith(".py") or module not in sys.modules:
        return EngineSpec(text)     # a name of ours, a file path, or a module not imported here
    return EngineSpec(text, _pythonpath(import_root(module)))


def import_root(module: str) -> Path | None:
    """The sys.path folder that ``module``'s top-level package was imported from."""
    top = sys.modules.get(module.partition(".")[0])
    spec = getattr(top, "__spec__", None)
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    origin = Path(spec.origin).resolve()
    # a package's origin is its __init__.py: the root is above the package folder
    return origin.parent.parent if spec.submodule_search_locations else origin.parent


def _installed_roots() -> set[Path]:
    paths = [*site.getsitepackages(), site.getusersitepackages(),
             *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))]
    return {Path(p).resolve() for p in paths}


def _pythonpath(root: Path | None) -> str | None:
    if root is None or root in _installed_roots():
        return None
    cwd = Path.cwd().resolve()
    if root == cwd:
        return None
    try:
        return os.path.relpath(root, cwd) if root.is_relative_to(cwd) else str(root)
    except ValueError:   # another drive
        return str(root)
