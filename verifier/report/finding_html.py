"""One discrepancy as an HTML article: the reproducer in mathematical notation, its graph
with the culprit in red, every oracle against the engine, the output→input paths with their
products, and the command that replays it."""
from __future__ import annotations

import re

from verifier.floor.serial import FormatError, expr_from_json
from verifier.model import CampaignResult, Finding
from verifier.report import graph as dag
from verifier.report.kit import as_float, error, esc, number, value
from verifier.report.mathml import formula
from verifier.report.text import UNNAMED_ENGINE_NOTE, point_text, proof_text, replay_command, shape_text, value_text

__all__ = ["article", "involved", "blamed", "composition_ops", "mode_text"]

_LEAVES = ("var", "const", "tconst", "iconst")


_RELATIVE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_./-]*\.json\Z")


def _link(path: str) -> str | None:
    """A replay path as a link only when it is a plain relative file name: the result may
    come from someone else, and href="javascript:…" must not become a live link."""
    return path if _RELATIVE.match(path) and ".." not in path.split("/") else None


def _math(f: Finding) -> str:
    try:
        return formula(expr_from_json(f.expr, "finding expression", None))
    except (FormatError, ValueError, KeyError, TypeError):
        return '<p class="note">No structured expression in the results: the text form is below.</p>'


def involved(f: Finding) -> tuple[list[int], dict[int, int]]:
    """The nodes a composition fault involves, as ids of ``f.expr``: the op nodes of the
    failing sub-expression (rooted at the culprit node), and the nodes where paths from its
    root meet (used twice or more in it), with how many paths reach them: the gradients
    along them must add up. Empty when the finding holds no usable expression."""
    root = f.culprit_node
    try:
        expr_from_json(f.expr, "finding expression", None)   # checked: the result may be someone's file
    except (FormatError, ValueError, KeyError, TypeError, AttributeError):
        return [], {}
    nodes = f.expr["nodes"]
    if not isinstance(root, int) or not 0 <= root < len(nodes):
        return [], {}
    paths, uses = {root: 1}, {}
    for i in range(root, -1, -1):     # ids are topological: a node's users come after it
        for a in nodes[i].get("args", []) if i in paths else ():
            paths[a] = paths.get(a, 0) + paths[i]
            uses[a] = uses.get(a, 0) + 1
    ops = [i for i in sorted(paths, reverse=True) if nodes[i]["op"] not in _LEAVES]
    # where paths meet (used twice or more), not every node below such a meeting point
    shared = {i: paths[i] for i in sorted(uses) if uses[i] > 1 and nodes[i]["op"] not in ("const", "tconst")}
    return ops, shared


def _ssa(f: Finding, i: int) -> int:
    """The ``%k`` of op node ``i``, as in ``Finding.steps``: op nodes numbered from 1."""
    return sum(1 for n in f.expr["nodes"][:i + 1] if n["op"] not in _LEAVES)


def _name(f: Finding, i: int) -> str:
    """A node as the steps name it: a variable by its name, an op node as ``%k op``."""
    n = f.expr["nodes"][i]
    return str(n["name"]) if n["op"] == "var" else f"%{_ssa(f, i)} {n['op']}"


def composition_ops(f: Finding) -> list[str]:
    """The ops of a composition fault's failing sub-expression, from its root down."""
    ops, _ = involved(f) if f.blame == "composition" else ([], {})
    return list(dict.fromkeys(f.expr["nodes"][i]["op"] for i in ops))


def _several(f: Finding, shared: dict[int, int]) -> str:
    return ", ".join(f"<code>{esc(_name(f, i))}</code> ({n} paths)" for i, n in shared.items())


