"""How numbers are written as text, on every surface: verdict messages, the terminal,
Markdown, HTML and JUnit. A value that must round-trip (a derivative, a point) is written
exactly — two values that differ show it, and the text reads back as the same float; an
error or a bound is a size, and two significant digits say all it means."""
from __future__ import annotations

import math

__all__ = ["exact", "short", "significant", "NONFINITE"]

NONFINITE = {"nan": "NaN", "inf": "∞", "-inf": "−∞"}


def significant(x: float, digits: int) -> str:
    """``x`` to ``digits`` significant digits; 17 or more: exact. The same text for 1e300*10
    and "inf", and a signed zero keeps its sign."""
    if not math.isfinite(x):
        return NONFINITE[repr(float(x))]
    if digits >= 17:       # exact, and the same text as the summary and the replay file
        return repr(float(x))
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    return f"{x:.{digits}g}"


def exact(x: float) -> str:
    """The shortest text that reads back as ``x`` (``repr``: 17 significant digits at most)."""
    return significant(x, 17)


def short(x: float) -> str:
    """``1.4e-15``, ``0.5``, ``3e+02``: two significant digits."""
    return significant(x, 2)
