"""A campaign: Hypothesis searches, every distinct discrepancy is shrunk, blamed and kept.

Hypothesis stops at the first failure and shrinks it. To collect *distinct* discrepancies,
the search runs in phases: a discrepancy whose signature (kind + culprit op) is already
known is counted but does not fail the property, so the next phase, seeded from the
campaign seed and the phase number, hunts for something new with the examples that are
left. The same seed and options give the same phases, examples and verdicts.

A signature names the mode it was found in (``:order2``, ``:tensor``, and the verdict's own
``:forward``), and so does every finding (``Finding.mode``): a replay re-checks it in that
mode. A discrepancy of a signature already known is not lost either: up to MORE_EXAMPLES of
them are kept with their finding (``Finding.examples``), so its spread shows.
"""
from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol

from hypothesis import HealthCheck, Phase, Verbosity, given, seed as hseed, settings, target
from hypothesis.errors import Flaky

from verifier.checking import memory
from verifier.checking.capture import trim
from verifier.checking.checker import Checker
from verifier.checking.modes import mode_label, mode_suffix
from verifier.engines import EngineError, engine_capabilities, engine_ops, engine_vocabulary, has_forward_mode
from verifier.engines.command import ProtocolError
from verifier.floor.ir import show, size, toposort
from verifier.floor.serial import point_to_json
from verifier.floor.tensor_ops import IR_NAMES
from verifier.floor.vocabulary import BUILTIN, Vocabulary
from verifier.model import (DISCREPANCIES, MORE_EXAMPLES, UNDECIDED_KEPT, VERDICTS, CampaignResult, Case, Finding,
                            Severities, Verdict, make_finding)
from verifier.search.blame import Blame, blame, signature
from verifier.search.coverage import Coverage
from verifier.search.errors import CampaignError
from verifier.search.reduce import simplify
from verifier.search.stop import STOP
from verifier.search.strategies import cases, check_ops
from verifier.search.tensor_strategies import tensor_cases
from verifier.truth.judge import witnesses
from verifier.truth.picture import picture

__all__ = ["Options", "Regression", "run_campaign", "campaign_ops", "speaking", "finding_for", "finding_signature",
           "CampaignError"]


@dataclass(frozen=True)
class Regression:
    """A replay file's case and the mode it was found in (``Finding.mode``: order, forward,
    tensor; empty: the campaign's own). A plain ``Case`` in ``Options.regressions`` is one
    with the campaign's mode."""
    case: Case
    mode: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    examples: int = 1000
    seed: int = 0
    time_budget: float | None = None
    ops: tuple[str, ...] | None = None
    max_nodes: int = 12
    n_vars: int = 3
    check_timeout: float | None = 5.0
    regressions: tuple[Case | Regression, ...] = ()
    # steer generation toward trouble with hypothesis.target (see _targets), in runs of
    # GUIDED_RUN examples so the optimiser gets its turn whatever the budget
    guided: bool = False                # opt-in: measured, it finds some bugs sooner but shrinks worse
    stop_after: int | None = None       # end the campaign after this many distinct discrepancies
    tensor: bool = False                # tensor programs (numpy arrays) instead of scalar expressions
    order: int = 1                      # 2: Hessian entries, from engine.second_derivatives
    forward: bool = False               # also forward mode (engine.forward_gradients): verifier.truth.forward
    # clear the oracles' and the checker's caches every this many examples: bounded memory on
    # long runs (verifier.checking.memory.trim); caches only memoise, so results do not change
    trim_every: int | None = None
    # the ops this campaign speaks (floor.vocabulary): the built-in ones, and any of its own;
    # left at BUILTIN, a campaign speaks its engine's (engines.engine_vocabulary: custom_ops)
    vocabulary: Vocabulary = BUILTIN
    # two identical builds that differ within the bound: inconsistent, not a note
    strict_determinism: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"examples": self.examples, "seed": self.seed, "time_budget": self.time_budget,
                "ops": list(self.ops) if self.ops else None, "max_nodes": self.max_nodes,
                "vars": self.n_vars, "check_timeout": self.check_timeout, "guided": self.guided,
                "tensor": self.tensor, "order": self.order, "forward": self.forward,
                **({"strict_determinism": True} if self.strict_determinism else {})}


