"""A campaign's output folder: replay files and an event log as it goes, reports at the end.

Nothing is lost: every finding's replay file and a line in ``events.jsonl`` are written
the moment it is found, and ``summary.json`` is replaced atomically. An existing report is
never overwritten unless asked.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .engines.spec import EngineSpec
from .judge import Case
from .replay import replay_doc
from .results import CampaignResult, Finding, dump_summary

__all__ = ["Output", "OutputError", "default_out"]


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


class Output:
    def __init__(self, path: Path, overwrite: bool = False, junit: Path | None = None,
                 step_summary: Path | None = None, engine_spec: EngineSpec | None = None):
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
        self.junit, self.step_summary = junit, step_summary
        # what the caller loaded the engine from: every printed replay command names it
        self.engine_spec = engine_spec.to_json() if engine_spec else {}

    def replay_path(self, index: int, signature: str) -> str:
        return f"replays/{index:03d}-{re.sub(r'[^A-Za-z0-9]+', '-', signature).strip('-')}.json"

    def write_replay(self, f: Finding, case: Case, engine: str) -> None:
        doc = replay_doc(case, engine, f.kind, f.culprit_op, f.variable, f.expected, f.actual,
                         f.expression, f.signature)
        (self.path / f.replay).write_text(json.dumps(doc, indent=2) + "\n")

    def event(self, record: dict[str, Any]) -> None:
        with (self.path / "events.jsonl").open("a") as log:
            log.write(json.dumps(record, default=str) + "\n")

    def stamp(self, result: CampaignResult) -> CampaignResult:
        """``result`` with where its report is and how its engine is named again."""
        return replace(result, report_dir=str(self.path), engine_spec=self.engine_spec or result.engine_spec)

    def finish(self, result: CampaignResult) -> CampaignResult:
        from .report import render_all
        result = self.stamp(result)
        dump_summary(result, self.path / "summary.json")
        render_all(result, self.path, junit=self.junit, step_summary=self.step_summary)
        self.event({"event": "end", "stopped": result.stopped, "examples": result.examples})
        return result
