"""The caregiver PDF's typography and page breaks, checked on the rendered pages and their text layer.

English PDFs drew curly quotes with the CJK font (full-width glyphs, a gap after “) and stranded the
"When to contact the care team" heading at the foot of page 1, its section overleaf. Here every page
is rendered to an image (kept in the test's folder) and read back through pdfium.
"""

from __future__ import annotations

import ctypes
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from support.assessments import make_assessment, make_window

from gateway.pipeline.summary import summarise
from plugins.caregiver_summary import CaregiverSettings
from plugins.caregiver_summary.content import Facts, for_assessment, for_period
from plugins.caregiver_summary.service import Summaries
from plugins.caregiver_summary.wording import word

pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extras")
import pypdfium2.raw as pdfium_c  # noqa: E402

AT = datetime(2026, 11, 23, 2, 5, tzinfo=UTC)
MADE = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
PROBABILITIES = {"none": (0.9, 0.08, 0.02), "mild": (0.2, 0.7, 0.1), "significant": (0.05, 0.15, 0.8)}


def _clip(levels: list[str | None], at: datetime = AT, n: int = 1, **review: str) -> object:
    windows = [make_window(i, level=lvl, probabilities=PROBABILITIES[lvl] if lvl else None) for i, lvl in enumerate(levels)]
    seconds = len(levels)
    a = make_assessment(id=f"layout-{n}", start=at, seconds=seconds, windows=windows, summary=summarise(windows), frames=seconds * 30)
    return msgspec.structs.replace(a, **review) if review else a


def _cases() -> dict[str, Facts]:
    day = AT - timedelta(hours=20)
    checks = [_clip(["none", "mild", "significant"][n % 3 : n % 3 + 1] * 4, day + timedelta(minutes=37 * n), n) for n in range(30)]
    return {
        "unreviewed-none": for_assessment(_clip(["none"] * 5)),
        "changed-to-significant": for_assessment(_clip(["none"] * 3, clinical_status="amended", clinician_level="significant")),
        "gaps-and-pain": for_assessment(_clip(["mild", None, "significant", "significant", None, "mild", "none"] * 4)),
        "a-day-of-checks": for_period(checks, day, day + timedelta(hours=24), 30),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def summaries() -> Summaries:
    return Summaries.from_settings(CaregiverSettings(), "http://127.0.0.1:8000")


def _font_of(textpage: object, index: int) -> str:
    buffer, flags = ctypes.create_string_buffer(256), ctypes.c_int()
    pdfium_c.FPDFText_GetFontInfo(textpage.raw, index, buffer, 256, ctypes.byref(flags))  # type: ignore[attr-defined]
    return buffer.value.decode()


def _ink_below(image: object, left: float, top_px: float, height_px: float, width_px: float) -> float:
    """Share of dark pixels in the band under a heading (where its section's first lines must be)."""
    grey = image.convert("L")  # type: ignore[attr-defined]
    band = grey.crop((int(left), int(top_px), int(left + width_px), int(top_px + height_px)))
    pixels = list(band.getdata())
    return sum(p < 160 for p in pixels) / max(len(pixels), 1)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_heading_is_left_at_a_page_foot_and_its_section_starts_under_it(summaries, lang, case, tmp_path):
    facts = CASES[case]
    w = word(facts, summaries.language(lang), summaries.zone("Asia/Shanghai"), MADE)
    headings = [w.observed_heading, w.time_heading, w.trend_heading, w.meaning_heading, w.not_meaning_heading, w.contact_heading]
    document = pdfium.PdfDocument(summaries.render(facts, lang, "pdf", MADE, "Asia/Shanghai").content)
    seen: list[str] = []
    for number, page in enumerate(document):
        scale = 2.0
        image = page.render(scale=scale).to_pil()
        image.save(tmp_path / f"caregiver-{lang}-{case}-page{number + 1}.png")  # the artefact a reviewer opens
        textpage = page.get_textpage()
        lines = [line.strip() for line in textpage.get_text_range().replace("\r", "").split("\n") if line.strip()]
        body = lines[:-1]  # the last line is the footer (model, version, page n/m)
        assert body and body[-1] not in headings, (lang, case, number + 1, body[-3:])
        height = page.get_height()
        for heading in headings:
            searcher = textpage.search(heading, match_case=True, match_whole_word=False)
            found = searcher.get_next()
            if found is None:
                continue
            seen.append(heading)
            left, bottom, right, top = textpage.get_charbox(found[0])
            below_px = (height - bottom) * scale + 12 * scale  # under the heading and its rule
            assert _ink_below(image, left * scale, below_px, 28 * scale, 300 * scale) > 0.004, (lang, case, heading, number + 1)
    assert sorted(seen) == sorted(headings), (lang, case)  # every heading drawn once, each with its section under it


@pytest.mark.parametrize("case", ["changed-to-significant", "a-day-of-checks"])
def test_english_quotes_and_apostrophes_are_latin_glyphs_and_chinese_stays_cjk(summaries, case):
    facts = CASES[case]
    for lang, expected in (("en", "DejaVuSans"), ("zh", "NotoSansCJK")):
        document = pdfium.PdfDocument(summaries.render(facts, lang, "pdf", MADE).content)
        checked = 0
        for page in document:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            for index, char in enumerate(text):
                if char in "“”’" or (lang == "zh" and char == "疼"):
                    assert expected in _font_of(textpage, index), (lang, char, _font_of(textpage, index))
                    checked += 1
        assert checked, (lang, case)  # the case does hold a quote (or, in Chinese, the word for pain)
