"""The trend chart: one geometry, drawn as inline SVG for HTML and with PDF primitives for the PDF.

Levels are bands (none at the bottom, significant at the top); the line joins consecutive checked
points and breaks where a second could not be checked. Each point also gets a marker, so the chart
does not rely on colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from gateway import LEVELS
from plugins.caregiver_summary.content import Point

BAND_COLOURS = ("#e8f3ec", "#fdf3dc", "#fbe3e0")  # none, mild, significant: light, with dark text on top
LINE_COLOUR = "#1d3f6e"


@dataclass(frozen=True)
class Layout:
    """A plot area in some unit (SVG pixels or PDF millimetres), y growing downwards."""

    left: float
    top: float
    width: float
    height: float

    def x(self, fraction: float) -> float:
        return self.left + fraction * self.width

    def y(self, level: str) -> float:
        band = self.height / len(LEVELS)
        return self.top + self.height - (LEVELS.index(level) + 0.5) * band

    def band(self, index: int) -> tuple[float, float]:
        """(top, height) of level ``index``'s band."""
        band = self.height / len(LEVELS)
        return self.top + self.height - (index + 1) * band, band


def segments(points: list[Point], layout: Layout) -> list[list[tuple[float, float]]]:
    """Runs of consecutive checked points as polylines; an unchecked point breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point.level is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((layout.x(point.x), layout.y(point.level)))
    return [run for run in runs if run]


def svg(points: list[Point], title: str, description: str, levels: list[str], start: str, end: str) -> str:
    """An accessible inline SVG (role img, title and description); text uses the page's font."""
    width, height = 640, 240
    layout = Layout(left=110, top=12, width=width - 130, height=height - 52)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" class="chart">',
        f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{escape(description)}</desc>',
    ]
    for index, label in enumerate(levels):
        top, band = layout.band(index)
        parts.append(f'<rect x="{layout.left}" y="{top:.1f}" width="{layout.width}" height="{band:.1f}" fill="{BAND_COLOURS[index]}"/>')
        parts.append(f'<text x="{layout.left - 8}" y="{top + band / 2:.1f}" text-anchor="end" dominant-baseline="middle" font-size="14">{escape(label)}</text>')
    bottom = layout.top + layout.height
    parts.append(f'<line x1="{layout.left}" y1="{bottom}" x2="{layout.left + layout.width}" y2="{bottom}" stroke="#333"/>')
    parts.append(f'<text x="{layout.left}" y="{bottom + 22}" font-size="13">{escape(start)}</text>')
    parts.append(f'<text x="{layout.left + layout.width}" y="{bottom + 22}" font-size="13" text-anchor="end">{escape(end)}</text>')
    for run in segments(points, layout):
        coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        if len(run) > 1:
            parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2.5"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{LINE_COLOUR}"/>' for x, y in run)
    parts.append("</svg>")
    return "".join(parts)
