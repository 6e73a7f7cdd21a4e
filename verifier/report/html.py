"""index.html: the campaign for a person with a browser — what is wrong, where, and how well
the engine was exercised.

One self-contained file (inline CSS and SVG, MathML for formulas; no script, no fetch), a
pure function of the result model: the same result always gives the same bytes, so
``adverify report DIR`` reproduces the page from summary.json exactly. Every string from the
result is escaped: summaries can come from other people's files.
"""
from __future__ import annotations

from verifier.floor.ops import SCALAR_OPS
from verifier.model import CampaignResult, Finding
from verifier.report.finding_html import article, blamed, composition_ops
from verifier.report.kit import error, esc
from verifier.report.plots import VERDICT_COLOURS, pair_legend, pair_matrix, severity_histogram, verdict_bars
from verifier.report.style import CSS
from verifier.report.text import (by_count, lost_headline, output_line, point_text, proof_text, screened_line,
                                  undecided_meaning)

__all__ = ["render"]

_REGIMES = [  # (key, per, meaning)
    ("zero", "coordinate", "exactly 0"),
    ("tiny", "coordinate", "0 < |x| < 10⁻⁴"),
    ("ordinary", "coordinate", "10⁻⁴ ≤ |x| ≤ 10⁴"),
    ("large", "coordinate", "|x| > 10⁴"),
    ("kink", "example", "judged at a non-differentiable point"),
    ("near-pole", "example", "an op within 10⁻⁴ of a pole of its derivative (x/y at tiny y, tan near π/2, "
                              "log, sqrt near 0)"),
    ("overflow-edge", "example", "an intermediate value ≥ 10²⁹⁰"),
    ("underflow-edge", "example", "a non-zero intermediate value ≤ 10⁻²⁹⁰"),
]
_DISCREPANT = ("mismatch", "nonfinite", "inconsistent", "crash", "timeout")


def _pills(verdicts: dict[str, int]) -> str:
    return "".join(f'<span class="pill v-{esc(k)}">{esc(k)} <b>{esc(v)}</b></span>'
                   for k, v in verdicts.items() if v)


def _header(r: CampaignResult) -> str:
    n = len(r.discrepancies)
    status = (f'<p class="status bad">{n} distinct discrepanc{"y" if n == 1 else "ies"}</p>' if n
              else '<p class="status good">No discrepancy found</p>')
    if r.lost:
        status += f'<p class="status warn"><a href="#lost">{esc(lost_headline(r))}</a></p>'
    if r.error:
        status += f'<p class="status bad">stopped by: {esc(r.error)}</p>'
    meta = [("dtype", r.dtype), ("seed", r.seed), ("examples", r.examples), ("time", f"{r.elapsed_s:.1f} s"),
            ("stopped", r.stopped), ("shrink checks", r.shrink_checks), ("ops", len(r.ops))]
    if r.lost:
        meta.append(("lost chunks", len(r.lost)))
    options = ", ".join(f"{k} {v}" for k, v in r.options.items() if v is not None and k not in ("examples", "seed"))
    dl = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in meta)
    return (f'<header><p class="kicker">adverify campaign report</p><h1>engine <code>{esc(r.engine)}</code></h1>'
            f'{status}<dl class="meta">{dl}</dl><p class="verdicts">{_pills(r.verdicts)}</p>'
            + (f'<p class="options">options: {esc(options)}</p>' if options else "")
            + '<nav>' + ('<a href="#lost">Lost work</a>' if r.lost else "")
            + '<a href="#discrepancies">Discrepancies</a>'
            + ('<a href="#undecided">Undecided</a>' if r.undecided or r.screened else "")
            + ('<a href="#notes">Notes</a>' if any(r.notes.values()) else "")
            + '<a href="#coverage">Coverage</a><a href="#severity">Error / bound</a></nav></header>')


def _lost(r: CampaignResult) -> str:
    """Chunks whose worker process died: which examples went uncounted, and why."""
    if not r.lost:
        return ""
    rows = "".join(
        f"<tr><td class=num>{esc(x['worker'])}</td><td class=num>{esc(x['chunk'])}</td>"
        f"<td class=num>{esc(x['seed'])}</td><td>{esc(x['examples'][0])}–{esc(x['examples'][1])}</td>"
        f"<td class=num>{esc(x.get('checked', '—'))}</td><td>{esc(x['reason'])}</td>"
        f"<td class=num>{esc(x['findings'])}</td></tr>" for x in r.lost)
    return ('<section id="lost"><h2>Lost work</h2><div class="gaps"><p>'
            f"{esc(lost_headline(r))}. The discrepancies a lost chunk had found are kept (they were on disk as "
            "found) and listed below; re-run one chunk alone with <code>adverify campaign --seed SEED "
            "--examples N</code>.</p></div><div class=wide><table><thead><tr><th>worker</th><th>chunk</th><th>seed</th>"
            "<th>its examples</th><th>checked before it was lost</th><th>why</th><th>discrepancies kept</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></div></section>")


