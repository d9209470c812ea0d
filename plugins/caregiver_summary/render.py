"""Caregiver summaries as HTML, plain text and SMS (the PDF is ``pdf.py``): layout only, words from ``wording``."""

from __future__ import annotations

import textwrap
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from plugins.caregiver_summary.chart import svg
from plugins.caregiver_summary.content import Facts
from plugins.caregiver_summary.wording import Wording

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(default=True))


def html(facts: Facts, w: Wording) -> str:
    chart = svg(facts.trend, w.chart_title, w.trend_text, w.axis_levels, w.axis_start, w.axis_end)
    return _TEMPLATES.get_template("summary.html").render(w=w, chart=Markup(chart))


def _paragraph(text: str, width: int = 78, indent: str = "") -> str:
    """Wrap Latin text at word breaks; text without spaces (Chinese) is left to the reader's screen."""
    if " " not in text:
        return indent + text
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=" " * len(indent))


def _underline(text: str, mark: str) -> str:
    """As wide as the text on a fixed-width screen (a Chinese character takes two columns)."""
    return mark * min(len(text) * (1 if text.isascii() else 2), 78)


def _heading(text: str) -> list[str]:
    return ["", text, _underline(text, "-")]


def text(w: Wording) -> str:
    lines = [w.title, _underline(w.title, "="), "", _paragraph(w.notice), "", w.review, *w.result]
    if w.urgent:
        lines += ["", _paragraph(f"!! {w.urgent}")]
    lines += _heading(w.observed_heading) + [_paragraph(line) for line in w.observed]
    lines += _heading(w.time_heading) + ([_paragraph(w.time_note)] if w.time_note else []) + [f"{r.label}: {r.time} ({r.share})" for r in w.rows]
    lines += _heading(w.trend_heading) + [_paragraph(w.trend_text)] + [f"{r.when}: {r.level}" for r in w.trend_rows]
    lines += _heading(w.meaning_heading) + [_paragraph(w.meaning)]
    lines += _heading(w.not_meaning_heading) + [_paragraph(line, indent="- ") for line in w.not_meaning]
    lines += _heading(w.contact_heading) + [_paragraph(w.contact_intro)] + [_paragraph(line, indent="- ") for line in w.contact]
    lines += [_paragraph(w.emergency), "", _paragraph(w.footer), ""]
    return "\n".join(lines)