class Sink(Protocol):
    """Where a campaign reports what happens as it happens (``results.folder.ReportFolder``):
    the campaign says what it found; the sink decides how it is kept."""

    def replay_path(self, index: int, signature: str) -> str: ...
    def start(self, record: dict[str, Any]) -> None: ...
    def event(self, record: dict[str, Any]) -> None: ...
    def found(self, f: Finding, case: Case, engine: str, counts: dict[str, Any]) -> None: ...
    def disagreement(self, case: Case, reason: str) -> None: ...
    def undecided(self, example: dict[str, Any]) -> None: ...
    def examples(self, f: Finding) -> None: ...
    def finish(self, result: CampaignResult) -> CampaignResult: ...


class _Found(Exception):
    """Raised inside the property so Hypothesis shrinks toward it."""

    def __init__(self, case: Case, verdict: Verdict, culprit: Blame):
        super().__init__(f"{verdict.kind} in {culprit.op}")
        self.case, self.verdict, self.culprit = case, verdict, culprit
        self.seen_at: float | None = None


class _OutOfTime(BaseException):
    """Ends a phase at once: Hypothesis does not catch (or shrink) a BaseException."""


class _Broken(BaseException):
    """An engine program broke the protocol (engines.command.ProtocolError): the campaign
    stops, with no shrinking of a failure that is not the engine's arithmetic."""

    def __init__(self, error: ProtocolError):
        super().__init__(str(error))
        self.message = str(error)


def finding_signature(verdict: Verdict, culprit: Blame, checker: Checker) -> str:
    """``search.blame.signature`` and the checker's mode: an order-2 or tensor fault is not
    the scalar first-order fault of the same op. Forward mode's ``:forward`` stays last, as
    readers of signatures (and version-1 replay files) expect."""
    sig, suffix = signature(verdict, culprit), mode_suffix(checker.order, checker.tensor)
    last = f":{verdict.mode}" if verdict.mode else ""
    if last and sig.endswith(last):
        return sig[:-len(last)] + suffix + last
    return sig + suffix


def example_of(case: Case, verdict: Verdict) -> dict[str, Any]:
    """One more discrepant case of a known signature, as ``Finding.examples`` keeps it."""
    case = verdict.case or case
    bad = verdict.failing
    return {"kind": verdict.kind, "expression": show(case.expr), "point": point_to_json(case.point),
            "variable": bad.variable if bad else None, "expected": bad.expected if bad else None,
            "actual": bad.actual if bad else None}


def _bits(ref: Any) -> int:
    """The bits of ball arithmetic a reference's enclosures took (a tensor program's: its
    lowered scalar reference's)."""
    return getattr(ref, "scalar", ref).precision


def undecided_example(case: Case, verdict: Verdict) -> dict[str, Any]:
    """An undecided case as ``CampaignResult.undecided_examples`` keeps it."""
    case = verdict.case or case
    return {"cause": verdict.cause or "unknown", "reason": verdict.reason, "expression": show(case.expr),
            "point": point_to_json(case.point)}


def _oracles(ref: Any, checker: Checker) -> dict[str, dict[str, float]]:
    """The reference's oracles, and the float64 witnesses (truth.judge.witnesses), computed
    now that a finding shows them; a tensor program's on its lowered DAG, by element label."""
    if not checker.tensor:
        return {**ref.oracles, **witnesses(ref.case)}
    found = witnesses(ref.scalar.case)
    return {**ref.oracles, **{o: {ref.labels.get(k, k): v for k, v in vals.items()} for o, vals in found.items()}}


