"""A finding's DAG as inline SVG: inputs on the left, the output on the right, every edge
labelled with its local derivative, the culprit and its edges in red.

The layout is layered (Sugiyama style): a node's column is its depth, edges that skip
columns bend through placeholder points, rows are ordered by the barycentre of their
neighbours to untangle crossings, then nudged toward their neighbours to straighten edges.
Everything is deterministic, so a report re-rendered from JSON is byte-identical.
"""
from __future__ import annotations

from dataclasses import dataclass

from verifier.report.kit import esc, number, value

__all__ = ["Graph", "from_picture", "from_expr", "draw", "ssa_names", "shown"]

GAP_X, GAP_Y, PAD = 96, 22, 16
CHAR = 7.2                        # width of a 12px character: boxes are sized from their text


@dataclass(frozen=True)
class Graph:
    ops: list[str]                              # per node id: "var", "const" or an op name
    labels: list[str]
    values: list                                # float, non-finite string, or None (unknown)
    edges: list[tuple[int, int, int, object]]   # (src, dst, argument index, partial or None)


def from_picture(graph: dict) -> Graph:
    nodes = graph["nodes"]
    return Graph([n["op"] for n in nodes], [n["label"] for n in nodes], [n["value"] for n in nodes],
                 [(e["src"], e["dst"], e["arg"], e["partial"]) for e in graph["edges"]])


def from_expr(doc: dict) -> Graph:
    """The bare structure (no values, no local derivatives) from the IR's JSON, when there is
    no local graph: a tensor program's local derivatives are Jacobians, not edge labels."""
    ops, labels, edges = [], [], []
    for i, n in enumerate(doc["nodes"]):
        ops.append("const" if n["op"] in ("tconst", "iconst") else n["op"])   # drawn as the leaf it is
        labels.append(_label(n))
        edges += [(a, i, k, BARE) for k, a in enumerate(n.get("args", []))]
    return Graph(ops, labels, [None] * len(ops), edges)


BARE = "bare"   # an edge's partial when the graph is the structure alone


def _label(n: dict) -> str:
    if n["op"] == "var":
        return n["name"]
    if n["op"] == "const":
        return _const(n["value"])
    if n["op"] == "tconst":
        return "W " + "×".join(map(str, n["shape"])) if n["shape"] else _const(n["values"][0])
    if n["op"] == "iconst":   # indices: their values while they are few
        values = n["values"]
        return f"int {values}" if len(values) <= 8 else "int " + "×".join(map(str, n["shape"]))
    params = ", ".join(f"{k}={v}" for k, v in n.get("params", {}).items())
    return f"{n['op']} {params}" if params else n["op"]


def _const(v: float) -> str:
    text = repr(v)
    return text[:-2] if text.endswith(".0") and abs(v) < 1e16 else text


def shown(x) -> str:
    """A value in the picture: exact when its exact text is short (0.5, -1.0), else marked as
    rounded (≈0.235): a picture has no room for 17 digits, and the same value must not look
    like another number there than in the tables. The exact value is in the tooltip."""
    text = value(x)
    return text if len(text) <= 8 else "≈" + number(x, 4)


def _size(g: Graph, i: int) -> tuple[float, float]:
    if g.ops[i] == "const":
        return max(len(g.labels[i]) * CHAR + 14, 30), 24
    top = g.labels[i] if g.ops[i] == "var" else f"%{len(g.ops)} {g.labels[i]}"   # room for any %k
    return max(len(top), len(shown(g.values[i])) * 0.9) * CHAR + 20, 38


def ssa_names(g: Graph) -> dict[int, int]:
    """%k names, as in Finding.steps: op nodes numbered from 1 in topological order."""
    ops = [i for i, op in enumerate(g.ops) if op not in ("var", "const")]
    return {i: k + 1 for k, i in enumerate(ops)}


def _columns(g: Graph) -> list[int]:
    col = [0] * len(g.ops)
    for s, d, _, _ in sorted(g.edges, key=lambda e: e[1]):   # ids are topological
        if g.ops[s] != "const":
            col[d] = max(col[d], col[s] + 1)
    for i, op in enumerate(g.ops):
        if op == "const":   # a constant sits just before its first consumer, not with the inputs
            col[i] = max(0, min((col[d] for s, d, _, _ in g.edges if s == i), default=1) - 1)
    return col


