"""The command line: ``main(argv) -> int``. Exit 0: no discrepancy; 1: discrepancies;
2: a usage or input error, reported on one line without a traceback."""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from verifier.checking.checker import Checker
from verifier.checking.serving import serve
from verifier.engines import ADAPTERS, EngineError, describe_adapters, engine_vocabulary, has_forward_mode, load_engine
from verifier.engines.command import ProtocolError
from verifier.engines.mutants import MUTANTS
from verifier.engines.spec import spec_of
from verifier.floor.ops import UnknownOp
from verifier.floor.program import is_tensor_program
from verifier.floor.serial import FormatError
from verifier.floor.tensor_ops import IR_NAMES
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.interfaces.argtypes import count as _count, seconds as _seconds  # shared with the pytest plugin
from verifier.interfaces.catalog import installed_engines, op_rows, render_ops
from verifier.interfaces.gate import collect_regressions, save_regressions
from verifier.interfaces.output import Output, OutputError, default_out
from verifier.interfaces.parallel import Plan, parse_shard, run_parallel
from verifier.interfaces.selftest import selftest
from verifier.report import render_all, text
from verifier.report.text import finding_text
from verifier.results.merge import check_dirs, merge_dirs
from verifier.results.rebuild import load_events
from verifier.results.replay import read_replay
from verifier.results.summary import dump_summary, load_summary
from verifier.search.blame import blame
from verifier.search.campaign import Options, campaign_ops, finding_for, run_campaign
from verifier.search.errors import CampaignError
from verifier.search.stop import stop_on_signals
from verifier.search.strategies import check_ops

__all__ = ["main"]


class UsageError(Exception):
    pass


REPLAY_TIMEOUT = 10.0   # seconds a replay's check may take when its file records no check timeout


# each command's exit status besides 2 (bad input: one line on stderr, no traceback, from every
# command); the command's --help and the top-level --help print it from here
EXIT_STATUS = {
    "campaign": "0 no discrepancy, 1 discrepancies",
    "replay": "0 no discrepancy now, 1 the discrepancy is still there",
    "report": "0 the report holds no discrepancy, 1 it holds discrepancies",
    "engines": "0",
    "ops": "0",
    "merge": "0 no discrepancy, 1 discrepancies",
    "selftest": "0 every planted bug found, 1 one or more missed",
    "serve": "0 when its input ends",
}


def _epilog() -> str:
    rows = "\n".join(f"  {name:<10} {status}" for name, status in EXIT_STATUS.items())
    return (f"exit status (every command: 2 on bad input, one line on stderr, no traceback):\n{rows}\n"
            "An interrupted campaign (Ctrl-C, SIGTERM) writes its report and exits 0 or 1;\n"
            "130: interrupted before a report was written.")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Every option that has a default says it, once: ``(default: X)``. One whose default is
    worked out at run time (None in argparse) writes the same words in its own help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        valued = not any(action.default is none for none in (None, False, argparse.SUPPRESS))
        if action.option_strings and valued and "(default" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, not usage + message
        raise UsageError(message)


