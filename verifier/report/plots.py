"""The campaign's plots as inline SVG: how close to the bound the engine came, what each op's
checks concluded, and which parent→child op pairs were generated."""
from __future__ import annotations

import math

from verifier.report.kit import esc

__all__ = ["VERDICT_COLOURS", "severity_histogram", "verdict_bars", "pair_matrix", "pair_legend"]

# one colour per verdict, everywhere in the report (pills, bars, legends)
VERDICT_COLOURS = {"agree": "#3b8f5a", "kink": "#4aa3a8", "undecided": "#a7adb5",
                   "oracle-disagreement": "#8a63c9", "mismatch": "#d1403a", "nonfinite": "#e08a2c",
                   "inconsistent": "#d35c9c", "crash": "#8e1c1c", "timeout": "#8a6a3a"}
_FONT = 'font-size="11"'


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def severity_histogram(severities: dict) -> str:
    """Checks per decade of error/bound (``results.Severities``); exact answers get a bar of
    their own. Counts use a log scale: a handful of failures next to thousands of agreements
    must still show."""
    exact = severities["exact"]
    decades = {int(d): c for d, c in severities["decades"].items()}
    first = min([*decades, -3])
    last = max([*decades, 1])
    bins = [("exact", exact, "exact: the engine's value equals the truth")] + [
        (str(d), decades.get(d, 0), f"10^{d} ≤ error/bound < 10^{d + 1}") for d in range(first, last + 1)]
    top = max((c for _, c, _ in bins), default=0)
    bw, h, left, base = 22, 150, 44, 170
    width = left + bw * (len(bins) + 1) + 16

    def x_of(k: int) -> int:     # the exact bar stands apart from the decades
        return left + k * bw + (bw if k else 0)

    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 214" width="{width}" '
             f'height="214" role="img" aria-label="histogram of error over bound">']
    for frac in (0.5, 1.0):     # gridlines at √top and top on the log scale
        y = base - h * frac
        count = round(10 ** (math.log10(1 + top) * frac) - 1)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{_f(y)}" y2="{_f(y)}"/>'
                     f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" {_FONT}>{count}</text>')
    for k, (name, count, tip) in enumerate(bins):
        x = x_of(k)
        bar = h * math.log10(1 + count) / math.log10(1 + top) if top else 0
        cls = "exact" if name == "exact" else "over" if int(name) >= 0 else "under"
        parts.append(f'<rect class="bar {cls}" x="{x + 2}" y="{_f(base - bar)}" width="{bw - 4}" height="{_f(bar)}">'
                     f"<title>{esc(tip)}: {count} checks</title></rect>")
        if name == "exact":
            parts.append(f'<text x="{x + bw / 2}" y="{base + 14}" text-anchor="middle" {_FONT}>exact</text>')
        elif int(name) % 2 == 0 or len(bins) < 16:   # ticks at decade boundaries
            parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{base}" y2="{base + 4}"/>'
                         f'<text x="{x}" y="{base + 14}" text-anchor="middle" {_FONT}>{name.replace("-", "−")}</text>')
    zero = x_of(1 + (0 - first))
    parts.append(f'<line class="bound" x1="{zero}" x2="{zero}" y1="{base - h - 6}" y2="{base + 2}"/>'
                 f'<text class="bound" x="{zero + 4}" y="{base - h}" {_FONT}>bound</text>'
                 f'<text x="{left + (width - left) / 2}" y="{base + 36}" text-anchor="middle" {_FONT}>'
                 "log₁₀(error / bound)   —   bars right of the line are failures</text>"
                 f'<text x="12" y="{base - h / 2}" transform="rotate(-90 12 {base - h / 2})" text-anchor="middle" '
                 f'{_FONT}>checks (log scale)</text></svg>')
    return "".join(parts)


