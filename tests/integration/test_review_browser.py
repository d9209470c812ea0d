"""A clinician reviews an assessment in a real browser and the EMR receives the amended Observation.

Debian's headless Chromium (``/usr/bin/chromium``, driven by Playwright; ``playwright install`` is never
needed) on a live ``pain-gateway serve`` that delivers to a real FHIR server (the ``emr`` fixture):
sign in with the keyboard, open the worklist, open the assessment, see the charts and the heatmap,
override the AI's level, see the history; then the EMR holds the Observation, amended, with the
clinician's value and the AI's original one traceable. Screenshots are kept in
``var/test-artifacts/review-ui/``; no request leaves the gateway.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from support.ci import service_missing
from support.serve import CLI, ROOT, live_gateway

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "review-ui"
MRN = "MRN-UI-1"
UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML)"""
"""Form controls a screen reader could not name."""


def token(gateway, role: str) -> str:
    """Created as an administrator does, with the CLI on the gateway's database."""
    command = [str(CLI), "tokens", "create", "--name", f"ui-{role}", "--role", role]
    return subprocess.run(command, env=gateway.env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def wait_delivered(http: httpx.Client, assessment_id: str, event: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        items = http.get("/v1/deliveries", params={"assessment_id": assessment_id}).json()["items"]
        if any(d["event_type"] == event and d["destination"] == "fhir" and d["status"] == "delivered" for d in items):
            return
        assert time.monotonic() < deadline, items
        time.sleep(0.3)


def test_a_clinician_overrides_in_chromium_and_the_emr_gets_the_amended_observation(emr, tmp_path, keypoints_json):
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is missing (Debian package 'chromium')", ".ci/run installs it: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_gateway(tmp_path, {"PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL": emr.base}, start_s=120) as gateway:  # a wait, not a speed claim
        integrator, clinician = token(gateway, "integrator"), token(gateway, "clinician")
        with httpx.Client(base_url=gateway.origin, headers={"Authorization": f"Bearer {integrator}"}, timeout=60) as http:
            body = keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": MRN}})
            created = http.post("/v1/assessments", json=body)
            assert created.status_code == 201, created.text
            assessment = created.json()
            wait_delivered(http, assessment["id"], "assessment.completed")
            ai_level = assessment["summary"]["level"]
            observed = "significant" if ai_level != "significant" else "none"

            requested: list[str] = []
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1024, "height": 1366})  # a tablet, portrait
                    page.on("request", lambda request: requested.append(request.url))
                    page.goto(f"{gateway.origin}/ui/worklist")
                    assert page.url.startswith(f"{gateway.origin}/ui/sign-in")
                    assert page.evaluate(UNLABELLED) == []
                    page.get_by_label("Access token").focus()
                    page.keyboard.type(clinician)
                    page.keyboard.press("Enter")
                    page.wait_for_url(f"{gateway.origin}/ui/worklist")
                    row = page.get_by_role("row").filter(has_text=MRN)
                    assert row.count() == 1 and "needs review" in row.inner_text()
                    page.screenshot(path=str(ARTIFACTS / "1-worklist.png"), full_page=True)

                    row.locator("a.row-open").click()  # the row's link to the assessment (its patient cell links to the patient)
                    page.wait_for_url(f"{gateway.origin}/ui/assessments/{assessment['id']}")
                    assert page.locator("svg.chart").count() >= 3 and page.locator("svg.chart polyline").count() >= 3
                    heatmap = page.locator("svg.heatmap")  # drawn in the page at the size it is shown
                    heatmap.scroll_into_view_if_needed()
                    assert heatmap.locator("[data-region]").count() >= 7 and heatmap.bounding_box()["width"] > 300
                    assert "Not clinically validated" in page.inner_text("main")
                    assert page.evaluate(UNLABELLED) == [] and page.get_attribute("html", "lang") == "en"
                    page.screenshot(path=str(ARTIFACTS / "2-assessment.png"), full_page=True)

                    page.get_by_role("radio", name="Override").check()
                    page.get_by_label("Observed level (for an override)").select_option(observed)
                    page.get_by_label("Reason").select_option("patient-report")
                    page.get_by_label("Comment").fill("Patient reports NRS 8/10.")
                    page.get_by_role("button", name="Record review").click()
                    page.wait_for_url(f"{gateway.origin}/ui/assessments/{assessment['id']}?reviewed=1#history")
                    history = page.locator("ol.history").inner_text()
                    assert "override" in history and observed in history and f"AI: {ai_level}" in history and "NRS 8/10" in history
                    page.screenshot(path=str(ARTIFACTS / "3-reviewed.png"), full_page=True)
                finally:
                    browser.close()
            wait_delivered(http, assessment["id"], "assessment.reviewed")

    origins = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in requested if not u.startswith(("data:", "blob:"))}
    assert origins == {gateway.origin}, sorted(u for u in requested if not u.startswith(gateway.origin))
    [observation] = emr.observations(**{"subject:identifier": f"urn:oid:1.2.36.146.595.217.0.1|{MRN}"})
    assert observation["status"] == "amended", observation
    assert observation["meta"]["versionId"] != "1"
    text = str(observation)
    assert observed in text and ai_level in text  # the clinician's value, and the AI's original still traceable
    for shot in ("1-worklist.png", "2-assessment.png", "3-reviewed.png"):
        assert (ARTIFACTS / shot).read_bytes().startswith(b"\x89PNG")