def _command(sub, name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
    epilog = f"exit status: {EXIT_STATUS[name]},\n             2 bad input (one line on stderr, no traceback)"
    return sub.add_parser(name, help=summary, description=description or summary, epilog=epilog)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="adverify", epilog=_epilog(),
                description="Check an autograd engine's derivatives on random compositions of its ops,\n"
                            "against symbolic, numerical and path-product oracles.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = _command(sub, "campaign", "search for wrong derivatives")
    c.add_argument("--engine", default="builtin", help="builtin, builtin-paths, an adapter, mutant:NAME, "
                   "module:attr, ./file.py:Class, or cmd:COMMAND, a program in any language speaking "
                   "docs/protocol.md (`adverify engines` lists them)")
    c.add_argument("--examples", type=_count(1), default=1000, help="examples to check")
    c.add_argument("--time-budget", type=_seconds,
                   help="stop after this many seconds, with a full report (default: no limit)")
    c.add_argument("--seed", type=_count(0), default=None, help="seed (default: random, and printed; 0 with --ci)")
    c.add_argument("--ops", help="comma-separated ops to use (default: all the engine has)")
    c.add_argument("--max-nodes", type=_count(1, 64), default=None,
                   help="ops per expression at most (default: 12; 6 with --tensor)")
    c.add_argument("--order", type=_count(1, 2), default=1,
                   help="2: check Hessian entries too (engines with second_derivatives)")
    c.add_argument("--tensor", action="store_true",
                   help="tensor programs: broadcasting, reductions, matmul, softmax, where (numpy arrays)")
    c.add_argument("--forward", action="store_true",
                   help="also check forward mode (engines with forward_gradients): against the oracles, "
                        "and against the engine's reverse mode")
    c.add_argument("--vars", type=_count(1, 8), default=3, help="variables")
    c.add_argument("--check-timeout", type=_seconds, default=5.0, help="seconds one check may take")
    c.add_argument("--strict-determinism", action="store_true",
                   help="two identical builds of a graph must give identical answers: any difference is "
                        "`inconsistent` (by default a difference within the bound is a nondeterministic note)")
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
                   help="N processes, each its own search with seed SEED*1000+k on 1/N of the examples; "
                        "with --backend dask, the number of searches (default: 1; with --backend dask, "
                        "the cluster's threads)")
    c.add_argument("--shard", metavar="K/N", help="run only the K-th of the N searches --workers N would "
                   "run (1-based); merge the N report folders with `adverify merge`")
    c.add_argument("--recycle-after", type=_count(1), metavar="N",
                   help="run each search in chunks of N examples, each in a fresh process (bounded memory)")
    c.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes, or a Dask cluster: pip install 'adverify[dask]'")
    c.add_argument("--address", help="the Dask scheduler, e.g. tcp://10.0.0.1:8786 (default: a local cluster)")

    r = _command(sub, "replay", "re-check one saved discrepancy")
    r.add_argument("file", type=Path, help="a replay file: reports/…/replays/NNN-….json")
    r.add_argument("--engine", help="engine to check (default: the file's, if it is a built-in adapter)")
    r.add_argument("--check-timeout", type=_seconds, default=None,
                   help="seconds the check may take (default: the campaign's, as the file records it; "
                        f"{REPLAY_TIMEOUT:g} for a file that records none)")

    rep = _command(sub, "report", "re-render every report format from a campaign's summary.json",
                   "Re-render summary.md and index.html in a report folder (the folder holding\n"
                   "summary.json; after a kill, the one holding only events.jsonl).")
    rep.add_argument("dir", type=Path, metavar="DIR", help="the report folder")

    _command(sub, "engines", "list the engines to name: builtin, adapters (installed or not), mutants")

    o = _command(sub, "ops", "list every op adverify checks: arguments, domain, kinks, which engines have it")
    o.add_argument("--engine", help="also this engine's own ops (its custom_ops), and whether it has each op")
    o.add_argument("--json", action="store_true", help="the list as JSON")

    m = _command(sub, "merge", "merge the report folders of shards (or of whole campaigns) into one")
    m.add_argument("dirs", type=Path, nargs="+", metavar="DIR")
    m.add_argument("--out", type=Path, required=True, help="the merged report's folder")
    m.add_argument("--overwrite", action="store_true", help="replace the report already in --out")
    m.add_argument("--junit", type=Path, help="also write JUnit XML here")

    sv = _command(sub, "serve", "run a Python engine as a program speaking the engine protocol",
                  "Answer engine-protocol requests (docs/protocol.md) on stdin/stdout for a Python engine,\n"
                  "until stdin ends: `adverify campaign --engine 'cmd:adverify serve builtin'` checks\n"
                  "the builtin engine through the protocol.")
    sv.add_argument("engine", metavar="SPEC", help="the engine: any --engine spec but cmd:")
    sv.add_argument("--tensor", action="store_true", help="serve the engine's tensor adapter (tensor programs)")

    st = _command(sub, "selftest", "the planted-bug suite: is every mutant found, shrunk and blamed?")
    st.add_argument("--examples", type=_count(1), default=500, help="examples per mutant at most")
    st.add_argument("--seed", type=_count(0), default=0, help="seed")
    st.add_argument("--mutants", help="comma-separated mutant names (default: every one)")
    st.add_argument("--time-budget", type=_seconds, help="seconds per mutant at most (default: no limit)")
    return p


def _progress_bar(args):
    """The progress callback, as a context: a bar on a person's terminal, else None."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    # a Dask campaign reports nothing until it merges: a bar would sit empty
    if ci or args.quiet or args.ci or args.backend == "dask" or not sys.stderr.isatty():
        return contextlib.nullcontext()
    # rich is imported only when a bar is drawn: --help and every error need not pay for it
    from verifier.interfaces.progress import ProgressBar
    return ProgressBar(budget=args.time_budget)


def _names(text: str | None, flag: str, example: str) -> list[str] | None:
    """A comma-separated list: None when the option is not given, an error when it names nothing."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{flag} names nothing: give a comma-separated list, like {example}")
    return names


