"""Fault injection: an engine that raises, hangs, dies, lies or misbehaves is a finding with
the right verdict, and the campaign still ends (exit 1) with a complete report.

The faulty engines and the table live in tests/faulty_engines.py (benchmarks/faults.py prints
the table the README quotes); here every row is checked once, fast, through the checker, and a
representative set runs whole campaigns through the command line (all of them: -m slow)."""
import os

import pytest

import faulty_engines as F
from verifier.checking.checker import Checker
from verifier.engines.builtin import BuiltinEngine
from verifier.engines import load_engine
from verifier.checking.executor import InProcess
from verifier.floor.ir import apply, const, var
from verifier.model import Case
from verifier.checking.runner import run_engine

# engines are loaded (not constructed) so that a fresh process can rebuild them: once JAX has
# run in this process (an earlier test), the checker's worker is spawned, not forked
x, y = var("x"), var("y")
# every op the faults touch (sin: RaisesInOp; pow's constant: RaisesInConstant), a shared node
CASE = Case(apply("add", apply("mul", apply("sin", x), x), apply("pow", y, const(2.0))), {"x": 0.5, "y": -1.25})


def _verdicts(fault: F.Fault, checks: int = 1) -> list[str]:
    engine = load_engine(getattr(F, fault.engine))
    saved = {k: os.environ.get(k) for k in fault.env}
    os.environ.update(fault.env)
    try:
        with Checker(engine, timeout=fault.timeout) as checker:
            return [checker.check(CASE).kind for _ in range(checks)]
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


@pytest.mark.parametrize("fault", F.FAULTS, ids=lambda f: f.name)
def test_every_fault_gets_its_verdict(fault):
    kinds = _verdicts(fault, checks=3 if fault.name == "hang-sometimes" else 1)
    if fault.expect:
        assert set(kinds) - {"agree"} and set(kinds) - {"agree"} <= set(fault.expect), kinds
    else:
        assert kinds == ["agree"]


def test_messages_say_what_went_wrong():
    def message(cls, timeout=2.0):
        with Checker(load_engine(cls), timeout=timeout) as checker:
            return checker.check(CASE).reason
    assert "RuntimeError: backward pass not implemented" in message(F.Raises)
    assert "SystemExit: 3" in message(F.SystemExits)
    assert "died (signal SIGSEGV)" in message(F.Segfaults)
    assert "died (exit code 7)" in message(F.OsExits)
    assert "no answer within 0.3 s" in message(F.Hangs, 0.3)
    assert "shape (2,)" in message(F.WrongShape)
    assert "returned 1 values for 2 variables" in message(F.WrongCount)
    assert "more than 2" in message(F.EndlessGradients)
    assert "not a number: str" in message(F.NotNumbers)
    assert "changed variable" in message(F.MutatesInputs)
    assert "second identical graph" in message(F.LeaksState)


def test_unbounded_allocation_meets_the_workers_memory_cap(monkeypatch):
    monkeypatch.setenv("ADVERIFY_WORKER_MEMORY", "64")
    with Checker(load_engine(F.Hoards), timeout=10) as checker:
        verdict = checker.check(CASE)
        assert verdict.kind == "crash" and verdict.reason.startswith("MemoryError")
        # the worker freed it all and answers the next check itself (it did not die)
        assert checker.check(Case(apply("cos", x), {"x": 0.5})).reason.startswith("MemoryError")


def _spin(a):
    while True:
        pass


class HangsInSin(BuiltinEngine):
    def __init__(self):
        super().__init__()
        self.ops["sin"] = _spin


def test_a_stuck_worker_is_replaced_and_the_next_check_runs():
    with Checker(load_engine(HangsInSin), timeout=0.3) as checker:
        assert checker.check(Case(apply("sin", x), {"x": 0.5})).kind == "timeout"
        assert checker.check(Case(apply("cos", x), {"x": 0.5})).kind == "agree"
        assert checker.check(Case(apply("sin", x), {"x": 0.5})).kind == "timeout"


def test_in_process_an_engine_cannot_exit_but_a_real_ctrl_c_still_stops():
    """Without a worker, SystemExit from the engine is a crash; KeyboardInterrupt cannot be
    told from the user's Ctrl-C there, so it is not swallowed (in a worker it is a crash)."""
    assert run_engine(F.SystemExits(), CASE.expr, CASE.point).status == "crash"
    with pytest.raises(KeyboardInterrupt):
        InProcess(F.KeyboardInterrupts()).run(CASE.expr, CASE.point)


def test_in_process_prints_stay_out_of_stdout(capsys):
    run = run_engine(F.PrintsGarbage(), CASE.expr, CASE.point)
    assert run.status == "ok" and "DEBUG" not in capsys.readouterr().out


# ── whole campaigns through the command line ─────────────────────────────────────────────
QUICK = ["raises", "segfault", "hang", "allocates", "mutates-inputs", "prints-garbage"]


def _campaign(fault, tmp_path, capfd):
    row = F.run_fault(fault, tmp_path / "report")
    out = capfd.readouterr().out   # fd 1 as well: a worker's raw writes must not land there
    assert row.ok, row.problem
    assert "DEBUG" not in out and "raw bytes" not in out
    if fault.expect:
        assert row.code == 1 and row.kinds
    else:
        assert row.code == 0 and not row.kinds
    assert row.complete


