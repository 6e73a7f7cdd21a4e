"""index.html: a planted bug's report opened in a real browser, checked against the Finding it
was rendered from; at 800 and 1400 px the page never scrolls sideways, no text is case-transformed,
and no edge label touches a line or an arrowhead; re-rendering is byte-identical; strings from the
result are escaped; each number is printed by one rule (exact values, short errors).

The browser checks drive headless Chromium through chromedriver's WebDriver HTTP API with
the standard library only (no selenium), and skip when Chromium is not installed.
"""
from __future__ import annotations

import base64
import json
import math
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from verifier.search.blame import blame
from verifier.search.campaign import Options, finding_for, run_campaign
from verifier.checking.checker import Checker
from verifier.floor.ir import apply, var
from verifier.model import Case
from verifier.engines.mutants import MUTANTS
from verifier.interfaces.output import Output
from verifier.report import html, render_all
from verifier.report.graph import shown
from verifier.report.kit import error, number, value
from verifier.report.text import replay_command
from verifier.results.summary import dump_summary, load_summary
from verifier.model import Severities
from verifier.floor.serial import FormatError
from verifier.floor.program import reduce_with, tapply

CHROME_BINARIES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")


# ── a WebDriver client in forty lines ────────────────────────────────────────────────────
class Browser:
    """Headless Chromium behind chromedriver, spoken to over plain HTTP on localhost."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 1000):
        driver = shutil.which("chromedriver")
        binary = next((b for b in CHROME_BINARIES if Path(b).exists()), None)
        if driver is None or binary is None:
            raise FileNotFoundError("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "--hide-scrollbars"]
        caps = {"browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {"binary": binary, "args": args}}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        self.width = width

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())["value"]

    def _s(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body if body is not None else ({} if method == "POST" else None))

    def open(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def run(self, script: str, *args):
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def console(self) -> list[dict]:
        return self._s("POST", "/se/log", {"type": "browser"})

    def screenshot(self, path: Path) -> None:
        """The whole page, not only the window."""
        height = self.run("return document.documentElement.scrollHeight")
        self._s("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False}})
        shot = self._s("POST", "/goog/cdp/execute", {"cmd": "Page.captureScreenshot", "params": {"format": "png"}})
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self._s("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait(10)


def browser_or_skip(tmp: Path, width: int = 1280) -> Browser:
    try:
        return Browser(tmp / "profile", width)
    except FileNotFoundError as e:
        pytest.skip(str(e))


# ── a planted bug's campaign, once for the module ────────────────────────────────────────
FIRST_ROUND = ("add", "sub", "mul", "div", "neg", "pow", "powv", "exp", "log", "sin", "cos", "tan", "tanh", "sigmoid",
               "sqrt", "atan", "log1p", "expm1", "abs", "relu", "maximum", "minimum")


@pytest.fixture(scope="module")
def overwrite(tmp_path_factory):
    """The accumulation bug: x + x has two paths to x, and the engine keeps only one."""
    out = tmp_path_factory.mktemp("overwrite")
    # the ops of a first-round engine: the report below is written around this campaign's findings
    result = run_campaign(MUTANTS["overwrite"].make(), Options(examples=200, seed=0, ops=FIRST_ROUND), Output(out))
    assert result.discrepancies, "the planted accumulation bug must be found"
    return out, result


def test_the_finding_carries_the_seeds_picture(overwrite):
    _, result = overwrite
    f = result.discrepancies[0]
    ids = [n["id"] for n in f.graph["nodes"]]
    assert ids == list(range(len(ids))) and f.graph["nodes"][f.culprit_node]["op"] == f.culprit_op
    assert f.paths and f.paths_total >= len(f.paths)
    for p in f.paths:     # each path runs from the output to the failing variable
        assert p["nodes"][0] == len(ids) - 1 and f.graph["nodes"][p["nodes"][-1]]["label"] == f.variable
    if f.paths_total == len(f.paths):   # all listed: their products sum to the paths oracle
        assert sum(p["product"] for p in f.paths) == pytest.approx(f.oracles["paths"], rel=1e-12)


def test_rerendering_from_summary_json_is_byte_identical(overwrite, tmp_path):
    out, result = overwrite
    written = (out / "index.html").read_text()
    assert html.render(result) == written
    again = load_summary(out / "summary.json")
    assert again == result
    assert html.render(again) == written
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(out / "summary.json", copy / "summary.json")
    render_all(load_summary(copy / "summary.json"), copy)
    assert (copy / "index.html").read_bytes() == (out / "index.html").read_bytes()


def test_the_report_is_self_contained(overwrite):
    page = (overwrite[0] / "index.html").read_text()
    # nothing to fetch: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page and "<script" not in page
    assert "<svg" in page and "<math" in page


def test_strings_from_the_result_are_escaped(overwrite):
    _, result = overwrite
    evil = "<script>alert(1)</script>&\"'"
    f = replace(result.discrepancies[0], expression=evil, message=evil, culprit_op=evil, signature=evil,
                steps=[evil], replay=evil, kinks=[evil], picture_note=evil,
                graph={**result.discrepancies[0].graph,
                       "nodes": [{**n, "label": evil} for n in result.discrepancies[0].graph["nodes"]]})
    page = html.render(replace(result, engine=evil, discrepancies=[f], stopped=evil,
                               coverage={**result.coverage, "regimes": {evil: 1}}))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    sneaky = html.render(replace(result, discrepancies=[replace(f, replay="javascript:alert(1)//.json")]))
    assert 'href="javascript' not in sneaky and "replays/" not in sneaky
    assert f'href="{result.discrepancies[0].replay}"' in html.render(result)


def test_a_malformed_picture_is_refused_when_read(overwrite, tmp_path):
    _, result = overwrite
    f = result.discrepancies[0]
    bad_edge = {**f.graph, "edges": [{**f.graph["edges"][0], "dst": 99}]}
    for picture in ({"nodes": "x", "edges": []}, bad_edge):
        dump_summary(replace(result, discrepancies=[replace(f, graph=picture)]), tmp_path / "summary.json")
        with pytest.raises(FormatError):
            load_summary(tmp_path / "summary.json")


def test_the_report_opens_in_chromium_and_shows_the_finding(overwrite, tmp_path):
    out, result = overwrite
    f = result.discrepancies[0]
    browser = browser_or_skip(tmp_path)
    try:
        browser.open((out / "index.html").resolve().as_uri())
        errors = [e for e in browser.console() if e.get("level") in ("SEVERE", "WARNING")]
        assert not errors, errors
        page = browser.run("""
            const art = document.querySelector('article.finding');
            const svg = art.querySelector('svg.dag');
            const culprit = svg.querySelector('.node.culprit');
            const box = svg.getBoundingClientRect();
            const cell = (table) => [...art.querySelectorAll('table.' + table + ' tbody tr')].map(
                tr => [...tr.children].map(td => td.textContent.trim()));
            return {
              svg: [box.width, box.height],
              culprit: culprit && culprit.textContent,
              culpritStroke: culprit && getComputedStyle(culprit.querySelector('rect')).stroke,
              hotEdges: svg.querySelectorAll('path.edge.hot').length,
              edgeLabels: [...svg.querySelectorAll('text.elabel')].map(t => t.textContent),
              oracles: cell('oracles'), paths: cell('paths'),
              math: art.querySelector('math').getBoundingClientRect().width,
              replay: art.querySelector('pre.cmd').textContent,
              failing: art.querySelector('table.checks tr.failing th').textContent,
              heading: art.querySelector('h3').textContent.replace(/\\s+/g, ' ').trim(),
            };""")
        shot = tmp_path / "report.png"
        browser.screenshot(shot)
        print(f"screenshot: {shot}")
    finally:
        browser.close()

    assert f.blame == "composition" and page["heading"] == f"1 {f.kind} in the composition of {f.culprit_op}"
    assert page["svg"][0] > 50 and page["svg"][1] > 20 and page["math"] > 10   # laid out, not empty
    assert f.culprit_op in page["culprit"] and page["culpritStroke"] == "rgb(198, 40, 40)"
    culprit_edges = [e for e in f.graph["edges"] if f.culprit_node in (e["src"], e["dst"])]
    assert page["hotEdges"] == len(culprit_edges) > 0
    assert sorted(page["edgeLabels"]) == sorted(shown(e["partial"]) for e in f.graph["edges"]
                                                if e["partial"] is not None)
    # one row per oracle: its value and the engine's exactly; their difference, the bound and
    # the ratio as sizes
    rows = {r[0]: r[1:] for r in page["oracles"]}
    assert set(rows) == set(f.oracles)
    for name, truth in f.oracles.items():
        assert rows[name][:2] == [value(truth), value(f.actual)]
        assert rows[name][2] == error(f.actual - truth) and rows[name][3] == error(f.bound)
        assert rows[name][4] == error(abs(f.actual - truth) / f.bound)
    assert [r[-1] for r in page["paths"]] == [value(p["product"]) for p in f.paths]
    assert page["failing"] == f"∂f/∂{f.variable}"
    assert page["replay"] == replay_command(result, f.replay)   # its words: tests/test_replay_commands.py
    assert shot.stat().st_size > 10_000


# ── one page with every kind of finding, at a narrow and a wide window ─────────────────
def found(mutant: str, case: Case, tensor: bool = False):
    """One finding, checked, blamed and pictured as a campaign would, without the search."""
    with Checker(MUTANTS[mutant].make(), tensor=tensor) as checker:
        verdict = checker.check(case)
        return finding_for(case, verdict, blame(case, verdict, checker.check), checker)


@pytest.fixture(scope="module")
def mixed(overwrite):
    """The overwrite campaign's result holding two composition faults (x + x; and sub over a
    sigmoid reached twice), a local rule, a tensor program, and a reproducer whose text is one
    200-character word: what a discrepancy table must hold at 800 px."""
    _, result = overwrite
    x, y = var("x"), var("y")
    s = apply("sigmoid", x)
    order = found("breadth-first", Case(apply("sub", s, apply("sigmoid", s)), {"x": 0.0}))
    local = found("tanh-rule", Case(apply("tanh", x), {"x": 1.0}))
    tensor = found("t-softmax-no-cross", Case(reduce_with(tapply("softmax", y, axis=0), np.array([1.0, -0.5])),
                                               {"y": np.array([0.3, -1.2])}), tensor=True)
    long = replace(local, expression="tanh(" * 40 + "x" + ")" * 40, signature="mismatch:tanh:long")
    assert order.blame == "composition" and local.blame == "local-rule" and tensor.shapes
    return replace(result, discrepancies=[result.discrepancies[0], order, local, tensor, long])


# the layout, measured in the page: does the body scroll sideways, which elements change the
# case of their text, and which edge labels cover a line, or come near an arrowhead (as long
# as 7 strokes, and 2.8 strokes wide either side of the line: style.py's markers)
_LAYOUT = """
const page = document.documentElement;
const transformed = [...document.querySelectorAll('body *')].filter(e => {
  const t = getComputedStyle(e).textTransform;
  return t !== 'none' && t !== 'math-auto';     // math-auto: MathML's italic one-letter <mi>
}).map(e => e.tagName + '.' + e.getAttribute('class'));
const touching = [];
for (const svg of document.querySelectorAll('svg.dag')) {
  const paths = [...svg.querySelectorAll('path.edge')];
  for (const label of svg.querySelectorAll('text.elabel')) {
    const b = label.getBBox();
    for (const p of paths) {
      const stroke = parseFloat(getComputedStyle(p).strokeWidth), length = p.getTotalLength();
      for (let k = 0; k <= 200; k++) {
        const at = length * k / 200, q = p.getPointAtLength(at);
        const room = length - at <= 7 * stroke ? 2.8 * stroke : stroke / 2;
        const dx = Math.max(b.x - q.x, 0, q.x - b.x - b.width), dy = Math.max(b.y - q.y, 0, q.y - b.y - b.height);
        if (Math.hypot(dx, dy) < room) { touching.push(label.textContent); break; }
      }
    }
  }
}
return {scroll: page.scrollWidth, inner: window.innerWidth, transformed: transformed, touching: touching,
        labels: [...document.querySelectorAll('.repro .label')].map(e => e.innerText),
        headings: [...document.querySelectorAll('h2.sig')].map(e => e.innerText)};
