"""The review UI's colours meet WCAG 2.1 AA contrast (4.5:1 for text) in every pairing the CSS uses."""

from __future__ import annotations

import re

import pytest

from gateway.web.ui import STATIC

CSS = (STATIC / "ui.css").read_text()
VARIABLES = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-f]{6})", CSS))


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


PAIRS = [
    ("#ffffff", VARIABLES["none"]),
    ("#ffffff", VARIABLES["mild"]),
    ("#ffffff", VARIABLES["significant"]),
    ("#ffffff", "#5f6b7a"),
    (VARIABLES["muted"], VARIABLES["bg"]),
    (VARIABLES["muted"], VARIABLES["card"]),
    (VARIABLES["accent"], VARIABLES["card"]),
    (VARIABLES["ink"], VARIABLES["bg"]),
    ("#ffffff", "#14213d"),
    ("#3d2600", "#fff4e5"),
    ("#8c1d18", "#fdecea"),
    ("#1e4620", "#edf7ed"),
    (VARIABLES["accent"], "#eef4fb"),  # a link in a worklist row under the finger (hover, focus within)
    (VARIABLES["ink"], "#eef1f5"),  # the sign-in page's command, table headers
]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_is_readable(text, background):
    assert text in CSS and background in CSS, "a pairing the stylesheet no longer uses"
    assert contrast(text, background) >= 4.5, (text, background, round(contrast(text, background), 2))