def _regressions(r: CampaignResult) -> str:
    if not r.regressions:
        return ""
    rows = "".join(f"<tr><td><code>{esc(x.get('expression'))}</code></td><td>{esc(x.get('verdict'))}</td>"
                   f"<td>{esc(x.get('status'))}</td><td>{esc(x.get('mode') or '—')}</td></tr>" for x in r.regressions)
    return ('<section id="regressions"><h2>Regressions re-checked</h2><p class="lede">Each in the mode it was '
            "found in; one this campaign's engine cannot check in that mode is <em>not checked</em>: "
            "nothing is known of it.</p><div class=\"wide\"><table><thead><tr>"
            f"<th>expression</th><th>verdict</th><th>status</th><th>checked as</th></tr></thead><tbody>{rows}"
            "</tbody></table></div></section>")


def _undecided(r: CampaignResult) -> str:
    """Why examples were undecided: each cause with what it means and its count, then the
    few examples the campaign kept of each (expression, point, reason)."""
    if not r.undecided and not r.screened:
        return ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td class=num>{esc(v)}</td><td>{esc(undecided_meaning(k))}</td></tr>"
                   for k, v in by_count(r.undecided))
    passed = f"<p>{esc(screened_line(r))}.</p>" if r.screened else ""
    kept = "".join(f"<tr><td>{esc(x['cause'])}</td><td><code>{esc(x['expression'])}</code></td>"
                   f"<td><code class=point>{esc(point_text(x['point']))}</code></td><td>{esc(x['reason'])}</td></tr>"
                   for x in r.undecided_examples)
    examples = ('<div class="wide"><table class="kept"><caption>Examples kept (the first few of each cause)</caption>'
                "<thead><tr><th>cause</th><th>expression</th><th>point</th><th>why</th></tr></thead>"
                f"<tbody>{kept}</tbody></table></div>") if kept else ""
    return (f'<section id="undecided"><h2>Undecided ({esc(sum(r.undecided.values()))} examples)</h2>'
            '<p class="lede">No verdict is given where none can be honest: the engine is neither passed nor '
            "failed on these.</p><div class=\"wide\"><table><thead><tr><th>cause</th><th>examples</th><th>meaning</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></div>{examples}{passed}</section>")