"""


@pytest.mark.parametrize("width", [800, 1400])
def test_the_page_fits_its_window_and_keeps_the_case_of_every_letter(mixed, tmp_path, width):
    (tmp_path / "index.html").write_text(html.render(mixed))
    browser = browser_or_skip(tmp_path, width)
    try:
        browser.open((tmp_path / "index.html").resolve().as_uri())
        page = browser.run(_LAYOUT)
        shot = tmp_path / f"mixed-{width}.png"
        browser.screenshot(shot)
        print(f"screenshot: {shot}")
    finally:
        browser.close()
    assert page["inner"] == width and page["scroll"] <= page["inner"], "the page scrolls sideways"
    assert page["transformed"] == []
    assert page["touching"] == [], "edge labels on a line or an arrowhead"
    # what a reader sees, case and all: the variable x, not X
    assert any("at x = 0.0" in t for t in page["labels"]) and any("at y (2) = " in t for t in page["labels"])
    # a composition fault's heading names the ops of its reproducers (its signature names them too)
    assert any(h.startswith("mismatch · engine-wide accumulation fault: composition of add") for h in page["headings"])
    assert any(h.startswith("mismatch · engine-wide traversal-order fault: composition of sub, sigmoid")
               for h in page["headings"])


def test_a_composition_fault_is_blamed_on_its_nodes_not_acquitted_by_its_op(mixed):
    """Its op is right alone, so its op's record would contradict the finding: the report
    names what is blamed instead — the ops of the failing sub-expression, and the nodes where
    the paths from its root meet. Its signature names ops too (search.blame.signature)."""
    order = mixed.discrepancies[1]
    assert order.signature.startswith("mismatch:composition:")
    assert mixed.discrepancies[0].signature.startswith("mismatch:composition:")
    page = html.render(mixed)
    row = re.search(r'<tr><td><span class="pill v-mismatch">mismatch</span> <a href="#f1">.*?</tr>', page).group(0)
    assert "the composition of <code>add</code>; reached by several paths: <code>x</code> (2 paths)" in row
    record = row.split("n/a")[1]         # the op's record would say "0 of 19": not shown
    assert record.startswith(": <code>add</code> is right alone; the composition is blamed") and " of " not in record
    art = page[page.index('<article class="finding" id="f2">'):page.index('<article class="finding" id="f3">')]
    assert "<span>in the composition of <code>sub</code>, <code>sigmoid</code></span>" in art
    assert ("<code>%3 = sub(%1, %2)</code> is the smallest sub-expression the engine gets wrong" in art
            and "gradients must add up: <code>%1 sigmoid</code> (2 paths)" in art)
    shared = re.findall(r'<g class="node ([a-z ]*)"><title>([^<]*)</title>', art)
    assert [t for c, t in shared if "shared" in c.split()] == ["%1 = sigmoid(…) = 0.5"]
    local = page[page.index('<article class="finding" id="f3">'):]
    assert '<span class="blame">local-rule</span>' in local and "Blamed: the composition" not in local


def test_each_value_is_printed_one_way_and_each_error_another(mixed):
    """A derivative or a point exactly (it must read back as the same float), an error or a
    bound in two digits: the failing derivative is one text wherever the article shows it."""
    page = html.render(mixed)
    f = mixed.discrepancies[1]
    art = page[page.index('<article class="finding" id="f2">'):page.index('<article class="finding" id="f3">')]
    cells = re.findall(r"<td class=num>([^<]*)</td>", art)
    exact = {value(v) for v in [f.expected, f.actual, *f.oracles.values(), *(p["product"] for p in f.paths)]}
    for v in (f.expected, f.actual):    # every cell showing it, or a number within 10⁻⁶ of it
        near = [c for c in cells if re.fullmatch(r"-?[0-9.e+-]+", c) and math.isclose(float(c), v, rel_tol=1e-6)]
        assert value(v) in near and set(near) <= exact, near
    assert cells.count(error(f.bound)) == len(f.oracles) + 1 and number(f.bound, 3) not in cells
    assert f"x = {value(f.point['x'])}" in art
    partials = {value(e["partial"]) for e in f.graph["edges"]}
    for label in re.findall(r'class="elabel[^"]*"[^>]*>([^<]*)<', art):   # exact and short, or marked rounded
        assert len(label) <= 8 and (label in partials or label.startswith("≈")), label
    assert "≈0.235" in art and "0.2350037122015945" in art   # rounded on the edge, exact in its tooltip
    assert f"the worst {error(mixed.severities['worst'])}." in page


def test_the_op_pair_matrix_says_what_a_colour_means(overwrite):
    _, result = overwrite
    page = html.render(result)
    legend = re.search(r'<p class="legend">A cell: how many times.*?</p>', page).group(0)
    top = max(result.coverage["pairs"].values())
    assert "never" in legend and f"</span>{top}</span>" in legend and "log scale" in legend
    assert "text-transform" not in page       # no label may turn x into X


# ── the pieces, without a browser ────────────────────────────────────────────────────────
def test_many_paths_keep_the_largest_and_count_the_rest():
    from oracles.paths import PATH_CAP, enumerate_paths, stable_graph
    from verifier.floor.ir import apply, const, var
    from verifier.truth.picture import PATHS_KEPT, picture

    x = var("x")
    t = x
    for k in range(8):   # 2**8 paths from the output to x; mul by a constant makes them differ
        t = apply("add", apply("mul", t, const(1.0 + k)), t)
    pic = picture(t, {"x": 0.5}, "x")
    assert pic.paths_total == 256 and len(pic.paths) == PATHS_KEPT
    every = sorted((float(prod) for _, prod in enumerate_paths(stable_graph(t, {"x": 0.5}), "x")), key=abs)
    assert [p["product"] for p in pic.paths] == every[::-1][:PATHS_KEPT]   # the largest, not the first found
    for _ in range(7):   # 2**15 paths: more than the oracle will walk
        t = apply("add", t, t)
    wide = picture(t, {"x": 0.5}, "x")
    assert wide.paths == [] and wide.paths_total > PATH_CAP and "too many" in wide.note and wide.graph["nodes"]


def test_a_picture_without_a_gradient_says_why():
    from verifier.floor.ir import apply, var
    from verifier.truth.picture import picture

    assert "no gradient path" in picture(apply("sin", var("x")), {"x": 1.0}, None).note
    outside = picture(apply("log", var("x")), {"x": -1.0}, "x")
    assert outside.graph == {} and "domain" in outside.note


def test_formulas_use_mathematical_notation():
    from verifier.floor.ir import apply, const, var
    from verifier.report.mathml import formula

    x, y = var("x"), var("y")
    page = formula(apply("div", apply("sqrt", x), apply("pow", apply("exp", y), const(-0.5))))
    assert "<mfrac>" in page and "<msqrt>" in page and page.count("<msup>") == 2 and "<mo>−</mo><mn>0.5</mn>" in page
    t = apply("tanh", x)
    for _ in range(6):   # shared twice per level: inlined, it would double six times
        t = apply("mul", t, apply("add", t, y))
    named = formula(t)
    assert named.count("<math") == 7 and "<mo>=</mo>" in named


def test_coverage_sees_poles_edges_and_kinks():
    from verifier.search.coverage import Coverage
    from verifier.floor.ir import apply, var
    from verifier.model import Case, Verdict

    cov = Coverage()
    x, y = var("x"), var("y")
    cov.add(Case(apply("div", x, y), {"x": 1.0, "y": 1e-6}), Verdict("agree"))
    cov.add(Case(apply("relu", apply("exp", x)), {"x": 700.0}), Verdict("agree"))
    cov.add(Case(apply("maximum", x, y), {"x": 2.0, "y": 2.0}), Verdict("kink"))
    doc = cov.to_json()
    assert doc["regimes"]["near-pole"] == 1 and doc["regimes"]["overflow-edge"] == 1
    assert doc["regimes"]["underflow-edge"] == 0 and doc["regimes"]["kink"] == 1
    assert doc["kinks"] == {"maximum": 1} and doc["stress_examples"] == 3


def test_the_coverage_section_names_what_was_not_tested(overwrite):
    _, result = overwrite
    ops = sorted(result.ops)
    cov = {**result.coverage, "ops": {op: n for op, n in result.coverage["ops"].items() if op != ops[0]},
           "regimes": {**result.coverage["regimes"], "near-pole": 0}}
    page = html.render(replace(result, ops=ops[:-1], coverage=cov))
    gaps = page[page.index('class="gaps"'):page.index("</ul>", page.index('class="gaps"'))]
    assert f"ops never generated: <code>{ops[0]}</code>" in gaps
    assert f"<code>{ops[-1]}</code>" in gaps.split("does not offer")[1]
    assert "regimes never reached: near-pole" in gaps
    shown = ops[:-1]      # every pair of the engine's ops never generated is an empty cell
    seen = {k for k, v in cov["pairs"].items() if v and set(k.split(">")) <= set(shown)}
    assert seen and page.count('class="gap"') == len(shown) ** 2 - len(seen)


def test_a_clean_result_renders_without_a_discrepancy_section(overwrite):
    _, result = overwrite
    page = html.render(replace(result, discrepancies=[], verdicts={"agree": 10}, coverage={}, severities=Severities().to_json()))
    assert "No discrepancy found" in page and "<article" not in page
    assert "records no coverage" in page and "No judged checks" in page


def test_every_renderer_names_the_lost_work_and_escapes_its_reason(overwrite, tmp_path):
    """Lost chunks are rendered from the result model by every format: which worker and
    chunk, its seed and examples, why it died; a reason read from someone's file is text."""
    from xml.etree import ElementTree as ET
    from verifier.report import junit, markdown, text
    _, result = overwrite
    lost = [{"worker": 1, "chunk": 3, "seed": 7001003, "examples": [300, 400], "checked": 42,
             "reason": "killed by signal SIGKILL <script>x</script> | y", "findings": 2},
            {"worker": 0, "chunk": 0, "seed": 7000, "examples": [0, 50], "reason": "exited with code 3",
             "findings": 0}]   # an older summary: no "checked"
    r = replace(result, lost=lost)
    dump_summary(r, tmp_path / "summary.json")
    r = load_summary(tmp_path / "summary.json")      # through the schema, as `adverify report` reads it
    assert r.lost == lost

    page = html.render(r)
    assert 'id="lost"' in page and "2 chunks lost (150 planned examples" in page
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert re.search(r"<td class=num>1</td><td class=num>3</td><td class=num>7001003</td><td>300–400</td>"
                     r"<td class=num>42</td>", page)

    md = markdown.render(r)
    assert "## Lost work" in md and "⚠️ 2 lost chunks" in md
    row = next(line for line in md.splitlines() if line.startswith("| 1 | 3 |"))
    assert "300–400 (100)" in row and "| 42 |" in row and "SIGKILL" in row and "\\| y" in row
    assert row.count(" | ") == 6          # the reason's '|' does not open a cell of its own

    t = text.render(r)
    assert "lost: worker 1 chunk 3 (seed 7001003, its examples 300–400, 42 of them checked" in t
    assert "the 2 discrepancies it had found are kept" in t and "lost: worker 0 chunk 0" in t

    suite = ET.fromstring(junit.render(r).split("\n", 1)[1])
    errors = {tc.get("name"): tc.find("error") for tc in suite.iter("testcase") if tc.find("error") is not None}
    assert suite.get("errors") == "2" and set(errors) == {"lost:worker 1 chunk 3", "lost:worker 0 chunk 0"}
    assert "SIGKILL" in errors["lost:worker 1 chunk 3"].get("message")
    assert int(suite.get("tests")) == len(list(suite.iter("testcase")))

    clean = html.render(replace(r, lost=[]))
    assert 'id="lost"' not in clean and "Lost work" not in markdown.render(replace(r, lost=[]))
