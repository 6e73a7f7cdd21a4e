"""The progress bar of ``adverify campaign`` on a person's terminal: examples done,
discrepancies found, rate and ETA.

A campaign ends on whichever comes first, its examples or its ``--time-budget``, so the bar
fills with the larger of the two fractions: with a budget and many examples it follows the
clock. Imported only when a bar is drawn (rich costs an import that ``--help`` should not).
"""
from __future__ import annotations

import math
import time
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Column

__all__ = ["ProgressBar", "fraction", "status"]

# a fast engine calls back thousands of times a second; a terminal needs ten redraws
REFRESH_S = 0.1
BAR_WIDTH = 20


def fraction(done: int, total: int, elapsed: float, budget: float | None) -> float:
    """How far the campaign is to its end, in [0, 1]."""
    parts = [done / total if total > 0 else 0.0]
    if budget:
        parts.append(elapsed / budget)
    return min(1.0, max(parts))


def status(done: int, total: int, found: int, elapsed: float, budget: float | None) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else math.inf
    clock = f"{_duration(elapsed)} elapsed"
    if budget:
        left = min(left, budget - elapsed)
        clock = f"{_duration(elapsed)} of {_duration(budget)}"
    # the most wanted first: a narrow terminal cuts the line's end
    return (f"{done}/{total} examples, {found} discrepanc{'y' if found == 1 else 'ies'}, "
            f"{_rate(rate)}/s, ETA {_duration(left)}, {clock}")


def _rate(rate: float) -> str:
    return f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"   # no example checked yet: no rate to extrapolate from
    minutes, s = divmod(max(0, round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """The callback ``progress(done, total, found, now)`` of run_campaign and run_parallel
    (``now`` from ``clock``, time.monotonic), as a context manager: whatever ends the
    campaign, an exception or Ctrl-C included, the bar is drawn one last time and stopped,
    so the terminal gets its cursor back."""

    def __init__(self, budget: float | None = None, console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.budget = budget
        self.start = clock()
        self._drawn_at = -math.inf
        self._last: tuple[int, int, int, float] | None = None
        # a fixed bar, and the text cut at the terminal's edge: never the bar squeezed out
        bar = BarColumn(bar_width=BAR_WIDTH, complete_style="cyan", finished_style="green",
                        table_column=Column(min_width=BAR_WIDTH, no_wrap=True))
        text = TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="crop"))
        # redrawn by the callback only: no refresh thread left running if the campaign dies
        self._bar = Progress(bar, text, console=console or Console(stderr=True), auto_refresh=False,
                             get_time=clock)
        self._task = self._bar.add_task("", total=1.0)

    def __enter__(self) -> ProgressBar:
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._last:   # the last call may have come too soon after a redraw to be shown
                self._draw(*self._last)
        finally:
            self._bar.stop()

    def __call__(self, done: int, total: int, found: int, now: float) -> None:
        self._last = (done, total, found, now)
        if now - self._drawn_at >= REFRESH_S or done >= total:
            self._draw(done, total, found, now)

    def _draw(self, done: int, total: int, found: int, now: float) -> None:
        self._drawn_at = now
        elapsed = now - self.start
        self._bar.update(self._task, completed=fraction(done, total, elapsed, self.budget),
                         description=status(done, total, found, elapsed, self.budget))
        self._bar.refresh()
