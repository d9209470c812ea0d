"""Caregiver summaries as PDF (fpdf2): A4, its fonts embedded, so the text is drawn and stays
extractable on a machine without them installed.

Chinese is set in the bundled Noto Sans CJK SC subset. Other languages are set in DejaVu Sans (shipped
inside matplotlib, a dependency) with the CJK font as fallback: a CJK font draws Latin curly quotes and
apostrophes full width (“ as a wide glyph with a gap after it), which looks broken in English.

Page breaks keep a heading with what follows it: a heading that would sit at the foot of a page, its
section starting overleaf, moves to the next page with the section.

The chart is drawn with PDF lines and shapes from the same geometry as the HTML's SVG.
"""

from __future__ import annotations

from datetime import datetime
from importlib.util import find_spec
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos

from plugins.caregiver_summary.chart import BAND_COLOURS, LINE_COLOUR, Layout, segments
from plugins.caregiver_summary.content import Facts
from plugins.caregiver_summary.wording import Wording

BUNDLED_FONT = Path(__file__).parent / "fonts" / "NotoSansCJKsc-caregiver.ttf"
LATIN_FONT = Path(find_spec("matplotlib").origin or "").parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"  # type: ignore[union-attr]
"""Latin, Greek and Cyrillic text with proper quotes and dashes (DejaVu Sans, free licence, inside matplotlib)."""
KEEP_WITH_HEADING_MM = 22.0
"""Room a heading needs below it on its page (about three lines of text), else it starts the next page."""
INK = (26, 26, 26)
ACCENT = (29, 63, 110)
URGENT = (138, 28, 18)
NO_LINE_START = set("，。、；：！？）」』”’》〉…·%")
"""Chinese punctuation that must not begin a line (it stays at the end of the previous one)."""


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


class _Page(FPDF):
    def __init__(self, font: Path, footer_text: str, latin: Path | None = None) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        if latin is not None:
            self.add_font("body", fname=str(latin))
            self.add_font("cjk", fname=str(font))
            self.set_fallback_fonts(["cjk"])
        else:
            self.add_font("body", fname=str(font))
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("body", size=8)
        self.set_text_color(80, 80, 80)
        self.cell(0, 5, f"{self.footer_text}  ·  {self.page_no()}/{{nb}}", align="C")

    def para(self, text: str, size: float = 11, colour: tuple[int, int, int] = INK, gap: float = 1.5, indent: str = "") -> None:
        self.set_font("body", size=size)
        self.set_text_color(*colour)
        cjk = " " not in text  # Chinese: no spaces to break at, so break between characters, never before closing punctuation
        text = "\n".join(self._cjk_lines(indent + text)) if cjk else indent + text
        self.multi_cell(0, size * 0.5, text, wrapmode=WrapMode.CHAR if cjk else WrapMode.WORD, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(gap)

    def _cjk_lines(self, text: str) -> list[str]:
        width = self.w - self.l_margin - self.r_margin - 2 * self.c_margin - self.get_string_width("，")  # room for hanging punctuation
        lines, line = [], ""
        for char in text:
            if line and self.get_string_width(line + char) > width and char not in NO_LINE_START:
                lines.append(line)
                line = ""
            line += char
        return [*lines, line]

    def heading(self, text: str, keep_mm: float = KEEP_WITH_HEADING_MM) -> None:
        """A section heading; ``keep_mm``: how much of what follows must fit under it on the same page."""
        if self.get_y() + 3 + 10 + keep_mm > self.page_break_trigger:
            self.add_page()
        self.ln(3)
        self.para(text, size=14, colour=ACCENT, gap=0.5)
        self.set_draw_color(213, 219, 227)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        width = (self.w - self.l_margin - self.r_margin) / len(header)
        self.set_font("body", size=10.5)
        self.set_fill_color(243, 245, 248)
        self.set_text_color(*INK)
        for cell in header:
            self.cell(width, 7, cell, border="B", fill=True)
        self.ln(7)
        for row in rows:
            for cell in row:
                self.cell(width, 6.5, cell, border="B")
            self.ln(6.5)
        self.ln(2)

    def chart(self, facts: Facts, w: Wording) -> None:
        if self.get_y() + 60 > self.page_break_trigger:
            self.add_page()
        top = self.get_y() + 2
        layout = Layout(left=self.l_margin + 28, top=top, width=self.w - self.l_margin - self.r_margin - 32, height=42)
        self.set_font("body", size=9.5)
        self.set_text_color(*INK)
        for index, label in enumerate(w.axis_levels):
            band_top, band = layout.band(index)
            self.set_fill_color(*_rgb(BAND_COLOURS[index]))
            self.rect(layout.left, band_top, layout.width, band, style="F")
            self.set_xy(self.l_margin, band_top)
            self.cell(26, band, label, align="R")
        bottom = layout.top + layout.height
        self.set_draw_color(51, 51, 51)
        self.line(layout.left, bottom, layout.left + layout.width, bottom)
        self.set_xy(layout.left, bottom + 1)
        self.cell(layout.width / 2, 5, w.axis_start)
        self.cell(layout.width / 2, 5, w.axis_end, align="R")
        self.set_draw_color(*_rgb(LINE_COLOUR))
        self.set_fill_color(*_rgb(LINE_COLOUR))
        self.set_line_width(0.6)
        for run in segments(facts.trend, layout):
            if len(run) > 1:
                self.polyline(run)
            for x, y in run:
                self.circle(x, y, 0.9, style="F")
        self.set_line_width(0.2)
        self.set_y(bottom + 8)


def pdf(facts: Facts, w: Wording, made_at: datetime, font: Path = BUNDLED_FONT, latin: Path | None = None) -> bytes:
    """``latin``: the font for a language written in Latin (or Greek, Cyrillic) script, ``font`` its fallback;
    None sets everything in ``font`` (Chinese, or an operator's ``pdf_font``)."""
    page = _Page(font, w.footer, latin)
    page.set_lang(w.lang)
    page.set_title(w.title)
    page.set_subject(w.notice)
    page.set_creator("Pain Gateway caregiver summary")
    page.creation_date = made_at
    page.add_page()
    page.para(w.title, size=18, colour=ACCENT, gap=3)
    page.set_fill_color(238, 243, 250)
    page.para(w.notice, size=10.5, gap=2)
    page.para(w.review, size=11.5, gap=1)
    for line in w.result:
        page.para(line, size=13, gap=1)
    if w.urgent:
        page.para(w.urgent, size=12, colour=URGENT, gap=2)
    page.heading(w.observed_heading)
    for line in w.observed:
        page.para(line)
    page.heading(w.time_heading, keep_mm=7 + 6.5 * len(w.rows) + (12 if w.time_note else 0))
    if w.time_note:
        page.para(w.time_note, size=10.5)
    page.table(w.columns, [(r.label, r.time, r.share) for r in w.rows])
    page.heading(w.trend_heading, keep_mm=12 + 60)  # its text and the chart
    page.para(w.trend_text, size=10.5)
    page.chart(facts, w)
    page.heading(w.meaning_heading)
    page.para(w.meaning)
    page.heading(w.not_meaning_heading)
    for line in w.not_meaning:
        page.para(line, indent="• ")
    page.heading(w.contact_heading)
    if w.urgent:
        page.para(w.urgent, colour=URGENT)
    page.para(w.contact_intro)
    for line in w.contact:
        page.para(line, indent="• ")
    page.para(w.emergency, size=11.5, colour=URGENT)
    return bytes(page.output())
