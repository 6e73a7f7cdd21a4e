"""The report's stylesheet, inlined into index.html (no file to lose, nothing to fetch)."""
from __future__ import annotations

from verifier.report.plots import VERDICT_COLOURS

__all__ = ["CSS"]

_PILLS = "".join(f".v-{k}{{background:{c}}}" for k, c in VERDICT_COLOURS.items())

# No text-transform anywhere: labels hold variable names, points, op and engine names, and
# case matters in mathematics (X is not x). Tables sit in a .wide box that scrolls on its own,
# so the page itself never scrolls sideways.
CSS = """
:root{--ink:#1d2733;--soft:#52606d;--faint:#8a949e;--line:#e1e5ea;--paper:#fff;--bg:#f5f6f8;
--red:#c62828;--redbg:#fdecea;--blue:#2f6db5;--green:#2e7d4f;
--sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif;
--mono:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace}
*{box-sizing:border-box}
html{background:var(--bg)}
body{margin:0;color:var(--ink);font:15px/1.55 var(--sans)}
main{max-width:1180px;margin:0 auto;padding:28px 28px 60px}
h1{font-size:28px;margin:2px 0 6px;font-weight:650;letter-spacing:-.01em}
h1 code{font-size:25px;background:none;padding:0}
h2{font-size:20px;margin:40px 0 10px;font-weight:650}
h2.sig{font-size:17px;margin:34px 0 8px;color:var(--soft)}
h2 small{font-weight:400;color:var(--faint);font-size:14px;margin-left:6px}
h3{font-size:17px;margin:0 0 6px;display:flex;align-items:center;gap:8px;flex-wrap:wrap}
code,pre,.num{font-family:var(--mono);font-size:13px}
code{background:#eef1f4;border-radius:4px;padding:1px 5px;overflow-wrap:anywhere}
a{color:var(--blue)}
header{background:var(--paper);border:1px solid var(--line);border-radius:12px;padding:22px 26px 16px}
.kicker,.label{font-size:12.5px;color:var(--faint);margin:0 0 4px;font-weight:600}
.status{font-size:17px;font-weight:600;margin:0 0 12px}
.status.bad{color:var(--red)}.status.good{color:var(--green)}
.status.warn{color:#a15c00;font-size:15px}.status.warn a{color:inherit}
.meta{display:flex;flex-wrap:wrap;gap:6px 30px;margin:0 0 12px}
.meta div{display:flex;flex-direction:column}
.meta dt{font-size:12.5px;color:var(--faint)}
.meta dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.options{color:var(--soft);font-size:13px;margin:6px 0}
nav{border-top:1px solid var(--line);margin-top:12px;padding-top:10px;display:flex;flex-wrap:wrap;gap:4px 22px}
nav a{text-decoration:none;font-weight:600;font-size:14px}
.pill{display:inline-block;color:#fff;border-radius:999px;padding:1px 9px;font-size:12.5px;font-weight:600;
margin:0 5px 5px 0;white-space:nowrap}
.pill b{font-weight:700;margin-left:3px}
""" + _PILLS + """
.lede{color:var(--soft);margin:0 0 12px}
.note{color:var(--soft);font-size:13.5px;font-style:italic}
.ok{color:var(--green);font-weight:600}
table{border-collapse:collapse;background:var(--paper);font-size:13.5px;margin:0 0 14px}
caption{text-align:left;font-weight:600;font-size:13px;color:var(--soft);padding:0 0 6px;caption-side:top}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12.5px;color:var(--faint);font-weight:600;
border-bottom:1.5px solid #cfd5dc}
tbody th{font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.bad{color:var(--red);font-weight:700}
tr.failing{background:var(--redbg)}
.wide{max-width:100%;overflow-x:auto;margin:0 0 14px}
.wide>table{margin:0}
table.overview{width:100%;border:1px solid var(--line)}
table.overview td:not(:last-child) code{white-space:nowrap;overflow-wrap:normal}
table.overview td:last-child{min-width:12em}
table.overview small{display:block;color:var(--soft);font-size:12px}
.finding{background:var(--paper);border:1px solid var(--line);border-left:4px solid var(--red);border-radius:12px;
padding:20px 24px;margin:0 0 18px}
.idx{display:inline-flex;align-items:center;justify-content:center;width:26px;height:26px;border-radius:50%;
background:var(--ink);color:#fff;font-size:13px}
.blame{color:var(--soft);font-weight:500;font-size:14px;border:1px solid var(--line);border-radius:6px;padding:0 7px}
.message{margin:4px 0 14px;font-size:15.5px}
.proof{margin:-8px 0 14px;font-size:14px;border-left:3px solid var(--red);padding:2px 0 2px 10px}
table.kept code.point{white-space:nowrap}
.repro{background:#fafbfc;border:1px solid var(--line);border-radius:10px;padding:12px 16px 6px;margin:0 0 16px}
.formula{margin:8px 0 4px}
.formula math{font-size:22px;font-family:"DejaVu Math TeX Gyre","STIX Two Math","Cambria Math",math}
.repro .text{margin:6px 0 6px;color:var(--soft)}
.numbers{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start;margin:14px 0 4px}
.numbers>.wide{flex:0 1 auto}
.blamed{margin:-6px 0 14px;font-size:14px}
figure{margin:0;max-width:100%;overflow-x:auto}
figcaption{font-size:12.5px;color:var(--soft);margin:6px 0 10px}
.scroll{overflow-x:auto;text-align:center;background:#fcfdfe;border:1px solid var(--line);border-radius:10px;padding:6px}
.key{display:inline-block;width:14px;height:9px;border-radius:2px;margin:0 4px 0 8px;vertical-align:middle}
.key.hot{background:var(--red)}.key.path{background:#4a5866}.key.off{background:#c5ccd3}
.key.shared{background:none;border:1.5px dashed var(--red);height:11px}
svg text{font-family:var(--sans);font-size:12px;fill:var(--ink)}
.dag .node rect{fill:#fff;stroke:#6b7a89;stroke-width:1.2}
.dag .node.var rect{fill:#eaf2fb;stroke:var(--blue)}
.dag .node.const rect{fill:#f1f3f5;stroke:#b8c0c8}
.dag .node.out rect{stroke:var(--ink);stroke-width:2}
.dag .node.wrt rect{stroke-width:2.4}
.dag .node.culprit rect{fill:var(--redbg);stroke:var(--red);stroke-width:2.6}
.dag .node.culprit .opname{fill:var(--red)}
.dag .node.shared rect{stroke:var(--red);stroke-width:1.8;stroke-dasharray:5 3}
.dag .opname{font-weight:700}
.dag .ssa{fill:var(--faint);font-size:10.5px}
.dag .nvalue{font-family:var(--mono);font-size:10.5px;fill:var(--soft)}
.dag .edge{fill:none}
.dag .edge.off{stroke:#c5ccd3;stroke-width:1.2}
.dag .edge.path{stroke:#4a5866;stroke-width:1.7}
.dag .edge.hot{stroke:var(--red);stroke-width:2.6}
.tip-off{fill:#c5ccd3}.tip-path{fill:#4a5866}.tip-hot{fill:var(--red)}
.dag .elabel{font-family:var(--mono);font-size:10.5px;paint-order:stroke;stroke:#fcfdfe;stroke-width:4px;
stroke-linejoin:round}
.dag .elabel.hot{fill:var(--red);font-weight:700}.dag .elabel.off{fill:var(--faint)}
table.paths{width:100%;margin-top:6px}
.chain{line-height:2}
.chip{display:inline-block;border:1px solid #cfd5dc;border-radius:6px;padding:0 6px;background:#fff;font-size:12.5px}
.chip small{color:var(--faint)}
.chip.culprit{border-color:var(--red);color:var(--red);background:var(--redbg);font-weight:600}
.factor{font-family:var(--mono);font-size:12px;color:var(--soft);margin:0 5px}
tr.via{background:#fff7f6}
tfoot td{font-weight:600;border-bottom:none}
tr.engine td{color:var(--red)}
details{margin:6px 0 10px;font-size:13.5px}
summary{cursor:pointer;color:var(--soft)}
.steps{margin:6px 0;columns:2}
pre.cmd{background:#1d2733;color:#e8edf2;border-radius:8px;padding:10px 14px;overflow-x:auto;margin:4px 0 8px}
.found{color:var(--faint);font-size:12.5px;margin:8px 0 0}
#coverage,#severity{background:var(--paper);border:1px solid var(--line);border-radius:12px;padding:4px 24px 16px;
margin-top:30px}
.gaps{background:#fff8e6;border:1px solid #f0dca8;border-radius:10px;padding:10px 16px;margin:0 0 14px}
.gaps ul{margin:4px 0;padding-left:20px}
.cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start;margin:8px 0 10px}
.cols>*{min-width:0;max-width:100%;overflow-x:auto}
.legend{font-size:12px;color:var(--soft);max-width:430px}
.legend .item{white-space:nowrap}
table.kinks caption{white-space:nowrap}
tr.cold th,tr.cold td{color:#9a6b00;background:#fffaf0}
.plot .bar.under{fill:#3b8f5a}.plot .bar.over{fill:#d1403a}.plot .bar.exact{fill:#8cc2a1}
#severity svg.plot{max-width:100%;height:auto}
.plot .grid{stroke:#e8ebef}
.plot line.bound{stroke:#d1403a;stroke-dasharray:4 3;stroke-width:1.5}.plot text.bound{fill:#d1403a}
.plot .gap{fill:#f1f3f5}
.plot text.none{fill:#9a6b00;font-style:italic}.plot text.total{fill:var(--soft)}
h2,h3,p,li,figcaption,dd{overflow-wrap:break-word}
footer{margin-top:36px;color:var(--faint);font-size:12.5px;text-align:center}
"""
