"""How big index.html gets, and how fast it renders and loads, as discrepancies pile up.

A real campaign rarely finds twenty distinct discrepancies, so the results are synthesized
from real parts: short campaigns against the planted-bug engines give real findings (each
with its graph and paths), the float32-grads campaign gives real coverage and severities;
findings are then re-used round-robin (with a suffix on the signature, so each is its own
group) and the severity counts scaled to a 2,000-example campaign. Every
number is measured on that result: the rendering in Python, and the page opened from
file:// in headless Chromium (performance timing's loadEventEnd). ``--real N`` also runs a
real N-example campaign against mutant:float32-grads and measures its own report.

    python3 benchmarks/report_size.py [--examples 200] [--real 2000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from verifier.search.campaign import Options, run_campaign  # noqa: E402
from verifier.engines.mutants import MUTANTS  # noqa: E402
from verifier.report import html  # noqa: E402
from verifier.results.summary import to_json_text
from verifier.model import CampaignResult  # noqa: E402
from verifier.floor.serial import MAX_BYTES  # noqa: E402

SOURCES = ("float32-grads", "tanh-rule", "div-sign", "overwrite", "preorder")


def synthesize(base: CampaignResult, findings: list, n: int, examples: int = 2000) -> CampaignResult:
    chosen = [replace(f, signature=f.signature + (f"#{k // len(findings)}" if k >= len(findings) else ""))
              for k, f in ((k, findings[k % len(findings)]) for k in range(n))]
    # the severity counts, scaled to the examples asked for (their size no longer grows with them)
    k = examples / max(base.examples, 1)
    s = base.severities
    severities = {**s, "checks": round(s["checks"] * k), "exact": round(s["exact"] * k),
                  "decades": {d: round(c * k) for d, c in s["decades"].items()}}
    return replace(base, examples=examples, discrepancies=chosen, severities=severities)


def measure(result: CampaignResult, browser, folder: Path) -> tuple[int, int, float, float | None]:
    renders = []
    for _ in range(3):
        t = time.perf_counter()
        page = html.render(result)
        renders.append(time.perf_counter() - t)
    path = folder / f"r{len(result.discrepancies)}-{result.examples}.html"
    path.write_text(page)
    load = None
    if browser is not None:
        loads = []
        for _ in range(3):    # the median of three: the machine is shared
            browser.open(path.resolve().as_uri())
            loads.append(browser.run("return performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)
            errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
            if errors:
                print(f"  console errors at {len(result.discrepancies)} discrepancies: {errors}", file=sys.stderr)
        load = sorted(loads)[1]
    return len(page.encode()), len(to_json_text(result).encode()), min(renders), load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=200, help="examples per source campaign (default 200)")
    p.add_argument("--real", type=int, default=0, help="also run and measure a real campaign of this many examples")
    args = p.parse_args()

    runs = {}
    for name in SOURCES:
        t = time.perf_counter()
        runs[name] = run_campaign(MUTANTS[name].make(), Options(examples=args.examples, seed=0))
        print(f"source mutant:{name}: {len(runs[name].discrepancies)} findings, {time.perf_counter() - t:.0f} s",
              file=sys.stderr)
    findings = [f for r in runs.values() for f in r.discrepancies]
    base = runs["float32-grads"]

    from test_html_report import Browser
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            browser = Browser(folder / "profile")
        except FileNotFoundError as e:
            print(f"(no browser: {e})", file=sys.stderr)
            browser = None
        rows = []
        try:
            for n in (0, 1, 5, 10, 20, 40):
                rows.append(("synthesized", 2000, n, *measure(synthesize(base, findings, n), browser, folder)))
            if args.real:
                t = time.perf_counter()
                real = run_campaign(MUTANTS["float32-grads"].make(), Options(examples=args.real, seed=0))
                print(f"real campaign: {time.perf_counter() - t:.0f} s", file=sys.stderr)
                rows.append(("real", real.examples, len(real.discrepancies), *measure(real, browser, folder)))
        finally:
            if browser is not None:
                browser.close()

    print(f"\n{'result':<12} {'examples':>8} {'discrepancies':>13} {'index.html':>11} {'summary.json':>13} "
          f"{'render s':>9} {'chromium load s':>16}")
    for kind, examples, n, size, summary, render, load in rows:
        flag = " (over the reader's limit)" if summary > MAX_BYTES else ""
        print(f"{kind:<12} {examples:>8} {n:>13} {size / 1e6:>9.3f}MB {summary / 1e6:>11.3f}MB {render:>9.3f} "
              f"{'—' if load is None else f'{load:.3f}':>16}{flag}")


if __name__ == "__main__":
    main()
