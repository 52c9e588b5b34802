"""The diff report as one self-contained HTML file: inline CSS and SVG, no script, no fetches.

Every string goes through `html.escape` on its way out, whatever its origin: thread names and
the trace path come from the trace, policy names may come from plugins.
"""

from __future__ import annotations

from html import escape

from faulttui.model.metrics import Dist
from faulttui.report.grid import Grid, metric_grid, thread_grid
from faulttui.report.model import DiffReport, Distribution, no_headline_sentence
from faulttui.report.svg import bucket_histogram, latency_cdf
from faulttui.report.text import format_param

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
h3 { font-size: 1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .15em .7em; border-bottom: 1px solid #ddd; }
th { text-align: left; background: #f4f4f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.delta { color: #555; }
code, .literal { font-family: ui-monospace, monospace; }
.fail { color: #b00; font-weight: bold; } .ok { color: #070; }
svg.chart { display: block; margin: 1em 0; max-width: 100%; height: auto; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #333; }
svg.chart .chart-title { font-size: 13px; font-weight: bold; }
svg.chart line.grid { stroke: #e3e3e3; stroke-width: 1; }
"""


def render_html(report: DiffReport) -> str:
    title = f"faulttui diff: {report.trace}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Baseline <b>{escape(report.baseline)}</b>; compared: "
        + (", ".join(f"<b>{escape(name)}</b>" for name in report.compared) or "none")
        + ".</p>",
        "<h2>Headline</h2>",
        "<ul>" + "".join(f"<li>{escape(item.sentence)}</li>" for item in report.headline)
        + ("" if report.headline else f"<li>{escape(no_headline_sentence(report))}</li>")
        + "</ul>",
    ]
    if report.gates:
        body.append(_gates(report))
    body.append("<h2>Charts</h2>")
    body.extend(_charts(report))
    body.append("<h2>Metrics</h2>")
    body.append(_table(metric_grid(report.summary, report)))
    body.append("<h2>Distributions</h2>")
    for distribution in report.distributions:
        body.append(_table(metric_grid(distribution.percentiles, report)))
        body.append(_table(metric_grid(distribution.buckets, report)))
    body.append("<h2>Writers</h2>")
    body.append(_table(metric_grid(report.writers, report)))
    body.append("<h2>Threads</h2>")
    for ranking in report.threads:
        for improved in (True, False):
            grid = thread_grid(ranking, report.baseline, improved)
            if grid.rows:
                body.append(_table(grid))
            else:
                body.append(f"<h3>{escape(grid.title)}</h3><p>None of the {ranking.compared} "
                            "threads compared.</p>")
    body.append(_parameters(report))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )


def _charts(report: DiffReport) -> list[str]:
    by_key = {distribution.key: distribution for distribution in report.distributions}
    charts = []
    fault_latency = by_key.get("fault_latency_ns")
    if fault_latency is not None:
        charts.append(latency_cdf("Fault latency CDF per timeline",
                                  _series(report, fault_latency)))
    for distribution in report.distributions:
        if distribution.key.startswith("mmap_lock.wait_ns"):
            charts.append(bucket_histogram(f"{distribution.title}: histogram",
                                           _series(report, distribution)))
    return charts


def _series(report: DiffReport, distribution: Distribution) -> list[tuple[str, Dist]]:
    return list(zip(report.columns, distribution.dists, strict=True))


def _gates(report: DiffReport) -> str:
    items = []
    for result in report.gates:
        mark = '<span class="fail">FAIL</span>' if result.violated else '<span class="ok">ok</span>'
        items.append(f"<li>{mark} {escape(result.describe())}</li>")
    return (f"<h2>Gates: {len(report.gates)} checked, {len(report.violated_gates)} violated</h2>"
            f"<ul>{''.join(items)}</ul>")


def _table(grid: Grid) -> str:
    header = "".join(
        f'<th{" class=num" if numeric else ""}>{escape(cell)}</th>'
        for cell, numeric in zip(grid.header, grid.numeric, strict=True))
    rows = []
    for row in grid.rows:
        cells = []
        for cell, numeric, literal in zip(row, grid.numeric, grid.literal, strict=True):
            css = " ".join(name for name, wanted in (("num", numeric), ("literal", literal))
                           if wanted)
            attribute = f' class="{css}"' if css else ""
            cells.append(f"<td{attribute}>{escape(cell)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<h3>{escape(grid.title)}</h3><table><thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _parameters(report: DiffReport) -> str:
    rows = "".join(f"<tr><th>{escape(name)}</th><td class=literal>{escape(format_param(value))}"
                   "</td></tr>" for name, value in report.params)
    rows += f"<tr><th>faulttui</th><td class=literal>{escape(report.version)}</td></tr>"
    rerun = (f"<p>Rerun:</p><pre>{escape(report.rerun)}</pre>" if report.rerun else "")
    return f"<h2>Replay parameters</h2><table>{rows}</table>{rerun}"
