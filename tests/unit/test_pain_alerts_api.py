"""Pain over time through the API of a running app: the trajectory with other plugins' entries,
interventions and their reassessment, alerts opened and closed by the app's own delivery jobs,
acknowledgement, live windows, and bad input answered 4xx naming the field."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from support.assessments import make_model
from support.gateway import tokens_for
from support.pain_alerts import MINUTE, scored, store

from gateway import LiveWindow, Probabilities, TrajectoryEntry, hookimpl
from gateway.contract.domain import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade
from gateway.web.app import create_app

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=3)
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
PATIENT = PatientRef(system=SYSTEM, value="MRN-TRAJ-1")
PATIENT_Q = f"{SYSTEM}|MRN-TRAJ-1"


class NrsScores:
    """A reference-scale source, as helper plugins add them."""

    name = "nrs"

    async def entries(self, tenant, patient, since, until, engine):
        at = T0 + 3 * MINUTE
        if tenant != "default" or patient.value != PATIENT.value or not since <= at < until:
            return []
        return [TrajectoryEntry(id="nrs-1", at=at, kind="reference-scale", label="NRS 7/10", source=self.name, value=7.0, unit="{score}")]


class Broken:
    name = "broken"

    async def entries(self, tenant, patient, since, until, engine):
        raise RuntimeError("scale table missing")


class ScalesPlugin:
    @hookimpl
    def register_trajectory_sources(self, register, settings):
        register(NrsScores())
        register(Broken())


class Ward:
    def __init__(self, client: TestClient, tokens, flow_url: str, plugins) -> None:
        self.client, self.tokens, self.url, self.plugins = client, tokens, flow_url, plugins

    def h(self, role: str = "clinician", tenant: str = "default") -> dict[str, str]:
        return self.tokens[tenant][role]

    def store(self, *assessments) -> None:
        async def run():
            engine = create_engine(self.url)
            try:
                flow = AssessmentFlow(self.plugins, engine, RowsAreTheQueue())
                for a in assessments:
                    await store(flow, a)
            finally:
                await engine.dispose()

        asyncio.run(run())

    def alerts(self, **params) -> list[dict]:
        response = self.client.get("/v1/patients/alerts", params=params, headers=self.h())
        assert response.status_code == 200, response.text
        return response.json()["episodes"]

    def trajectory(self, **params) -> dict:
        response = self.client.get("/v1/patients/trajectory", params={"patient": PATIENT_Q} | params, headers=self.h())
        assert response.status_code == 200, response.text
        return response.json()

    def evaluated(self, assessment_id: str) -> bool:
        response = self.client.get("/v1/deliveries", params={"assessment_id": assessment_id, "destination": "pain_alerts"}, headers=self.h("integrator"))
        return [d["status"] for d in response.json()["items"]] == ["delivered"]

    def until(self, what, timeout_s: float = 30.0):
        """Waits (bounded) for the app's delivery jobs to evaluate; not a timing assertion."""
        deadline = time.monotonic() + timeout_s
        while not (value := what()):
            assert time.monotonic() < deadline, "the app's delivery jobs did not evaluate in time"
            time.sleep(0.2)
        return value


@pytest.fixture
def ward(sqlite_url, tmp_path) -> Iterator[Ward]:
    settings = Settings(
        database_url=sqlite_url, data_dir=str(tmp_path / "data"), delivery_retry_schedule_s=[1.0, 2.0], plugins={"pain_alerts": {"enabled": True}}
    )
    plugins = build_plugins(settings, extra=[("scales", ScalesPlugin())], environ={})
    upgrade(sqlite_url, plugins.migrations)
    tokens = {tenant: tokens_for(sqlite_url, tenant) for tenant in ("default", "other")}
    with TestClient(create_app(settings, plugins)) as client:
        yield Ward(client, tokens, sqlite_url, plugins)


def test_hook_register_trajectory_sources(ward):
    """The trajectory places other plugins' entries in time order with the assessments, says which source
    failed, aggregates per hour, and treats another tenant's patient as none."""
    ward.store(scored(T0, "mild", PATIENT), scored(T0 + 5 * MINUTE, None, PATIENT))
    body = ward.trajectory(since=(T0 - timedelta(hours=1)).isoformat(), until=NOW.isoformat())
    assert [p["ai_level"] for p in body["points"]] == ["mild", None], "an unscorable check stays a gap, never interpolated"
    assert [e["label"] for e in body["entries"]] == ["NRS 7/10"] and body["sources_failed"] == ["broken"]
    hour = body["hours"][0]
    assert hour["seconds"]["mild"] == 5.0 and hour["unscorable_seconds"] == 5.0 and hour["checks"] == 2 and hour["worst"] == "mild"
    assert "synthetic" in body["disclaimer"]
    other = ward.client.get("/v1/patients/trajectory", params={"patient": PATIENT_Q}, headers=ward.h(tenant="other"))
    unknown = ward.client.get("/v1/patients/trajectory", params={"patient": f"{SYSTEM}|NOBODY"}, headers=ward.h())
    assert other.status_code == unknown.status_code == 404 and other.json()["detail"] == unknown.json()["detail"]
    too_long = ward.client.get("/v1/patients/trajectory", params={"patient": PATIENT_Q, "since": (NOW - timedelta(days=32)).isoformat()}, headers=ward.h())
    assert too_long.status_code == 422 and "since" in too_long.text and "31 days" in too_long.text


