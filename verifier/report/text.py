"""Plain text for terminals and assertion messages: what is wrong, where, how to replay."""
from __future__ import annotations

import math
import posixpath
import shlex
from pathlib import Path

from verifier.model import CampaignResult, Finding
from verifier.report.kit import error, number, value

__all__ = ["render", "finding_text", "headline", "counts_lines", "undecided_line", "screened_line", "notes_line", "output_line",
           "example_text", "point_text", "shape_text", "value_text", "lost_text", "lost_headline", "proof_text",
           "undecided_meaning", "by_count", "replay_command", "report_files", "UNNAMED_ENGINE",
           "UNNAMED_ENGINE_NOTE", "UNDECIDED_MEANINGS"]

# the --engine word of a campaign whose engine was an object no spec could rebuild
UNNAMED_ENGINE = "MODULE:ATTR"
UNNAMED_ENGINE_NOTE = ("MODULE:ATTR names your engine for the command line: an instance, or a class or "
                       "factory taking no arguments, e.g. mypkg.engine:MyEngine")


def replay_command(r: CampaignResult, replay_file: str, *, in_report: bool = True) -> str:
    """The shell command that re-checks one replay file, pasted in the folder the campaign
    ran in: the file's path from there, the --engine it was loaded with, and the PYTHONPATH
    a fresh process needs to import it. ``in_report``: the path is relative to the report
    folder (a finding's); else as it was given (a regression's file)."""
    path = posixpath.join(r.report_dir, replay_file) if in_report and r.report_dir else replay_file
    spec = r.engine_spec.get("text")
    words = ["adverify", "replay", shlex.quote(path), "--engine", shlex.quote(spec) if spec else UNNAMED_ENGINE]
    pythonpath = r.engine_spec.get("pythonpath")
    return (f"PYTHONPATH={shlex.quote(pythonpath)} " if pythonpath else "") + " ".join(words)


def value_text(v, digits: int = 17) -> str:
    """A point's value: a float, or a tensor's nested list, compact and bounded in length."""
    if isinstance(v, list):
        inner = ", ".join(value_text(x, digits) for x in v[:8])
        return f"[{inner}{', …' if len(v) > 8 else ''}]"
    return number(v, digits) if isinstance(v, float) else str(v)


def point_text(point: dict, digits: int = 17, shapes: dict | None = None) -> str:
    """``x = 1.5``; a tensor variable with its shape: ``z (2×1) = [[0], [0]]``."""
    return ", ".join(f"{k}{shape_text(shapes, k)} = {value_text(v, digits)}" for k, v in point.items())


def shape_text(shapes: dict | None, name: str) -> str:
    shape = (shapes or {}).get(name)
    return "" if shape is None else f" ({'×'.join(map(str, shape)) or 'scalar'})"


def headline(r: CampaignResult) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in r.verdicts.items() if v)
    state = "" if r.stopped == "completed" else f", stopped: {r.stopped}"
    error = f"\n  stopped by: {r.error}" if r.error else ""
    return (f"adverify: engine {r.engine!r} ({r.dtype}), {r.examples} examples, seed {r.seed}, "
            f"{r.elapsed_s:.1f} s{state}{error}\n  verdicts: {counts or 'none'}")


# what each undecided cause (model.UNDECIDED_CAUSES) means, in one line for a reader
UNDECIDED_MEANINGS = {
    "outside-domain": "an argument lies outside its op's domain: there is no derivative to owe",
    "out-of-range": "a value, partial or gradient leaves the dtype's normal range",
    "ill-conditioned": "rounding alone may move the derivative by more than any bound could allow",
    "near-pole": "rounding may carry an argument onto a pole of its op",
    "near-kink": "rounding may carry an argument across a kink or cut of its op, where the derivative jumps",
    "no-enclosure": "ball arithmetic could not decide within its precision cap",
    "no-truth": "no oracle could compute the exact derivative here",
    "subnormal": "an intermediate quantity is subnormal in the dtype, where rounding loses relative precision",
    "too-many-kinks": "more ops sit at their kinks than are analysed (each doubles the one-sided choices)",
}


def undecided_meaning(cause: str) -> str:
    return UNDECIDED_MEANINGS.get(cause, "a cause this version of adverify does not describe")


def by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    """The largest count first, then by name: every renderer lists undecided causes so."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def undecided_line(r: CampaignResult) -> str:
    """Why examples were undecided, counted by cause ('' when none was)."""
    return "undecided by cause: " + ", ".join(f"{k} {v}" for k, v in by_count(r.undecided)) if r.undecided else ""


def notes_line(r: CampaignResult) -> str:
    """What checks noted besides their verdicts ('' when nothing)."""
    notes = {k: v for k, v in r.notes.items() if v}
    return "notes (not discrepancies): " + ", ".join(f"{k} {v}" for k, v in sorted(notes.items())) if notes else ""


def screened_line(r: CampaignResult) -> str:
    """The drawn points passed over, where no verdict was possible, by cause ('' if none)."""
    if not r.screened:
        return ""
    return (f"passed over {sum(r.screened.values())} drawn points no float engine can be judged at "
            f"(not examples): " + ", ".join(f"{k} {v}" for k, v in by_count(r.screened)))


def counts_lines(r: CampaignResult) -> list[str]:
    """Why examples were undecided, points passed over, and what checks noted, one line each
    ('' parts left out)."""
    return [line for line in (undecided_line(r), screened_line(r), notes_line(r)) if line]


def output_line(r: CampaignResult) -> str:
    """What the engine printed is in the report, never on the terminal: one line says so."""
    n = r.notes.get("engine-output", 0)
    return f"the engine printed output in {n} check{'s' if n != 1 else ''}; see the report" if n else ""


def example_text(x: dict) -> str:
    """One more case of a finding's signature, on one line."""
    what = "value" if x.get("variable") is None else f"d/d{x['variable']}"
    return (f"{x['kind']}: {x['expression']} at {point_text(x['point'])}: {what} engine {value(x.get('actual'))}, "
            f"expected {value(x.get('expected'))}")


