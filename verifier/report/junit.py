"""JUnit XML for CI dashboards: one test case per op (failing where an op is the culprit),
one per discrepancy without a culprit, one for the campaign as a whole."""
from __future__ import annotations

from xml.etree import ElementTree as ET

from ..results import CampaignResult, Finding
from .text import finding_text

__all__ = ["render"]


def _case(suite: ET.Element, name: str, findings: list[Finding], seconds: float = 0.0) -> None:
    tc = ET.SubElement(suite, "testcase", classname=f"adverify.{suite.get('name')}", name=name,
                       time=f"{seconds:.3f}")
    for f in findings:
        where = f" in {f.culprit_op}" if f.culprit_op else ""
        failure = ET.SubElement(tc, "failure", type=f.kind,
                                message=f"{f.kind}{where}: {f.expression} — {f.message}"[:1000])
        failure.text = finding_text(1, f, f"adverify replay {f.replay}" if f.replay else None)


def render(r: CampaignResult) -> str:
    ops = sorted(r.ops)
    unowned = [f for f in r.discrepancies if f.culprit_op not in ops]
    failures = sum(1 for op in ops if any(f.culprit_op == op for f in r.discrepancies)) + len(unowned)
    suite = ET.Element("testsuite", name=r.engine, tests=str(len(ops) + len(unowned) + 1),
                       failures=str(failures), errors="0", time=f"{r.elapsed_s:.3f}")
    props = ET.SubElement(suite, "properties")
    for k, v in (("seed", r.seed), ("examples", r.examples), ("dtype", r.dtype), ("stopped", r.stopped)):
        ET.SubElement(props, "property", name=k, value=str(v))
    for op in ops:
        _case(suite, f"op:{op}", [f for f in r.discrepancies if f.culprit_op == op])
    for i, f in enumerate(unowned, 1):
        _case(suite, f"discrepancy:{i}", [f])
    _case(suite, f"campaign ({r.examples} examples)", [], r.elapsed_s)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
