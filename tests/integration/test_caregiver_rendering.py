"""Caregiver summaries as a person sees them: Debian's headless Chromium opens a share link (English and
Chinese), and the PDF's pages are turned into images (pypdfium2) with their text extracted.

Screenshots and page images stay in the test's tmp dir as artefacts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from support.ci import service_missing

from plugins.caregiver_summary.pdf import NO_LINE_START

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