def _notes(r: CampaignResult) -> str:
    """What checks noted besides their verdicts."""
    notes = {k: v for k, v in r.notes.items() if v}
    if not notes:
        return ""
    rows = "".join(f"<tr><td>{esc(k)}</td><td class=num>{esc(v)}</td></tr>" for k, v in sorted(notes.items()))
    line = output_line(r)
    return ('<section id="notes"><h2>Notes</h2><p class="note">Not discrepancies: an engine whose two identical '
            "builds answered differently within the bound (nondeterministic), and checks during "
            "which the engine printed something (engine-output)"
            + (f"; {esc(line)}: with each finding it belongs to" if line else "") + ".</p>"
            f"<table><thead><tr><th>note</th><th>checks</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _groups(r: CampaignResult) -> list[tuple[str, list[tuple[int, Finding]]]]:
    groups: dict[str, list[tuple[int, Finding]]] = {}
    for i, f in enumerate(r.discrepancies, 1):
        groups.setdefault(f.signature, []).append((i, f))
    return list(groups.items())


def _op_record(r: CampaignResult, f: Finding) -> str:
    """How the culprit op fared over the campaign: its nodes in discrepant examples, of all
    its nodes. Not for a composition fault: its op is right alone, and its record would
    seem to acquit it — the cell says what is blamed instead."""
    if f.blame == "composition":
        return ('<td class="note">n/a: ' + (f"<code>{esc(f.culprit_op)}</code> is right alone; " if f.culprit_op else "")
                + "the composition is blamed</td>")
    seen = r.coverage.get("op_verdicts", {}).get(f.culprit_op, {}) if f.culprit_op else {}
    total = sum(seen.values())
    bad = sum(v for k, v in seen.items() if k in _DISCREPANT)
    return f"<td class=num>{bad} of {total}</td>" if total else "<td class=num>—</td>"


def _certified(f: Finding) -> str:
    """In the overview: that the finding is proven (the sentence on hover, in full below)."""
    return (f'<small title="{esc(proof_text(f))}">certified ({esc(f.precision_bits)}-bit)</small>'
            if proof_text(f) else "")


def _heading(sig: str, items: list[tuple[int, Finding]]) -> str:
    """A group's signature for a person: ``mismatch · tanh``. A composition key names either
    the failing op (``composition:sub``) or an engine-wide fault and the probe that showed it
    (``composition:accumulation:add``, search.blame.signature): the heading names the fault
    and the ops of the group's reproducers, where a reader sees it."""
    kind, _, where = sig.partition(":")
    head, _, rest = where.partition(":")
    f = items[0][1]
    if head == "composition":
        fault = rest.partition(":")[0]
        ops = list(dict.fromkeys(op for _, g in items for op in composition_ops(g))) or [fault]
        what = f"engine-wide {ENGINE_WIDE[fault]} fault: " if fault in ENGINE_WIDE else ""
        return f"{esc(kind)} · {what}composition of " + ", ".join(f"<code>{esc(op)}</code>" for op in ops if op)
    if head == "precision" and f.culprit_op:
        return f"{esc(kind)} · precision, seen in <code>{esc(f.culprit_op)}</code>"
    return f"{esc(kind)} · {esc(where)}"


# the engine-wide composition faults search.blame names by the probe that shows them
ENGINE_WIDE = {"accumulation": "accumulation", "order": "traversal-order", "merged-leaves": "merged-leaves"}


def _discrepancies(r: CampaignResult) -> str:
    if not r.discrepancies:
        return ('<section id="discrepancies"><h2>Discrepancies</h2><p class="ok">None: every check agreed, '
                "sat at a kink, or could not be decided honestly (see the verdict counts above).</p></section>")
    groups = _groups(r)
    rows = []
    for sig, items in groups:
        i, f = items[0]
        more = f"<small>{len(items)} reproducers</small>" if len(items) > 1 else ""
        rows.append(f'<tr><td><span class="pill v-{esc(f.kind)}">{esc(f.kind)}</span> '
                    f'<a href="#f{i}"><code>{esc(sig)}</code></a>{more}</td>'
                    f"<td>{blamed(f)}{'' if f.blame == 'composition' else f'<small>{esc(f.blame)}</small>'}</td>"
                    f"{_op_record(r, f)}<td class=num>{error(f.severity)}{_certified(f)}</td>"
                    f"<td><code>{esc(f.expression)}</code></td></tr>")
    table = ('<div class="wide"><table class="overview"><thead><tr><th>signature</th><th>blamed</th>'
             '<th title="nodes of the culprit op in examples that were discrepancies, of all its nodes generated">'
             "discrepant uses of the op</th><th>error / bound</th><th>reproducer</th></tr>"
             "</thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    body = []
    for sig, items in groups:
        body.append(f'<section class="group"><h2 class="sig">{_heading(sig, items)} '
                    f'<small>{len(items)} reproducer{"s" if len(items) != 1 else ""}</small></h2>'
                    + "".join(article(i, f, r) for i, f in items) + "</section>")
    return (f'<section id="discrepancies"><h2>Discrepancies</h2><p class="lede">Grouped by signature: the kind '
            "and the op to blame; a fault in how the engine combines ops that are each right alone is one signature, "
            "<code>composition</code>, whichever ops show it. Each group shows its smallest reproducer.</p>"
            f'{table}</section>{"".join(body)}')


def _coverage(r: CampaignResult) -> str:
    cov = r.coverage
    if not cov:
        return '<section id="coverage"><h2>Coverage</h2><p class="note">This result records no coverage.</p></section>'
    ops, seen = sorted(r.ops), cov.get("ops", {})
    never = [op for op in ops if not seen.get(op)]
    absent = [op for op in SCALAR_OPS if op not in r.ops]
    pairs = {k: v for k, v in cov.get("pairs", {}).items() if v}
    regimes = cov.get("regimes", {})
    kink_ops = [op for op in ops if op in SCALAR_OPS and SCALAR_OPS[op].kink is not None]
    kinks = cov.get("kinks", {})
    gaps = []
    if never:
        gaps.append(f"ops never generated: {', '.join(f'<code>{esc(o)}</code>' for o in never)}")
    if absent:
        gaps.append(f"ops the engine does not offer (or --ops left out): "
                    f"{', '.join(f'<code>{esc(o)}</code>' for o in absent)}")
    missing_regimes = [key for key, _, _ in _REGIMES if key in regimes and not regimes[key]]
    if missing_regimes:
        gaps.append(f"regimes never reached: {', '.join(esc(k) for k in missing_regimes)}")
    stressed = cov.get("stress_examples", 0)    # kinks and poles are looked for in scalar examples only
    cold = [op for op in kink_ops if not kinks.get(op)] if stressed else []
    if cold:
        gaps.append(f"never evaluated exactly at their kink: {', '.join(f'<code>{esc(o)}</code>' for o in cold)}")
    gaps.append(f"{len(ops) ** 2 - len(pairs)} of {len(ops) ** 2} parent→child op pairs never generated "
                "(empty cells below)")
    reg_rows = "".join(
        f'<tr class="{"cold" if key in regimes and not regimes[key] else ""}"><th>{esc(key)}</th>'
        f"<td class=num>{esc(regimes.get(key, '—'))}</td><td>per {per}</td><td>{esc(meaning)}</td></tr>"
        for key, per, meaning in _REGIMES)
    extra = sorted(set(regimes) - {k for k, _, _ in _REGIMES})
    reg_rows += "".join(f"<tr><th>{esc(k)}</th><td class=num>{esc(regimes[k])}</td><td></td><td></td></tr>" for k in extra)
    kink_rows = "".join(f'<tr class="{"cold" if not kinks.get(op) else ""}"><th>{esc(op)}</th>'
                        f"<td class=num>{esc(kinks.get(op, 0))}</td></tr>" for op in kink_ops) if stressed else ""
    legend = " ".join(f'<span class="item"><span class="key" style="background:{c}"></span>{esc(k)}</span>'
                      for k, c in VERDICT_COLOURS.items())
    return f"""<section id="coverage"><h2>Coverage: what the campaign exercised, and what it did not</h2>
<div class="gaps"><p class="label">Not tested</p><ul>{"".join(f"<li>{g}</li>" for g in gaps)}</ul></div>
<p class="lede">{len(ops) - len(never)} of {len(ops)} ops generated · {len(pairs)} op pairs ·
{esc(cov.get("shared_subexpressions", 0))} of {esc(r.examples)} examples reuse a sub-expression (several paths to one node)</p>
<div class="cols"><figure><figcaption>Verdicts of the examples each op appeared in</figcaption>
{verdict_bars(cov.get("op_verdicts", {}), ops)}<p class="legend">{legend}</p></figure>
<figure><figcaption>Op pairs: the row op applied to the column op's result (hover for counts)</figcaption>{pair_matrix(pairs, ops)}
{pair_legend(pairs)}</figure></div>
<div class="cols"><div class="wide"><table class="regimes"><caption>Magnitude and stress regimes{
f" (stress looked for in the {esc(stressed)} scalar examples)" if stressed and stressed != r.examples else ""}</caption><thead><tr><th>regime</th>
<th>count</th><th>counted</th><th>meaning</th></tr></thead><tbody>{reg_rows}</tbody></table></div>
{f'<table class="kinks"><caption>Op nodes exactly at their kink</caption><tbody>{kink_rows}</tbody></table>' if kink_rows else ""}
</div></section>"""


def _severity(r: CampaignResult) -> str:
    s = r.severities
    if not s["checks"]:
        return '<section id="severity"><h2>Error / bound</h2><p class="note">No judged checks recorded.</p></section>'
    over = sum(c for d, c in s["decades"].items() if int(d) >= 0)
    return (f'<section id="severity"><h2>Error / bound over all {s["checks"]} judged checks</h2>'
            f'<p class="lede">How close the engine came to the per-point bound: {over} check{"s" if over != 1 else ""} '
            f"at or beyond it; {s['exact']} exact; the worst {error(s['worst'])}.</p>"
            f"<figure>{severity_histogram(s)}</figure></section>")


def render(result: CampaignResult) -> str:
    title = f"adverify: {result.engine} — " + (f"{len(result.discrepancies)} discrepancies" if result.discrepancies
                                               else "no discrepancy")
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, '
            f'initial-scale=1"><title>{esc(title)}</title><style>{CSS}</style></head><body><main>'
            f"{_header(result)}{_lost(result)}{_regressions(result)}{_discrepancies(result)}{_undecided(result)}"
            f"{_notes(result)}"
            f"{_coverage(result)}{_severity(result)}"
            '<footer>Rendered from summary.json by adverify; <code>adverify report DIR</code> renders it again, '
            "byte for byte.</footer></main></body></html>\n")
