"""Pain over time in Debian's headless Chromium at 820 px, on a live ``pain-gateway serve`` whose own delivery
jobs evaluate the alert rules: the worklist lists the open alert first, then the overdue reassessment, then
unreviewed significant results, with the count in the title; the patient page shows the chart, the
intervention and the open alert, and nothing on either page scrolls sideways or is under 12 px.
Screenshots are kept in ``var/test-artifacts/tablet-820/``."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from support.browser import ARGS, CHROMIUM, fits, playwright_or_skip
from support.gateway import tokens_for
from support.pain_alerts import MINUTE, scored, store
from support.serve import ROOT, live_gateway

from gateway.contract.domain import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine

ARTIFACTS = ROOT / "var" / "test-artifacts" / "tablet-820"
UPRIGHT = {"width": 820, "height": 1180}
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
ALERT, QUIET = PatientRef(system=SYSTEM, value="MRN-ALERT-UI"), PatientRef(system=SYSTEM, value="MRN-QUIET-UI")


def _store(url: str, *assessments) -> None:
    async def run():
        engine = create_engine(url)
        try:
            settings = Settings(database_url=url, plugins={"pain_alerts": {"enabled": True}})
            flow = AssessmentFlow(build_plugins(settings, environ={}), engine, RowsAreTheQueue())
            for a in assessments:
                await store(flow, a)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_the_patient_page_and_the_worklist_by_urgency_at_820_px(tmp_path):
    sync_api = playwright_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_gateway(tmp_path, {"PAIN_GATEWAY_PLUGIN_PAIN_ALERTS_ENABLED": "true"}, start_s=180) as gateway:
        url = gateway.env["PAIN_GATEWAY_DATABASE_URL"]
        tokens = tokens_for(url, "default")
        recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        _store(url, *(scored(recent + m * MINUTE, "significant", ALERT) for m in (0, 6, 12)), scored(recent + 20 * MINUTE, None, ALERT))
        _store(url, scored(recent + 5 * MINUTE, "significant", QUIET))
        with httpx.Client(base_url=gateway.origin, headers=tokens["clinician"], timeout=60) as http:
            deadline = time.monotonic() + 120  # the served gateway's delivery jobs evaluate: a bounded wait
            while not http.get("/v1/patients/alerts").json()["episodes"]:
                assert time.monotonic() < deadline, "no alert opened"
                time.sleep(0.5)
            body = {
                "patient": f"{SYSTEM}|{ALERT.value}",
                "kind": "analgesic",
                "route": "oral",
                "description": "paracetamol 1 g",
                "given_at": (recent + 13 * MINUTE).isoformat(),
            }
            assert http.post("/v1/patients/interventions", json=body).status_code == 201
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport=UPRIGHT)
                page.goto(f"{gateway.origin}/ui/worklist")
                page.fill("#token", tokens["clinician"]["Authorization"].split(" ", 1)[1])
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{gateway.origin}/ui/worklist")
                assert page.title().startswith("(4) Worklist"), page.title()
                items = page.locator(".urgent-list li")
                assert items.count() == 4
                classes = [items.nth(i).get_attribute("class") for i in range(4)]
                assert classes == ["urgent-open-alert", "urgent-overdue-reassessment", "urgent-unreviewed-significant", "urgent-unreviewed-significant"]
                assert items.first.is_visible() and "MRN-ALERT-UI" in items.first.inner_text()
                fits(page)
                page.screenshot(path=str(ARTIFACTS / "pain-worklist.png"), full_page=True)

                items.first.get_by_role("link").click()
                page.wait_for_url("**/ui/patients?**")
                section = page.locator("#pain-over-time")
                chart = section.locator("svg")
                chart.scroll_into_view_if_needed()
                assert chart.is_visible() and chart.bounding_box()["width"] > 500
                assert section.locator(".mark-ai").count() == 3 and section.locator(".mark-gap").count() == 1
                assert section.get_by_role("alert").is_visible() and "AI-derived" in section.get_by_role("alert").inner_text()
                assert section.locator("li", has_text="paracetamol 1 g").is_visible()
                assert section.get_by_text("Reassessment overdue").is_visible()
                fits(page)
                page.screenshot(path=str(ARTIFACTS / "pain-patient.png"), full_page=True)
            finally:
                browser.close()
