"""One discrepancy as an HTML article: the reproducer in mathematical notation, its graph
with the culprit in red, every oracle against the engine, the output→input paths with their
products, and the command that replays it."""
from __future__ import annotations

import re

from ..results import Finding
from ..serial import FormatError, expr_from_json
from . import graph as dag
from .kit import as_float, esc, number
from .mathml import formula
from .text import shape_text

__all__ = ["article", "replay_command"]


def replay_command(f: Finding, engine: str) -> str:
    """Run from the report folder. The summary holds the engine's name, not the --engine
    spec it was loaded from: built-in adapters and mutants can be named back, others not."""
    from ..engines import ADAPTERS
    from ..mutants import MUTANTS
    if engine in ADAPTERS:
        spec = engine
    elif engine.startswith("mutant-") and engine[len("mutant-"):] in MUTANTS:
        spec = "mutant:" + engine[len("mutant-"):]
    else:
        spec = "SPEC"
    return f"adverify replay {f.replay} --engine {spec}"


_RELATIVE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_./-]*\.json\Z")


def _link(path: str) -> str | None:
    """A replay path as a link only when it is a plain relative file name: the result may
    come from someone else, and href="javascript:…" must not become a live link."""
    return path if _RELATIVE.match(path) and ".." not in path.split("/") else None


def _math(f: Finding) -> str:
    try:
        return formula(expr_from_json(f.expr, "finding expression"))
    except (FormatError, ValueError, KeyError, TypeError):
        return '<p class="note">No structured expression in the results: the text form is below.</p>'


def _error(actual, truth) -> float | None:
    a, t = as_float(actual), as_float(truth)
    return None if a is None or t is None else a - t