def finding_for(case: Case, verdict: Verdict, culprit: Blame, checker: Checker, replay: str = "",
                found_after: int = 0, found_at: float = 0.0) -> Finding:
    case = verdict.case or case   # a Jacobian row's finding shows that row's one-hot cotangent
    ref = checker.reference(case)
    bad = verdict.failing
    var = bad.variable if bad else None
    # the seed's picture, drawn now so a report re-renders it from JSON without an oracle; a
    # tensor program's would be its element-level DAG: its steps say more
    pic = picture(case.expr, case.point, var, case.ops) if not checker.tensor else None
    return make_finding(
        case, kind=verdict.kind, signature=finding_signature(verdict, culprit, checker), replay=replay,
        tensor=checker.tensor, mode=checker.mode_record(), output=trim(verdict.output),
        variable=var, oracles={name: vals[var] for name, vals in _oracles(ref, checker).items() if var in vals},
        **({"expected": bad.expected, "actual": bad.actual, "bound": bad.bound, "severity": bad.severity} if bad else {}),
        culprit_op=culprit.op, culprit_node=culprit.node, blame=culprit.how,
        message=verdict.reason + (f" — {culprit.detail}" if culprit.detail else ""),
        checks=verdict.checks, kinks=ref.kinks, found_after=found_after, found_at_s=found_at,
        precision_bits=_bits(ref) if bad and bad.enclosure else 0,
        **({"picture": dict(graph=pic.graph, paths=pic.paths, paths_total=pic.paths_total), "picture_note": pic.note}
           if pic else {"picture_note": "a tensor program: its steps and element index tell where it departs"}))


