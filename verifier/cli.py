"""The command line: ``main(argv) -> int``. Exit 0: no discrepancy; 1: discrepancies;
2: a usage or input error, reported on one line without a traceback."""
from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

__all__ = ["main"]


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise UsageError(message)


def _count(lo: int, hi: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is out of range ({lo}..{hi if hi is not None else '∞'})")
        return v
    return parse


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return v


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
    c.add_argument("--max-nodes", type=_count(1, 64), default=12, help="ops per expression at most (default 12)")
    c.add_argument("--vars", type=_count(1, 8), default=3, help="variables (default 3)")
    c.add_argument("--check-timeout", type=_seconds, default=5.0, help="seconds one check may take (default 5)")
    c.add_argument("--out", type=Path, help="report folder (default: a new folder under reports/)")
    c.add_argument("--overwrite", action="store_true", help="replace the report already in --out")
    c.add_argument("--junit", type=Path, help="also write JUnit XML here")
    c.add_argument("--regressions", type=Path, help="replay files (a folder or one file) to re-check first")
    c.add_argument("--quiet", action="store_true", help="no progress bar")

    r = sub.add_parser("replay", help="re-check one saved discrepancy")
    r.add_argument("file", type=Path)
    r.add_argument("--engine", help="engine to check (default: the file's, if it is a built-in adapter)")

    rep = sub.add_parser("report", help="re-render every report format from a campaign's summary.json")
    rep.add_argument("dir", type=Path)

    sub.add_parser("engines", help="list the engine adapters: installed or not, ops, dtype")
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


def _regressions(path: Path | None):
    from .replay import read_replay
    if path is None:
        return ()
    files = sorted(path.glob("*.json")) if path.is_dir() else [path] if path.exists() else []
    return tuple(read_replay(f).case for f in files)


def _campaign(args) -> int:
    from .campaign import Options, run_campaign
    from .engines import load_engine
    from .output import Output, default_out
    from .report import text
    from .strategies import check_ops

    engine = load_engine(args.engine)
    ops = tuple(check_ops([o.strip() for o in args.ops.split(",") if o.strip()])) if args.ops else None
    seed = args.seed if args.seed is not None else int.from_bytes(__import__("os").urandom(4), "little")
    options = Options(examples=args.examples, seed=seed, time_budget=args.time_budget, ops=ops,
                      max_nodes=args.max_nodes, n_vars=args.vars, check_timeout=args.check_timeout,
                      regressions=_regressions(args.regressions))
    import os
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    out_dir = args.out or default_out(Path("reports"), getattr(engine, "name", args.engine))
    out = Output(out_dir, overwrite=args.overwrite, junit=args.junit,
                 step_summary=Path(summary) if summary else None)
    progress = _progress(sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    result = run_campaign(engine, options, out, progress)
    if progress:
        sys.stderr.write("\n")
    print(text.render(result, str(out_dir), args.engine if args.engine != result.engine else None), end="")
    print(f"report: {out_dir}/summary.md, {out_dir}/summary.json")
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
    with Checker(load_engine(spec), timeout=10.0) as checker:
        verdict = checker.check(rep.case)
        if not verdict.is_discrepancy:
            print(f"{verdict.kind}: no discrepancy now ({verdict.reason or 'the engine agrees'})")
            return 0
        f = finding_for(rep.case, verdict, blame(rep.case, verdict, checker.check), checker)
        print(finding_text(1, f))
        return 1


def _report(args) -> int:
    from .report import render_all
    from .results import load_summary
    result = load_summary(args.dir / "summary.json")
    render_all(result, args.dir)
    print(f"rendered {args.dir}/summary.md" + (f", {args.dir}/index.html" if (args.dir / 'index.html').exists() else ""))
    return 1 if result.discrepancies else 0


def _engines(args) -> int:
    from .engines import describe_adapters
    for row in describe_adapters():
        print(f"{row['name']:<16} {row['status']:<14} {row['dtype']:<8} {row['ops']}")
    return 0


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # the campaign ends as if interrupted: the report is still written


def main(argv: Sequence[str] | None = None) -> int:
    from .engines import EngineError
    from .output import OutputError
    from .ops import UnknownOp
    from .serial import FormatError
    try:
        args = _parser().parse_args(argv)
        signal.signal(signal.SIGTERM, _on_sigterm)
        return {"campaign": _campaign, "replay": _replay, "report": _report, "engines": _engines}[args.command](args)
    except (UsageError, EngineError, OutputError, UnknownOp, FormatError) as e:
        print(f"adverify: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adverify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
