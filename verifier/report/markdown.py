"""summary.md (and the CI job summary): the campaign for people, in Markdown."""
from __future__ import annotations

from ..results import CampaignResult
from .text import lost_headline, point_text

__all__ = ["render"]


def _g(x) -> str:
    return "—" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)


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
        lines += ["", "## Regressions re-checked", "", "| expression | verdict | status |", "|---|---|---|"]
        lines += [f"| {_code(x['expression'])} | {x['verdict']} | {x['status']} |" for x in r.regressions]
    if r.discrepancies:
        lines += ["", "## Discrepancies", "",
                  "| # | kind | culprit op | expression | point | expected | engine | replay |",
                  "|---:|---|---|---|---|---:|---:|---|"]
        for i, f in enumerate(r.discrepancies, 1):
            point = point_text(f.point, 6, f.shapes)
            lines.append(f"| {i} | {f.kind} | {f.culprit_op or '—'} ({f.blame}) | {_code(f.expression)} | {point} "
                         f"| {_g(f.expected)} | {_g(f.actual)} | {_code(f.replay) if f.replay else '—'} |")
        lines += [""] + [f"{i}. {f.message}" for i, f in enumerate(r.discrepancies, 1)]
    lines += ["", f"Ops: {', '.join(r.ops)}", ""]
    return "\n".join(lines)
