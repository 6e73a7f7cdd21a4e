"""JUnit XML for CI dashboards: one test case per op (failing where an op is the culprit),
one per discrepancy without a culprit, one for the campaign as a whole, and an error case
for each chunk of a parallel campaign that was lost (its worker process died)."""
from __future__ import annotations

from xml.etree import ElementTree as ET

from verifier.model import CampaignResult, Finding
from verifier.report.text import finding_text, lost_text, proof_text, replay_command

__all__ = ["render"]


def _case(suite: ET.Element, r: CampaignResult, name: str, findings: list[Finding], seconds: float = 0.0) -> None:
    tc = ET.SubElement(suite, "testcase", classname=f"adverify.{suite.get('name')}", name=name,
                       time=f"{seconds:.3f}")
    for f in findings:
        where = f" in {f.culprit_op}" if f.culprit_op else ""
        proof = f"; {proof_text(f)}" if proof_text(f) else ""   # a proof, not only a bound crossed
        failure = ET.SubElement(tc, "failure", type=f.kind,
                                message=f"{f.kind}{where}: {f.expression} — {f.message}{proof}"[:1000])
        failure.text = finding_text(1, f, replay_command(r, f.replay) if f.replay else None)


def render(r: CampaignResult) -> str:
    ops = sorted(r.ops)
    unowned = [f for f in r.discrepancies if f.culprit_op not in ops]
    failures = sum(1 for op in ops if any(f.culprit_op == op for f in r.discrepancies)) + len(unowned)
    skipped = sum(1 for x in r.regressions if x["status"].startswith("not checked"))
    failures += sum(1 for x in r.regressions if x["status"] == "still failing")
    suite = ET.Element("testsuite", name=r.engine,
                       tests=str(len(ops) + len(unowned) + len(r.lost) + len(r.regressions) + 1),
                       failures=str(failures), errors=str(len(r.lost)), time=f"{r.elapsed_s:.3f}",
                       **({"skipped": str(skipped)} if skipped else {}))
    props = ET.SubElement(suite, "properties")
    for k, v in (("seed", r.seed), ("examples", r.examples), ("dtype", r.dtype), ("stopped", r.stopped),
                 ("lost chunks", len(r.lost))):
        ET.SubElement(props, "property", name=k, value=str(v))
    # why examples were undecided and what checks noted: counted, never failures
    for k, v in sorted(r.undecided.items()):
        ET.SubElement(props, "property", name=f"undecided {k}", value=str(v))
    for k, v in sorted(r.notes.items()):
        ET.SubElement(props, "property", name=f"note {k}", value=str(v))
    # a lost chunk is an error, not a failure: nothing was found wrong, but part of the
    # campaign did not run, and a CI dashboard should not show that as a green pass
    for x in r.lost:
        tc = ET.SubElement(suite, "testcase", classname=f"adverify.{r.engine}",
                           name=f"lost:worker {x['worker']} chunk {x['chunk']}", time="0.000")
        error = ET.SubElement(tc, "error", type="lost", message=lost_text(x)[:1000])
        error.text = lost_text(x)
    # a regression the campaign could not check in the mode it was found in is skipped, never passed
    for i, x in enumerate(r.regressions, 1):
        tc = ET.SubElement(suite, "testcase", classname=f"adverify.{r.engine}",
                           name=f"regression:{i} {x['expression']}"[:200], time="0.000")
        if x["status"].startswith("not checked"):
            ET.SubElement(tc, "skipped", message=f"{x['status']}: {x.get('file') or x['expression']}"[:1000])
        elif x["status"] != "fixed":
            ET.SubElement(tc, "failure", type=x["verdict"], message=f"regression {x['status']}"[:1000])
    for op in ops:
        _case(suite, r, f"op:{op}", [f for f in r.discrepancies if f.culprit_op == op])
    for i, f in enumerate(unowned, 1):
        _case(suite, r, f"discrepancy:{i}", [f])
    _case(suite, r, f"campaign ({r.examples} examples)", [], r.elapsed_s)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