@pytest.mark.parametrize("fault", [f for f in F.FAULTS if f.name in QUICK], ids=lambda f: f.name)
def test_a_campaign_against_a_faulty_engine_exits_1_with_a_complete_report(fault, tmp_path, capfd):
    _campaign(fault, tmp_path, capfd)


@pytest.mark.slow
@pytest.mark.parametrize("fault", [f for f in F.FAULTS if f.name not in QUICK], ids=lambda f: f.name)
def test_every_fault_campaign(fault, tmp_path, capfd):
    _campaign(fault, tmp_path, capfd)


def test_the_table_counts_what_was_found():
    rows = [F.Row(f, 1 if f.expect else 0, list(f.expect), True, 0.1, True) for f in F.FAULTS]
    rows[0].problem = "exit 0, expected 1"
    injected = sum(1 for f in F.FAULTS if f.expect)
    text = F.table(rows)
    assert f"{injected - 1} of {injected} injected faults found" in text and "✗ exit 0" in text


# ── the verifier's own runaway work: SymPy on a deeply shared DAG ───────────────────────
def _shared_chain(depth: int):
    """y ← sin(y) + y·y, ``depth`` times: 3·depth nodes, but sympy.diff copies each shared
    argument, and its work grows about threefold per level."""
    y = x
    for _ in range(depth):
        y = apply("add", apply("sin", y), apply("mul", y, y))
    return y


@pytest.fixture
def sympy_only(monkeypatch):
    from collections import OrderedDict
    from oracles import symbolic
    monkeypatch.setattr(symbolic, "_fast", lambda: None)        # SymEngine would be quick here
    monkeypatch.setattr(symbolic, "_GAVE_UP", OrderedDict())
    return symbolic


def test_a_symbolic_blow_up_is_cut_off_and_the_mpmath_witness_takes_over(sympy_only, monkeypatch):
    import signal
    import time
    from verifier.truth.judge import reference
    monkeypatch.setattr(sympy_only, "TIME_LIMIT", 0.5)
    expr = _shared_chain(14)
    start = time.monotonic()
    ref = reference(Case(expr, {"x": 0.1}))
    assert time.monotonic() - start < 5
    assert ref.status == "ok" and "symbolic" not in ref.oracles and "mpmath" in ref.oracles
    assert "took more than 0.5 s" in sympy_only._GAVE_UP[expr]
    start = time.monotonic()                  # the same expression is not tried again
    assert reference(Case(expr, {"x": 0.05})).status == "ok" and time.monotonic() - start < 1
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_a_derivative_too_large_is_refused(sympy_only, monkeypatch):
    from oracles.base import OracleError
    monkeypatch.setattr(sympy_only, "MAX_TERMS", 20)
    with pytest.raises(OracleError, match="more than 20 sub-expressions"):
        sympy_only.gradient(_shared_chain(4), {"x": 0.1})


def test_off_the_main_thread_the_size_cap_still_bounds_sympy(sympy_only):
    import threading
    from oracles.base import OracleError
    errors = []

    def work():
        try:
            sympy_only.gradient(_shared_chain(14), {"x": 0.1})
        except OracleError as e:
            errors.append(str(e))
    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert not t.is_alive() and "no time limit can be set here" in errors[0]


def test_a_campaign_goes_on_when_sympy_gives_up(sympy_only, monkeypatch):
    from verifier.search.campaign import Options, run_campaign
    monkeypatch.setattr(sympy_only, "TIME_LIMIT", 0.01)
    r = run_campaign(BuiltinEngine(), Options(examples=15, seed=3, check_timeout=None))
    assert r.examples == 15 and not r.discrepancies and sum(r.verdicts.values()) == 15


# ── a worker that is a fresh interpreter (what JAX having run in this process asks for) ──
def test_a_fresh_workers_start_is_not_charged_to_the_first_check():
    import pickle
    from verifier.checking.executor import Worker, rebuild_recipe
    engine = load_engine("builtin")
    worker = Worker(engine, 0.2, rebuild_recipe(engine))   # a fresh interpreter takes longer than 0.2 s
    try:
        assert [worker.run(CASE.expr, CASE.point).status for _ in range(2)] == ["ok", "ok"]
    finally:
        worker.close()
    broken = Worker(engine, 5, pickle.dumps(("load", ("no_such_module_here:engine", False))))
    try:
        run = broken.run(CASE.expr, CASE.point)
    finally:
        broken.close()
    assert run.status == "crash" and "could not be built in a fresh process: EngineError" in run.message


def test_an_engine_a_fresh_worker_cannot_build_is_checked_here_with_a_warning(monkeypatch):
    import pickle
    from verifier.checking import executor
    monkeypatch.setattr(executor, "_xla_started", lambda: True)
    monkeypatch.setattr(executor, "rebuild_recipe",
                        lambda engine: pickle.dumps(("load", ("no_such_module_here:engine", False))))
    with pytest.warns(RuntimeWarning, match="cannot be checked in a fresh process: the engine could not be built"):
        chosen = executor.make_executor(load_engine("builtin"), 5)
    assert isinstance(chosen, InProcess) and chosen.run(CASE.expr, CASE.point).status == "ok"
