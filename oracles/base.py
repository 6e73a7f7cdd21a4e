from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class OracleError(RuntimeError):
    """An oracle that cannot answer at this point (the reason is the message)."""


class OutsideDomain(OracleError):
    """An op applied outside its domain; ``args``: the values it was given (balls, when the
    truth was computed on balls: whether more bits could tell otherwise)."""

    def __init__(self, op: str, args: tuple = ()):
        super().__init__(f"outside the domain of {op}")
        self.args_given = args


@dataclass(frozen=True)
class Estimate:
    oracle: str
    grad: dict[str, Any]                 # variable -> derivative (mpf at high precision, or float)
    value: Any = None                    # the forward value, where the oracle computes it
    error: dict[str, float] = field(default_factory=dict)  # the oracle's own error estimate
    note: str = ""