def _ops(args, vocabulary: Vocabulary = BUILTIN) -> tuple[str, ...] | None:
    names = _names(args.ops, "--ops", "sin,mul,add")
    return None if names is None else tuple(check_ops(names, tensor=args.tensor, vocabulary=vocabulary))


def _check_written_last(args, out_dir: Path) -> None:
    """Paths written only when the run is over: a bad one is an error before the work, not after."""
    junit, keep = args.junit, getattr(args, "save_regressions", None)
    # Output makes the report folder and its parents: a JUnit file there will have its folder
    made = junit is not None and out_dir.resolve().is_relative_to(junit.parent.resolve())
    if junit is not None and (junit.is_dir() or not (junit.parent.is_dir() or made)):
        where = "is a folder" if junit.is_dir() else f"is in a folder that does not exist ({str(junit.parent)!r})"
        raise UsageError(f"--junit {str(junit)!r} {where}")
    if keep is not None and keep.exists() and not keep.is_dir():
        raise UsageError(f"--save-regressions {str(keep)!r} is a file: it takes a folder")


def _regressions(paths: list[Path] | None, vocabulary: Vocabulary):
    for path in paths or ():
        if not path.exists():  # a typo must not silently skip every old reproducer
            raise UsageError(f"regressions path {str(path)!r} does not exist")
    return collect_regressions(paths, vocabulary) if paths else ()


def _campaign(args) -> int:

    # adverify's own op names are checked before the engine loads (a typo costs no import);
    # a name it does not know may be one of the engine's own ops: checked once it is loaded
    own = any(not BUILTIN.knows(IR_NAMES.get(n, n)) for n in _names(args.ops, "--ops", "sin,mul,add") or ())
    ops = None if own else _ops(args)
    engine = load_engine(args.engine, tensor=args.tensor)
    vocabulary = engine_vocabulary(engine)
    if own:
        ops = _ops(args, vocabulary)
    seed = args.seed
    if seed is None:  # a gate must not be flaky: CI runs use a fixed seed unless told otherwise
        seed = 0 if args.ci else int.from_bytes(os.urandom(4), "little")
    options = Options(examples=args.examples, seed=seed, time_budget=args.time_budget, ops=ops,
                      max_nodes=args.max_nodes or (6 if args.tensor else 12), n_vars=args.vars,
                      check_timeout=args.check_timeout, regressions=_regressions(args.regressions, vocabulary),
                      tensor=args.tensor, order=args.order, forward=args.forward,
                      strict_determinism=args.strict_determinism)
    campaign_ops(engine, options)   # options that do not fit the engine: exit 2 before any folder
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    out_dir = args.out or default_out(Path("reports"), getattr(engine, "name", args.engine))
    _check_written_last(args, out_dir)
    parallel = _parallel(args)
    out = Output(out_dir, overwrite=args.overwrite, junit=args.junit,
                 step_summary=Path(summary) if summary else None, engine_spec=spec_of(args.engine))
    if parallel:
        result = _run_parallel(args, options, out)
    else:
        with _progress_bar(args) as progress:
            result = run_campaign(engine, options, out, progress)
    print(text.render(result), end="")
    print(f"report: {text.report_files(out_dir)}")
    if args.save_regressions:
        added = save_regressions(out_dir, args.save_regressions)
        print(f"regressions: {len(added)} new replay file{'' if len(added) == 1 else 's'} in {args.save_regressions}")
    if result.error:   # an engine program broke the protocol: its checks until then are in the report
        print(f"adverify: error: {result.error}", file=sys.stderr)
        return 2
    return 1 if result.discrepancies else 0


def _parallel(args) -> bool:
    """Checked before anything is written, so a bad combination leaves no folder behind."""
    if args.address and args.backend != "dask":
        raise UsageError("--address names a Dask scheduler: use it with --backend dask")
    if args.backend == "dask":
        if importlib.util.find_spec("distributed") is None:
            raise UsageError("--backend dask needs Dask: pip install 'adverify[dask]'")
    if args.shard and (args.workers or args.backend != "local"):
        raise UsageError("--shard K/N runs one of N searches here: it takes neither --workers nor --backend")
    if args.shard:
        try:
            parse_shard(args.shard)
        except ValueError as e:
            raise UsageError(f"--shard: {e}") from None
    return bool(args.shard or (args.workers or 1) > 1 or args.recycle_after or args.backend != "local")