def verdict_bars(op_verdicts: dict[str, dict[str, int]], ops: list[str]) -> str:
    """One stacked bar per op: the verdicts of the examples it appeared in."""
    rows = sorted(ops)
    totals = {op: sum(op_verdicts.get(op, {}).values()) for op in rows}
    top = max(totals.values(), default=0) or 1
    left, bar_w, rh = 70, 340, 18
    height = rh * len(rows) + 10
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + bar_w + 60} {height}" '
             f'width="{left + bar_w + 60}" height="{height}" role="img" aria-label="verdicts per op">']
    for k, op in enumerate(rows):
        y = 4 + k * rh
        parts.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end" {_FONT}>{esc(op)}</text>')
        x = float(left)
        for verdict, colour in VERDICT_COLOURS.items():
            n = op_verdicts.get(op, {}).get(verdict, 0)
            if not n:
                continue
            w = bar_w * n / top
            parts.append(f'<rect x="{_f(x)}" y="{y + 2}" width="{_f(max(w, 0.8))}" height="{rh - 5}" fill="{colour}">'
                         f"<title>{esc(op)}: {n} {esc(verdict)} of {totals[op]}</title></rect>")
            x += w
        text = str(totals[op]) if totals[op] else "never generated"
        parts.append(f'<text class="{"none" if not totals[op] else "total"}" x="{_f(x + 6)}" y="{y + 12}" '
                     f"{_FONT}>{text}</text>")
    parts.append("</svg>")
    return "".join(parts)


PAIR_COLOUR = "#2f6db5"


def _shade(n: int, top: int) -> float:
    """A cell's opacity: log scale, so one pair generated once still shows next to thousands."""
    return round(0.18 + 0.82 * math.log10(1 + n) / math.log10(1 + top), 2)


def pair_legend(pairs: dict[str, int]) -> str:
    """What a cell's colour means: swatches of the matrix's own shades, with their counts."""
    top = max((v for k, v in pairs.items() if ">" in k), default=0)
    mid = round(10 ** (math.log10(1 + top) / 2) - 1)
    counts = [c for c in dict.fromkeys((1, mid, top)) if 0 < c <= top]

    def key(style: str, text: str) -> str:
        return f'<span class="item"><span class="key" style="{style}"></span>{esc(text)}</span>'
    r, g, b = (int(PAIR_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    return ('<p class="legend">A cell: how many times the row op took the column op\'s result as an argument '
            "(colour on a log scale): " + key("background:#f1f3f5;outline:1px solid #e1e5ea", "never")
            + " " + " ".join(key(f"background:rgba({r},{g},{b},{_shade(c, top)})", f"{c}") for c in counts) + "</p>")


def pair_matrix(pairs: dict[str, int], ops: list[str]) -> str:
    """Rows: the consuming op; columns: the op feeding it. Empty cells were never generated."""
    rows = sorted(ops)
    counts = {tuple(k.split(">", 1)): v for k, v in pairs.items() if ">" in k}
    top = max(counts.values(), default=0)
    cell, left, head = 16, 70, 70
    size = cell * len(rows)
    parts = [f'<svg class="plot matrix" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + size + 8} {head + size + 8}" '
             f'width="{left + size + 8}" height="{head + size + 8}" role="img" aria-label="op pairs generated">']
    for k, op in enumerate(rows):
        parts.append(f'<text x="{left - 5}" y="{head + k * cell + 11}" text-anchor="end" {_FONT}>{esc(op)}</text>'
                     f'<text x="{left + k * cell + 11}" y="{head - 5}" transform="rotate(-60 {left + k * cell + 11} '
                     f'{head - 5})" {_FONT}>{esc(op)}</text>')
    for i, parent in enumerate(rows):
        for j, child in enumerate(rows):
            n = counts.get((parent, child), 0)
            x, y = left + j * cell, head + i * cell
            if n:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{PAIR_COLOUR}" '
                             f'fill-opacity="{_shade(n, top):.2f}"><title>{esc(parent)}({esc(child)}(…)): {n}</title></rect>')
            else:
                parts.append(f'<rect class="gap" x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}">'
                             f"<title>{esc(parent)}({esc(child)}(…)): never generated</title></rect>")
    parts.append("</svg>")
    return "".join(parts)
