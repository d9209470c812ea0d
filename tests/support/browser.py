"""The review UI in a real browser: Debian's headless Chromium (``/usr/bin/chromium``) driven by Playwright
(``playwright install`` is never needed), and what the UI's browser tests measure on every page.

``launch_args`` keeps Chromium quiet (no network chatter of its own); ``playwright_or_skip()`` gives
``playwright.sync_api``, or skips off CI / fails under CI when Chromium is missing. ``layout(page)``
measures a page's sideways scrolling and its smallest text as a tablet shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.ci import service_missing

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
MIN_TEXT_PX = 12.0
"""The smallest text a tablet page may show, in CSS px, charts' and the heatmap's SVG text included."""

LAYOUT = f"""() => {{
  const scrollsSideways = (e) => e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const classes = (e) => (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ').join('.') : '');
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + classes(e);
  const visible = (e) => {{ const r = e.getBoundingClientRect(); return r.width > 1 && r.height > 1 && getComputedStyle(e).visibility !== 'hidden'; }};
  const textSize = (e) => {{
    const size = parseFloat(getComputedStyle(e).fontSize);
    if (!(e instanceof SVGElement)) return size;
    const m = e.getScreenCTM();
    return size * Math.hypot(m.a, m.b);  // the chart's scale (rotated axis labels included)
  }};
  const texts = [...document.querySelectorAll('body *')].filter((e) =>
    [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()) && visible(e) && !e.closest('.visually-hidden, title'));
  return {{
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    scrollers: [...document.querySelectorAll('body *')].filter((e) => scrollsSideways(e) && !e.closest('.model-card')).map(name),
    smallText: texts.map((e) => [name(e), e.textContent.trim().slice(0, 40), Math.round(textSize(e) * 10) / 10]).filter((t) => t[2] < {MIN_TEXT_PX}),
    svgTexts: document.querySelectorAll('svg text').length,
  }};
}}"""


def playwright_or_skip() -> Any:
    """``playwright.sync_api`` once Chromium is there (skipped off CI, a failure under CI, when it is not)."""
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is missing (Debian package 'chromium')", ".ci/run installs it: apt-get install -y chromium")
    return pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")


def layout(page: Any) -> dict[str, Any]:
    """The page as laid out now: its ``scrollWidth`` against the viewport's width, every element that
    scrolls sideways (tables in the full model card may), and every visible text under ``MIN_TEXT_PX``."""
    return page.evaluate(LAYOUT)


def problems(page: Any) -> list[str]:
    """What keeps the page from fitting: sideways scrolling (the page's or an element's), text under ``MIN_TEXT_PX``."""
    measured = layout(page)
    where = f"{page.url} at {measured['innerWidth']} px"
    found = []
    if measured["scrollWidth"] > measured["innerWidth"]:
        found.append(f"{where} scrolls sideways: {measured['scrollWidth']} px wide")
    if measured["scrollers"]:
        found.append(f"{where}: these scroll sideways: {measured['scrollers']}")
    if measured["smallText"]:
        found.append(f"{where}: text under {MIN_TEXT_PX} px: {measured['smallText'][:10]}")
    return found


def fits(page: Any) -> None:
    """Nothing on the page scrolls sideways and no text is smaller than ``MIN_TEXT_PX``."""
    assert not (found := problems(page)), found
