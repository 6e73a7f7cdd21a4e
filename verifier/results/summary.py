"""summary.json: the result model written and read back, versioned.

``load_summary`` reads it through the schema (``results.schema``), so ``adverify report DIR``
re-renders byte-identical output from it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from verifier.floor.serial import FormatError, read_json
from verifier.model import CampaignResult, Finding
from verifier.results.schema import clean, result_from_json, short_key

__all__ = ["SUMMARY_FORMAT", "SUMMARY_VERSION", "PARTIAL", "dump_summary", "load_summary", "finding_to_json", "to_json_text"]

SUMMARY_FORMAT = "adverify-summary"
SUMMARY_VERSION = 1
# a chunk of a parallel campaign keeps its findings so far here (interfaces.parallel.worker);
# not *.json: `--regressions REPORT` reads every *.json as a replay
PARTIAL = "summary.json.partial"


def to_json_text(result: CampaignResult) -> str:
    doc = {"format": SUMMARY_FORMAT, "version": SUMMARY_VERSION, **asdict(result)}
    return json.dumps(clean(doc), indent=2, sort_keys=False, allow_nan=False) + "\n"


def finding_to_json(f: Finding) -> dict:
    """One finding as summary.json holds it (the event log carries the same record)."""
    return clean(asdict(f))


def dump_summary(result: CampaignResult, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(to_json_text(result))
    tmp.replace(path)  # atomic: a reader never sees half a summary


def load_summary(path: str | Path) -> CampaignResult:
    doc = read_json(path, "summary")
    if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT:
        raise FormatError(f"{str(path)!r} is not an adverify summary")
    if type(doc.get("version")) is not int or doc["version"] != SUMMARY_VERSION:
        raise FormatError(f"{str(path)!r}: unsupported summary version {str(doc.get('version'))[:20]!r}")
    extra = set(doc) - {f.name for f in fields(CampaignResult)} - {"format", "version"}
    if extra:
        raise FormatError(f"summary has unknown field {short_key(sorted(extra)[0])}")
    return result_from_json(doc, "summary")