def _run_parallel(args, options, out):
    if args.shard:
        try:
            k, n = parse_shard(args.shard)
        except ValueError as e:
            raise UsageError(f"--shard: {e}") from None
        plan, run = Plan(options.seed, options.examples, n, args.recycle_after), [k]
    else:
        n = args.workers
        if n is None and args.backend == "dask":
            from verifier.interfaces.parallel.dask_backend import cluster_threads  # Dask: an optional extra
            n = cluster_threads(args.address)
        plan, run = Plan(options.seed, options.examples, n or 1, args.recycle_after), None
    with _progress_bar(args) as progress:
        return run_parallel(args.engine, options, plan, out, workers=run, backend=args.backend,
                            address=args.address, progress=progress)


def _merge(args) -> int:
    check_dirs(args.dirs, args.out)
    _check_written_last(args, args.out)
    out = Output(args.out, overwrite=args.overwrite, junit=args.junit)
    result = merge_dirs(args.dirs, out)
    print(text.render(result), end="")
    print(f"report: {text.report_files(args.out)}")
    return 1 if result.discrepancies else 0


def _replay(args) -> int:

    rep = read_replay(args.file, None)     # its mode and engine first: the ops are the engine's
    spec = args.engine
    if spec is None:
        # a file names an engine, but never gets to import arbitrary code: adapters only
        if rep.engine not in ADAPTERS:
            raise UsageError(f"the file's engine {rep.engine!r} is not a built-in adapter: pass --engine")
        spec = rep.engine
    # re-checked in the mode it was found in (a version-1 file's is inferred: results.replay)
    mode = rep.mode
    tensor = bool(mode["tensor"]) or is_tensor_program(rep.case.expr, rep.case.point)
    order, forward = int(mode["order"]), bool(mode["forward"])
    engine = load_engine(spec, tensor=tensor)
    vocabulary = engine_vocabulary(engine)
    rep = read_replay(args.file, vocabulary)
    for change in rep.changed(vocabulary):
        print(f"note: {change}")
    if forward and not has_forward_mode(engine):
        raise UsageError(f"the file holds a forward-mode finding, and engine {spec!r} has no forward mode")
    if order == 2 and not hasattr(engine, "second_derivatives"):
        raise UsageError(f"the file holds an order-2 finding, and engine {spec!r} has no second_derivatives()")
    timeout = args.check_timeout if args.check_timeout is not None else mode.get("check_timeout", REPLAY_TIMEOUT)
    with Checker(engine, timeout=timeout, tensor=tensor, order=order, forward=forward,
                 strict_determinism=bool(mode.get("strict_determinism"))) as checker:
        verdict = checker.check(rep.case)
        if not verdict.is_discrepancy:
            noted = f"; noted: {', '.join(verdict.notes)}" if verdict.notes else ""
            print(f"{verdict.kind}: no discrepancy now ({verdict.reason or 'the engine agrees'}{noted})")
            return 0
        f = finding_for(rep.case, verdict, blame(rep.case, verdict, checker.check), checker)
        print(finding_text(1, f))
        return 1


def _holds_report(folder: Path) -> bool:
    return (folder / "summary.json").is_file() or (folder / "events.jsonl").is_file()


def _check_report_dir(path: Path) -> None:
    """`adverify report` takes a folder; given a file in one (summary.json, a replay file), it
    names the folder to give instead."""
    if path.is_file():
        near = next((d for d in path.parents[:2] if _holds_report(d)), None)
        hint = f"; here: adverify report {near}" if near else ""
        raise UsageError(f"{str(path)!r} is a file: adverify report takes a report folder (the one "
                         f"holding summary.json){hint}")
    if not path.is_dir():
        raise UsageError(f"report folder {str(path)!r} does not exist")
    if not _holds_report(path):
        raise UsageError(f"{str(path)!r} is not a report folder: it holds neither summary.json nor events.jsonl")