def blamed(f: Finding, short: bool = False) -> str:
    """What the finding blames, as HTML: the culprit op, or for a composition fault (its op
    right alone) the ops of the failing sub-expression and the nodes reached by several paths.
    Its signature names the op, or for an engine-wide fault the probe that shows it
    (search.blame.signature); this says where this reproducer shows it."""
    if f.blame != "composition":
        return f"<code>{esc(f.culprit_op)}</code>" if f.culprit_op else "—"
    ops, shared = involved(f)
    if not ops:
        return "a composition" + (f" at <code>{esc(f.culprit_op)}</code>" if f.culprit_op else "")
    text = "the composition of " + ", ".join(f"<code>{esc(op)}</code>" for op in composition_ops(f))
    return text + (f"; reached by several paths: {_several(f, shared)}" if shared and not short else "")


def _blamed_note(f: Finding) -> str:
    """Why no op is blamed alone: the smallest sub-expression that fails, its root op right alone."""
    ops, shared = involved(f) if f.blame == "composition" else ([], {})
    if not ops:
        return ""
    k, root = _ssa(f, ops[0]), f.expr["nodes"][ops[0]]["op"]
    step = next((t for t in f.steps if t.startswith(f"%{k} = ")), f"%{k}")
    paths = (f"Reached by several paths, whose gradients must add up: {_several(f, shared)}." if shared
             else "No node in it is reached by two paths.")
    return (f'<p class="blamed">Blamed: {blamed(f, short=True)}, not one op. <code>{esc(step)}</code> is the '
            f"smallest sub-expression the engine gets wrong: every sub-expression below it is right, and "
            f"<code>{esc(root)}</code> is right alone. {paths}</p>")


def _error(actual, truth) -> float | None:
    a, t = as_float(actual), as_float(truth)
    return None if a is None or t is None else a - t


