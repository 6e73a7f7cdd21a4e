"""The report folder of a campaign run by a person: ``results.folder.ReportFolder`` plus every
rendered report (summary.md, index.html, and JUnit or a CI step summary when asked)."""
from __future__ import annotations

from pathlib import Path

from verifier.engines.spec import EngineSpec
from verifier.model import CampaignResult
from verifier.report import render_all
from verifier.results.folder import OutputError, ReportFolder, default_out

__all__ = ["Output", "OutputError", "default_out"]


class Output(ReportFolder):
    def __init__(self, path: Path, overwrite: bool = False, junit: Path | None = None,
                 step_summary: Path | None = None, engine_spec: EngineSpec | None = None):
        super().__init__(path, overwrite, engine_spec.to_json() if engine_spec else None)
        self.junit, self.step_summary = junit, step_summary

    def render(self, result: CampaignResult) -> None:
        render_all(result, self.path, junit_file=self.junit, step_summary=self.step_summary)
