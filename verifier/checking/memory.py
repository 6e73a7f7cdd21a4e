"""Bounded memory in a long-running worker: drop what the oracles memoise.

A campaign of millions of examples sees millions of distinct expressions; SymPy's global
cache, our ``lru_cache``s and the checker's reference cache only ever help with the ones
that come back (shrinking, blame), and those come back within a few hundred examples. So
clearing them every ``TRIM_EVERY`` examples costs little time and caps what a worker holds;
recycling the process (``--recycle-after``) caps the rest (fragmentation, leaks in an engine).
"""
from __future__ import annotations

import gc
import sys
from typing import Any

__all__ = ["trim", "TRIM_EVERY"]

TRIM_EVERY = 1000


def trim(checker: Any = None) -> None:
    """Clear every cache a campaign fills; each only memoises, so no verdict changes."""
    for module, names in (("oracles.symbolic", ("derivatives", "second_derivatives")),
                          ("oracles.symengine_backend", ("derivatives",))):  # SymEngine has no global cache
        loaded = sys.modules.get(module)
        for name in names:
            cached = getattr(loaded, name, None)
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
    if "sympy" in sys.modules:
        from sympy.core.cache import clear_cache
        clear_cache()
    if checker is not None:
        checker.clear_cache()
    gc.collect()
