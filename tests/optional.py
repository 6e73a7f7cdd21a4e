"""Tests of the real-engine adapters need an optional extra. On a machine with only
``pip install -e '.[test]'`` they skip, and the reason names the extra to install — not the
module that happened to be missing (``distributed`` is the ``dask`` extra)."""
from __future__ import annotations

import tomllib
from pathlib import Path
from types import ModuleType

import pytest

__all__ = ["require", "extra_of"]

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# a module whose name is not its extra's: every other one is named for its extra
_PROVIDED_BY = {"distributed": "dask", "scipy": "autograd"}


def extra_of(module: str) -> str:
    """The extra of pyproject.toml that installs ``module``; a name that no extra installs is
    an error in the test, not a skip."""
    extras = tomllib.loads(_PYPROJECT.read_text())["project"]["optional-dependencies"]
    name = _PROVIDED_BY.get(module, module)
    if name not in extras:
        raise LookupError(f"no extra in pyproject.toml installs {module!r} (extras: {', '.join(extras)})")
    return name


def require(module: str) -> ModuleType:
    """``module``, imported; or a skip saying which extra to install."""
    extra = extra_of(module)
    return pytest.importorskip(module, reason=f"needs the {extra!r} extra: pip install -e '.[{extra}]'")
