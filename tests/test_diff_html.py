"""The HTML report: one self-contained file, trace strings escaped, charts inline."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from test_report_fixtures import HOSTILE_COMM, sample_input

from faulttui.report.gates import evaluate, parse_gates
from faulttui.report.html import render_html
from faulttui.report.model import build_report
from faulttui.report.svg import cdf_points

URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "data", "poster", "srcset"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def _html() -> str:
    source = sample_input(policies=("retry-vma", "hold-vma", "<script>alert(1)</script>"),
                          metrics={**sample_input().metrics,
                                   "<script>alert(1)</script>": sample_input().metrics["hold-vma"]})
    metrics_json = {name: metrics.to_json() for name, metrics in source.metrics.items()}
    gates = evaluate(parse_gates(["fault_latency.p99>+10%"]), metrics_json, "stock",
                     source.policies)
    return render_html(build_report(
        sample_input(policies=source.policies, metrics=source.metrics, gates=gates)))


def test_trace_strings_are_text_not_markup() -> None:
    parsed = _parse(_html())
    tags = {tag for tag, _ in parsed.tags}
    assert "img" not in tags
    assert "script" not in tags
    assert "b" in tags  # our own markup is there...
    text = "".join(parsed.text)
    assert HOSTILE_COMM in text  # ...and the hostile thread name shows as text
    assert "<script>alert(1)</script>" in text
    assert "traces/sample <b>.txt.xz" in text


def test_self_contained_no_external_reference() -> None:
    html = _html()
    parsed = _parse(html)
    for tag, attrs in parsed.tags:
        assert tag not in {"script", "link", "iframe", "object", "embed", "img"}, tag
        for name, value in attrs.items():
            if name in URL_ATTRIBUTES:
                raise AssertionError(f"<{tag} {name}={value!r}> references a resource")
            assert not (value or "").lower().startswith(("http:", "https:", "//", "javascript:"))
    assert re.search(r"https?://|//[a-z]", html, flags=re.IGNORECASE) is None
    assert "@import" not in html and "url(" not in html


def test_inline_svg_charts() -> None:
    parsed = _parse(_html())
    svgs = [attrs for tag, attrs in parsed.tags if tag == "svg"]
    assert len(svgs) == 3  # fault-latency CDF, read-wait and write-wait histograms
    assert sum(1 for tag, _ in parsed.tags if tag == "polyline") == 5  # one per timeline
    assert any(tag == "rect" for tag, _ in parsed.tags)
    titles = "".join(parsed.text)
    assert "Fault latency CDF per timeline" in titles
    assert "mmap_lock read wait: histogram" in titles


def test_tables_and_parameters_present() -> None:
    parsed = _parse(_html())
    text = "".join(parsed.text)
    for heading in ("Headline", "Metrics", "Distributions", "Writers", "Threads",
                    "Replay parameters", "Gates: 3 checked"):
        assert heading in text
    assert "io_latency_scale" in text and "faulttui diff" in text
    assert sum(1 for tag, _ in parsed.tags if tag == "table") >= 10


def test_cdf_points_are_monotonic() -> None:
    for metrics in sample_input().metrics.values():
        points = cdf_points(metrics.fault_latency)
        values = [value for value, _ in points]
        positions = [position for _, position in points]
        assert values == sorted(values)
        assert positions == sorted(positions)
        assert positions[-1] == 4.0 and values[-1] == metrics.fault_latency.max
