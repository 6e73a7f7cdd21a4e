"""summary.md (and the CI job summary): the campaign for people, in Markdown."""
from __future__ import annotations

from verifier.model import CampaignResult
from verifier.report.kit import value
from verifier.report.text import (UNNAMED_ENGINE_NOTE, by_count, example_text, lost_headline, notes_line, output_line,
                                  point_text, proof_text, replay_command, screened_line, undecided_meaning)

__all__ = ["render"]


def _text(s: str) -> str:
    """Free text in a table cell: one line, no cell breaks (a reason can come from a file)."""
    return " ".join(str(s).split()).replace("|", "\\|")


def _code(s: str) -> str:
    return "`" + s.replace("`", "'").replace("|", "\\|") + "`"


def _undecided(r: CampaignResult) -> list[str]:
    """Why examples were undecided: each cause counted, with what it means, then the kept
    examples, one line each."""
    if not r.undecided and not r.screened:
        return []
    lines = ["", f"## Undecided ({sum(r.undecided.values())})", "", "| cause | examples | meaning |", "|---|---:|---|"]
    lines += [f"| {_text(k)} | {v} | {_text(undecided_meaning(k))} |" for k, v in by_count(r.undecided)]
    if r.undecided_examples:
        lines += [""] + [f"- {_text(x['cause'])}: {_code(x['expression'])} at {_text(point_text(x['point']))} — "
                         f"{_text(x['reason'])}" for x in r.undecided_examples]
    if r.screened:
        lines += ["", _text(screened_line(r)) + "."]
    return lines


def render(r: CampaignResult, links: bool = True) -> str:
    status = "❌ discrepancies found" if r.discrepancies else "✅ no discrepancy"
    lines = [f"# adverify — engine `{r.engine}`: {status}", "",
             f"{r.examples} examples · seed {r.seed} · {r.dtype} · {r.elapsed_s:.1f} s"
             + ("" if r.stopped == "completed" else f" · stopped: {r.stopped}")
             + (f" · ⚠️ {len(r.lost)} lost chunk{'s' if len(r.lost) != 1 else ''}" if r.lost else ""), ""]
    if r.error:
        lines += [f"**Stopped by:** {_text(r.error)}", ""]
    if links:
        lines += ["Full report: [index.html](index.html)", ""]
    lines += ["| verdict | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r.verdicts.items() if v]
    counted = [x for x in (notes_line(r), output_line(r)) if x]
    if counted:
        lines += [""] + [f"- {_text(x)}" for x in counted]
    lines += _undecided(r)
    if r.lost:
        lines += ["", "## Lost work", "", f"⚠️ {lost_headline(r)}. The discrepancies a lost chunk had found "
                  "are kept; re-run one alone with `adverify campaign --seed SEED --examples N` (N = its "
                  "examples' count).", "",
                  "| worker | chunk | seed | its examples | checked before it was lost | why | discrepancies kept |",
                  "|---:|---:|---:|---|---:|---|---:|"]
        for x in r.lost:
            a, b = x["examples"]
            lines.append(f"| {x['worker']} | {x['chunk']} | {x['seed']} | {a}–{b} ({b - a}) "
                         f"| {x.get('checked', '—')} | {_text(x['reason'])} | {x['findings']} |")
    if r.regressions:
        lines += ["", "## Regressions re-checked", "", "| expression | verdict | status | replay |", "|---|---|---|---|"]
        lines += [f"| {_code(x['expression'])} | {x['verdict']} | {x['status']}"
                  + (f" ({_text(x['mode'])})" if x.get("mode") else "") + " "
                  f"| {_code(replay_command(r, x['file'], in_report=False)) if x['status'] != 'fixed' and x.get('file') else '—'} |"
                  for x in r.regressions]
    if r.discrepancies:
        lines += ["", "## Discrepancies", "",
                  "| # | kind | culprit op | expression | point | expected | engine |",
                  "|---:|---|---|---|---|---:|---:|"]
        for i, f in enumerate(r.discrepancies, 1):
            lines.append(f"| {i} | {f.kind} | {f.culprit_op or '—'} ({f.blame}) | {_code(f.expression)} "
                         f"| {point_text(f.point, shapes=f.shapes)} | {value(f.expected)} | {value(f.actual)} |")
        lines.append("")
        for i, f in enumerate(r.discrepancies, 1):
            lines.append(f"{i}. {f.message}")
            if proof_text(f):
                lines += ["", f"   {_text(proof_text(f))}"]
            if f.replay:   # a command to paste: a block of its own, not squeezed into a cell
                lines += ["", "   ```sh", f"   {replay_command(r, f.replay)}", "   ```"]
            if f.examples:
                n = len(f.examples)
                lines += ["", f"   {n} more case{'s' if n != 1 else ''} of this signature:", ""]
                lines += [f"   - {_code(example_text(x))}" for x in f.examples]
            if f.output:   # what the engine printed while failing: kept here, not on the terminal
                lines += ["", "   <details><summary>What the engine printed</summary>", "", "   ```text"]
                # a fence in the engine's text would end the block early
                lines += ["   " + line.replace("`", "'") for line in f.output.splitlines()]
                lines += ["   ```", "", "   </details>"]
        if any(f.replay for f in r.discrepancies) and not r.engine_spec:
            lines += ["", UNNAMED_ENGINE_NOTE + "."]
    lines += ["", f"Ops: {', '.join(r.ops)}", ""]
    return "\n".join(lines)