class _Tally:
    def __init__(self, disagreement: Callable[[Case, Verdict], None] | None = None,
                 undecided: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.examples = 0
        self.shrink_checks = 0
        self.verdicts: Counter[str] = Counter({k: 0 for k in VERDICTS})
        self.coverage = Coverage()
        self.severities = Severities()
        self.undecided: Counter[str] = Counter()
        self.undecided_examples: list[dict[str, Any]] = []   # at most UNDECIDED_KEPT per cause
        self.notes: Counter[str] = Counter()
        self.screened: Counter[str] = Counter()   # points the generator passed over (truth.judge.foresee)
        self.error = ""   # what stopped the campaign, when an engine program broke the protocol
        # more discrepant cases of each known signature (at most MORE_EXAMPLES), in the order seen
        self.examples_seen: dict[str, list[dict[str, Any]]] = {}
        self._disagreement = disagreement
        self._undecided = undecided   # kept examples go to the log as they are seen

    def more(self, sig: str, case: Case, verdict: Verdict) -> None:
        kept = self.examples_seen.setdefault(sig, [])
        if len(kept) < MORE_EXAMPLES:
            kept.append(example_of(case, verdict))

    def examples_of(self, sig: str) -> list[dict[str, Any]]:
        return list(self.examples_seen.get(sig, []))

    def add(self, case: Case, verdict: Verdict) -> None:
        self.examples += 1
        self.verdicts[verdict.kind] += 1
        if verdict.kind == "oracle-disagreement" and self._disagreement:
            self._disagreement(case, verdict)
        self.coverage.add(case, verdict)
        if verdict.kind == "undecided":
            cause = verdict.cause or "unknown"
            self.undecided[cause] += 1
            if self.undecided[cause] <= UNDECIDED_KEPT:
                self.undecided_examples.append(undecided_example(case, verdict))
                if self._undecided:
                    self._undecided(self.undecided_examples[-1])
        self.notes.update(verdict.notes)
        for c in verdict.checks:
            if c.severity is not None and math.isfinite(c.severity):
                self.severities.add(c.severity)


LOG_EVERY_S = 2.0   # seconds between verdict-count lines in events.jsonl


def _counts(tally: _Tally, start: float) -> dict[str, Any]:
    return {"examples": tally.examples, "verdicts": dict(tally.verdicts), "shrink_checks": tally.shrink_checks,
            "elapsed_s": round(time.monotonic() - start, 3), "undecided": dict(sorted(tally.undecided.items())),
            "notes": dict(sorted(tally.notes.items())), "screened": dict(sorted(tally.screened.items()))}


@contextmanager
def _deferred_signals():
    """SIGINT/SIGTERM wait until the block is done (then interrupt as usual): an interrupt
    never leaves a finding half-recorded."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class UnknownOpsWarning(UserWarning):
    """An engine declares ops adverify has no record of: they are not generated, so their
    derivatives go unchecked, and the engine's author should hear it."""


def warn_unknown_ops(engine: Any, vocabulary: Vocabulary = BUILTIN) -> None:
    """Once per campaign (the CLI prints it as one line): which of the engine's ops are
    left out, and how to have them checked."""
    unknown = sorted(str(o) for o in getattr(engine, "ops", {}) if not vocabulary.knows(IR_NAMES.get(o, o)))
    if unknown:
        many = len(unknown) > 1
        warnings.warn(UnknownOpsWarning(
            f"engine {getattr(engine, 'name', '?')!r} has op{'s' if many else ''} {', '.join(unknown)} that "
            f"adverify does not know: not generated, not checked. Declare {'them' if many else 'it'} in the "
            f"engine's custom_ops (name -> SymPy form, e.g. custom_ops = {{{unknown[0]!r}: lambda sp, x: ...}}) "
            "and adverify checks them like its own (docs/custom-ops.md; `adverify ops` lists the known ops)"),
            stacklevel=3)


def speaking(engine: Any, options: Options) -> Options:
    """``options`` with the vocabulary the campaign speaks: the one given, or the engine's
    own (its ``custom_ops`` compiled); a ``CampaignError`` names a bad definition."""
    if options.vocabulary is not BUILTIN:
        return options
    try:
        vocabulary = engine_vocabulary(engine)
    except EngineError as e:
        raise CampaignError(str(e)) from None
    return options if vocabulary is BUILTIN else replace(options, vocabulary=vocabulary)


def campaign_ops(engine: Any, options: Options) -> list[str]:
    """The ops the campaign will use; a ``CampaignError`` if the options do not fit the
    engine. The CLI asks before it creates the report folder."""
    options = speaking(engine, options)
    available = engine_ops(engine, options.vocabulary)
    ops = check_ops(options.ops, tensor=options.tensor, vocabulary=options.vocabulary) if options.ops else available
    missing = [o for o in ops if o not in available]
    name = getattr(engine, "name", "?")
    if missing:
        raise CampaignError(f"engine {name!r} does not implement op {missing[0]!r}")
    if not ops:
        raise CampaignError("the engine implements none of adverify's ops")
    if options.tensor and not {"mul", "sum"} <= set(available):
        raise CampaignError("tensor mode reduces each program as sum(out * W): the engine needs mul and sum")
    if options.order == 2 and options.tensor:
        raise CampaignError("--order 2 checks scalar expressions: it does not combine with --tensor")
    if options.order == 2 and not hasattr(engine, "second_derivatives"):
        raise CampaignError(f"engine {name!r} has no second_derivatives(): it cannot be checked at order 2")
    try:
        engine_capabilities(engine, options.vocabulary)   # declared limits must make sense before anything runs
    except EngineError as e:
        raise CampaignError(str(e)) from None
    if options.forward:
        if not has_forward_mode(engine):
            raise CampaignError(f"engine {name!r} has no forward mode (forward_gradients): "
                                "it cannot be checked with --forward")
        if options.order == 2:
            raise CampaignError("--forward checks first derivatives: it does not combine with --order 2")
    return ops


def run_campaign(engine: Any, options: Options = Options(), out: Sink | None = None,
                 progress: Callable[[int, int, int, float], None] | None = None) -> CampaignResult:
    options = speaking(engine, options)
    ops = campaign_ops(engine, options)
    warn_unknown_ops(engine, options.vocabulary)
    start = time.monotonic()
    deadline = start + options.time_budget if options.time_budget else math.inf
    tally = _Tally((lambda case, verdict: out.disagreement(case, verdict.reason)) if out else None,
                   out.undecided if out else None)
    findings: list[Finding] = []
    regressions: list[dict] = []
    known: set[str] = set()
    stopped = "completed"

    others: dict[tuple, Checker] = {}   # regressions found in another mode, checked in theirs

    with Checker(engine, options.check_timeout, tensor=options.tensor, order=options.order,
                 forward=options.forward, strict_determinism=options.strict_determinism) as checker:
        def record(case: Case, verdict: Verdict, culprit: Blame, seen_at: float | None = None,
                   by: Checker = checker) -> None:
            sig = finding_signature(verdict, culprit, by)
            known.add(sig)
            path = out.replay_path(len(findings) + 1, sig) if out else ""
            f = finding_for(case, verdict, culprit, by, path, tally.examples,
                            (seen_at or time.monotonic()) - start)
            with _deferred_signals():   # a finding is kept whole: replay file, log line and result
                if out:
                    out.found(f, case, checker.name, _counts(tally, start))
                findings.append(f)

        last_log = [time.monotonic()]

        def tick(done: int, total: int, found: int, now: float) -> None:
            # verdict counts in the log every few seconds: a killed campaign's report has them
            if out and (now - last_log[0] >= LOG_EVERY_S or done == 1):
                last_log[0] = now
                out.event({"event": "progress", **_counts(tally, start)})
            if progress:
                progress(done, total, found, now)

        if out:
            out.start({"engine": checker.name, "dtype": checker.dtype, "seed": options.seed, "ops": list(ops),
                       "options": options.to_json()})

        try:
            for item in options.regressions:          # old reproducers first: did they come back?
                STOP.check()
                case = item.case if isinstance(item, Regression) else item
                mode = item.mode if isinstance(item, Regression) else {}
                by = _checker_for(mode, checker, engine, options, others)
                entry = {"expression": show(case.expr), "point": point_to_json(case.point),
                         **({"file": case.source} if case.source else {})}
                if isinstance(by, str):   # never "fixed": it was not looked at
                    regressions.append({**entry, "verdict": "—", "status": f"not checked ({by})"})
                    continue
                verdict = by.check(case)
                status = "still failing" if verdict.is_discrepancy else "fixed"
                regressions.append({**entry, "verdict": verdict.kind, "status": status,
                                    **({"mode": mode_label(by.order, by.forward, by.tensor)}
                                       if by is not checker else {})})
                if verdict.is_discrepancy:
                    culprit = blame(case, verdict, by.check)
                    if finding_signature(verdict, culprit, by) not in known:
                        record(case, verdict, culprit, by=by)

            capabilities = engine_capabilities(engine, options.vocabulary)
            if options.tensor:
                strategy = tensor_cases(ops=ops, max_nodes=options.max_nodes, n_vars=options.n_vars,
                                        dtype=checker.dtype, vocabulary=options.vocabulary, capabilities=capabilities)
            else:
                strategy = cases(ops=ops, max_nodes=options.max_nodes, n_vars=options.n_vars, dtype=checker.dtype,
                                 vocabulary=options.vocabulary, capabilities=capabilities, screened=tally.screened)
            phase = 0
            while tally.examples < options.examples and stopped == "completed":
                STOP.check()   # swallowed since the last example (while a finding was recorded)
                before = tally.examples
                found, why = _phase(strategy, checker, options, phase, tally, known, deadline, tick,
                                    len(findings))
                phase += 1
                if found is not None:
                    # a bystander op the shrinker kept (x/maximum(x, x) where x/(x/x) fails alike)
                    # goes: a user's own regression files are left as they were
                    case, verdict, culprit = simplify(found.case, found.verdict, found.culprit, checker.check,
                                                      dtype=checker.dtype)
                    record(case, verdict, culprit, found.seen_at)
                    if options.stop_after and len(findings) >= options.stop_after:
                        break
                if why:
                    stopped = why
                elif found is None and (not options.guided or tally.examples == before):
                    break   # the examples are spent (a guided run is cut short: go on to the next)
        except KeyboardInterrupt:
            stopped = "interrupted"
        except ProtocolError as e:   # outside a phase: a regression, or simplifying a finding
            stopped, tally.error = "protocol-error", str(e)
        finally:
            for other in others.values():
                other.close()

    findings = [replace(f, examples=tally.examples_of(f.signature)) if f.signature in tally.examples_seen else f
                for f in findings]
    if out:   # logged too, so a summary rebuilt from the log has them
        for f in findings:
            if f.examples:
                out.examples(f)
    result = CampaignResult(
        engine=checker.name, dtype=checker.dtype, seed=options.seed, examples=tally.examples,
        elapsed_s=round(time.monotonic() - start, 3), verdicts=dict(tally.verdicts), discrepancies=findings,
        ops=list(ops), options=options.to_json(), stopped=stopped, shrink_checks=tally.shrink_checks,
        regressions=regressions, coverage=tally.coverage.to_json(), severities=tally.severities.to_json(),
        undecided=dict(sorted(tally.undecided.items())), notes=dict(sorted(tally.notes.items())),
        undecided_examples=list(tally.undecided_examples), screened=dict(sorted(tally.screened.items())),
        error=tally.error)
    if out:
        result = out.finish(result)
    return result


# Every Hypothesis setting spelled out, so a campaign inherits nothing from the profile that
# is loaded: Hypothesis loads its "ci" profile by itself when CI is set, and a test suite that
# calls check_engine may load its own. The seed decorator fixes the random stream, so the same
# seed and options give the same examples anywhere. Registered so it can be inspected, never
# loaded: a campaign inside someone's test suite leaves their settings alone.
PROFILE = "adverify-ci"
settings.register_profile(
    PROFILE, max_examples=100, derandomize=False, database=None, verbosity=Verbosity.quiet,
    phases=(Phase.generate, Phase.shrink), stateful_step_count=50, report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck), deadline=None, print_blob=False, backend="hypothesis")


