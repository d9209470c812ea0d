"""Caregiver summaries as a person sees them: Debian's headless Chromium opens a share link (English and
Chinese), and the PDF's pages are turned into images (pypdfium2) with their text extracted.

Screenshots and page images stay in the test's tmp dir as artefacts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from support.ci import service_missing

from plugins.caregiver_summary.pdf import BUNDLED_FONT, NO_LINE_START

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
ORIGIN = "http://gateway.test"
SECRET = "caregiver-share-secret-for-tests-0123456789"
TITLES = {"en": ("Pain check summary", "Pain level over time"), "zh": ("疼痛评估摘要", "疼痛等级随时间的变化")}


@pytest.fixture
def shared(gateway_for, keypoints_json):
    """A scored assessment and a share link per language (path only)."""
    gateway = gateway_for(caregiver_summary={"share_secret": SECRET})
    assessment = gateway.submit(keypoints_json()).json()
    links = {}
    for lang in TITLES:
        made = gateway.client.post(f"/v1/assessments/{assessment['id']}/caregiver-summary/share", json={"lang": lang}, headers=gateway.headers)
        assert made.status_code == 201, made.text
        links[lang] = made.json()["url"].removeprefix("http://127.0.0.1:8000")
    return gateway, assessment, links


def inked(png: Path) -> float:
    """Share of pixels that are not near-white: a blank or failed render is close to 0."""
    image = Image.open(png).convert("L")
    histogram = image.histogram()
    return sum(histogram[:230]) / (image.width * image.height)


def shape(ink: np.ndarray) -> np.ndarray:
    """A glyph's ink (True where dark), cropped to its bounds and scaled to 32 x 32, for comparing shapes."""
    rows, cols = np.nonzero(ink)
    assert rows.size, "no ink where the character is"
    cropped = Image.fromarray(ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.uint8) * 255)
    return np.asarray(cropped.resize((32, 32), Image.Resampling.BILINEAR)) >= 128


def reference_shape(char: str) -> np.ndarray:
    """``char`` as the bundled Noto Sans CJK SC draws it (PIL, FreeType), independently of the PDF."""
    font = ImageFont.truetype(str(BUNDLED_FONT), 96)
    image = Image.new("L", (160, 160), 255)
    ImageDraw.Draw(image).text((16, 8), char, font=font, fill=0)
    return shape(np.asarray(image) < 128)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def drawn_shapes(pdf: bytes, text: str, scale: float = 4.0) -> list[np.ndarray]:
    """The shapes the PDF draws for ``text`` (the first page holding it), each cut from a rendering of the
    page at the character's box: what a reader sees, not what the text layer claims."""
    import pypdfium2 as pdfium

    for page in pdfium.PdfDocument(pdf):
        textpage = page.get_textpage()
        found = textpage.get_text_range().find(text)
        if found < 0:
            continue
        pixels = np.asarray(page.render(scale=scale, grayscale=True).to_pil().convert("L")) < 128
        height = page.get_height()
        shapes = []
        for index in range(found, found + len(text)):
            left, bottom, right, top = textpage.get_charbox(index)
            box = pixels[int((height - top) * scale) - 2 : int((height - bottom) * scale) + 3, int(left * scale) - 2 : int(right * scale) + 3]
            shapes.append(shape(box))
        return shapes
    raise AssertionError(f"{text!r} is on no page of the PDF")


def assert_drawn_as_chinese(pdf: bytes, text: str) -> None:
    """Each character of ``text`` is drawn as its own glyph: nearest, of all of ``text``'s characters, to the
    bundled font's drawing of that very character. Missing-glyph boxes (all alike) or dropped characters fail."""
    drawn, references = drawn_shapes(pdf, text), [reference_shape(char) for char in text]
    for char, seen in zip(text, drawn, strict=True):
        scores = {other: similarity(seen, reference) for other, reference in zip(text, references, strict=True)}
        assert max(scores, key=scores.get) == char and scores[char] > 0.6, (char, scores)