def _oracle_table(f: Finding) -> str:
    bound = as_float(f.bound)
    what = "the value" if f.variable is None else f"∂f/∂{esc(f.variable)}"
    rows = []
    for name, truth in sorted(f.oracles.items()):
        err = _error(f.actual, truth)
        ratio = abs(err) / bound if err is not None and bound else None
        rows.append(f"<tr><th>{esc(name)}</th><td class=num>{value(truth)}</td>"
                    f"<td class=num>{value(f.actual)}</td><td class=num>{error(err)}</td>"
                    f"<td class=num>{error(f.bound)}</td>"
                    f'<td class="num {"bad" if ratio is not None and ratio > 1 else ""}">{error(ratio)}</td></tr>')
    if not rows:
        rows.append(f'<tr><td colspan=6 class=note>No oracle value for this finding ({esc(f.kind)}).</td></tr>')
    return (f'<div class="wide"><table class="oracles"><caption>{what}: every oracle against the engine</caption>'
            "<thead><tr><th>oracle</th><th>oracle value</th><th>engine</th><th>engine − oracle</th>"
            "<th>bound</th><th>|error| / bound</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _checks_table(f: Finding) -> str:
    if not f.checks:
        return ""
    # the interval column only when some check sits at a kink; the certified one when some
    # check has an enclosure (ball arithmetic)
    kinked = any(c.get("low") is not None or c.get("high") is not None for c in f.checks)
    certified = any(c.get("enclosure") for c in f.checks)
    rows = []
    for c in f.checks:
        var = c.get("variable")
        name = "value f" if var is None else f"∂f/∂{esc(var)}"
        if c.get("mode"):   # --forward: the same quantity, asked of forward mode
            name += f" <small>({esc(c.get('mode'))} mode)</small>"
        err = _error(c.get("actual"), c.get("expected"))
        bound = as_float(c.get("bound"))
        ratio = abs(err) / bound if err is not None and bound else None
        interval = f"<td class=num>[{value(c.get('low'))}, {value(c.get('high'))}]</td>" if kinked else ""
        if certified:
            box = c.get("enclosure")
            interval += f"<td class=num>[{value(box[0])}, {value(box[1])}]</td>" if box else "<td class=num>—</td>"
        failing = var == f.variable and c.get("verdict") == f.kind
        rows.append(f'<tr class="{"failing" if failing else ""}"><th>{name}</th>'
                    f'<td><span class="pill v-{esc(c.get("verdict"))}">{esc(c.get("verdict"))}</span></td>'
                    f"<td class=num>{value(c.get('expected'))}</td><td class=num>{value(c.get('actual'))}</td>"
                    f"<td class=num>{error(c.get('bound'))}</td><td class=num>{error(ratio)}</td>{interval}</tr>")
    return ('<div class="wide"><table class="checks"><caption>Every check of this example</caption><thead><tr>'
            "<th>quantity</th><th>verdict</th><th>expected</th><th>engine</th><th>bound</th><th>|error| / bound</th>"
            + ("<th>allowed at the kink</th>" if kinked else "")
            + ('<th title="proven to hold the exact value">certified enclosure</th>' if certified else "")
            + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></div>")


def _picture(f: Finding, uid: str) -> tuple[str, str]:
    """(the SVG figure, the paths list)."""
    if f.graph.get("nodes"):
        g = dag.from_picture(f.graph)
    else:
        try:
            expr_from_json(f.expr, "finding expression", None)   # checked before it is drawn
            g = dag.from_expr(f.expr)
        except (FormatError, ValueError, KeyError, TypeError, AttributeError):
            return f'<p class="note">No graph: {esc(f.picture_note or "the results hold no expression")}</p>', ""
    n = len(g.ops)
    paths = [p for p in f.paths if all(isinstance(i, int) and 0 <= i < n for i in p["nodes"])]
    on_path = {(d, a) for p in paths for d, a in zip(p["nodes"], p["args"])}
    wrt = next((i for i, (op, label) in enumerate(zip(g.ops, g.labels)) if op == "var" and label == f.variable), None)
    culprit = f.culprit_node if isinstance(f.culprit_node, int) and 0 <= f.culprit_node < n else None
    shared = frozenset(i for i in involved(f)[1] if i < n) if f.blame == "composition" else frozenset()
    svg = dag.draw(g, uid, culprit, wrt, on_path, shared)
    labels = ("Edge labels: the local derivative ∂consumer/∂argument at this point; node values below "
              "the op names (≈: rounded; hover for the exact value)." if f.graph.get("nodes") else
              "The program's structure only: a tensor op's local derivative is a Jacobian, so edges carry "
              "no label; W is the cotangent.")
    legend = ('<figcaption><span class="key hot"></span> the culprit op and its edges '
              + ('<span class="key shared"></span> nodes it reaches by several paths ' if shared - {culprit} else "")
              + f'<span class="key path"></span> edges on a path from the output to {esc(f.variable or "—")} '
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
            steps.append(f'<span class="factor">×&#8239;{esc(dag.shown(partial.get((d, a))))}</span>{chip(nxt)}')
        via = culprit is not None and culprit in p["nodes"]
        rows.append(f'<tr class="{"via" if via else ""}"><td class=num>{k}</td><td class="chain">{"".join(steps)}</td>'
                    f"<td class=num>{value(p['product'])}</td></tr>")
    total = f.paths_total if isinstance(f.paths_total, int) else len(paths)
    more = f" — the {total - len(paths)} smaller ones are not listed" if total > len(paths) else ""
    summed = f.oracles.get("paths")
    foot = (f"<tr><td></td><td>Σ over all {total} path{'s' if total != 1 else ''} = the true derivative"
            f"{more}</td><td class=num>{value(summed)}</td></tr>"
            f'<tr class="engine"><td></td><td>the engine says</td><td class=num>{value(f.actual)}</td></tr>')
    return (f'<div class="wide"><table class="paths"><caption>Paths from the output to {esc(f.variable)} '
            "(the chain rule: each path's product of local derivatives; all paths summed). "
            "Highlighted: paths through the culprit.</caption><thead><tr><th>#</th><th>path</th>"
            "<th>product</th></tr></thead><tbody>" + "".join(rows) + f"</tbody><tfoot>{foot}</tfoot></table></div>")


def mode_text(f: Finding) -> str:
    """The mode a finding was found in, as the command line says it ('' for none recorded)."""
    m = f.mode
    if not m:
        return ""
    words = [w for w, on in (("tensor", m.get("tensor")), ("order 2", m.get("order") == 2),
                             ("forward", m.get("forward"))) if on] or ["order 1, reverse mode"]
    return ", ".join(words) + (f", {m['dtype']}" if m.get("dtype") else "")


def _examples(f: Finding) -> str:
    if not f.examples:
        return ""
    n = len(f.examples)
    rows = "".join(f"<tr><td>{esc(x['kind'])}</td><td><code>{esc(x['expression'])}</code></td>"
                   f"<td><code>{esc(point_text(x['point']))}</code></td><td>{esc(x.get('variable') or 'value')}</td>"
                   f"<td class=num>{value(x.get('expected'))}</td><td class=num>{value(x.get('actual'))}</td></tr>"
                   for x in f.examples)
    return (f'<details class="examples"><summary>{n} more case{"s" if n != 1 else ""} of this signature</summary>'
            '<div class="wide"><table><thead><tr><th>kind</th><th>expression</th><th>point</th><th>d/d</th>'
            f"<th>expected</th><th>engine</th></tr></thead><tbody>{rows}</tbody></table></div></details>")


def _output(f: Finding) -> str:
    if not f.output:
        return ""
    return (f'<details class="output"><summary>What the engine printed ({len(f.output.splitlines())} '
            f"line{'s' if len(f.output.splitlines()) != 1 else ''})</summary><pre>{esc(f.output)}</pre></details>")


def _proof(f: Finding) -> str:
    """What is proven: the exact value's certified enclosure, and the engine outside it."""
    return f'<p class="proof"><b>Proven:</b> {esc(proof_text(f))}.</p>' if proof_text(f) else ""


def article(i: int, f: Finding, r: CampaignResult) -> str:
    # a composition is named by its ops, and its blame is then said in words below the message
    where = f" <span>in {blamed(f, short=True)}</span>" if f.culprit_op else ""
    tag = "" if f.blame == "composition" and f.culprit_op else f'\n<span class="blame">{esc(f.blame)}</span>'
    point = ", ".join(f"<code>{esc(k)}{esc(shape_text(f.shapes, k))} = "
                      f"{esc(value_text(v)) if isinstance(v, list) else value(v)}</code>" for k, v in f.point.items())
    figure, paths = _picture(f, f"g{i}")
    steps = "".join(f"<li><code>{esc(s)}</code></li>" for s in f.steps)
    href = _link(f.replay)
    link = f'; <a href="{esc(href)}">replay file</a>' if href else ""
    replay = (f'<p class="label">Replay (in the folder the campaign ran in{link})</p>'
              f'<pre class="cmd">{esc(replay_command(r, f.replay))}</pre>') if f.replay else ""
    if f.replay and not r.engine_spec:
        replay += f'<p class="note">{esc(UNNAMED_ENGINE_NOTE)} (engine {esc(r.engine)}).</p>'
    kinks = f'<p class="note">Kinks at this point: {esc(", ".join(f.kinks))}</p>' if f.kinks else ""
    mode = f" · found in {esc(mode_text(f))}" if f.mode else ""
    return f"""<article class="finding" id="f{i}">
<h3><span class="idx">{i}</span> <span class="pill v-{esc(f.kind)}">{esc(f.kind)}</span>{where}{tag}</h3>
<p class="message">{esc(f.message)}</p>{_proof(f)}
{_blamed_note(f)}<div class="repro"><p class="label">Minimal reproducer · {esc(f.nodes)} op{'s' if f.nodes != 1 else ''} · at {point}</p>
{_math(f)}<p class="text"><code>{esc(f.expression)}</code></p></div>
{figure}<div class="numbers">{_oracle_table(f)}{_checks_table(f)}</div>
{paths}{kinks}{_examples(f)}{_output(f)}
<details><summary>The graph as built ({len(f.steps)} step{'s' if len(f.steps) != 1 else ''})</summary><ol class="steps">{steps}</ol></details>
{replay}
<p class="found">First seen after {esc(f.found_after)} examples ({number(f.found_at_s, 3)} s) · signature <code>{esc(f.signature)}</code>{mode}</p>
</article>"""
