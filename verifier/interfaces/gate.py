"""The correctness gate: one call that passes quietly or fails with a report a person can act on.

``check_engine`` runs a campaign with a fixed seed (a gate that passes must pass again) and,
when the engine is wrong, raises ``AssertionError`` carrying the readable report: the
minimal expression, the point, expected against actual, the op to blame, and an
``adverify replay`` command whose replay file exists. Plain ``assert``-style failure, so it
works under pytest, unittest or a bare script.

Regressions are our replay files (never Hypothesis' database): ``collect_regressions``
reads them from files, folders of replay files or earlier report folders, and
``save_regressions`` files a report's reproducers into a folder kept by CI, named by
content so copying twice never overwrites or duplicates one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from verifier.checking.checker import Checker
from verifier.engines import ADAPTERS, EngineError, engine_name, engine_vocabulary, load_engine
from verifier.engines.command import CommandEngine, ProtocolError
from verifier.engines.mutants import MUTANTS
from verifier.engines.spec import EngineSpec, spec_of
from verifier.floor.serial import expr_to_json, point_to_json
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.interfaces.output import Output, OutputError, default_out
from verifier.report import render_all, text
from verifier.results.replay import read_replay
from verifier.results.summary import dump_summary
from verifier.search.campaign import Options, Regression, run_campaign
from verifier.search.strategies import check_ops

__all__ = ["check_engine", "GateFailure", "collect_regressions", "save_regressions", "report_message"]

PathLike = str | os.PathLike


class GateFailure(AssertionError):
    """The engine disagreed with the oracles. ``str(e)`` is the report; the campaign's
    result and its report folder are kept for whoever wants more (the pytest plugin)."""

    def __init__(self, message: str, result, out: Path, spec: str | None):
        super().__init__(message)
        self.result, self.out, self.spec = result, out, spec


def check_engine(engine: Any, *, examples: int = 300, seed: int = 0, ops: str | Sequence[str] | None = None,
                 time_budget: float | None = None, max_nodes: int = 12, n_vars: int = 3,
                 check_timeout: float | None = 5.0, regressions: PathLike | Sequence[PathLike] | None = None,
                 out: PathLike | None = None, reports: PathLike = "reports", overwrite: bool = False,
                 tensor: bool = False, order: int = 1, forward: bool = False, strict_determinism: bool = False):
    """Check ``engine`` (an engine object, a class or factory, or a spec string such as
    ``"builtin"``, ``"mutant:tanh-rule"``, ``"mypkg.engine:MyEngine"``) on ``examples``
    random expressions; return the ``CampaignResult`` if every check agrees, raise
    ``GateFailure`` (an ``AssertionError``) with the readable report otherwise.

    The seed is fixed (0) unless given: the same call gives the same verdicts on every run.
    The report folder is ``out``, or a new folder under ``reports`` (relative to the working
    directory); replay files of ``regressions`` (see ``collect_regressions``) are re-checked
    first. ``tensor``, ``order`` and ``forward`` are the campaign's ``--tensor``, ``--order 2``
    and ``--forward``; ``strict_determinism`` is ``--strict-determinism``. Bad arguments raise
    ``ValueError`` with a one-line message."""
    __tracebackhide__ = True  # pytest shows the report, not this function's frames

    if isinstance(ops, str):
        ops = [o.strip() for o in ops.split(",") if o.strip()]
    loaded = load_engine(engine, tensor=bool(tensor))
    vocabulary = engine_vocabulary(loaded)
    options = Options(examples=int(examples), seed=int(seed), time_budget=time_budget,
                      ops=tuple(check_ops(list(ops), tensor=bool(tensor), vocabulary=vocabulary)) if ops else None,
                      max_nodes=int(max_nodes), n_vars=int(n_vars), check_timeout=check_timeout,
                      regressions=collect_regressions(regressions, vocabulary) if regressions else (),
                      tensor=bool(tensor), order=int(order), forward=bool(forward),
                      strict_determinism=bool(strict_determinism))
    if options.examples < 1:
        raise ValueError(f"examples must be at least 1, got {examples}")
    if options.order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    out_dir = Path(out) if out is not None else default_out(Path(reports), engine_name(loaded))
    spec = spec_of(engine)
    try:
        result = run_campaign(loaded, options, Output(out_dir, overwrite=overwrite, engine_spec=spec))
    finally:
        if isinstance(loaded, CommandEngine) and loaded is not engine:   # a program started here ends here
            loaded.close()
    if result.error:   # an engine program broke the protocol: no verdict on its derivatives
        raise ProtocolError(f"{result.error} (the checks until then: {result.report_dir})")
    if not result.discrepancies:
        return result
    if spec is None:
        spec = _derive_spec(loaded, result, out_dir)
        if spec is not None:   # the reports were written without a name: write them with it
            result = replace(result, engine_spec=spec.to_json())
            dump_summary(result, out_dir / "summary.json")
            render_all(result, out_dir)
    raise GateFailure(report_message(result), result, out_dir, spec.text if spec else None)


def report_message(result) -> str:
    """The readable report, with replay commands that work as printed (or, for an engine
    object no spec rebuilds, a command that says where the user's own spec goes)."""
    return text.render(result) + f"report: {text.report_files(result.report_dir)}\n"


def _derive_spec(engine: Any, result, out_dir: Path) -> EngineSpec | None:
    """A spec string that rebuilds this engine *and reproduces its findings*: a built-in
    adapter or planted-bug engine of the same name, or ``module:Class`` of its class. A
    candidate is accepted only if every replay file still fails with it — a plausible but
    different engine (a planted bug is a builtin engine underneath) would send the user to
    a replay that passes."""

    name = engine_name(engine)
    candidates = [a for a in ADAPTERS if a == name]
    for m in MUTANTS.values():
        try:
            if engine_name(m.make()) == name:
                candidates.append(f"mutant:{m.name}")
        except Exception:  # a planted-bug engine that needs more than make(): not this one
            continue
    cls = type(engine)
    if cls.__module__ != "__main__" and "<locals>" not in cls.__qualname__:
        candidates.append(f"{cls.__module__}:{cls.__qualname__}")
    for spec in dict.fromkeys(candidates):
        try:
            rebuilt = load_engine(spec, tensor=bool(result.options.get("tensor")))
        except EngineError:
            continue
        if engine_name(rebuilt) == name and _reproduces(rebuilt, result, out_dir):
            return spec_of(spec)
    return None


def _reproduces(engine: Any, result, out_dir: Path) -> bool:
    for f in result.discrepancies:
        rep = read_replay(out_dir / f.replay, engine_vocabulary(engine))
        m = rep.mode   # each in the mode it was found in
        with Checker(engine, timeout=10.0, order=int(m["order"]), forward=bool(m["forward"]),
                     tensor=bool(m["tensor"])) as checker:
            if checker.check(rep.case).kind != f.kind:
                return False
    return True


# --- regressions: our replay files, re-checked first on the next run -------------------------

def _replay_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        # a folder of replay files, a report folder (its replays/), or a tree of either;
        # summary.json is a report's only other JSON file
        return sorted(p for p in path.rglob("*.json") if p.name != "summary.json")
    raise ValueError(f"regressions path {str(path)!r} does not exist")


def _case_key(case) -> str:
    # a tensor variable's value is an array: as a replay file holds it (the same for floats)
    doc = {"expr": expr_to_json(case.expr), "point": sorted(point_to_json(case.point).items())}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def collect_regressions(paths: PathLike | Iterable[PathLike], vocabulary: Vocabulary = BUILTIN
                        ) -> tuple[Regression, ...]:
    """Every case in the replay files under ``paths`` (files, folders, report folders),
    each once, in path order, with the mode it was found in (a campaign re-checks it in
    that mode, or says it could not). A file that is not a replay file is an error, not
    skipped: a reproducer that silently stops being re-checked is a regression waiting to happen.
    ``vocabulary``: the engine's (its own ops too), in which the cases are read."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen: dict[tuple, Regression] = {}
    for root in paths:
        for f in _replay_files(Path(root)):
            rep = read_replay(f, vocabulary)
            case = replace(rep.case, source=str(f))
            mode = {k: rep.mode[k] for k in ("order", "forward", "tensor")}
            # the same case found in two modes is two regressions
            seen.setdefault((_case_key(case), tuple(mode.values())), Regression(case, mode))
    return tuple(seen.values())


def save_regressions(report_dir: PathLike, dest: PathLike) -> list[Path]:
    """Copy the replay files of a campaign's report into ``dest`` (created if need be),
    named ``<signature>-<hash of the case>.json``: a case already there is not copied
    again, and two different cases never share a name. Returns the files added."""
    src, dest = Path(report_dir) / "replays", Path(dest)
    if not src.is_dir():
        raise OutputError(f"{str(report_dir)!r} is not an adverify report folder (no replays/)")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {str(dest)!r}: {e.strerror or e}") from None
    have = {_case_key(read_replay(f, None).case) for f in dest.glob("*.json")}
    added = []
    for f in sorted(src.glob("*.json")):
        rep = read_replay(f, None)   # copied, not checked: read as a graph, whatever its ops
        key = _case_key(rep.case)
        if key in have:
            continue
        slug = f.stem.split("-", 1)[-1]          # 001-mismatch-tanh -> mismatch-tanh
        target = dest / f"{slug}-{key[:12]}.json"
        shutil.copyfile(f, target)
        have.add(key)
        added.append(target)
    return added