@contextmanager
def no_local_constants():
    """Hypothesis (≥ 6.131) also draws numeric literals found in the *local* modules imported
    so far (not site-packages; parsed under a time limit), so the same seed gave different
    examples after a lazy import: a second check_engine in one process, or a campaign under
    pytest, differed from the first. No setting turns it off: empty that pool (a private
    hook, skipped if Hypothesis renames it) for the run, and drop the cache built from it."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
        saved, cache = providers._get_local_constants, providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = saved
        cache.clear()


# Hypothesis optimises targets once half of a run's max_examples are spent: a guided campaign
# runs in pieces this long so that happens every GUIDED_RUN / 2 examples, not once at the end.
GUIDED_RUN = 200


def _phase(strategy, checker: Checker, options: Options, phase: int, tally: _Tally, known: set[str],
           deadline: float, progress, n_found: int) -> tuple[_Found | None, str | None]:
    """One Hypothesis run: (the shrunk new discrepancy or None, why the campaign must stop).

    If time runs out or the user interrupts while Hypothesis is shrinking, the smallest
    failing example seen so far is returned: a discrepancy once found is never lost. Its
    ``seen_at`` is when the first failing example was checked, before shrinking began."""
    best: _Found | None = None
    seen_at: float | None = None
    profile = settings.get_profile(PROFILE)
    phases = (*profile.phases, Phase.target) if options.guided else profile.phases
    left = max(1, options.examples - tally.examples)

    def _property(case: Case) -> None:
        nonlocal best, seen_at
        verdict = checker.check(case)
        if best is not None:
            tally.shrink_checks += 1
        else:
            tally.add(case, verdict)
            if options.trim_every and tally.examples % options.trim_every == 0:
                memory.trim(checker)
            if progress:
                progress(tally.examples, options.examples, n_found, time.monotonic())
        if options.guided:
            _targets(case)
        if verdict.kind in DISCREPANCIES:
            culprit = blame(case, verdict, checker.check)
            sig = finding_signature(verdict, culprit, checker)
            if sig in known:
                if best is None:   # an example, not a shrink step: its spread is worth keeping
                    tally.more(sig, case, verdict)
            else:
                found = _Found(case, verdict, culprit)
                if best is None:
                    seen_at = time.monotonic()
                if best is None or _smaller(case, best.case):
                    best = found
                raise found

    @hseed(options.seed * 1_000_003 + phase)
    @settings(profile, max_examples=min(left, GUIDED_RUN) if options.guided else left, phases=phases)
    @given(strategy)
    def prop(case: Case) -> None:
        # an interrupt that was swallowed (verifier.search.stop) ends the phase here, at the next
        # example or shrink step: Hypothesis lets a KeyboardInterrupt from the test through
        STOP.check()
        if time.monotonic() > deadline:
            raise _OutOfTime()
        try:
            _property(case)
        except ProtocolError as e:
            raise _Broken(e) from None

    def _with_time(found: _Found | None) -> _Found | None:
        if found is not None:
            found.seen_at = seen_at
        return found

    try:
        with no_local_constants():
            prop()
    except _Found as found:
        return _with_time(found), None
    except Flaky:
        # an engine that fails only sometimes (hangs intermittently, leaks state) fails to
        # reproduce while Hypothesis shrinks: the failure it did show is still a finding
        return _with_time(best), None
    except _OutOfTime:
        return _with_time(best), "time-budget"
    except _Broken as broken:
        tally.error = broken.message
        return _with_time(best), "protocol-error"
    except KeyboardInterrupt:
        return _with_time(best), "interrupted"
    except Exception as e:
        # Hypothesis can turn an interrupt into an error of its own while it handles it: one
        # that lands as a run begins, before its runner exists, fails an assert on the way out
        # (hypothesis/core.py:2220, 6.155). The interrupt is what ended the phase.
        if not _raised_handling_interrupt(e):
            raise
        return _with_time(best), "interrupted"
    return None, None


def _raised_handling_interrupt(e: BaseException) -> bool:
    seen: set[int] = set()
    context: BaseException | None = e
    while context is not None and id(context) not in seen:
        if isinstance(context, KeyboardInterrupt):
            return True
        seen.add(id(context))
        context = context.__context__
    return False


def _targets(case: Case) -> None:
    """What guides the search: the number of output→input paths (log2). Hypothesis keeps a
    mutation of an example only if it scores no lower, and optimises the score every
    GUIDED_RUN / 2 examples, so expressions drift toward sub-expressions reached along
    several paths, at different depths — where accumulation and traversal-order faults live,
    and where more ops meet. The closeness of a check to its bound (log error/bound) was
    measured too and found fewer planted bugs: the optimiser climbs one near miss instead of
    exploring (benchmarks/detection.py, README "Does it find bugs?")."""
    paths: dict[Any, int] = {case.expr: 1}
    total = 0
    for n in reversed(toposort(case.expr)):
        k = paths.get(n, 0)
        total += k if n.is_leaf else 0
        for s in n.src:
            paths[s] = paths.get(s, 0) + k
    target(math.log2(max(total, 1)), label="log2 paths")


def _smaller(a: Case, b: Case) -> bool:
    return (size(a.expr), len(show(a.expr))) < (size(b.expr), len(show(b.expr)))


def _checker_for(mode: Mapping[str, Any], checker: Checker, engine: Any, options: Options,
                 others: dict[tuple, Checker]) -> Checker | str:
    """The checker of a regression's own mode: the campaign's when it is the same, another
    one when the engine can do that mode; else the mode it could not be checked in, in words
    ("order 2", "forward", "tensor", "scalar")."""
    want = (int(mode.get("order", checker.order)), bool(mode.get("forward", checker.forward)),
            bool(mode.get("tensor", checker.tensor)))
    if want == (checker.order, checker.forward, checker.tensor):
        return checker
    order, forward, tensor = want
    if tensor != checker.tensor:
        # the engine was loaded for the campaign's kind of case (a tensor adapter differs)
        return "tensor" if tensor else "scalar"
    if order == 2 and not hasattr(engine, "second_derivatives"):
        return "order 2"
    if forward and not has_forward_mode(engine):
        return "forward"
    if want not in others:
        others[want] = Checker(engine, options.check_timeout, tensor=tensor, order=order, forward=forward,
                               strict_determinism=options.strict_determinism)
    return others[want]