def _layout(g: Graph):
    """Positions of nodes, and of the bend points of every edge."""
    col = _columns(g)
    width = max(col, default=0) + 1
    rows: list[list] = [[] for _ in range(width)]
    for i in range(len(g.ops)):
        rows[col[i]].append(("n", i))
    chains = []                       # per edge: the vertices it passes, source first
    for k, (s, d, _, _) in enumerate(g.edges):
        chain = [("n", s)] + [("d", k, c) for c in range(col[s] + 1, col[d])] + [("n", d)]
        for v in chain[1:-1]:
            rows[v[2]].append(v)
        chains.append(chain)
    prev: dict = {}
    nxt: dict = {}
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            nxt.setdefault(a, []).append(b)
            prev.setdefault(b, []).append(a)

    def reorder(row, neighbours, pos):
        keyed = [(sum(pos[u] for u in neighbours.get(v, [])) / len(neighbours[v]) if neighbours.get(v) else pos[v], pos[v], v)
                 for v in row]
        return [v for _, _, v in sorted(keyed, key=lambda t: (t[0], t[1]))]

    for sweep in range(8):           # barycentre sweeps, alternately left→right and back
        pos = {v: i for row in rows for i, v in enumerate(row)}
        order = range(1, width) if sweep % 2 == 0 else range(width - 2, -1, -1)
        for c in order:
            rows[c] = reorder(rows[c], prev if sweep % 2 == 0 else nxt, pos)
            pos.update({v: i for i, v in enumerate(rows[c])})

    def height(v):
        return _size(g, v[1])[1] if v[0] == "n" else 8

    ys: dict = {}
    for row in rows:                  # first guess: each column centred on 0
        total = sum(height(v) for v in row) + GAP_Y * (len(row) - 1)
        y = -total / 2
        for v in row:
            ys[v] = y + height(v) / 2
            y += height(v) + GAP_Y
    for sweep in range(6):            # then nudge every vertex toward its neighbours' mean
        order = range(width) if sweep % 2 == 0 else range(width - 1, -1, -1)
        for c in order:
            row = rows[c]
            want = [sum(ys[u] for u in prev.get(v, []) + nxt.get(v, [])) / len(prev.get(v, []) + nxt.get(v, []))
                    if prev.get(v) or nxt.get(v) else ys[v] for v in row]
            placed: list[float] = []
            for v, y in zip(row, want):   # keep the order and the spacing
                if placed:
                    y = max(y, placed[-1] + (height(row[len(placed) - 1]) + height(v)) / 2 + GAP_Y)
                placed.append(y)
            shift = sum(w - p for w, p in zip(want, placed)) / len(row)
            for v, y in zip(row, placed):
                ys[v] = y + shift
    widths = [max((_size(g, v[1])[0] for v in row if v[0] == "n"), default=20) for row in rows]
    xs_col, x = [], PAD
    for w in widths:
        xs_col.append(x + w / 2)
        x += w + GAP_X
    top = min(ys[v] - height(v) / 2 for v in ys) - PAD
    pos = {v: (xs_col[col[v[1]] if v[0] == "n" else v[2]], ys[v] - top) for v in ys}
    bottom = max(ys[v] + height(v) / 2 for v in ys) - top + PAD
    return pos, chains, x - GAP_X + PAD, bottom


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _point(seg, t: float) -> tuple[float, float]:
    p0, p1, p2, p3 = seg
    u = 1 - t
    return tuple(u ** 3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t ** 3 * d for a, b, c, d in zip(p0, p1, p2, p3))


STROKE = {"hot": 2.6, "path": 1.7, "off": 1.2}   # as in style.py; an arrowhead is 7 strokes long
_TRIES = (0.5, 0.62, 0.38, 0.74, 0.26, 0.85, 0.15)   # along a segment, from its middle outward


def _tangent(seg, t: float) -> tuple[float, float]:
    p0, p1, p2, p3 = seg
    u = 1 - t
    return tuple(3 * u * u * (b - a) + 6 * u * t * (c - b) + 3 * t * t * (d - c) for a, b, c, d in zip(p0, p1, p2, p3))