def test_an_analgesic_then_a_lower_reassessment_resolves_the_alert_and_states_the_drop(ward):
    ward.store(*(scored(T0 + m * MINUTE, "significant", PATIENT) for m in (0, 6, 12)))
    [episode] = ward.until(lambda: ward.alerts(patient=PATIENT_Q))
    assert episode["rule"] == "sustained" and episode["ai_derived"] is True
    given = T0 + 13 * MINUTE
    body = {"patient": PATIENT_Q, "kind": "analgesic", "route": "parenteral", "description": "morphine 2 mg IV", "given_at": given.isoformat()}
    recorded = ward.client.post("/v1/patients/interventions", json=body, headers=ward.h())
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["due_at"] == (given + 30 * MINUTE).isoformat().replace("+00:00", "Z")
    reassessment = scored(given + 30 * MINUTE, "none", PATIENT)
    ward.store(reassessment)
    ward.until(lambda: not ward.alerts(patient=PATIENT_Q))
    body = ward.trajectory(since=(T0 - MINUTE).isoformat())
    [intervention] = body["interventions"]
    assert intervention["outcome"] == "fell" and intervention["after_id"] == reassessment.id and intervention["before_id"]
    [closed] = body["episodes"]
    assert closed["status"] == "resolved" and closed["closed_reason"].startswith("condition reset")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"given_at": (NOW + timedelta(hours=1)).isoformat()}, "given_at"),
        ({"given_at": "1999-12-31T23:00:00Z"}, "given_at"),
        ({"kind": "prayer"}, "kind"),
        ({"given_at": "2026-11-23T10:00:00"}, "given_at"),
        ({"description": ""}, "description"),
    ],
)
def test_a_bad_intervention_is_refused_naming_the_field(ward, change, field):
    ward.store(scored(T0, "mild", PATIENT))
    body = {"patient": PATIENT_Q, "kind": "analgesic", "description": "paracetamol 1 g oral", "given_at": T0.isoformat()} | change
    response = ward.client.post("/v1/patients/interventions", json=body, headers=ward.h())
    assert response.status_code == 422 and field in response.text, response.text


def test_an_intervention_for_another_tenants_patient_is_as_for_nobody(ward):
    ward.store(scored(T0, "mild", PATIENT))
    body = {"patient": PATIENT_Q, "kind": "non-drug", "description": "repositioned", "given_at": T0.isoformat()}
    response = ward.client.post("/v1/patients/interventions", json=body, headers=ward.h(tenant="other"))
    assert response.status_code == 404 and "patient" in response.json()["detail"]


def test_an_acknowledged_alert_closes_with_its_reason_and_the_same_run_does_not_alert_again(ward):
    ward.store(*(scored(T0 + m * MINUTE, "significant", PATIENT) for m in (0, 6, 12)))
    [episode] = ward.until(lambda: ward.alerts(patient=PATIENT_Q))
    bad = ward.client.post(f"/v1/patients/alerts/{episode['id']}/acknowledge", json={"reason": " "}, headers=ward.h())
    assert bad.status_code == 422 and "reason" in bad.text
    foreign = ward.client.post(f"/v1/patients/alerts/{episode['id']}/acknowledge", json={"reason": "seen"}, headers=ward.h(tenant="other"))
    assert foreign.status_code == 404
    done = ward.client.post(f"/v1/patients/alerts/{episode['id']}/acknowledge", json={"reason": "seen at the bedside"}, headers=ward.h())
    assert done.status_code == 200 and done.json()["status"] == "resolved" and "seen at the bedside" in done.json()["closed_reason"]
    later = scored(T0 + 14 * MINUTE, "significant", PATIENT)
    ward.store(later)  # the same run goes on: no second alert
    ward.until(lambda: ward.evaluated(later.id))
    assert ward.alerts(patient=PATIENT_Q) == []


