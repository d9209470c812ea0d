"""The assessment page's SVG charts: what they draw follows the windows, nothing inline for the CSP."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from support.assessments import make_window

from gateway.web.ui import charts

WINDOWS = [
    make_window(0, level="none", probabilities=(0.8, 0.15, 0.05)),
    make_window(1, level="significant", probabilities=(0.1, 0.2, 0.7)),
    make_window(2, level=None, reason="no face in 12 frames"),
    make_window(3, level="significant", probabilities=(0.05, 0.15, 0.8)),
    make_window(4, level="mild", probabilities=(0.2, 0.6, 0.2)),
]


def parsed(svg) -> ElementTree.Element:
    return ElementTree.fromstring(str(svg))


def test_the_distribution_counts_seconds_per_level():
    svg = charts.level_distribution(WINDOWS)
    labels = [t.text for t in parsed(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert {"1 s (20%)", "2 s (40%)"} <= set(labels) and labels.count("1 s (20%)") == 3  # none, mild, unscorable
    assert "significant 2" in parsed(svg).get("aria-label")


def test_the_timeline_breaks_its_lines_over_an_unscorable_second():
    root = parsed(charts.probability_timeline(WINDOWS))
    lines = list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    assert len(lines) == 3 * 2  # three levels, each in two runs (seconds 0-1 and 3-4)
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "2–3 s: no face in 12 frames" in titles and "3–4 s: significant 0.80" in titles
    heights = {round(float(c.get("cy")), 1) for c in root.iter("{http://www.w3.org/2000/svg}circle")}
    assert len(heights) > 5  # points follow the probabilities


def test_a_hostile_reason_is_escaped_and_nothing_is_inline():
    svg = str(charts.probability_timeline([make_window(0, level=None, reason="<script>alert(1)</script>")]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert not re.search(r"\sstyle=|\son\w+=", svg)


def test_the_seconds_chart_draws_one_column_per_second():
    class Second:
        def __init__(self, start, importance):
            self.start, self.end, self.importance = start, start + 1, importance

    root = parsed(charts.second_importance([Second(0, 0.1), Second(1, 0.6), Second(2, 0.0)]))
    columns = [r for r in root.iter("{http://www.w3.org/2000/svg}rect")][1:]
    assert len(columns) == 3 and float(columns[1].get("height")) > float(columns[0].get("height")) > float(columns[2].get("height")) == 0
    assert "strongest 1–2 s" in root.get("aria-label")
