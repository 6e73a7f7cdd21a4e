"""A campaign's report folder as it is written: replay files and an event log as it goes,
summary.json at the end.

Nothing is lost: every finding's replay file and a line in ``events.jsonl`` are written the
moment it is found, and ``summary.json`` is replaced atomically. An existing report is never
overwritten unless asked. The campaign speaks to this class (``search.campaign.Sink``) and
never to a file: what a record holds and how it is versioned is decided here. Rendering the
reports is the interfaces' part (``interfaces.output.Output`` overrides ``render``).

The log's records, by ``event``: ``start`` (the campaign's options), ``progress`` (verdict,
undecided and note counts every few seconds), ``finding`` (a finding whole, with the counts),
``examples`` (more cases of a finding, at the end), ``oracle-disagreement`` (the case, the
first DISAGREEMENTS_LOGGED), ``undecided`` (an undecided example: ``example`` holds its cause,
reason, expression and point; the first UNDECIDED_KEPT of each cause) and ``end``; a merge's
and a parallel campaign's add ``part``, ``lost``, ``parallel`` and ``worker``. A rebuild of a
killed campaign reads them back (``results.rebuild``).
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from verifier.floor.serial import expr_to_json, point_to_json
from verifier.model import UNDECIDED_KEPT, CampaignResult, Case, Finding
from verifier.results.events import DISAGREEMENTS_LOGGED, EVENTS_FORMAT, EVENTS_VERSION
from verifier.results.replay import replay_doc
from verifier.results.schema import clean
from verifier.results.summary import dump_summary, finding_to_json

__all__ = ["ReportFolder", "OutputError", "default_out"]


class OutputError(ValueError):
    pass


def default_out(root: Path, engine: str) -> Path:
    """reports/<engine>-<time>: a new folder per run, so no run overwrites another."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', engine)}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


class ReportFolder:
    def __init__(self, path: Path, overwrite: bool = False, engine_spec: Mapping[str, Any] | None = None):
        self.path = Path(path)
        if (self.path / "summary.json").exists() or (self.path / "events.jsonl").exists():
            if not overwrite:
                raise OutputError(f"{self.path} holds an earlier report: pass --overwrite or another --out")
            # the old summary goes too: if this run is killed, its own log is what gets reported
            for old in list((self.path / "replays").glob("*.json")) + [self.path / "events.jsonl",
                                                                      self.path / "summary.json"]:
                old.unlink(missing_ok=True)
        try:
            (self.path / "replays").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {self.path}: {e.strerror or e}") from None
        # what the caller loaded the engine from (engines.spec.EngineSpec.to_json()): every
        # printed replay command names it
        self.engine_spec = dict(engine_spec or {})
        self._disagreements = 0
        self._undecided: Counter[str] = Counter()

    def replay_path(self, index: int, signature: str) -> str:
        return f"replays/{index:03d}-{re.sub(r'[^A-Za-z0-9]+', '-', signature).strip('-')}.json"

    def write_replay(self, f: Finding, case: Case, engine: str) -> None:
        doc = replay_doc(case, engine, f.kind, f.culprit_op, f.variable, f.expected, f.actual,
                         f.expression, f.signature, f.mode or None)
        (self.path / f.replay).write_text(json.dumps(doc, indent=2) + "\n")

    def event(self, record: dict[str, Any]) -> None:
        with (self.path / "events.jsonl").open("a") as log:
            log.write(json.dumps(record, default=str) + "\n")

    def start(self, record: dict[str, Any]) -> None:
        """The first record: what a rebuild of a killed campaign starts from."""
        self.event({"event": "start", "format": EVENTS_FORMAT, "version": EVENTS_VERSION, **record,
                    "engine_spec": self.engine_spec})

    def found(self, f: Finding, case: Case, engine: str, counts: dict[str, Any]) -> None:
        """A finding, kept whole: its replay file, then its line in the log."""
        self.write_replay(f, case, engine)
        self.event({"event": "finding", **{k: getattr(f, k) for k in ("kind", "culprit_op", "expression", "replay")},
                    **counts, "finding": finding_to_json(f)})

    def examples(self, f: Finding) -> None:
        """More cases of a finding's signature, known only when the search is over."""
        self.event({"event": "examples", "replay": f.replay, "examples": clean(f.examples)})

    def disagreement(self, case: Case, reason: str) -> None:
        """Not a finding against the engine but the verifier's own oracles at odds: the case
        is kept (the first DISAGREEMENTS_LOGGED of them), or nobody could look into one."""
        self._disagreements += 1
        if self._disagreements <= DISAGREEMENTS_LOGGED:
            self.event({"event": "oracle-disagreement", "reason": reason,
                        "expr": expr_to_json(case.expr), "point": point_to_json(case.point)})

    def undecided(self, example: dict[str, Any]) -> None:
        """An undecided example (cause, reason, expression, point), kept in the log when it is
        among the first UNDECIDED_KEPT of its cause: a killed campaign's rebuild lists them."""
        cause = str(example.get("cause", ""))
        self._undecided[cause] += 1
        if self._undecided[cause] <= UNDECIDED_KEPT:
            self.event({"event": "undecided", "example": clean(dict(example))})

    def stamp(self, result: CampaignResult) -> CampaignResult:
        """``result`` with where its report is and how its engine is named again."""
        return replace(result, report_dir=str(self.path), engine_spec=self.engine_spec or result.engine_spec)

    def render(self, result: CampaignResult) -> None:
        """Write the human-readable reports: nothing at this layer (see interfaces.output)."""

    def finish(self, result: CampaignResult) -> CampaignResult:
        result = self.stamp(result)
        dump_summary(result, self.path / "summary.json")
        self.render(result)
        self.event({"event": "end", "stopped": result.stopped, "examples": result.examples,
                    **({"error": result.error} if result.error else {})})
        return result
