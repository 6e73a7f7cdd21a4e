"""Nothing lost: a campaign stopped by SIGTERM, or killed outright with SIGKILL, leaves a
report that `adverify report` renders with every discrepancy found before the stop; and no
run overwrites an earlier report unless asked."""
import gc
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import pytest

from verifier.interfaces import selftest
from verifier.search import campaign
from verifier.search.campaign import Options, run_campaign
from verifier.interfaces.cli import main
from verifier.engines import load_engine
from verifier.interfaces.output import Output
from verifier.results.summary import load_summary

ROOT = Path(__file__).resolve().parent.parent
FAULTS = Path(__file__).resolve().parent / "faulty_engines.py"   # the fault-injection fixtures


def _start(out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "verifier", "campaign", "--seed", "0", "--quiet",
                             "--out", str(out), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _events(out: Path) -> list[dict]:
    try:
        lines = (out / "events.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("}")]


def _wait_for(p: subprocess.Popen, out: Path, findings: int, seconds: float = 90) -> list[dict]:
    """Block until the log shows ``findings`` findings (or the campaign ends, or time runs out)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and p.poll() is None:
        found = [e for e in _events(out) if e["event"] == "finding"]
        if len(found) >= findings:
            return found
        time.sleep(0.05)
    p.kill()
    pytest.fail(f"no {findings} findings in {seconds} s: {p.communicate()[1][-2000:]}")


def _workers(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":   # dead, waiting for a parent that no longer exists to reap it
            return True
        time.sleep(0.05)
    return False


BUGGY = ["--engine", "mutant:tanh-rule", "--ops", "tanh,add,mul", "--examples", "1000000", "--check-timeout", "5"]


def test_sigterm_half_way_leaves_a_report_with_every_discrepancy_found(tmp_path, capsys):
    out = tmp_path / "rep"
    p = _start(out, *BUGGY)
    logged = _wait_for(p, out, findings=2)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    result = load_summary(out / "summary.json")
    assert result.stopped == "interrupted" and result.examples > 0
    kept = {f.replay for f in result.discrepancies}
    logged = [e for e in _events(out) if e["event"] == "finding"]   # all of them, at the end
    assert len(logged) >= 2 and {e["replay"] for e in logged} == kept
    assert all((out / r).is_file() for r in kept)
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 1
    md = (out / "summary.md").read_text()
    assert "stopped: interrupted" in md and all(r in md for r in kept)


# ── an interrupt that something swallows ─────────────────────────────────────────────────
@pytest.fixture
def handlers():
    """main() leaves SIGTERM ignored once one came (to the end of the process): put back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield saved
    for s, handler in saved.items():
        signal.signal(s, handler)


@contextmanager
def _signal_in_gc(signum: int, when: Callable[[], Any]):
    """Raise ``signum`` at the first garbage collection at which ``when()`` gives something
    (kept in the list this yields). Its handler runs inside the gc callback, and the
    interpreter drops what a gc callback raises: how a SIGTERM that landed in Hypothesis'
    own gc callback was lost (verifier.search.stop)."""
    sent: list[Any] = []

    def callback(phase, info):
        if phase == "start" and not sent and when():
            sent.append(when())
            signal.raise_signal(signum)
    gc.callbacks.append(callback)
    try:
        yield sent
    finally:
        gc.callbacks.remove(callback)


def _watch_campaign(monkeypatch) -> tuple[list[str], list[int]]:
    """The replay paths of the findings written so far, and the examples counted so far."""
    written: list[str] = []
    examples = [0]
    write_replay, add = Output.write_replay, campaign._Tally.add

    def counted_replay(self, f, *args):
        write_replay(self, f, *args)
        written.append(f.replay)

    def counted_add(self, *args):
        add(self, *args)
        examples[0] = self.examples
    monkeypatch.setattr(Output, "write_replay", counted_replay)
    monkeypatch.setattr(campaign._Tally, "add", counted_add)
    return written, examples


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupt_the_interpreter_drops_still_stops_the_campaign(tmp_path, capfd, monkeypatch, handlers, signum):
    written, examples = _watch_campaign(monkeypatch)
    out = tmp_path / "rep"
    # once a finding is kept: the report must keep it
    with _signal_in_gc(signum, lambda: written and examples[0]) as sent:
        code = main(["campaign", "--engine", "mutant:tanh-rule", "--ops", "tanh,add,mul", "--examples", "300",
                     "--seed", "0", "--out", str(out), "--quiet"])
    assert len(sent) == 1 and code == 1
    result = load_summary(out / "summary.json")
    # no example is checked after the signal (but the one being counted as it came)
    assert result.stopped == "interrupted" and sent[0] <= result.examples <= sent[0] + 1
    logged = [e["replay"] for e in _events(out) if e["event"] == "finding"]
    assert logged == [f.replay for f in result.discrepancies] == written
    assert all((out / r).is_file() for r in written)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert signal.getsignal(signal.SIGINT) is handlers[signal.SIGINT]   # main() put its own back


def test_an_interrupt_as_a_search_begins_ends_the_campaign_not_in_an_error(tmp_path, capfd, monkeypatch, handlers):
    """Hypothesis fails an assert of its own when an interrupt lands in a run before its
    runner exists (hypothesis/core.py:2220, 6.155): that AssertionError is the interrupt."""
    import hypothesis.core
    digest, runs = hypothesis.core.function_digest, []

    def digest_and_signal(f):
        runs.append(f)
        if len(runs) == 2:   # the second search, after the first finding
            signal.raise_signal(signal.SIGTERM)
        return digest(f)
    monkeypatch.setattr(hypothesis.core, "function_digest", digest_and_signal)
    out = tmp_path / "rep"
    code = main(["campaign", "--engine", "mutant:tanh-rule", "--ops", "tanh,add,mul", "--examples", "300",
                 "--seed", "0", "--out", str(out), "--quiet"])
    assert len(runs) == 2 and code == 1
    result = load_summary(out / "summary.json")
    assert result.stopped == "interrupted" and len(result.discrepancies) == 1
    assert "Traceback" not in capfd.readouterr().err


def test_selftest_stops_at_an_interrupt_the_interpreter_drops(monkeypatch, capsys, handlers):
    """Dropped between two mutants' campaigns: the request outlives the one that ended, so
    the next one stops at once, and the selftest with it."""
    stopped: list[str] = []
    run = selftest.run_campaign

    def counted(*args, **kwargs):
        result = run(*args, **kwargs)
        stopped.append(result.stopped)
        gc.collect()   # the signal, now: between two campaigns
        return result
    monkeypatch.setattr(selftest, "run_campaign", counted)   # the campaign the selftest runs
    with _signal_in_gc(signal.SIGTERM, lambda: stopped) as sent:
        code = main(["selftest", "--mutants", "abs-one,tanh-rule,neg-sign", "--examples", "100"])
    assert sent and code == 130 and stopped == ["completed", "interrupted"]
    assert "interrupted" in capsys.readouterr().err


def test_an_interrupt_swallowed_in_a_parallel_campaign_still_stops_its_chunks(tmp_path, monkeypatch, handlers):
    """The --workers parent waits on its chunks: it looks at the stop request every second,
    however long a chunk runs, and stops them all as for any interrupt."""
    from verifier.interfaces.parallel import local
    out = tmp_path / "rep"
    wait, sent = local.wait, []

    def wait_and_swallow(*args, **kwargs):
        # once both chunks are checking and one has a finding: a SIGTERM whose
        # KeyboardInterrupt a library swallows
        events = [[e["event"] for e in log] for log in _chunks(out).values()]
        if not sent and len(events) == 2 and all("progress" in e for e in events) and \
                any("finding" in e for e in events):
            sent.append(signal.SIGTERM)
            try:
                signal.raise_signal(signal.SIGTERM)
            except KeyboardInterrupt:
                pass
        return wait(*args, **kwargs)
    monkeypatch.setattr(local, "wait", wait_and_swallow)
    code = main(["campaign", "--engine", "mutant:tanh-rule", "--ops", "tanh,add,mul", "--examples", "4000",
                 "--workers", "2", "--seed", "0", "--out", str(out), "--quiet"])
    assert sent and code == 1
    result = load_summary(out / "summary.json")
    assert result.stopped == "interrupted" and 0 < result.examples < 4000 and not result.lost
    assert sorted((x["worker"], x["chunk"]) for x in result.parallel["parts"]) == [(0, 0), (1, 0)]
    assert result.discrepancies and all((out / f.replay).is_file() for f in result.discrepancies)


def test_sigkill_half_way_then_report_rebuilds_the_summary_from_the_log(tmp_path, capsys):
    out = tmp_path / "rep"
    p = _start(out, *BUGGY)
    _wait_for(p, out, findings=1)
    workers = _workers(p.pid)
    p.kill()
    p.communicate(timeout=30)
    assert workers and all(_gone(w) for w in workers), "the engine worker outlived its campaign"
    assert not (out / "summary.json").exists()
    logged = [e for e in _events(out) if e["event"] == "finding"]
    assert main(["report", str(out)]) == 1
    assert "rebuilt" in capsys.readouterr().out
    result = load_summary(out / "summary.json")
    assert result.stopped == "killed" and result.engine == "mutant-tanh-rule"
    assert {e["replay"] for e in logged} <= {f.replay for f in result.discrepancies}
    assert result.examples >= max(e["examples"] for e in logged) > 0
    assert sum(result.verdicts.values()) == result.examples
    md = (out / "summary.md").read_text()
    assert "stopped: killed" in md and all(e["replay"] in md for e in logged)


def test_a_killed_campaign_does_not_leave_a_hung_engine_behind(tmp_path):
    out = tmp_path / "rep"
    p = _start(out, "--engine", f"{FAULTS}:Hangs", "--ops", "sin", "--examples", "5", "--check-timeout", "60")
    deadline = time.monotonic() + 30
    while not _workers(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _workers(p.pid)
    time.sleep(0.3)   # the worker is now spinning in the engine
    p.kill()
    p.communicate(timeout=30)
    assert workers and all(_gone(w) for w in workers)
    assert main(["report", str(out)]) == 0   # what was checked: nothing yet, and it says so
    assert load_summary(out / "summary.json").stopped == "killed"


def _chunks(out: Path) -> dict[Path, list[dict]]:
    """Each chunk folder of a parallel run, with its log so far."""
    return {d: _events(d) for d in sorted((out / "parts").glob("w*-c*"))}


@pytest.mark.parametrize("engine, code", [("builtin", 0), ("mutant:tanh-rule", 1)])
def test_a_killed_parallel_campaign_is_reported_from_what_its_workers_did(tmp_path, capsys, engine, code):
    """SIGKILL the parent of a --workers 2 run after both chunks have logged progress: its
    chunks stop too (they do not run on, orphaned), and `adverify report` rebuilds a report
    from the top folder's start record and the chunks' folders, saying it was killed."""
    out = tmp_path / "rep"
    p = _start(out, "--engine", engine, "--ops", "tanh,add,mul", "--examples", "1000000", "--workers", "2")
    deadline, progress = time.monotonic() + 90, {}
    while time.monotonic() < deadline and p.poll() is None:
        logs = _chunks(out)
        progress = {d: max([e["examples"] for e in log if e["event"] in ("progress", "finding")], default=0)
                    for d, log in logs.items()}
        found = [e for log in logs.values() for e in log if e["event"] == "finding"]
        if len(progress) == 2 and all(progress.values()) and (found or code == 0):
            break
        time.sleep(0.1)
    else:
        p.kill()
        pytest.fail(f"the chunks logged no progress: {p.communicate()[1][-2000:]}")
    pids = [log[0]["pid"] for log in _chunks(out).values()]
    p.kill()
    p.communicate(timeout=30)
    assert all(_gone(pid, 15) for pid in pids), "a chunk outlived its campaign"
    assert not (out / "summary.json").exists()
    assert json.loads((out / "events.jsonl").read_text().splitlines()[0])["event"] == "start"

    assert main(["report", str(out)]) == code
    printed = capsys.readouterr().out
    assert "rebuilt" in printed and "stopped: killed" in printed
    result = load_summary(out / "summary.json")
    assert result.stopped == "killed" and result.parallel["workers"] == 2
    assert result.examples >= sum(progress.values()) > 0
    assert sum(result.verdicts.values()) == result.examples
    assert sorted((x["worker"], x["chunk"]) for x in result.parallel["parts"]) == [(0, 0), (1, 0)]
    assert bool(result.discrepancies) == (code == 1)
    from verifier.results.replay import read_replay
    for f in result.discrepancies:   # found by a chunk, and replayable where it lies
        assert f.replay.startswith("parts/w00") and read_replay(out / f.replay).fields["signature"] == f.signature
    md = (out / "summary.md").read_text()
    assert "stopped: killed" in md and f"{result.examples} examples" in md
    assert (out / "index.html").is_file()


# ── rebuilding from the log, without a subprocess ────────────────────────────────────────
@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    # two distinct findings: mul's swapped partials as a mismatch and, where they meet an
    # overflow, as a NaN — which the generator reaches with some seeds and not others: take
    # the first seed that has both, rather than one that the next generator change breaks
    for seed in range(8):
        out = tmp_path_factory.mktemp("done") / "rep"
        result = run_campaign(load_engine("mutant:mul-swapped"),
                              Options(examples=80, seed=seed, ops=("mul", "add", "tanh")), Output(out))
        if len(result.discrepancies) >= 2:
            return out
    pytest.fail("no seed of 0-7 found two distinct discrepancies in 80 examples")


def _copy(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    (dst / "summary.json").unlink()
    return dst


def test_the_rebuilt_summary_matches_the_one_the_campaign_wrote(finished, tmp_path):
    out = _copy(finished, tmp_path / "rep")
    assert main(["report", str(out)]) == 1
    rebuilt, written = load_summary(out / "summary.json"), load_summary(finished / "summary.json")
    assert rebuilt.discrepancies == written.discrepancies
    assert (rebuilt.engine, rebuilt.seed, rebuilt.ops, rebuilt.stopped) == \
           (written.engine, written.seed, written.ops, written.stopped)


def test_a_finding_whose_log_line_was_cut_off_is_recovered_from_its_replay(finished, tmp_path):
    out = _copy(finished, tmp_path / "rep")
    lines = (out / "events.jsonl").read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if '"event": "finding"' in line)
    lost = json.loads(lines[last])["replay"]
    # killed while writing that line: half of it, no newline, nothing after it
    (out / "events.jsonl").write_text("".join(lines[:last]) + lines[last][:40])
    assert main(["report", str(out)]) == 1
    result = load_summary(out / "summary.json")
    recovered = [f for f in result.discrepancies if f.replay == lost]
    assert len(recovered) == 1 and "recovered from its replay file" in recovered[0].message
    assert result.stopped == "killed"


def test_a_corrupt_log_is_one_line_exit_2(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path / "rep")
    lines = (out / "events.jsonl").read_text().splitlines(keepends=True)
    lines[1] = '{"event": "finding", "examples": NaN}\n'
    (out / "events.jsonl").write_text("".join(lines))
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "events.jsonl line 2" in err and err.count("\n") == 1


def _killed_parallel(finished: Path, top: Path) -> Path:
    """A parallel run's top folder as its kill left it, by hand: its start and plan records,
    and one chunk folder (the finished campaign's log, behind the worker record a chunk
    writes first) holding neither summary."""
    import shutil
    lines = (finished / "events.jsonl").read_text().splitlines(keepends=True)
    start = json.loads(lines[0])
    plan = {"seed": start["seed"], "examples": 2 * start["options"]["examples"], "workers": 2, "recycle_after": None}
    chunk = top / "parts" / "w000-c0000"
    shutil.copytree(finished / "replays", chunk / "replays")
    worker = {"event": "worker", "pid": 1, "worker": 0, "chunk": 0, "seed": start["seed"],
              "examples": [0, start["options"]["examples"]], "plan": plan}
    (chunk / "events.jsonl").write_text(json.dumps(worker) + "\n" + "".join(lines[:-1]))   # no end record
    (top / "parts" / "w001-c0000").mkdir()             # killed before its campaign began: only its first line
    (top / "parts" / "w001-c0000" / "events.jsonl").write_text(json.dumps({**worker, "worker": 1}) + "\n")
    (top / "events.jsonl").write_text(json.dumps(start) + "\n" + json.dumps({"event": "parallel", **plan}) + "\n")
    return top


def test_a_killed_parallel_folder_is_rebuilt_from_its_chunks_logs(finished, tmp_path, capsys):
    out = _killed_parallel(finished, tmp_path / "rep")
    assert main(["report", str(out)]) == 1
    rebuilt, written = load_summary(out / "summary.json"), load_summary(finished / "summary.json")
    logged = max(e["examples"] for e in _events(out / "parts" / "w000-c0000") if "verdicts" in e)
    assert rebuilt.stopped == "killed" and rebuilt.examples == logged > 0   # its last logged count
    assert [f.signature for f in rebuilt.discrepancies] == [f.signature for f in written.discrepancies]
    assert all(f.replay.startswith("parts/w000-c0000/replays/") and (out / f.replay).is_file()
               for f in rebuilt.discrepancies)
    assert [(x["worker"], x["checked"]) for x in rebuilt.parallel["parts"]] == [(0, logged)]

    # a log that points a finding's replay outside the report is refused in one line
    log = out / "parts" / "w000-c0000" / "events.jsonl"
    log.write_text(log.read_text().replace('"replay": "replays/', '"replay": "/etc/'))
    (out / "summary.json").unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "outside the report" in err and err.count("\n") == 1


# ── reruns ───────────────────────────────────────────────────────────────────────────────
def test_a_rerun_never_overwrites_an_earlier_report_unless_asked(tmp_path, capsys):
    out = tmp_path / "rep"
    args = ["campaign", "--engine", "mutant:tanh-rule", "--ops", "tanh", "--examples", "5", "--seed", "0",
            "--out", str(out), "--quiet"]
    assert main(args) == 1
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert main(args) == 2 and "earlier report" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before

    killed = tmp_path / "killed"           # a killed run's folder holds only its log: still protected
    killed.mkdir()
    (killed / "events.jsonl").write_text("")
    assert main(args[:-2] + ["--out", str(killed), "--quiet"]) == 2

    (out / "replays" / "999-stale.json").write_text("{}")
    assert main(["campaign", "--engine", "builtin", "--ops", "tanh", "--examples", "5", "--seed", "0",
                 "--out", str(out), "--overwrite", "--quiet"]) == 0
    result = load_summary(out / "summary.json")
    assert result.engine == "builtin" and not result.discrepancies
    assert not list((out / "replays").glob("*.json")), "the old run's replay files went with it"
