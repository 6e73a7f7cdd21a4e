"""Campaigns across processes, shards and a Dask cluster: the plan fixes every example, so
however a campaign is split, merging its parts gives the counts of running the same
examples in one process; a worker that dies costs its chunk, never a finding."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from optional import require

from verifier.search.campaign import Options, run_campaign
from verifier.interfaces.cli import main
from verifier.engines import load_engine
from verifier.interfaces.output import Output
from verifier.interfaces.parallel import Plan, parse_shard, run_parallel
from verifier.checking.memory import trim
from verifier.results.summary import load_summary

ROOT = Path(__file__).resolve().parent.parent
SPEC = "mutant:tanh-rule"          # a planted bug, so there are findings to merge
OPS = ("tanh", "add", "mul", "sin")
CAMPAIGN = ["--engine", SPEC, "--ops", ",".join(OPS), "--max-nodes", "5", "--quiet"]


def test_plan_derives_seeds_and_splits_the_budget():
    plan = Plan(seed=7, examples=10, workers=3)
    assert [plan.worker_seed(k) for k in range(3)] == [7000, 7001, 7002]
    assert [plan.budget(k) for k in range(3)] == [4, 3, 3]
    assert Plan(seed=7, examples=10).worker_seed(0) == 7   # one worker is the plain campaign
    chunks = Plan(seed=7, examples=10, workers=3, recycle_after=3).chunks(0)
    assert [(c.seed, c.start, c.stop) for c in chunks] == [(7000, 0, 3), (7000001, 3, 4)]
    assert sum(c.examples for c in Plan(5, 1001, 4, 100).all_chunks()) == 1001
    assert parse_shard("2/4") == (1, 4)
    for bad in ("0/4", "5/4", "4", "a/b", "1/1001"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def _one_process(plan: Plan) -> tuple[Counter, set[str], int]:
    """Every chunk of the plan as a plain campaign, one after another, in this process."""
    verdicts, signatures, examples = Counter(), set(), 0
    for c in plan.all_chunks():
        r = run_campaign(load_engine(SPEC), Options(examples=c.examples, seed=c.seed, ops=OPS, max_nodes=5))
        verdicts.update(r.verdicts)
        signatures |= {f.signature for f in r.discrepancies}
        examples += r.examples
    return verdicts, signatures, examples


def test_shards_merged_equal_workers_equal_one_process(tmp_path):
    """`--shard K/N --examples E` runs exactly worker K-1 of `--workers N --examples E`: the
    merged shards, the workers run and the same chunks run in one process count alike."""
    plan = Plan(seed=11, examples=40, workers=2, recycle_after=15)
    verdicts, signatures, examples = _one_process(plan)
    assert examples == 40 and signatures, "the planted bug is found"

    args = CAMPAIGN + ["--examples", "40", "--seed", "11", "--recycle-after", "15"]
    for k in (1, 2):
        assert main(["campaign", *args, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")]) == 1
    assert main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "merged")]) == 1
    merged = load_summary(tmp_path / "merged" / "summary.json")

    # the workers run through the Python API, its caches cleared every 7 examples: clearing
    # only forgets memoised work, so it must not change a single verdict
    opts = Options(examples=40, seed=11, ops=OPS, max_nodes=5, trim_every=7)
    workers = run_parallel(SPEC, opts, plan, Output(tmp_path / "workers"))

    for result in (merged, workers):
        assert Counter(result.verdicts) == verdicts
        assert result.examples == 40 and not result.lost
        assert {f.signature for f in result.discrepancies} == signatures
        assert len(result.parallel["parts"]) == len(plan.all_chunks())
        for f in result.discrepancies:   # renumbered into the one report, and readable
            assert (tmp_path / ("merged" if result is merged else "workers") / f.replay).is_file()
    assert [f.expression for f in merged.discrepancies] == [f.expression for f in workers.discrepancies]
    assert not (tmp_path / "workers" / "parts").exists()   # nothing lost: the parts are gone


def test_merge_names_a_missing_shard_and_refuses_a_mix(tmp_path, capsys):
    args = CAMPAIGN + ["--examples", "20", "--seed", "3"]
    main(["campaign", *args, "--shard", "1/3", "--out", str(tmp_path / "a")])
    main(["campaign", *args, "--shard", "2/3", "--out", str(tmp_path / "b")])
    main(["campaign", *args, "--out", str(tmp_path / "plain")])
    capsys.readouterr()
    main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")])
    lost = load_summary(tmp_path / "m" / "summary.json").lost
    assert [(x["worker"], x["examples"]) for x in lost] == [(2, [0, 6])]
    assert capsys.readouterr().out.count("lost: worker 2 chunk 0") == 1   # said once, by the report
    for dirs, message in (([tmp_path / "a", tmp_path / "a"], "named twice"),
                          ([tmp_path / "a", tmp_path / "m"], "worker 0 chunk 0 is in both"),
                          ([tmp_path / "a", tmp_path / "plain"], "plain campaign"),
                          ([tmp_path / "nothing"], "not a report folder")):
        assert main(["merge", *map(str, dirs), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    # --out over an input, even with --overwrite, must not delete the report it is to read
    assert main(["merge", str(tmp_path / "a"), "--out", str(tmp_path / "a"), "--overwrite"]) == 2
    assert "one of the folders" in capsys.readouterr().err
    assert (tmp_path / "a" / "summary.json").is_file()
    doc = json.loads((tmp_path / "a" / "summary.json").read_text())
    doc["lost"] = [{"worker": "zero"}]     # a hand-edited summary is refused, not trusted
    (tmp_path / "a" / "summary.json").write_text(json.dumps(doc))
    assert main(["merge", str(tmp_path / "a"), "--out", str(tmp_path / "y")]) == 2
    assert "summary.lost[0]" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--shard", "3/2"], "--shard"),
    (["--shard", "1/2", "--workers", "2"], "neither --workers"),
    (["--address", "tcp://127.0.0.1:1"], "--backend dask"),
    (["--workers", "0"], "out of range"),
])
def test_bad_parallel_options_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["campaign", *CAMPAIGN, "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_a_killed_worker_loses_its_chunk_not_its_findings(tmp_path):
    """SIGKILL a worker as soon as it has a finding on disk: the campaign completes, names
    the lost chunk, and the merged report still holds what that worker had found."""
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "verifier", "campaign", *CAMPAIGN, "--examples", "240",
                             "--seed", "5", "--workers", "2", "--out", str(out),
                             "--junit", str(tmp_path / "junit.xml")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        for part in sorted((out / "parts").glob("w*")):
            if (part / "summary.json.partial").exists() and not (part / "summary.json").exists():
                pid = json.loads((part / "events.jsonl").read_text().splitlines()[0])["pid"]
                os.kill(pid, signal.SIGKILL)
                killed = part
                break
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=180)
    assert killed is not None, "no worker found the planted bug while running"
    assert proc.returncode == 1, stderr
    result = load_summary(out / "summary.json")
    worker = int(killed.name[1:4])
    assert [(x["worker"], x["chunk"], x["examples"]) for x in result.lost] == [(worker, 0, [0, 120])]
    assert "SIGKILL" in result.lost[0]["reason"] and result.lost[0]["findings"] >= 1
    assert result.examples == 120       # the other worker's, all of them; the lost chunk's counts are gone
    salvaged = load_summary(killed / "summary.json.partial").discrepancies
    assert {f.signature for f in salvaged} <= {f.signature for f in result.discrepancies}
    assert stdout.count(f"lost: worker {worker} chunk 0") == 1
    assert killed.exists()               # a lost chunk's folder is kept: what was it doing?
    # its last logged count: at most its examples (a count of 0 is possible if it died fast)
    assert 0 <= result.lost[0]["checked"] <= 120

    # every report names the lost work: worker, chunk, seed, examples, why
    from xml.etree import ElementTree as ET
    x = result.lost[0]
    md = (out / "summary.md").read_text()
    assert "## Lost work" in md and f"| {worker} | 0 | {x['seed']} | 0–120 (120) |" in md and "SIGKILL" in md
    page = (out / "index.html").read_text()
    assert 'id="lost"' in page and "1 chunk lost (120 planned examples" in page and "SIGKILL" in page
    assert f"<td class=num>{worker}</td><td class=num>0</td><td class=num>{x['seed']}</td><td>0–120</td>" in page
    assert f"1 chunk lost (120 planned examples" in stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    error = next(tc for tc in suite.iter("testcase") if tc.get("name") == f"lost:worker {worker} chunk 0").find("error")
    assert suite.get("errors") == "1" and error.get("type") == "lost" and "SIGKILL" in error.get("message")
    # and `adverify report` draws the same pages from summary.json
    before = {n: (out / n).read_text() for n in ("summary.md", "index.html")}
    assert main(["report", str(out)]) == 1
    assert {n: (out / n).read_text() for n in before} == before


def test_trim_empties_the_caches():
    import sympy
    from sympy.core.cache import CACHE
    from oracles import symbolic
    from verifier.floor.ir import apply, var
    symbolic.derivatives(apply("sin", var("x")))
    x = sympy.Symbol("x")
    (sympy.sin(x) * sympy.exp(x)).diff(x)       # fills SymPy's own global cache
    assert symbolic.derivatives.cache_info().currsize > 0
    assert sum(f.cache_info().currsize for f in CACHE) > 0
    trim()
    assert symbolic.derivatives.cache_info().currsize == 0
    assert sum(f.cache_info().currsize for f in CACHE) == 0


def test_a_campaign_trims_its_caches_every_trim_every_examples(monkeypatch):
    import verifier.checking.memory as memory
    calls = []
    monkeypatch.setattr(memory, "trim", lambda checker=None: calls.append(checker is not None))
    result = run_campaign(load_engine("builtin"), Options(examples=23, seed=4, ops=OPS, max_nodes=4, trim_every=5))
    assert result.examples == 23 and calls == [True] * 4   # after examples 5, 10, 15, 20: with the checker's


def test_recycling_runs_every_chunk_in_a_fresh_process(tmp_path):
    """--recycle-after 10 on 30 examples: three chunks, three processes, none of them this one."""
    pids = tmp_path / "pids"
    engine = tmp_path / "pid_engine.py"
    engine.write_text("import os\nfrom verifier.engines import load_engine\n\n\ndef Engine():\n"
                      f"    with open({str(pids)!r}, 'a') as f:\n        f.write(f'{{os.getpid()}}\\n')\n"
                      "    return load_engine('builtin')\n")
    result = run_parallel(f"{engine}:Engine", Options(examples=30, seed=1, ops=OPS, max_nodes=4),
                          Plan(1, 30, 1, recycle_after=10), Output(tmp_path / "r"))
    assert result.examples == 30 and [p["examples"] for p in result.parallel["parts"]] == [[0, 10], [10, 20], [20, 30]]
    seen = [int(x) for x in pids.read_text().split()]
    chunk_pids = [p for p in seen if p != os.getpid()]   # this process loads it once, for the start record
    assert len(chunk_pids) == 3 and len(set(chunk_pids)) == 3


def test_dask_backend_counts_like_the_local_workers(tmp_path):
    """A Dask cluster the test starts on 127.0.0.1 (two worker processes): the same plan,
    the same examples, the same counts as local processes."""
    distributed = require("distributed")
    args = CAMPAIGN + ["--examples", "30", "--seed", "2", "--workers", "2"]
    main(["campaign", *args, "--out", str(tmp_path / "local")])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        code = main(["campaign", *args, "--backend", "dask", "--address", cluster.scheduler_address,
                     "--out", str(tmp_path / "dask")])
    local, remote = (load_summary(tmp_path / d / "summary.json") for d in ("local", "dask"))
    assert code == (1 if remote.discrepancies else 0)
    assert remote.verdicts == local.verdicts and remote.examples == 30 and not remote.lost
    assert {f.signature for f in remote.discrepancies} == {f.signature for f in local.discrepancies}


def test_severity_counts_stay_bounded_and_pool_exactly(tmp_path):
    from verifier.model import Severities
    many = Severities.of([0.0, 0.5, 2.0, 1e-30, 7e-3] * 200_000)   # a million judged checks
    assert many.checks == 1_000_000 and many.exact == 200_000 and many.worst == 2.0
    assert len(json.dumps(many.to_json())) < 300                 # whatever the count
    assert many.to_json()["decades"] == {"-17": 200_000, "-3": 200_000, "-1": 200_000, "0": 200_000}
    halves = Severities().pool(Severities.of([0.5, 3.0]).to_json()).pool(Severities.of([0.0]).to_json())
    assert halves.to_json() == Severities.of([0.5, 3.0, 0.0]).to_json()


def test_old_severity_lists_load_as_counts_and_bad_counts_are_refused(tmp_path):
    from verifier.search.campaign import Options, run_campaign
    from verifier.engines import load_engine
    from verifier.results.summary import dump_summary, load_summary
    from verifier.floor.serial import FormatError
    r = run_campaign(load_engine("builtin"), Options(examples=20, seed=0, check_timeout=None))
    path = tmp_path / "summary.json"
    dump_summary(r, path)
    doc = json.loads(path.read_text())
    doc["severities"] = [0.0, 0.25, 3.0]                       # the format before the counts
    path.write_text(json.dumps(doc))
    assert load_summary(path).severities == {"checks": 3, "exact": 1, "worst": 3.0, "decades": {"-1": 1, "0": 1}}
    doc["severities"] = {"checks": 3, "exact": 1, "worst": 3.0, "decades": {"ten": 1}}
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="not a decade"):
        load_summary(path)


def test_a_merge_keeps_the_parts_logged_oracle_disagreements(tmp_path, monkeypatch):
    from verifier.checking.checker import Checker
    from verifier.model import Verdict
    from verifier.results.events import logged_disagreements
    from verifier.floor.serial import FormatError
    monkeypatch.setattr(Checker, "check", lambda self, case: Verdict("oracle-disagreement", "symbolic 1 vs paths 2"))
    for name, seed in (("a", 1), ("b", 2)):
        assert main(["campaign", "--engine", "builtin", "--examples", "3", "--seed", str(seed), "--quiet",
                     "--out", str(tmp_path / name)]) == 0
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")]) == 0
    merged = logged_disagreements(tmp_path / "m")
    assert len(merged) == 6 and merged == logged_disagreements(tmp_path / "a") + logged_disagreements(tmp_path / "b")
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "oracle-disagreement", "reason": "x", "expr": "eval(1)"}\n')
    with pytest.raises(FormatError):
        logged_disagreements(tmp_path / "a")    # a hand-edited log is refused, not trusted
