"""Reference scales in Debian's headless Chromium at 820 px on a live ``pain-gateway serve``: a nurse fills
the PAINAD form on the assessment page by keyboard alone (Tab between items, arrows and Space within
one, Enter to record), and the concordance page shows its reliability diagram, all fitting the tablet.

Screenshots are kept in ``var/test-artifacts/reference-scales-820/``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from support.browser import ARGS, CHROMIUM, fits, playwright_or_skip
from support.gateway import tokens_for
from support.serve import ROOT, live_gateway

ARTIFACTS = ROOT / "var" / "test-artifacts" / "reference-scales-820"
UPRIGHT = {"width": 820, "height": 1180}
START_S = 120
"""A wait for the server, not a speed claim."""
SYSTEM, VALUE = "urn:oid:1.2.36.146.595.217.0.1", "MRN-SCALES-UI"
KEYS = [
    ("breathing", ["ArrowRight"]),
    ("vocalisation", ["Space"]),
    ("facial_expression", ["ArrowRight", "ArrowRight"]),
    ("body_language", ["ArrowRight"]),
    ("consolability", ["Space"]),
]
"""Per PAINAD item, the keys that choose its score: 1, 0, 2, 1, 0 (total 4)."""


def test_a_nurse_records_painad_by_keyboard_and_the_concordance_page_shows_its_diagram(tmp_path, keypoints_json):
    sync_api = playwright_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_gateway(tmp_path, start_s=START_S) as gateway:
        tokens = tokens_for(gateway.env["PAIN_GATEWAY_DATABASE_URL"], "default")
        captured = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0).isoformat()
        body = keypoints_json(patient={"identifier": {"system": SYSTEM, "value": VALUE}}, captured_at=captured)
        with httpx.Client(base_url=gateway.origin, headers=tokens["integrator"], timeout=120) as http:
            created = http.post("/v1/assessments", json=body)
        assert created.status_code == 201, created.text
        assessment = created.json()["id"]
        clinician = tokens["clinician"]["Authorization"].split(" ", 1)[1]

        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport=UPRIGHT)
                page.goto(f"{gateway.origin}/ui/assessments/{assessment}")
                page.fill("#token", clinician)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{gateway.origin}/ui/assessments/{assessment}")

                # pick PAINAD with the keyboard: the scale list, its first letter, Tab to the button, Enter
                page.focus("#scale-choice")
                page.keyboard.press("p")
                page.keyboard.press("Tab")
                page.keyboard.press("Enter")
                page.wait_for_url("**scale=painad**")
                fits(page)
                page.screenshot(path=str(ARTIFACTS / "01-painad-form.png"), full_page=True)

                # Tab from the picker's button into the form: each item is one stop, arrows or Space choose
                page.focus(".scale-picker button")
                for key, presses in KEYS:
                    page.keyboard.press("Tab")
                    assert page.evaluate("document.activeElement.name") == f"item_{key}"
                    for press in presses:
                        page.keyboard.press(press)
                chosen = {key: page.eval_on_selector(f'input[name="item_{key}"]:checked', "e => e.value") for key, _ in KEYS}
                assert chosen == {"breathing": "1", "vocalisation": "0", "facial_expression": "2", "body_language": "1", "consolability": "0"}
                for field in ("observed_at", "assessor"):
                    page.keyboard.press("Tab")
                    assert page.evaluate("document.activeElement.name") == field
                page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.textContent").strip() == "Record PAINAD score"
                page.keyboard.press("Enter")
                page.wait_for_url("**recorded=**")
                assert "Recorded: painad total 4 (moderate), mapped to significant" in page.content()
                fits(page)

                page.goto(f"{gateway.origin}/ui/concordance")
                diagram = page.locator("figure.reliability svg")
                assert diagram.is_visible() and diagram.bounding_box()["width"] <= UPRIGHT["width"]
                assert page.locator("figure.reliability rect.bin").count() >= 1
                assert "1 pairs" in page.content() and "Unreliable" in page.content()
                fits(page)
                page.screenshot(path=str(ARTIFACTS / "02-concordance.png"), full_page=True)
            finally:
                browser.close()
