"""How a campaign is split into independent searches, each with its own seed.

A plan of ``N`` workers for a campaign of ``E`` examples and seed ``S``:

- worker ``k`` (0-based) runs its own Hypothesis search with seed ``S*1000 + k`` on
  ``E // N`` examples, the first ``E % N`` workers one more. With ``N = 1`` the seed is ``S``
  itself, so one worker is exactly the plain campaign;
- with ``--recycle-after R`` a worker's budget is cut into chunks of ``R`` examples, each run
  in a fresh process: chunk 0 keeps the worker's seed, chunk ``j > 0`` runs with seed
  ``worker_seed*1000 + j``.

A chunk is what runs, what a dying process loses, and what is merged. Every chunk is a plain
campaign (``adverify campaign --seed <its seed> --examples <its size>`` re-runs it alone),
and ``--shard K/N`` runs worker ``K-1``'s chunks exactly as ``--workers N`` would: merging
the N shards gives the ``--workers N`` report, count for count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verifier.floor.serial import FormatError

__all__ = ["Chunk", "Plan", "MAX_WORKERS", "parse_shard"]

MAX_WORKERS = 1000   # worker k's seed is seed*1000 + k: more would collide with seed+1's


@dataclass(frozen=True)
class Chunk:
    worker: int
    index: int
    seed: int
    start: int      # the worker's examples [start, stop)
    stop: int

    @property
    def examples(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"w{self.worker:03d}-c{self.index:04d}"

    def to_json(self) -> dict[str, Any]:
        return {"worker": self.worker, "chunk": self.index, "seed": self.seed,
                "examples": [self.start, self.stop]}


@dataclass(frozen=True)
class Plan:
    seed: int
    examples: int
    workers: int = 1
    recycle_after: int | None = None

    def __post_init__(self):
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, got {self.workers}")
        if self.recycle_after is not None and self.recycle_after < 1:
            raise ValueError("recycle_after must be at least 1")

    def worker_seed(self, k: int) -> int:
        return self.seed if self.workers == 1 else self.seed * MAX_WORKERS + k

    def budget(self, k: int) -> int:
        return self.examples // self.workers + (k < self.examples % self.workers)

    def chunks(self, k: int) -> list[Chunk]:
        """Worker k's chunks, in the order it runs them (none if its budget is 0)."""
        total, size = self.budget(k), self.recycle_after or self.budget(k)
        seed = self.worker_seed(k)
        return [Chunk(k, j, seed if j == 0 else seed * MAX_WORKERS + j, a, min(a + size, total))
                for j, a in enumerate(range(0, total, max(size, 1)))]

    def all_chunks(self) -> list[Chunk]:
        return [c for k in range(self.workers) for c in self.chunks(k)]

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "examples": self.examples, "workers": self.workers,
                "recycle_after": self.recycle_after}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "Plan":
        if not isinstance(doc, dict):
            raise FormatError(f"{where} must be an object")
        ints = {k: doc.get(k) for k in ("seed", "examples", "workers")}
        recycle = doc.get("recycle_after")
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ints.values()) or \
                (recycle is not None and (isinstance(recycle, bool) or not isinstance(recycle, int))):
            raise FormatError(f"{where}: seed, examples, workers and recycle_after must be whole numbers")
        try:
            return cls(recycle_after=recycle, **ints)
        except ValueError as e:
            raise FormatError(f"{where}: {e}") from None


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 ≤ K ≤ N) -> (worker index K-1, N)."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"expected K/N, like 1/4, got {text!r}")
    k_, n_ = int(k), int(n)
    if not 1 <= k_ <= n_ or n_ > MAX_WORKERS:
        raise ValueError(f"shard {text!r}: need 1 ≤ K ≤ N ≤ {MAX_WORKERS}")
    return k_ - 1, n_