def _report(args) -> int:
    _check_report_dir(args.dir)
    summary = args.dir / "summary.json"
    try:
        if not summary.exists() and (args.dir / "events.jsonl").exists():
            # killed before it could write its summary (SIGKILL, power): rebuild it from the log
            result = replace(load_events(args.dir), report_dir=str(args.dir))
            dump_summary(result, summary)
            print(f"rebuilt {summary} from events.jsonl: {result.examples} examples, "
                  f"{len(result.discrepancies)} discrepancies, stopped: {result.stopped}")
        else:
            # replay commands name the folder as this command line does
            result = replace(load_summary(summary), report_dir=str(args.dir))
        render_all(result, args.dir)
    except OSError as e:
        raise UsageError(f"cannot write the report in {str(args.dir)!r}: {e.strerror or e}") from None
    print(f"rendered {text.report_files(args.dir, ('summary.md',))}")
    return 1 if result.discrepancies else 0


def _ops_list(args) -> int:
    scalar, tensor = installed_engines(tensor=False), installed_engines(tensor=True)
    vocabulary = BUILTIN
    if args.engine:
        engine = load_engine(args.engine)
        vocabulary = engine_vocabulary(engine)
        scalar[args.engine] = engine
        try:
            tensor[args.engine] = load_engine(args.engine, tensor=True)
        except EngineError:
            pass
    render_ops(op_rows(vocabulary, scalar, tensor), sys.stdout, as_json=args.json)
    return 0


def _engines(args) -> int:
    rows = describe_adapters()
    for group, title in (("builtin", "builtin engines"),
                         ("adapter", "real-engine adapters, each an optional extra")):
        print(title)
        for row in rows:
            if row["group"] == group:
                _print_adapter(row)
        print()
    _print_mutants()
    print("\nyour own engine: --engine module:attr (an importable module), --engine ./file.py:Class, or, "
          "in any language, --engine 'cmd:COMMAND' (a program speaking docs/protocol.md)")
    return 0


def _print_adapter(row: dict[str, str]) -> None:
    if row["install"]:
        print(f"  {row['name']:<16} {row['status']:<14} {row['install']}")
        return
    print(f"  {row['name']:<16} {row['status']:<14} {row['dtype']:<8} {row['ops']}")
    # --tensor: the elementwise ops above, and these structural ones
    ops = ("+ " + row["tensor_ops"]) if row["tensor"] == "yes" else "no tensor adapter"
    print(f"  {'':<16} {'--tensor':<14} {'':<8} {ops}")


def _print_mutants() -> None:
    print("planted bugs, to see what a finding looks like (`adverify selftest` runs them all)")
    width = max(map(len, MUTANTS)) + len("mutant:")
    for m in MUTANTS.values():
        # a mutant that needs campaign options (a tensor bug, a Hessian bug) names their flags
        flags = " ".join(f"--{k}" if v is True else f"--{k} {v}" for k, v in m.options.items())
        print(f"  {'mutant:' + m.name:<{width}} {m.description}" + (f" [{flags}]" if flags else ""))


def _serve(args) -> int:
    if args.engine.startswith("cmd:"):
        raise UsageError("adverify serve runs a Python engine; a cmd: engine speaks the protocol already")
    engine = load_engine(args.engine, tensor=args.tensor)
    return serve(engine, tensor=args.tensor)


def _selftest(args) -> int:
    names = _names(args.mutants, "--mutants", "tanh-rule,div-sign") or list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise UsageError(f"unknown mutant {unknown[0]!r} (known: {', '.join(MUTANTS)})")
    return selftest([MUTANTS[n] for n in names], args.examples, args.seed, args.time_budget)


@contextlib.contextmanager
def _warnings_as_lines():
    """adverify's own warnings (an engine's unknown ops, checks run without a worker) as one
    line each on stderr, like its errors; a library's warnings keep their usual form."""
    package = os.path.dirname(os.path.abspath(__file__))
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if os.path.abspath(filename).startswith(package + os.sep):
            print(f"adverify: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:   # `adverify` alone: a person wants to see what it can do
            parser.print_help(sys.stderr)
            return 2
        # SIGTERM and Ctrl-C end a campaign as interrupted, its report written, even when the
        # KeyboardInterrupt they raise is swallowed by a library (verifier.search.stop)
        with stop_on_signals(), _warnings_as_lines():
            return {"campaign": _campaign, "replay": _replay, "report": _report, "engines": _engines,
                    "selftest": _selftest, "merge": _merge, "ops": _ops_list, "serve": _serve}[args.command](args)
    except (UsageError, EngineError, OutputError, UnknownOp, FormatError, CampaignError, ProtocolError) as e:
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
