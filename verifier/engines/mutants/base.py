"""A planted bug: an engine with one realistic fault, and what a correct campaign says of it.

A record says which bug class of DESIGN §8 it stands for, which op a correct blame names
(``()``: a composition fault, no op is wrong alone; ``None``: no op to name at all, the fault
is in leaf or state handling), which verdicts may report it, and the campaign options it
needs (``options``: e.g. a tensor campaign).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Mutant"]


@dataclass(frozen=True)
class Mutant:
    name: str
    bug_class: str
    description: str
    make: Callable[[], object]
    culprits: tuple[str, ...] | None = ()   # ops a correct blame may name; () composition; None n/a
    kinds: tuple[str, ...] = ("mismatch",)  # verdicts that may report it
    ops: tuple[str, ...] | None = None      # restrict generation (None: every op the engine has)
    blames: tuple[str, ...] = ()            # blame classifications accepted (empty: any)
    options: Mapping[str, Any] = field(default_factory=dict)   # extra campaign Options

    def __post_init__(self):
        make = self.make
        if getattr(make, "mutant", None) == self.name:
            return

        def named() -> object:   # reports say which mutant they ran
            engine = make()
            engine.name = f"mutant-{self.name}"
            return engine
        named.mutant = self.name
        object.__setattr__(self, "make", named)

    def blamed_right(self, op: str | None, how: str) -> bool | None:
        """Did blame name the fault? None when there is no op to name."""
        if self.culprits is None:
            return None
        if self.blames and how not in self.blames:
            return False
        return op in self.culprits if self.culprits else how == "composition"
