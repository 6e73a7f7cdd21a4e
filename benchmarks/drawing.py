"""Cases drawn as a campaign's generation draws them, nothing checked: through ``@given``
with a fixed seed. Imports nothing of adverify, so that a benchmark can draw with another
checkout's strategies (benchmarks/generation.py --against)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, seed, settings


def drawn(strategy, n: int, s: int = 1) -> list:
    found: list = []

    @seed(s)
    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        found.append(case)
    collect()
    return found
