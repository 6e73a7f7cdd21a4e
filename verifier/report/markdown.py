"""summary.md (and the CI job summary): the campaign for people, in Markdown."""
from __future__ import annotations

from verifier.model import CampaignResult
from verifier.report.kit import value
from verifier.report.text import (UNNAMED_ENGINE_NOTE, counts_lines, example_text, lost_headline, output_line,
                                  point_text, replay_command)

__all__ = ["render"]


def _text(s: str) -> str:
    """Free text in a table cell: one line, no cell breaks (a reason can come from a file)."""
    return " ".join(str(s).split()).replace("|", "\\|")


def _code(s: str) -> str:
    return "`" + s.replace("`", "'").replace("|", "\\|") + "`"


def render(r: CampaignResult, links: bool = True) -> str:
    status = "❌ discrepancies found" if r.discrepancies else "✅ no discrepancy"
    lines = [f"# adverify — engine `{r.engine}`: {status}", "",
             f"{r.examples} examples · seed {r.seed} · {r.dtype} · {r.elapsed_s:.1f} s"
             + ("" if r.stopped == "completed" else f" · stopped: {r.stopped}")
             + (f" · ⚠️ {len(r.lost)} lost chunk{'s' if len(r.lost) != 1 else ''}" if r.lost else ""), ""]
    if links:
        lines += ["Full report: [index.html](index.html)", ""]
    lines += ["| verdict | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r.verdicts.items() if v]
    counted = counts_lines(r) + ([output_line(r)] if output_line(r) else [])
    if counted:
        lines += [""] + [f"- {_text(x)}" for x in counted]
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