def _samples(segments: list) -> list[tuple[float, float]]:
    """Points along an edge, about 3 px apart: what a label must not cover."""
    pts = []
    for seg in segments:
        reach = sum(((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in zip(seg, seg[1:]))
        n = max(8, int(reach / 3))
        pts += [_point(seg, k / n) for k in range(n + 1)]
    return pts


def _obstacles(routes: list) -> list[tuple[float, float, float]]:
    """(x, y, clearance) for every edge: its line, and its arrowhead near the consumer, which
    is wider than the line and must keep its label at a distance."""
    out = []
    for kind, segments, _ in routes:
        pts = _samples(segments)
        tip, head = pts[-1], 7 * STROKE[kind]
        for x, y in pts:
            near = ((x - tip[0]) ** 2 + (y - tip[1]) ** 2) ** 0.5 <= head + 4
            out.append((x, y, 0.45 * head + 4 if near else STROKE[kind] / 2 + 2))
    return out


def _place(segments: list, text: str, taken: list, lines: list, stroke: float) -> tuple[float, float]:
    """Where an edge's label goes (its centre): beside the edge, not on it, at the first spot
    from the middle of the segment nearest the consumer outward, above the line and then below,
    whose box covers no node, no label placed before, no line and no arrowhead; if there is
    none, the spot that covers the fewest."""
    w, h = len(text) * 6.4 + 4, 12
    best = None
    for seg in reversed(segments):
        for t in _TRIES:
            (x, y), (dx, dy) = _point(seg, t), _tangent(seg, t)
            norm = (dx * dx + dy * dy) ** 0.5 or 1.0
            nx, ny = -dy / norm, dx / norm
            if ny > 0 or (ny == 0 and nx < 0):
                nx, ny = -nx, -ny                # the normal that points up
            # the box's reach along the normal, the line's half width, and 3 px
            gap = abs(nx) * w / 2 + abs(ny) * h / 2 + stroke / 2 + 3
            for side in (1, -1):
                cx, cy = x + side * nx * gap, y + side * ny * gap
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                hits = sum(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken)
                hits += sum(box[0] - r < px < box[2] + r and box[1] - r < py < box[3] + r for px, py, r in lines)
                if hits == 0:
                    taken.append(box)
                    return cx, cy
                if best is None or hits < best[0]:
                    best = (hits, cx, cy, box)
    _, cx, cy, box = best
    taken.append(box)
    return cx, cy


def _ports(g: Graph, pos: dict, chains: list) -> dict[int, float]:
    """Per edge, where it enters its consumer: one port per argument, ordered by where the
    edges come from (top to bottom), so two edges never cross at the arrowheads; the tooltip
    and the label say which argument an edge is."""
    into: dict[int, list[int]] = {}
    for k, (_, d, _, _) in enumerate(g.edges):
        into.setdefault(d, []).append(k)
    offset = {}
    for ks in into.values():
        ranked = sorted(ks, key=lambda k: (pos[chains[k][-2]][1], g.edges[k][2]))
        offset.update({k: (r - (len(ks) - 1) / 2) * 12 for r, k in enumerate(ranked)})
    return offset


def draw(g: Graph, uid: str, culprit: int | None = None, wrt: int | None = None,
         on_path: set[tuple[int, int]] = frozenset(), shared: frozenset[int] = frozenset()) -> str:
    """The SVG element. ``uid`` keeps marker ids unique in a page with several graphs;
    ``on_path`` holds (consumer, argument) of edges on an output→``wrt`` path; ``shared``:
    nodes a composition fault involves (reached by several paths), outlined."""
    pos, chains, width, height = _layout(g)
    out = len(g.ops) - 1
    twins: dict[tuple[int, int], list[int]] = {}
    for k, (s, d, _, _) in enumerate(g.edges):
        twins.setdefault((s, d), []).append(k)
    ports = _ports(g, pos, chains)
    parts = [f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(width)} {_fmt(height)}" '
             f'width="{_fmt(width)}" height="{_fmt(height)}" role="img" aria-label="the expression as a graph">',
             "<defs>" + "".join(
                 f'<marker id="{uid}-{c}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                 f'orient="auto-start-reverse"><path d="M0,1 L10,5 L0,9 z" class="tip-{c}"/></marker>'
                 for c in ("hot", "path", "off")) + "</defs>"]
    ssa, routes = ssa_names(g), []
    for k, (s, d, arg, partial) in enumerate(g.edges):
        kind = "hot" if culprit is not None and culprit in (s, d) else "path" if (d, arg) in on_path else "off"
        pts = [pos[v] for v in chains[k]]
        start = (pts[0][0] + _size(g, s)[0] / 2, pts[0][1])
        end = (pts[-1][0] - _size(g, d)[0] / 2 - 2, pts[-1][1] + ports[k])
        pts = [start] + pts[1:-1] + [end]
        mates = twins[(s, d)]
        bulge = (mates.index(k) - (len(mates) - 1) / 2) * 34 if len(mates) > 1 else 0   # x + x: two edges
        segments = [(a, (a[0] + (b[0] - a[0]) / 2.5, a[1] + bulge), (b[0] - (b[0] - a[0]) / 2.5, b[1] + bulge), b)
                    for a, b in zip(pts, pts[1:])]
        path = f"M{_fmt(start[0])},{_fmt(start[1])}" + "".join(
            f" C{_fmt(p1[0])},{_fmt(p1[1])} {_fmt(p2[0])},{_fmt(p2[1])} {_fmt(p3[0])},{_fmt(p3[1])}"
            for _, p1, p2, p3 in segments)
        dash = ' stroke-dasharray="4 3"' if partial is None else ""
        tip = f"∂ %{ssa[d]} {g.labels[d]} / ∂ argument {arg + 1} ({g.labels[s]})"
        if partial == BARE:
            tip, partial = f"argument {arg + 1} of %{ssa[d]} {g.labels[d]}: {g.labels[s]}", None
        else:
            tip += f" = {value(partial)}" if partial is not None else ": a constant parameter"
        parts.append(f'<path class="edge {kind}" d="{path}" marker-end="url(#{uid}-{kind})"{dash}>'
                     f"<title>{esc(tip)}</title></path>")
        routes.append((kind, segments, partial))
    taken = []
    for i in range(len(g.ops)):
        x, y = pos[("n", i)]
        w, h = _size(g, i)
        taken.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    lines = _obstacles(routes)
    labels = [None] * len(routes)
    for k in sorted(range(len(routes)), key=lambda k: ("hot", "path", "off").index(routes[k][0])):
        kind, segments, partial = routes[k]   # the culprit's labels choose their spots first
        if partial is not None:
            text = shown(partial)
            x, y = _place(segments, text, taken, lines, STROKE[kind])
            labels[k] = (f'<text class="elabel {kind}" x="{_fmt(x)}" y="{_fmt(y + 3.5)}" '
                         f'text-anchor="middle">{esc(text)}</text>')
    parts += [t for t in labels if t]
    for i, op in enumerate(g.ops):
        x, y = pos[("n", i)]
        w, h = _size(g, i)
        cls = "node " + ("const" if op == "const" else "var" if op == "var" else "op")
        cls += " culprit" if i == culprit else ""
        cls += " shared" if i in shared and i != culprit else ""
        cls += " wrt" if i == wrt else ""
        cls += " out" if i == out else ""
        rx = h / 2 if op == "var" else 6
        exact = "" if g.values[i] is None else f" = {value(g.values[i])}"
        name = g.labels[i] if op in ("var", "const") else f"%{ssa[i]} = {g.labels[i]}(…)"
        parts.append(f'<g class="{cls}"><title>{esc(name + exact)}</title>'
                     f'<rect x="{_fmt(x - w / 2)}" y="{_fmt(y - h / 2)}" width="{_fmt(w)}" height="{_fmt(h)}" rx="{_fmt(rx)}"/>')
        if op == "const":
            parts.append(f'<text x="{_fmt(x)}" y="{_fmt(y + 4)}" text-anchor="middle">{esc(g.labels[i])}</text></g>')
            continue
        head = (f'<tspan class="ssa">%{ssa[i]} </tspan><tspan class="opname">{esc(g.labels[i])}</tspan>'
                if op != "var" else f'<tspan class="opname">{esc(g.labels[i])}</tspan>')
        top = y - 3 if g.values[i] is not None else y + 4   # no value below: the name in the middle
        parts.append(f'<text x="{_fmt(x)}" y="{_fmt(top)}" text-anchor="middle">{head}</text>'
                     f'<text class="nvalue" x="{_fmt(x)}" y="{_fmt(y + 12)}" text-anchor="middle">'
                     f"{esc(shown(g.values[i])) if g.values[i] is not None else ''}</text></g>")
    parts.append("</svg>")
    return "".join(parts)