def _outside(actual: float | None, lo: float, hi: float, bound: float) -> bool:
    """The engine's value surely outside [lo - bound, hi + bound] (its edges rounded outward):
    only then is the sentence a proof. An inconsistent finding's value may lie inside."""
    if actual is None:
        return False
    return math.isnan(actual) or actual < math.nextafter(lo - bound, -math.inf) \
        or actual > math.nextafter(hi + bound, math.inf)


def proof_text(f: Finding) -> str:
    """What a finding with a certified enclosure proves, in one sentence ('' without one:
    a crash, a timeout, a tensor row or an order-2 finding renders as before)."""
    if not f.enclosure or f.precision_bits <= 0 or not _outside(f.actual, *f.enclosure, f.bound or 0.0):
        return ""
    lo, hi = (value(x) for x in f.enclosure)
    what = "value" if f.variable is None else f"derivative d/d{f.variable}"
    widened = f"[{lo} − {error(f.bound)}, {hi} + {error(f.bound)}]" if f.bound else f"[{lo}, {hi}]"
    return (f"the exact {what} is in [{lo}, {hi}] (certified, {f.precision_bits}-bit ball arithmetic); "
            f"the engine's value {value(f.actual)} is outside {widened}")


def finding_text(i: int, f: Finding, replay_cmd: str | None = None) -> str:
    where = f" in {f.culprit_op}" if f.culprit_op else ""
    lines = [f"{i}. {f.kind}{where} ({f.blame}): {f.message}",
             f"   expression: {f.expression}   [{f.nodes} node{'s' if f.nodes != 1 else ''}]",
             f"   at: {point_text(f.point, shapes=f.shapes)}"]
    if f.expected is not None or f.actual is not None:
        what = "value" if f.variable is None else f"d/d{f.variable}"
        lines.append(f"   {what}: engine {value(f.actual)}, expected {value(f.expected)}, bound {error(f.bound)}")
    if proof_text(f):
        lines.append(f"   {proof_text(f)}")
    if f.oracles:
        lines.append("   oracles: " + ", ".join(f"{k} {value(v)}" for k, v in f.oracles.items()))
    if f.examples:
        n = len(f.examples)
        lines.append(f"   {n} more case{'s' if n != 1 else ''} of this signature, e.g. {example_text(f.examples[0])}")
    if replay_cmd:
        lines.append(f"   replay: {replay_cmd}")
    return "\n".join(lines)


def report_files(folder, names: tuple[str, ...] = ("summary.md", "summary.json")) -> str:
    """The report's files, a person's first (index.html only where it was written)."""
    html = ("index.html",) if (Path(folder) / "index.html").exists() else ()
    return ", ".join(f"{folder}/{name}" for name in (*html, *names))


def lost_text(x: dict) -> str:
    """One lost chunk: which worker, which examples (and seed, to re-run them alone), why,
    and what of it is kept. Every renderer says it in these words."""
    n = x.get("findings", 0)
    a, b = x.get("examples", [0, 0])
    checked = x.get("checked")
    done = f", {checked} of them checked before it died, not counted" if checked else ", not counted"
    kept = ("; the discrepancy it had found is kept" if n == 1 else
            f"; the {n} discrepancies it had found are kept" if n else "")
    return (f"lost: worker {x.get('worker')} chunk {x.get('chunk')} (seed {x.get('seed')}, "
            f"its examples {a}–{b}{done}): {x.get('reason')}{kept}")


def lost_headline(r: CampaignResult) -> str:
    """'' when nothing was lost; else how much, in one sentence."""
    if not r.lost:
        return ""
    n = len(r.lost)
    examples = sum(max(0, x["examples"][1] - x["examples"][0]) for x in r.lost)
    return (f"{n} chunk{'s' if n != 1 else ''} lost ({examples} planned example{'s' if examples != 1 else ''} "
            "whose verdicts are not counted): a worker process died or its report is missing")


def render(r: CampaignResult) -> str:
    parts = [headline(r)] + [f"  {line}" for line in counts_lines(r)]
    if output_line(r):
        parts.append(f"  {output_line(r)}")
    if r.lost:
        parts.append(f"  {lost_headline(r)}")
        parts += [f"  {lost_text(x)}" for x in r.lost]
    for reg in r.regressions:
        mode = f", {reg['mode']}" if reg.get("mode") else ""
        parts.append(f"  regression {reg['status']}: {reg['expression']} ({reg['verdict']}{mode})")
        if reg["status"] != "fixed" and reg.get("file"):
            parts.append(f"    replay: {replay_command(r, reg['file'], in_report=False)}")
    if not r.discrepancies:
        parts.append("  no discrepancy found")
    else:
        parts.append(f"  {len(r.discrepancies)} distinct discrepanc{'y' if len(r.discrepancies) == 1 else 'ies'}:")
        for i, f in enumerate(r.discrepancies, 1):
            parts.append(finding_text(i, f, replay_command(r, f.replay) if f.replay else None))
    if any(f.replay for f in r.discrepancies) and not r.engine_spec:
        parts.append(f"  ({UNNAMED_ENGINE_NOTE})")
    return "\n".join(parts) + "\n"
