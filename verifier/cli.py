"""The command line: ``main(argv) -> int``. Exit 0: no discrepancy; 1: discrepancies;
2: a usage or input error, reported on one line without a traceback."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from .argtypes import count as _count, seconds as _seconds   # shared with the pytest plugin

__all__ = ["main"]


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="adverify", description="Check an autograd engine's derivatives on random "
                "compositions of its ops, against symbolic, numerical and path-product oracles.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("campaign", help="search for wrong derivatives")
    c.add_argument("--engine", default="builtin", help="builtin, builtin-paths, an adapter name, or module:attr")
    c.add_argument("--examples", type=_count(1), default=1000, help="examples to check (default 1000)")
    c.add_argument("--time-budget", type=_seconds, help="stop after this many seconds, with a full report")
    c.add_argument("--seed", type=_count(0), default=None, help="seed (default: random, and printed)")
    c.add_argument("--ops", help="comma-separated ops to use (default: all the engine has)")
    c.add_argument("--max-nodes", type=_count(1, 64), default=None,
                   help="ops per expression at most (default 12; 6 with --tensor)")
    c.add_argument("--order", type=_count(1, 2), default=1,
                   help="2: check Hessian entries (engines with second_derivatives)")
    c.add_argument("--tensor", action="store_true",
                   help="tensor programs: broadcasting, reductions, matmul, softmax, where (numpy arrays)")
    c.add_argument("--forward", action="store_true",
                   help="also check forward mode (engines with forward_gradients): against the oracles, "
                        "and against the engine's reverse mode")
    c.add_argument("--vars", type=_count(1, 8), default=3, help="variables (default 3)")
    c.add_argument("--check-timeout", type=_seconds, default=5.0, help="seconds one check may take (default 5)")
    c.add_argument("--out", type=Path, help="report folder (default: a new folder under reports/)")
    c.add_argument("--overwrite", action="store_true", help="replace the report already in --out")
    c.add_argument("--junit", type=Path, help="also write JUnit XML here")
    c.add_argument("--regressions", type=Path, action="append", metavar="PATH",
                   help="re-check these replay files first: a file, a folder of them, or an earlier "
                        "report folder (repeatable)")
    c.add_argument("--save-regressions", type=Path, metavar="DIR",
                   help="copy this run's replay files into DIR (named by content, never overwritten)")
    c.add_argument("--ci", action="store_true",
                   help="a gating run: seed 0 unless --seed is given, no progress bar")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    # scale (verifier/parallel): split the examples into independent searches, one report
    c.add_argument("--workers", type=_count(1, 1000), default=None,
                   help="N processes, each its own search with seed SEED*1000+k on 1/N of the examples "
                        "(with --backend dask: the number of searches; default: the cluster's threads)")
    c.add_argument("--shard", metavar="K/N", help="run only the K-th of the N searches --workers N would "
                   "run (1-based); merge the N report folders with `adverify merge`")
    c.add_argument("--recycle-after", type=_count(1), metavar="N",
                   help="run each search in chunks of N examples, each in a fresh process (bounded memory)")
    c.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes (default), or a Dask cluster: pip install 'adverify[dask]'")
    c.add_argument("--address", help="the Dask scheduler, e.g. tcp://10.0.0.1:8786 (default: a local cluster)")

    r = sub.add_parser("replay", help="re-check one saved discrepancy")
    r.add_argument("file", type=Path)
    r.add_argument("--engine", help="engine to check (default: the file's, if it is a built-in adapter)")

    rep = sub.add_parser("report", help="re-render every report format from a campaign's summary.json")
    rep.add_argument("dir", type=Path)

    sub.add_parser("engines", help="list the engine adapters: installed or not, ops, dtype")

    m = sub.add_parser("merge", help="merge the report folders of shards (or of whole campaigns) into one")
    m.add_argument("dirs", type=Path, nargs="+", metavar="DIR")
    m.add_argument("--out", type=Path, required=True, help="the merged report's folder")
    m.add_argument("--overwrite", action="store_true", help="replace the report already in --out")
    m.add_argument("--junit", type=Path, help="also write JUnit XML here")

    st = sub.add_parser("selftest", help="the planted-bug suite: is every mutant found, shrunk and blamed?")
    st.add_argument("--examples", type=_count(1), default=500, help="examples per mutant at most (default 500)")
    st.add_argument("--seed", type=_count(0), default=0, help="seed (default 0)")
    st.add_argument("--mutants", help="comma-separated mutant names (default: every one)")
    st.add_argument("--time-budget", type=_seconds, help="seconds per mutant at most")
    return p


def _progress(stream):
    start = time.monotonic()
    last = [0.0]

    def show(done: int, total: int, found: int, now: float) -> None:
        if now - last[0] < 0.1 and done < total:
            return
        last[0] = now
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} examples, "
                     f"{found} discrepanc{'y' if found == 1 else 'ies'}, {now - start:.1f} s ")
        stream.flush()
    return show


def _regressions(paths: list[Path] | None):
    from .gate import collect_regressions
    for path in paths or ():
        if not path.exists():  # a typo must not silently skip every old reproducer
            raise UsageError(f"regressions path {str(path)!r} does not exist")
    return collect_regressions(paths) if paths else ()


def _campaign(args) -> int:
    from .campaign import Options, campaign_ops, run_campaign
    from .engines import load_engine
    from .output import Output, default_out
    from .report import text
    from .strategies import check_ops

    engine = load_engine(args.engine, tensor=args.tensor)
    ops = tuple(check_ops([o.strip() for o in args.ops.split(",") if o.strip()])) if args.ops else None
    seed = args.seed
    if seed is None:  # a gate must not be flaky: CI runs use a fixed seed unless told otherwise
        seed = 0 if args.ci else int.from_bytes(os.urandom(4), "little")
    options = Options(examples=args.examples, seed=seed, time_budget=args.time_budget, ops=ops,
                      max_nodes=args.max_nodes or (6 if args.tensor else 12), n_vars=args.vars,
                      check_timeout=args.check_timeout, regressions=_regressions(args.regressions),
                      tensor=args.tensor, order=args.order, forward=args.forward)
    campaign_ops(engine, options)   # options that do not fit the engine: exit 2 before any folder
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    out_dir = args.out or default_out(Path("reports"), getattr(engine, "name", args.engine))
    parallel = _parallel(args)
    out = Output(out_dir, overwrite=args.overwrite, junit=args.junit,
                 step_summary=Path(summary) if summary else None)
    if parallel:
        result = _run_parallel(args, options, out)
    else:
        progress = _progress(sys.stderr) if sys.stderr.isatty() and not (args.quiet or args.ci) else None
        result = run_campaign(engine, options, out, progress)
        if progress:
            sys.stderr.write("\n")
    print(text.render(result, str(out_dir), args.engine if args.engine != result.engine else None), end="")
    print(f"report: {out_dir}/summary.md, {out_dir}/summary.json")
    if args.save_regressions:
        from .gate import save_regressions
        added = save_regressions(out_dir, args.save_regressions)
        print(f"regressions: {len(added)} new replay file{'' if len(added) == 1 else 's'} in {args.save_regressions}")
    return 1 if result.discrepancies else 0


def _parallel(args) -> bool:
    """Checked before anything is written, so a bad combination leaves no folder behind."""
    if args.address and args.backend != "dask":
        raise UsageError("--address names a Dask scheduler: use it with --backend dask")
    if args.backend == "dask":
        import importlib.util
        if importlib.util.find_spec("distributed") is None:
            raise UsageError("--backend dask needs Dask: pip install 'adverify[dask]'")
    if args.shard and (args.workers or args.backend != "local"):
        raise UsageError("--shard K/N runs one of N searches here: it takes neither --workers nor --backend")
    if args.shard:
        from .parallel import parse_shard
        try:
            parse_shard(args.shard)
        except ValueError as e:
            raise UsageError(f"--shard: {e}") from None
    return bool(args.shard or (args.workers or 1) > 1 or args.recycle_after or args.backend != "local")


def _run_parallel(args, options, out):
    from .parallel import Plan, parse_shard
    if args.shard:
        try:
            k, n = parse_shard(args.shard)
        except ValueError as e:
            raise UsageError(f"--shard: {e}") from None
        plan, run = Plan(options.seed, options.examples, n, args.recycle_after), [k]
    else:
        n = args.workers
        if n is None and args.backend == "dask":
            from .parallel.dask_backend import cluster_threads
            n = cluster_threads(args.address)
        plan, run = Plan(options.seed, options.examples, n or 1, args.recycle_after), None
    from .parallel import run_parallel
    progress = _progress(sys.stderr) if sys.stderr.isatty() and not (args.quiet or args.ci) else None
    result = run_parallel(args.engine, options, plan, out, workers=run, backend=args.backend,
                          address=args.address, progress=progress)
    if progress:
        sys.stderr.write("\n")
    return result


def _merge(args) -> int:
    from .merge import check_dirs, merge_dirs
    from .output import Output
    from .report import text
    check_dirs(args.dirs, args.out)
    out = Output(args.out, overwrite=args.overwrite, junit=args.junit)
    result = merge_dirs(args.dirs, out)
    print(text.render(result, str(args.out)), end="")
    print(f"report: {args.out}/summary.md, {args.out}/summary.json")
    return 1 if result.discrepancies else 0


def _replay(args) -> int:
    from .blame import blame
    from .campaign import finding_for
    from .checker import Checker
    from .engines import ADAPTERS, load_engine
    from .replay import read_replay
    from .report.text import finding_text

    rep = read_replay(args.file)
    spec = args.engine
    if spec is None:
        # a file names an engine, but never gets to import arbitrary code: adapters only
        if rep.engine not in ADAPTERS:
            raise UsageError(f"the file's engine {rep.engine!r} is not a built-in adapter: pass --engine")
        spec = rep.engine
    from .tensor.program import is_tensor_program
    tensor = is_tensor_program(rep.case.expr, rep.case.point)
    engine = load_engine(spec, tensor=tensor)
    # a forward-mode finding (signature ...:forward) is re-checked in both modes
    forward = (rep.fields.get("signature") or "").endswith(":forward")
    if forward:
        from .forward import has_forward_mode
        if not has_forward_mode(engine):
            raise UsageError(f"the file holds a forward-mode finding, and engine {spec!r} has no forward mode")
    with Checker(engine, timeout=10.0, tensor=tensor, forward=forward) as checker:
        verdict = checker.check(rep.case)
        if not verdict.is_discrepancy:
            print(f"{verdict.kind}: no discrepancy now ({verdict.reason or 'the engine agrees'})")
            return 0
        f = finding_for(rep.case, verdict, blame(rep.case, verdict, checker.check), checker)
        print(finding_text(1, f))
        return 1


def _report(args) -> int:
    from .report import render_all
    from .results import dump_summary, load_events, load_summary
    summary = args.dir / "summary.json"
    try:
        if not summary.exists() and (args.dir / "events.jsonl").exists():
            # killed before it could write its summary (SIGKILL, power): rebuild it from the log
            result = load_events(args.dir)
            dump_summary(result, summary)
            print(f"rebuilt {summary} from events.jsonl: {result.examples} examples, "
                  f"{len(result.discrepancies)} discrepancies, stopped: {result.stopped}")
        else:
            result = load_summary(summary)
        render_all(result, args.dir)
    except OSError as e:
        raise UsageError(f"cannot write the report in {str(args.dir)!r}: {e.strerror or e}") from None
    print(f"rendered {args.dir}/summary.md" + (f", {args.dir}/index.html" if (args.dir / 'index.html').exists() else ""))
    return 1 if result.discrepancies else 0


def _engines(args) -> int:
    from .engines import describe_adapters
    for row in describe_adapters():
        print(f"{row['name']:<16} {row['status']:<14} {row['dtype']:<8} {row['ops']}")
        # --tensor: the elementwise ops above, and these structural ones
        ops = ("+ " + (row["tensor_ops"] or "(not installed)")) if row["tensor"] == "yes" else "no tensor adapter"
        print(f"{'':<16} {'--tensor':<14} {'':<8} {ops}")
    return 0


def _selftest(args) -> int:
    from .mutants import MUTANTS
    from .selftest import selftest
    names = [n.strip() for n in args.mutants.split(",") if n.strip()] if args.mutants else list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise UsageError(f"unknown mutant {unknown[0]!r} (known: {', '.join(MUTANTS)})")
    return selftest([MUTANTS[n] for n in names], args.examples, args.seed, args.time_budget)


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import CampaignError
    from .engines import EngineError
    from .output import OutputError
    from .ops import UnknownOp
    from .serial import FormatError
    from .stop import stop_on_signals
    try:
        args = _parser().parse_args(argv)
        # SIGTERM and Ctrl-C end a campaign as interrupted, its report written, even when the
        # KeyboardInterrupt they raise is swallowed by a library (verifier.stop)
        with stop_on_signals():
            return {"campaign": _campaign, "replay": _replay, "report": _report, "engines": _engines,
                    "selftest": _selftest, "merge": _merge}[args.command](args)
    except (UsageError, EngineError, OutputError, UnknownOp, FormatError, CampaignError) as e:
        print(f"adverify: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adverify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `adverify replay F | head -1`: the reader left; the report files are written already.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
