"""Issue #18 in the reports and result files: a finding proven by ball arithmetic says what is
proven (the terminal, summary.md, index.html, JUnit), summary.json keeps enclosures and the
undecided examples and reads them back (older summaries without them still load), a merge keeps
at most UNDECIDED_KEPT per cause, and a killed campaign's log gives them back.

Results are built by hand: the campaign fills these fields on its own (verifier.search)."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from html import escape
from xml.etree import ElementTree as ET

import pytest

from verifier.floor.ir import apply, var
from verifier.floor.numtext import exact, short
from verifier.floor.serial import FormatError
from verifier.model import UNDECIDED_CAUSES, UNDECIDED_KEPT, CampaignResult, Case, Check, make_finding
from verifier.report import html, junit, markdown, text
from verifier.report.text import UNDECIDED_MEANINGS
from verifier.results.folder import ReportFolder
from verifier.results.merge import Part, combine
from verifier.results.rebuild import load_events
from verifier.results.summary import dump_summary, load_summary

LO, HI, BOUND, ACTUAL, BITS = 0.8775825618903726, 0.8775825618903729, 4.4e-16, 0.9, 128


def _finding(variable: str | None = "x", bits: int = BITS):
    case = Case(apply("sin", var("x")), {"x": 0.5})
    checks = (Check("x", "mismatch" if variable else "agree", math.cos(0.5), ACTUAL if variable else math.cos(0.5),
                    BOUND, enclosure=(LO, HI)),
              Check(None, "agree" if variable else "mismatch", math.sin(0.5), math.sin(0.5) if variable else ACTUAL,
                    BOUND, enclosure=(0.479425538604203, 0.4794255386042031)))
    expected = math.cos(0.5) if variable else math.sin(0.5)
    return make_finding(case, kind="mismatch", signature="mismatch:sin", replay="replays/001-mismatch-sin.json",
                        variable=variable, expected=expected, actual=ACTUAL, bound=BOUND,
                        severity=abs(ACTUAL - expected) / BOUND, oracles={"paths": expected}, culprit_op="sin",
                        culprit_node=1, blame="local-rule", message="sin's derivative is wrong", checks=checks,
                        precision_bits=bits)


def _example(cause: str, k: int) -> dict:
    return {"cause": cause, "reason": f"why {cause} {k}", "expression": f"log(x + {k})", "point": {"x": float(k)}}


def _result(findings=None, **kw) -> CampaignResult:
    base = dict(engine="planted", dtype="float64", seed=1, examples=20, elapsed_s=1.0,
                verdicts={"agree": 15, "undecided": 4, "mismatch": 1},
                discrepancies=[_finding()] if findings is None else findings, ops=["log", "sin"],
                options={"examples": 20}, undecided={"near-pole": 3, "no-enclosure": 1},
                undecided_examples=[_example("near-pole", 1), _example("near-pole", 2), _example("no-enclosure", 3)])
    return CampaignResult(**{**base, **kw})


def _sentence(what: str, lo: float = LO, hi: float = HI) -> str:
    return (f"the exact {what} is in [{exact(lo)}, {exact(hi)}] (certified, {BITS}-bit ball arithmetic); the "
            f"engine's value {exact(ACTUAL)} is outside [{exact(lo)} − {short(BOUND)}, {exact(hi)} + {short(BOUND)}]")


def _junit_messages(r: CampaignResult) -> list[str]:
    return [e.get("message") for e in ET.fromstring(junit.render(r).split("\n", 1)[1]).iter("failure")]


def test_the_finding_carries_its_failing_checks_enclosure():
    f = _finding()
    assert f.enclosure == [LO, HI] and f.precision_bits == BITS
    assert [c.get("enclosure") for c in f.checks] == [[LO, HI], [0.479425538604203, 0.4794255386042031]]


def test_a_proven_mismatch_says_what_is_proven_in_every_report():
    r = _result()
    sentence = _sentence("derivative d/dx")
    assert text.proof_text(r.discrepancies[0]) == sentence
    assert sentence in text.render(r)
    assert sentence in markdown.render(r)
    page = html.render(r)
    assert escape(sentence) in page and 'class="proof"' in page
    assert "certified (128-bit)" in page   # the overview row says so too
    assert "certified enclosure" in page   # and the checks table shows each check's
    assert any(sentence in m for m in _junit_messages(r))


def test_a_proven_value_mismatch_names_the_exact_value():
    r = _result([_finding(variable=None)])
    sentence = _sentence("value", 0.479425538604203, 0.4794255386042031)
    assert sentence in text.render(r) and sentence in markdown.render(r) and escape(sentence) in html.render(r)


@pytest.mark.parametrize("strip", [dict(enclosure=None), dict(precision_bits=0)])
def test_a_finding_without_an_enclosure_renders_as_before(strip):
    f = replace(_finding(), **strip, checks=[{k: v for k, v in c.items() if k != "enclosure"}
                                             for c in _finding().checks])
    r = _result([f], undecided={}, undecided_examples=[])   # whose meanings speak of ball arithmetic
    assert text.proof_text(f) == ""
    for out in (text.render(r), markdown.render(r), html.render(r), junit.render(r)):
        assert "exact derivative" not in out and "ball arithmetic" not in out
    assert "certified" not in html.render(r)


def test_only_a_value_surely_outside_the_widened_enclosure_is_called_proven():
    f = _finding()
    inside = replace(f, kind="inconsistent", actual=HI + BOUND / 2)   # two builds differ; this one is fine
    edge = replace(f, actual=HI + BOUND)                              # on the edge: nothing is proven
    assert text.proof_text(inside) == "" and text.proof_text(edge) == ""
    assert "NaN is outside" in text.proof_text(replace(f, kind="nonfinite", actual=math.nan))
    assert "outside [" in text.proof_text(replace(f, actual=LO - 2 * BOUND))


def test_summary_json_round_trips_the_new_fields(tmp_path):
    overflowed = {**_example("subnormal", 4), "point": {"x": math.inf}}   # written as "inf", read back as inf
    r = _result(undecided_examples=[*_result().undecided_examples, overflowed])
    dump_summary(r, tmp_path / "summary.json")
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["discrepancies"][0]["enclosure"] == [LO, HI] and doc["discrepancies"][0]["precision_bits"] == BITS
    assert doc["discrepancies"][0]["checks"][0]["enclosure"] == [LO, HI]
    assert doc["undecided_examples"][-1]["point"] == {"x": "inf"}
    back = load_summary(tmp_path / "summary.json")
    assert back == r
    for render in (text.render, markdown.render, html.render, junit.render):
        assert render(back) == render(r)


def test_an_older_summary_without_the_fields_loads(tmp_path):
    dump_summary(_result(), tmp_path / "summary.json")
    doc = json.loads((tmp_path / "summary.json").read_text())
    del doc["undecided_examples"]
    for f in doc["discrepancies"]:
        del f["enclosure"], f["precision_bits"]
        for c in f["checks"]:
            del c["enclosure"]
    (tmp_path / "summary.json").write_text(json.dumps(doc))
    back = load_summary(tmp_path / "summary.json")
    assert back.undecided_examples == [] and back.discrepancies[0].enclosure is None
    assert back.discrepancies[0].precision_bits == 0 and "proven" not in html.render(back).lower()


@pytest.mark.parametrize("path, bad", [
    (("discrepancies", 0, "enclosure"), [2.0, 1.0]),
    (("discrepancies", 0, "enclosure"), [1.0]),
    (("discrepancies", 0, "checks", 0, "enclosure"), ["nan", 1.0]),
    (("discrepancies", 0, "precision_bits"), -1),
    (("undecided_examples", 0, "reason"), 3),
    (("undecided_examples", 0, "point"), {"x": "one"}),
    (("undecided_examples", 0, "extra"), 1),
])
def test_a_malformed_field_is_refused_in_one_line(tmp_path, path, bad):
    dump_summary(_result(), tmp_path / "summary.json")
    doc = json.loads((tmp_path / "summary.json").read_text())
    at = doc
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = bad
    (tmp_path / "summary.json").write_text(json.dumps(doc))
    with pytest.raises(FormatError):
        load_summary(tmp_path / "summary.json")


def test_a_merge_keeps_the_first_few_of_each_cause_in_chunk_order(tmp_path):
    parts = [Part(_result([], seed=s, undecided={"near-pole": 2, "subnormal": 1},
                          undecided_examples=[_example("near-pole", 10 * s), _example("near-pole", 10 * s + 1),
                                              _example("subnormal", 10 * s)]), tmp_path / f"p{s}")
             for s in range(3)]
    merged, _ = combine(parts)
    assert merged.undecided == {"near-pole": 6, "subnormal": 3}
    assert [x["expression"] for x in merged.undecided_examples if x["cause"] == "near-pole"] == \
        ["log(x + 0)", "log(x + 1)", "log(x + 10)"]
    assert [x["expression"] for x in merged.undecided_examples if x["cause"] == "subnormal"] == \
        ["log(x + 0)", "log(x + 10)", "log(x + 20)"]
    assert all(sum(x["cause"] == c for x in merged.undecided_examples) <= UNDECIDED_KEPT for c in UNDECIDED_CAUSES)


def test_a_killed_campaigns_log_gives_back_its_undecided_examples(tmp_path):
    folder = ReportFolder(tmp_path / "run")
    folder.start({"engine": "planted", "dtype": "float64", "seed": 1, "ops": ["log"], "options": {}})
    for k in range(UNDECIDED_KEPT + 2):
        folder.undecided(_example("near-pole", k))
    folder.undecided(_example("subnormal", 9))
    logged = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert sum(rec["event"] == "undecided" for rec in logged) == UNDECIDED_KEPT + 1   # the log stays small
    back = load_events(tmp_path / "run")
    assert back.undecided_examples == [*(_example("near-pole", k) for k in range(UNDECIDED_KEPT)),
                                       _example("subnormal", 9)]
    assert load_events(_plain_log(tmp_path / "old")).undecided_examples == []   # a log without them


def _plain_log(path):
    ReportFolder(path).start({"engine": "planted", "dtype": "float64", "seed": 1, "ops": ["log"], "options": {}})
    return path


def test_the_undecided_section_explains_each_cause_and_shows_the_kept_examples():
    r = _result()
    assert set(UNDECIDED_MEANINGS) == set(UNDECIDED_CAUSES)   # every cause the model names has a meaning
    page = html.render(r)
    section = page[page.index('<section id="undecided">'):]
    section = section[:section.index("</section>")]
    for cause in r.undecided:
        assert escape(UNDECIDED_MEANINGS[cause]) in section
    for x in r.undecided_examples:
        assert escape(x["expression"]) in section and escape(x["reason"]) in section
    assert 'href="#undecided"' in page
    md = markdown.render(r)
    assert "## Undecided (4)" in md and UNDECIDED_MEANINGS["near-pole"] in md and "why no-enclosure 3" in md
    assert "undecided by cause: near-pole 3, no-enclosure 1" in text.render(r)
    assert 'id="undecided"' not in html.render(replace(r, undecided={}, undecided_examples=[]))


def test_the_proof_and_the_undecided_section_fit_a_narrow_window(tmp_path):
    """Long numbers, expressions and reasons wrap or scroll in their own box, never the page."""
    from test_html_report import browser_or_skip
    long = {**_example("near-pole", 5), "expression": "tanh(" * 30 + "x" + ")" * 30, "reason": "why " * 60}
    r = _result(undecided_examples=[*_result().undecided_examples, long])
    (tmp_path / "index.html").write_text(html.render(r))
    browser = browser_or_skip(tmp_path, 800)
    try:
        browser.open((tmp_path / "index.html").resolve().as_uri())
        page = browser.run("return {inner: window.innerWidth, scroll: document.documentElement.scrollWidth, "
                           "proof: document.querySelector('p.proof').innerText}")
    finally:
        browser.close()
    assert page["scroll"] <= page["inner"] == 800, "the page scrolls sideways"
    assert page["proof"] == f"Proven: {_sentence('derivative d/dx')}."
