"""The progress bar: rate and ETA on a terminal, a time budget measured by the clock, the
terminal given back on every exit, and no bar at all where no person is watching."""
import io
import re
import subprocess
import sys

import pytest
from rich.console import Console

from verifier.interfaces.cli import main
from verifier.interfaces.progress import BAR_WIDTH, ProgressBar, fraction, status

START = 100.0


def _bar(budget=None):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200, color_system=None)
    return ProgressBar(budget, console=console, clock=lambda: START), screen


def _last_frame(screen):
    frames = [f for f in re.split(r"\r|\n", screen.getvalue()) if "examples" in f]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frames[-1])


def test_rate_and_eta_from_examples():
    bar, screen = _bar()
    with bar:
        bar(50, 200, 1, START + 10)   # 5 examples/s, 150 to go
    frame = _last_frame(screen)
    assert "50/200 examples, 1 discrepancy, 5.0/s, ETA 0:30, 0:10 elapsed" in frame
    assert frame.count("━") == BAR_WIDTH // 4   # a quarter of the examples: a quarter of the bar


def test_with_a_budget_the_bar_follows_the_clock():
    bar, screen = _bar(budget=60)
    with bar:
        bar(300, 10**6, 0, START + 15)   # a quarter of the budget, a sliver of the examples
    frame = _last_frame(screen)
    assert "300/1000000 examples, 0 discrepancies, 20/s, ETA 0:45, 0:15 of 1:00" in frame
    assert frame.count("━") == BAR_WIDTH // 4


@pytest.mark.parametrize("done,total,elapsed,budget,expected", [
    (10, 1000, 30.0, 60.0, 0.5),      # time ends it: the clock's fraction
    (900, 1000, 6.0, 60.0, 0.9),      # the examples end it first: theirs
    (5, 10, 1.0, None, 0.5),
    (0, 10, 0.0, None, 0.0),
    (10, 10, 99.0, 60.0, 1.0),        # never past full
])
def test_fraction_is_the_nearer_end(done, total, elapsed, budget, expected):
    assert fraction(done, total, elapsed, budget) == pytest.approx(expected)


def test_eta_is_the_nearer_end_and_unknown_before_any_example():
    assert "ETA 0:50" in status(100, 1000, 0, 10.0, budget=60.0)     # the budget's 50 s, not 90 s
    assert "ETA 0:10" in status(500, 1000, 0, 10.0, budget=60.0)     # the examples' 10 s, not 50 s
    assert "ETA ?" in status(0, 1000, 0, 0.0, budget=None)
    assert "1:00:00" in status(1, 3601, 0, 1.0, budget=None)


def test_a_call_too_soon_to_draw_is_drawn_at_the_end():
    bar, screen = _bar()
    with bar:
        bar(1, 1000, 0, START + 1.0)
        bar(2, 1000, 0, START + 1.0 + 0.01)    # within REFRESH_S: not drawn now
        assert "2/1000" not in screen.getvalue()
    assert "2/1000 examples" in _last_frame(screen)


def test_the_bar_is_stopped_when_the_campaign_is_interrupted():
    bar, screen = _bar()
    with pytest.raises(KeyboardInterrupt):
        with bar:
            bar(1, 1000, 0, START + 1.0)
            raise KeyboardInterrupt
    assert screen.getvalue().endswith("\x1b[?25h")   # the cursor shown again: the live display ended
    assert "1/1000 examples" in _last_frame(screen)


class _Stderr(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("tty,flags,ci,drawn", [
    (True, [], None, True),
    (False, [], None, False),        # a log file or a pipe: no bar
    (True, ["--quiet"], None, False),
    (True, ["--ci"], None, False),
    (True, [], "true", False),       # a CI runner that gives the job a terminal
])
def test_a_bar_only_where_a_person_watches(tmp_path, monkeypatch, tty, flags, ci, drawn):
    monkeypatch.delenv("CI", raising=False)
    if ci:
        monkeypatch.setenv("CI", ci)
    stderr = _Stderr(tty)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["campaign", "--examples", "5", "--seed", "0", "--out", str(tmp_path / "rep"), *flags]) == 0
    assert ("5/5 examples" in stderr.getvalue()) == drawn, stderr.getvalue()


def test_help_does_not_import_the_progress_library():
    code = ("import sys\nfrom verifier.interfaces.cli import main\ntry:\n    main(['campaign', '--help'])\n"
            "except SystemExit:\n    pass\nprint('rich' in sys.modules, 'verifier.interfaces.progress' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "False False"
