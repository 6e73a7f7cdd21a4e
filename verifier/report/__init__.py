"""Renderers: pure functions from a CampaignResult to text. One model, many formats."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..results import CampaignResult
from . import junit, markdown, text

__all__ = ["RENDERERS", "render_all", "text", "markdown", "junit"]

# file name -> renderer; every one is written by `adverify campaign` and `adverify report`
RENDERERS: dict[str, Callable[[CampaignResult], str]] = {
    "summary.md": markdown.render,
}


def _html_renderer():
    try:
        from . import html
    except ImportError:
        return None
    return html.render


def render_all(result: CampaignResult, out: Path, junit: Path | None = None,
               step_summary: Path | None = None) -> None:
    renderers = dict(RENDERERS)
    html = _html_renderer()
    if html is not None:
        renderers["index.html"] = html
    for name, render in renderers.items():
        (out / name).write_text(render(result))
    if junit is not None:
        Path(junit).write_text(globals()["junit"].render(result))
    if step_summary is not None:
        with Path(step_summary).open("a") as f:
            f.write(markdown.render(result, links=False))
