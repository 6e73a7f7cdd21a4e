"""Small pieces every HTML/SVG renderer shares: escaping and deterministic number text.

Numbers arrive as floats, or as the strings ``serial.num`` writes for non-finite values
(a summary read back keeps them that way), so both forms must print the same.
"""
from __future__ import annotations

from html import escape

from verifier.floor.numtext import NONFINITE, significant

__all__ = ["esc", "number", "value", "error", "as_float", "NONFINITE"]


def esc(x) -> str:
    """Any value from a result, as HTML text: results can come from other people's files."""
    return escape(str(x), quote=True)


def as_float(x) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, str):
        return float(x) if x in NONFINITE else None
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


def number(x, digits: int = 6) -> str:
    """``digits`` significant digits (17: exact); the same text for 1e300*10 and "inf"."""
    v = as_float(x)
    if v is None:
        return "—" if x is None else esc(x)
    return significant(v, digits)


# the rule of verifier.floor.numtext, for the values a result holds (None, or "inf" read back)

def value(x) -> str:
    """A value that must round-trip: ``repr`` of the float (17 significant digits at most)."""
    return number(x, 17)


def error(x) -> str:
    """An error or a bound: two significant digits, ``1.4e-15``."""
    return number(x, 2)
