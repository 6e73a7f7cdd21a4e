"""A vocabulary: the ops one campaign speaks, as a value.

The built-in tables (``ops.SCALAR_OPS``, ``tensor_ops.STRUCTURAL``) are constants nobody
changes. A campaign carries a ``Vocabulary`` — the built-in records, plus any op an engine
declares of its own — and every case it makes carries it too (``Case.ops``), so the oracles,
the bound, blame and coverage look ops up in the campaign's vocabulary and nowhere else. Two
campaigns in one process with different vocabularies cannot see each other's ops: there is
no registry to add them to.

It is a mapping of the scalar records (what the expression IR and the oracles read) with the
tensor records beside it (``tensor``: every scalar op lifted elementwise, and the
structural ops).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Iterator, Mapping

from verifier.floor.ops import SCALAR_OPS, Op, UnknownOp
from verifier.floor.tensor_ops import STRUCTURAL, TensorOp, elementwise

__all__ = ["Vocabulary", "BUILTIN", "VocabularyError"]


class VocabularyError(ValueError):
    """An op that cannot join a vocabulary: a name taken, or a record that is not an op."""


class Vocabulary(Mapping[str, Op]):
    __slots__ = ("_scalar", "_tensor", "_custom")

    def __init__(self, scalar: Iterable[Op], structural: Iterable[TensorOp] = (),
                 custom: Mapping[str, str] | None = None):
        table: dict[str, Op] = {}
        for op in scalar:
            if not isinstance(op, Op):
                raise VocabularyError(f"{op!r} is not an op record")
            if op.name in table:
                raise VocabularyError(f"two ops are named {op.name!r}")
            table[op.name] = op
        tensor = {name: elementwise(op) for name, op in table.items()}
        for op in structural:
            if op.name in tensor:
                raise VocabularyError(f"two ops are named {op.name!r}")
            tensor[op.name] = op
        self._scalar = MappingProxyType(table)
        self._tensor = MappingProxyType(tensor)
        unknown = [name for name in custom or {} if name not in table]
        if unknown:
            raise VocabularyError(f"a fingerprint for {unknown[0]!r}, which is no op of this vocabulary")
        self._custom = MappingProxyType(dict(custom or {}))

    # ── the scalar records, as a mapping ──
    def __getitem__(self, name: str) -> Op:
        try:
            return self._scalar[name]
        except KeyError:
            raise UnknownOp(f"unknown op {name!r} (known: {', '.join(sorted(self._tensor))})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._scalar)

    def __len__(self) -> int:
        return len(self._scalar)

    def __contains__(self, name: object) -> bool:
        return name in self._scalar

    # a value compared by identity: the oracles' caches key on it, and two vocabularies made
    # apart are two vocabularies (their records' rules are functions, compared by identity)
    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self):
        # the built-in vocabulary travels by name (a worker process has the same constant);
        # another one holds its ops' rules, which are functions: they travel with the engine
        if self is BUILTIN:
            return "BUILTIN"
        raise TypeError("a vocabulary with ops of its own cannot be pickled: its records hold functions")

    def __repr__(self) -> str:
        extra = sorted(set(self._tensor) - set(BUILTIN.tensor))
        return f"Vocabulary(builtin{' + ' + ', '.join(extra) if extra else ''})"

    @property
    def tensor(self) -> Mapping[str, TensorOp]:
        """Every op of a tensor program: the scalar ones elementwise, and the structural ones."""
        return self._tensor

    def tensor_op(self, name: str) -> TensorOp:
        try:
            return self._tensor[name]
        except KeyError:
            raise UnknownOp(f"unknown op {name!r} (known: {', '.join(sorted(self._tensor))})") from None

    @property
    def custom(self) -> Mapping[str, str]:
        """The ops an engine declared of its own (floor.custom), each with the fingerprint
        of its definition: a replay file records it."""
        return self._custom

    def knows(self, name: str) -> bool:
        """An op of either mode."""
        return name in self._tensor

    def extended(self, *ops: Op, fingerprints: Mapping[str, str] | None = None) -> "Vocabulary":
        """This vocabulary and ``ops``: a new value (this one is unchanged). A name already
        taken is an error, so an op can never shadow a built-in one. ``fingerprints``: for
        ops an engine declared, the digest of each definition."""
        for op in ops:
            if isinstance(op, Op) and op.name in self._tensor:
                raise VocabularyError(f"op {op.name!r} is already in the vocabulary: choose another name")
        structural = [t for name, t in self._tensor.items() if name not in self._scalar]
        return Vocabulary([*self._scalar.values(), *ops], structural, {**self._custom, **(fingerprints or {})})


BUILTIN = Vocabulary(SCALAR_OPS.values(), STRUCTURAL.values())