def test_a_caregiver_opens_the_shared_summary_in_chromium(shared, tmp_path):
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is missing (Debian package 'chromium')", ".ci/run installs it: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    gateway, _, links = shared
    requested: list[str] = []

    def through_the_gateway(route):
        """The browser's requests answered by the app under test; anything off-origin is recorded and refused."""
        url = route.request.url
        requested.append(url)
        if not url.startswith(ORIGIN):
            route.abort()
            return
        response = gateway.client.get(url.removeprefix(ORIGIN))
        route.fulfill(status=response.status_code, headers=dict(response.headers), body=response.content)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for lang, (title, chart) in TITLES.items():
                page = browser.new_page(viewport={"width": 820, "height": 1100})
                page.route("**/*", through_the_gateway)
                page.goto(ORIGIN + links[lang])
                assert page.locator("h1").inner_text() == title
                assert page.get_attribute("html", "lang").startswith(lang)
                assert page.get_by_role("img", name=chart).count() == 1  # the chart has an accessible name
                assert page.get_by_role("note").inner_text().strip() != ""  # the AI / synthetic-data notice
                page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.tagName") == "SUMMARY"  # the chart's table opens by keyboard
                screenshot = tmp_path / f"caregiver-summary-{lang}.png"
                page.screenshot(path=str(screenshot), full_page=True)
                assert inked(screenshot) > 0.03, lang
                page.emulate_media(media="print")
                assert page.evaluate("getComputedStyle(document.querySelector('summary')).display") == "none"  # printed: table shown, toggle hidden
                page.close()
        finally:
            browser.close()
    assert all(url.startswith(ORIGIN) for url in requested), [u for u in requested if not u.startswith(ORIGIN)]


@pytest.mark.parametrize("lang", sorted(TITLES))
def test_the_pdf_pages_render_and_their_text_is_extractable(shared, tmp_path, lang):
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extras")
    gateway, assessment, _ = shared
    response = gateway.client.get(f"/v1/assessments/{assessment['id']}/caregiver-summary", params={"lang": lang, "format": "pdf"}, headers=gateway.headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(response.content)
    assert 1 <= len(document) <= 4
    text = ""
    for number, page in enumerate(document):
        image = tmp_path / f"caregiver-summary-{lang}-page{number + 1}.png"
        page.render(scale=1.5).to_pil().save(image)
        assert inked(image) > 0.005, (lang, number)
        text += page.get_textpage().get_text_range()
    title, _ = TITLES[lang]
    assert title in text
    assert ("synthetic" in text) if lang == "en" else ("合成" in text and "未经临床研究验证" in text)
    assert ("Not yet reviewed" in text) if lang == "en" else ("尚未经临床医生审核" in text)
    assert not [line for line in text.splitlines() if line[:1] in NO_LINE_START]  # Chinese lines never start with a closing mark
    if lang == "zh":  # the text layer could say 疼痛 over missing-glyph boxes: compare the shapes drawn
        assert_drawn_as_chinese(response.content, title)


def latin_only(font: Path) -> None:
    """The bundled font cut down to ASCII, its .notdef box kept: an operator's font without Chinese."""
    from fontTools import subset

    options = subset.Options()
    options.notdef_outline = True
    loaded = subset.load_font(str(BUNDLED_FONT), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=range(0x20, 0x7F))
    subsetter.subset(loaded)
    subset.save_font(loaded, str(font), options)


def one_shape_for_all(font: Path) -> None:
    """The bundled font with every Chinese character of the title mapped to one glyph (as a font of boxes would)."""
    from fontTools.ttLib import TTFont

    loaded = TTFont(str(BUNDLED_FONT))
    for table in loaded["cmap"].tables:
        if table.isUnicode():
            box = table.cmap[ord(TITLES["zh"][0][0])]
            table.cmap.update({ord(char): box for char in TITLES["zh"][0]})
    loaded.save(str(font))


@pytest.mark.parametrize(("make_font", "caught"), [(latin_only, "is on no page"), (one_shape_for_all, "'痛'")])  # dropped; drawn alike
def test_the_glyph_comparison_catches_a_pdf_font_without_chinese_glyphs(gateway_for, keypoints_json, tmp_path, make_font, caught):
    pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extras")
    font = tmp_path / "font.ttf"
    make_font(font)
    gateway = gateway_for(caregiver_summary={"pdf_font": str(font)})  # PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_PDF_FONT
    assessment = gateway.submit(keypoints_json()).json()
    response = gateway.client.get(f"/v1/assessments/{assessment['id']}/caregiver-summary", params={"lang": "zh", "format": "pdf"}, headers=gateway.headers)
    assert response.status_code == 200
    with pytest.raises(AssertionError, match=caught):
        assert_drawn_as_chinese(response.content, TITLES["zh"][0])
