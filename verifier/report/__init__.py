"""Renderers: pure functions from a CampaignResult to text. One model, many formats."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from verifier.model import CampaignResult
from verifier.report import html, junit, markdown, text

__all__ = ["RENDERERS", "render_all", "text", "markdown", "junit", "html"]

# file name -> renderer; every one is written by `adverify campaign` and `adverify report`
RENDERERS: dict[str, Callable[[CampaignResult], str]] = {
    "summary.md": markdown.render,
    "index.html": html.render,
}


def render_all(result: CampaignResult, out: Path, junit_file: Path | None = None,
               step_summary: Path | None = None) -> None:
    for name, render in RENDERERS.items():
        (out / name).write_text(render(result))
    if junit_file is not None:
        Path(junit_file).write_text(junit.render(result))
    if step_summary is not None:
        with Path(step_summary).open("a") as f:
            f.write(markdown.render(result, links=False))