def _oracle_table(f: Finding) -> str:
    bound = as_float(f.bound)
    what = "the value" if f.variable is None else f"∂f/∂{esc(f.variable)}"
    rows = []
    for name, value in sorted(f.oracles.items()):
        err = _error(f.actual, value)
        ratio = abs(err) / bound if err is not None and bound else None
        rows.append(f"<tr><th>{esc(name)}</th><td class=num>{number(value, 17)}</td>"
                    f"<td class=num>{number(f.actual, 17)}</td><td class=num>{number(err, 4)}</td>"
                    f"<td class=num>{number(f.bound, 3)}</td>"
                    f'<td class="num {"bad" if ratio is not None and ratio > 1 else ""}">{number(ratio, 3)}</td></tr>')
    if not rows:
        rows.append(f'<tr><td colspan=6 class=note>No oracle value for this finding ({esc(f.kind)}).</td></tr>')
    return (f'<table class="oracles"><caption>{what}: every oracle against the engine</caption>'
            "<thead><tr><th>oracle</th><th>oracle value</th><th>engine</th><th>engine − oracle</th>"
            "<th>bound</th><th>|error| / bound</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _checks_table(f: Finding) -> str:
    if not f.checks:
        return ""
    # the interval column only when some check sits at a kink
    kinked = any(c.get("low") is not None or c.get("high") is not None for c in f.checks)
    rows = []
    for c in f.checks:
        var = c.get("variable")
        name = "value f" if var is None else f"∂f/∂{esc(var)}"
        if c.get("mode"):   # --forward: the same quantity, asked of forward mode
            name += f" <small>({esc(c.get('mode'))} mode)</small>"
        err = _error(c.get("actual"), c.get("expected"))
        bound = as_float(c.get("bound"))
        ratio = abs(err) / bound if err is not None and bound else None
        interval = f"<td class=num>[{number(c.get('low'))}, {number(c.get('high'))}]</td>" if kinked else ""
        failing = var == f.variable and c.get("verdict") == f.kind
        rows.append(f'<tr class="{"failing" if failing else ""}"><th>{name}</th>'
                    f'<td><span class="pill v-{esc(c.get("verdict"))}">{esc(c.get("verdict"))}</span></td>'
                    f"<td class=num>{number(c.get('expected'), 10)}</td><td class=num>{number(c.get('actual'), 10)}</td>"
                    f"<td class=num>{number(c.get('bound'), 3)}</td><td class=num>{number(ratio, 3)}</td>{interval}</tr>")
    return ('<table class="checks"><caption>Every check of this example</caption><thead><tr><th>quantity</th>'
            "<th>verdict</th><th>expected</th><th>engine</th><th>bound</th><th>|error| / bound</th>"
            + ("<th>allowed at the kink</th>" if kinked else "") + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _picture(f: Finding, uid: str) -> tuple[str, str]:
    """(the SVG figure, the paths list)."""
    if f.graph.get("nodes"):
        g = dag.from_picture(f.graph)
    else:
        try:
            expr_from_json(f.expr, "finding expression")   # checked before it is drawn
            g = dag.from_expr(f.expr)
        except (FormatError, ValueError, KeyError, TypeError, AttributeError):
            return f'<p class="note">No graph: {esc(f.picture_note or "the results hold no expression")}</p>', ""
    n = len(g.ops)
    paths = [p for p in f.paths if all(isinstance(i, int) and 0 <= i < n for i in p["nodes"])]
    on_path = {(d, a) for p in paths for d, a in zip(p["nodes"], p["args"])}
    wrt = next((i for i, (op, label) in enumerate(zip(g.ops, g.labels)) if op == "var" and label == f.variable), None)
    culprit = f.culprit_node if isinstance(f.culprit_node, int) and 0 <= f.culprit_node < n else None
    svg = dag.draw(g, uid, culprit, wrt, on_path)
    labels = ("Edge labels: the local derivative ∂consumer/∂argument at this point; node values below "
              "the op names." if f.graph.get("nodes") else "The program's structure only: a tensor op's "
              "local derivative is a Jacobian, so edges carry no label; W is the cotangent.")
    legend = ('<figcaption><span class="key hot"></span> the culprit op and its edges '
              f'<span class="key path"></span> edges on a path from the output to {esc(f.variable or "—")} '
              f'<span class="key off"></span> other edges. {labels}</figcaption>')
    note = f'<p class="note">{esc(f.picture_note)}</p>' if f.picture_note else ""
    figure = f'<figure class="graph"><div class="scroll">{svg}</div>{legend}</figure>{note}'
    return figure, _paths(f, g, paths, culprit)


def _paths(f: Finding, g: dag.Graph, paths: list[dict], culprit: int | None) -> str:
    if not paths:
        return ""
    ssa = dag.ssa_names(g)
    partial = {(d, a): p for s, d, a, p in g.edges}

    def chip(i: int) -> str:
        name = esc(g.labels[i]) if g.ops[i] in ("var", "const") else f"<small>%{ssa[i]}</small> {esc(g.labels[i])}"
        return f'<span class="chip{" culprit" if i == culprit else ""}">{name}</span>'

    rows = []
    for k, p in enumerate(paths, 1):
        steps = [chip(p["nodes"][0])]
        for d, a, nxt in zip(p["nodes"], p["args"], p["nodes"][1:]):
            steps.append(f'<span class="factor">×&#8239;{number(partial.get((d, a)), 4)}</span>{chip(nxt)}')
        via = culprit is not None and culprit in p["nodes"]
        rows.append(f'<tr class="{"via" if via else ""}"><td class=num>{k}</td><td class="chain">{"".join(steps)}</td>'
                    f"<td class=num>{number(p['product'], 10)}</td></tr>")
    total = f.paths_total if isinstance(f.paths_total, int) else len(paths)
    more = f" — the {total - len(paths)} smaller ones are not listed" if total > len(paths) else ""
    summed = f.oracles.get("paths")
    foot = (f"<tr><td></td><td>Σ over all {total} path{'s' if total != 1 else ''} = the true derivative"
            f"{more}</td><td class=num>{number(summed, 10)}</td></tr>"
            f'<tr class="engine"><td></td><td>the engine says</td><td class=num>{number(f.actual, 10)}</td></tr>')
    return (f'<table class="paths"><caption>Paths from the output to {esc(f.variable)} '
            "(the chain rule: each path's product of local derivatives; all paths summed). "
            "Highlighted: paths through the culprit.</caption><thead><tr><th>#</th><th>path</th>"
            "<th>product</th></tr></thead><tbody>" + "".join(rows) + f"</tbody><tfoot>{foot}</tfoot></table>")


def article(i: int, f: Finding, engine: str) -> str:
    where = f" in <code>{esc(f.culprit_op)}</code>" if f.culprit_op else ""
    point = ", ".join(f"<code>{esc(k)}{esc(shape_text(f.shapes, k))} = {number(v, 17)}</code>"
                      for k, v in f.point.items())
    figure, paths = _picture(f, f"g{i}")
    steps = "".join(f"<li><code>{esc(s)}</code></li>" for s in f.steps)
    cmd, href = replay_command(f, engine), _link(f.replay)
    link = f'; <a href="{esc(href)}">replay file</a>' if href else ""
    replay = (f'<p class="label">Replay (from the report folder{link})</p>'
              f'<pre class="cmd">{esc(cmd)}</pre>') if f.replay else ""
    if f.replay and cmd.endswith("SPEC"):
        replay += f'<p class="note">SPEC: the <code>--engine</code> given to the campaign (engine {esc(engine)}).</p>'
    kinks = f'<p class="note">Kinks at this point: {esc(", ".join(f.kinks))}</p>' if f.kinks else ""
    return f"""<article class="finding" id="f{i}">
<h3><span class="idx">{i}</span> <span class="pill v-{esc(f.kind)}">{esc(f.kind)}</span>{where}
<span class="blame">{esc(f.blame)}</span></h3>
<p class="message">{esc(f.message)}</p>
<div class="repro"><p class="label">Minimal reproducer · {esc(f.nodes)} op{'s' if f.nodes != 1 else ''} · at {point}</p>
{_math(f)}<p class="text"><code>{esc(f.expression)}</code></p></div>
{figure}<div class="numbers">{_oracle_table(f)}{_checks_table(f)}</div>
{paths}{kinks}
<details><summary>The graph as built ({len(f.steps)} step{'s' if len(f.steps) != 1 else ''})</summary><ol class="steps">{steps}</ol></details>
{replay}
<p class="found">First seen after {esc(f.found_after)} examples ({number(f.found_at_s, 3)} s) · signature <code>{esc(f.signature)}</code></p>
</article>"""
