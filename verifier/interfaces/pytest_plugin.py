"""The pytest plugin (entry point ``pytest11: adverify``): an engine's gradients as a test.

- ``pytest --adverify-engine SPEC`` adds one test item, ``adverify[SPEC]``, per engine given
  (the option repeats). It runs ``check_engine`` with the ``--adverify-*`` options and is
  selected like any test (``-k adverify``, ``-k "not adverify"``). It fails with the report.
- The ``adverify`` fixture is ``check_engine`` with the same options:
  ``adverify(MyEngine(), ops="tanh,mul")``. What the test says wins over the command line;
  the command line fills in the rest (``--adverify-examples 5000`` for a nightly run).
- The terminal summary gets an ``adverify`` section: every check's verdict counts.

Cheap to load in every pytest run: pytest and the standard library only. The verifier (and
SymPy, Hypothesis, NumPy behind it) is imported when a check runs.
"""
from __future__ import annotations

from typing import Any

import pytest

from verifier.interfaces.argtypes import count, seconds

__all__ = ["EngineItem"]

_RESULTS = pytest.StashKey[list]()


# option -> check_engine keyword; every default is None, meaning "check_engine's default"
_OPTIONS = {
    "examples": ("--adverify-examples", count(1), "N", "examples per check (default 300)"),
    "seed": ("--adverify-seed", count(0), "N", "campaign seed (default 0: the same examples every run)"),
    "time_budget": ("--adverify-time-budget", seconds, "S", "stop each check after S seconds"),
    "ops": ("--adverify-ops", str, "A,B", "only these ops (default: every op the engine has)"),
    "max_nodes": ("--adverify-max-nodes", count(1), "N", "ops per expression at most (default 12)"),
    "n_vars": ("--adverify-vars", count(1), "N", "variables (default 3)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("adverify", "adverify: check an autograd engine's gradients")
    group.addoption("--adverify-engine", action="append", default=[], metavar="SPEC",
                    help="add a test item adverify[SPEC] checking this engine: builtin, mutant:NAME, "
                         "module:attr or file.py:attr (repeatable)")
    for key, (flag, kind, metavar, help) in _OPTIONS.items():
        group.addoption(flag, dest=f"adverify_{key}", type=kind, default=None, metavar=metavar, help=help)
    group.addoption("--adverify-regressions", action="append", default=[], metavar="PATH",
                    help="replay files to re-check first: a file, a folder, or a report folder (repeatable)")
    group.addoption("--adverify-strict-determinism", action="store_true", default=False,
                    help="two identical builds must answer the same: any difference is inconsistent")
    group.addoption("--adverify-reports", default="reports", metavar="DIR",
                    help="each check writes a new report folder under DIR (default: reports)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []


def pytest_report_header(config: pytest.Config) -> str | None:
    engines = config.getoption("adverify_engine")
    return f"adverify: checking {', '.join(engines)}" if engines else None


def _settings(config: pytest.Config) -> dict[str, Any]:
    kw = {key: config.getoption(f"adverify_{key}") for key in _OPTIONS}
    kw = {k: v for k, v in kw.items() if v is not None}
    if config.getoption("adverify_regressions"):
        kw["regressions"] = list(config.getoption("adverify_regressions"))
    kw["reports"] = config.getoption("adverify_reports")
    if config.getoption("adverify_strict_determinism"):
        kw["strict_determinism"] = True
    return kw


def _check(config: pytest.Config, engine: Any, overrides: dict[str, Any], label: str):
    __tracebackhide__ = True
    # the plugin loads in every pytest run: the verifier itself only when a test asks for it
    from verifier.interfaces.gate import GateFailure, check_engine
    kw = {**_settings(config), **overrides}
    try:
        result = check_engine(engine, **kw)
    except GateFailure as e:
        config.stash[_RESULTS].append((label, e.result, e.out))
        raise
    config.stash[_RESULTS].append((label, result, None))
    return result


@pytest.fixture
def adverify(request: pytest.FixtureRequest):
    """``adverify(engine, **options)``: check_engine with this run's ``--adverify-*`` options
    (keyword arguments win). Returns the CampaignResult; fails the test with the report."""
    def check(engine: Any, **options: Any):
        __tracebackhide__ = True
        return _check(request.config, engine, options, request.node.nodeid)
    return check


class EngineItem(pytest.Item):
    """One engine from ``--adverify-engine``, checked as a test of its own."""

    def __init__(self, *, spec: str, **kw: Any):
        super().__init__(**kw)
        self.spec = spec

    def runtest(self) -> None:
        _check(self.config, self.spec, {}, self.name)

    def repr_failure(self, excinfo, style=None):
        # the report (or a bad option's one-line message) is the whole story: no traceback
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        if isinstance(excinfo.value, ValueError):
            return f"adverify: error: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so the item is selectable like any test
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    added = [EngineItem.from_parent(session, name=f"adverify[{spec}]", nodeid=f"adverify[{spec}]", spec=spec)
             for spec in dict.fromkeys(config.getoption("adverify_engine"))]
    if added:
        items.extend(added)
        # counted as collected, so "collected N items" and "-k" deselection add up
        config.hook.pytest_collectreport(report=pytest.CollectReport(
            nodeid="adverify", outcome="passed", longrepr=None, result=added))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    runs = config.stash.get(_RESULTS, [])
    if not runs:
        return
    terminalreporter.section("adverify")
    for label, result, out in runs:
        counts = ", ".join(f"{k} {v}" for k, v in result.verdicts.items() if v) or "none"
        n = len(result.discrepancies)
        state = f"FAILED, {n} distinct discrepanc{'y' if n == 1 else 'ies'}" if n else "passed"
        stopped = "" if result.stopped == "completed" else f", stopped: {result.stopped}"
        where = f" (report {out})" if out else ""
        terminalreporter.write_line(f"{label}: {state} — engine {result.engine!r}, {result.examples} examples, "
                                    f"seed {result.seed}{stopped}: {counts}{where}")