def test_hook_register_live_observers(ward):
    """Significant held for the rule's minutes in one live session opens one alert at once, and says so once."""
    model = make_model()
    p = Probabilities(0.05, 0.1, 0.85)
    notices = []

    async def run():
        engine = create_engine(ward.url)
        try:
            flow = AssessmentFlow(ward.plugins, engine, RowsAreTheQueue())
            for second in range(0, 10 * 60 + 2, 1):
                start = T0 + timedelta(seconds=second)
                window = LiveWindow(
                    session_id="live-1",
                    tenant="default",
                    patient=PATIENT,
                    start=start,
                    end=start + timedelta(seconds=1),
                    level="significant",
                    probabilities=p,
                    model=model,
                )
                notices.extend(await ward.plugins.live_window_scored(window, flow))
        finally:
            await engine.dispose()

    asyncio.run(run())
    assert len(notices) == 1 and "AI-derived" in notices[0]
    [episode] = ward.alerts(patient=PATIENT_Q)
    assert episode["rule"] == "sustained" and "live session" in episode["detail"]


def test_hook_register_worklist_priorities(ward):
    """Open alerts, then overdue reassessments, each with its badge and the patient page's link."""
    ward.store(*(scored(T0 + m * MINUTE, "significant", PATIENT) for m in (0, 6, 12)))
    ward.until(lambda: ward.alerts(patient=PATIENT_Q))
    late = PatientRef(system=SYSTEM, value="MRN-LATE")
    ward.store(scored(T0, "mild", late))
    body = {"patient": f"{SYSTEM}|MRN-LATE", "kind": "analgesic", "route": "oral", "description": "paracetamol 1 g", "given_at": (T0 + MINUTE).isoformat()}
    assert ward.client.post("/v1/patients/interventions", json=body, headers=ward.h()).status_code == 201

    async def urgent():
        engine = create_engine(ward.url)
        try:
            return [u for p in ward.plugins.worklist_priorities for u in await p.urgent("default", datetime.now(UTC), engine)]
        finally:
            await engine.dispose()

    alert, overdue = asyncio.run(urgent())
    assert (alert.reason, alert.patient) == ("open-alert", PATIENT) and "AI-derived" in alert.badge
    assert (overdue.reason, overdue.patient.value) == ("overdue-reassessment", "MRN-LATE") and "overdue by" in overdue.badge
    assert alert.href == "/ui/patients?patient=urn%3Aoid%3A1.2.36.146.595.217.0.1%7CMRN-TRAJ-1"

    async def other_tenant():
        engine = create_engine(ward.url)
        try:
            return [u for p in ward.plugins.worklist_priorities for u in await p.urgent("other", datetime.now(UTC), engine)]
        finally:
            await engine.dispose()

    assert asyncio.run(other_tenant()) == []


def test_the_patient_page_charts_the_trajectory_and_the_worklist_puts_the_alert_first(ward):
    from support.ui import sign_in

    recent = NOW - timedelta(hours=2)
    ward.store(*(scored(recent + m * MINUTE, "significant", PATIENT) for m in (0, 6, 12)), scored(recent + 20 * MINUTE, None, PATIENT))
    ward.until(lambda: ward.alerts(patient=PATIENT_Q))
    quiet = PatientRef(system=SYSTEM, value="MRN-QUIET")
    ward.store(scored(recent, "significant", quiet))  # unreviewed significant: after the alert
    body = {"patient": PATIENT_Q, "kind": "analgesic", "route": "oral", "description": "paracetamol 1 g", "given_at": (recent + 13 * MINUTE).isoformat()}
    assert ward.client.post("/v1/patients/interventions", json=body, headers=ward.h()).status_code == 201
    sign_in(ward.client, ward.tokens["default"]["clinician"]["Authorization"].removeprefix("Bearer "))
    page = ward.client.get("/ui/patients", params={"patient": PATIENT_Q})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="pain-over-time"' in html and "Open alert (AI-derived decision support)" in html
    assert html.count('class="mark-ai"') == 3 and html.count('class="mark-gap"') == 1 and "<polyline" not in html and '<path class="mark-ai' not in html
    assert "paracetamol 1 g" in html and "Reassessment" in html
    worklist = ward.client.get("/ui/worklist").text
    title = worklist.split("<title>")[1].split("</title>")[0]
    assert title.startswith("(4) Worklist"), title  # the alert, the overdue oral reassessment, two unreviewed significant results
    urgent = worklist.split('id="urgent-title"')[1].split("</ol>")[0]
    reasons = [part.split('"')[0] for part in urgent.split('<li class="urgent-')[1:]]
    assert reasons == ["open-alert", "overdue-reassessment", "unreviewed-significant", "unreviewed-significant"]
    assert urgent.index("MRN-TRAJ-1") < urgent.index("MRN-QUIET") and "Alert (AI-derived)" in urgent
