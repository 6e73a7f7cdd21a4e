"""Argument types shared by the command line (``verifier.interfaces.cli``) and the pytest plugin's
``--adverify-*`` options, so that both accept the same numbers and word a refusal the same.

Standard library only: the pytest plugin is loaded in every pytest run and must stay cheap.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

__all__ = ["count", "seconds"]


def count(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A whole number from ``lo`` to ``hi`` (no upper bound when ``hi`` is None)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is out of range ({lo}..{hi if hi is not None else '∞'})")
        return v
    return parse


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return v
