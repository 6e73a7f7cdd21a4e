"""Planted bugs: the builtin engine with one realistic fault each, built only through the
public engine protocol. The quality tests and ``adverify selftest`` must find every one.

Every suite is listed here, once: a new mutant joins its suite's tuple, and nothing is
registered by importing a module for its side effects.
"""
from __future__ import annotations

from verifier.engines.mutants.base import Mutant
from verifier.engines.mutants.scalar import FORWARD, SCALAR
from verifier.engines.mutants.second import SECOND
from verifier.engines.mutants.tensor import TENSOR

__all__ = ["Mutant", "MUTANTS"]


def _by_name(*suites: tuple[Mutant, ...]) -> dict[str, Mutant]:
    table: dict[str, Mutant] = {}
    for m in (m for suite in suites for m in suite):
        if m.name in table:
            raise ValueError(f"two mutants are named {m.name!r}")
        table[m.name] = m
    return table


MUTANTS: dict[str, Mutant] = _by_name(SCALAR, FORWARD, TENSOR, SECOND)
