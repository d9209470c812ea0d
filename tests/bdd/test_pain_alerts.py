"""Steps for the pain alert story (tests/features/pain_alerts.feature): a real FHIR server (sekmet, strict
validation), a real webhook receiver and the Standard Webhooks reference verifier, the gateway's own
delivery jobs evaluating the rules. Assessments are stored with chosen levels (the bundled model scores
the one real face clip the same every time), through the same flow and ledger as a submission."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from pytest_bdd import given, parsers, scenarios, then, when
from standardwebhooks.webhooks import Webhook
from support.pain_alerts import MINUTE, scored, store
from support.ui import sign_in

from gateway.contract.domain import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine

scenarios("pain_alerts.feature")

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
EPISODE_SYSTEM = "urn:pain-gateway/pain-alert-episode"


def _wait(what, timeout_s: float = 60.0):
    """Bounded wait for the gateway's delivery jobs (not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not (value := what()):
        assert time.monotonic() < deadline, "nothing arrived in time"
        time.sleep(0.3)
    return value


def _store(story, *assessments) -> None:
    async def run():
        engine = create_engine(story["url"])
        try:
            flow = AssessmentFlow(story["plugins"], engine, RowsAreTheQueue())
            for a in assessments:
                await store(flow, a)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _search(emr, resource: str, **params) -> list[dict]:
    with emr.client() as client:
        response = client.get(resource, params=params)
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", [])]


@given("the EMR's FHIR server is the FHIR destination and a platform's receiver takes pain alert webhooks")
def configured(story, emr, receiver, gateway_for, sqlite_url):
    settings = {"fhir_delivery": {"base_url": emr.base}, "pain_alerts": {"enabled": True}}
    story["gateway"] = gateway_for(core={"webhook_allowlist": ["127.0.0.1"]}, **settings)
    story["url"] = sqlite_url
    story["plugins"] = build_plugins(Settings(database_url=sqlite_url, plugins=settings, webhook_allowlist=["127.0.0.1"]), environ={})
    story["headers"] = lambda role: {"Authorization": f"Bearer {story['gateway'].tokens[role]}"}
    response = story["gateway"].client.post(
        "/v1/webhook-endpoints",
        headers=story["headers"]("telehealth"),
        json={"url": receiver.url(), "events": ["pain_alert.opened", "pain_alert.resolved"], "description": "ward"},
    )
    assert response.status_code == 201, response.text
    story["endpoint"] = response.json()


@when(parsers.parse('patient "{value}" is scored significant in three consecutive assessments over 12 minutes'))
def three_significant(story, value):
    story["patient"] = PatientRef(system=SYSTEM, value=value)
    story["t0"] = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    story["significant"] = [scored(story["t0"] + m * MINUTE, "significant", story["patient"]) for m in (0, 6, 12)]
    _store(story, *story["significant"])


@then("one episode Observation and one active Flag for the patient land in the EMR's FHIR server")
def in_the_emr(story, emr):
    identifier = f"{SYSTEM}|{story['patient'].value}"
    flags = _wait(lambda: _search(emr, "Flag", **{"subject:identifier": identifier}))
    assert len(flags) == 1 and flags[0]["status"] == "active" and "end" not in flags[0]["period"]
    story["episode_id"] = flags[0]["identifier"][0]["value"]
    search = {"identifier": f"{EPISODE_SYSTEM}|{story['episode_id']}"}
    # checks are evaluated as their deliveries run, in any order: a check arriving late inside the run updates the episode
    [observation] = _wait(lambda: [o for o in _search(emr, "Observation", **search) if len(o.get("derivedFrom", [])) == 3])
    assert len(_search(emr, "Observation", **search)) == 1
    assert observation["meta"]["security"][0]["code"] == "AIAST"
    assert observation["effectivePeriod"]["start"] == story["t0"].isoformat()
    assert observation["component"][0]["valueQuantity"]["code"] == "min"
    story["flag_id"] = flags[0]["id"]


@then(parsers.parse('a "{event}" webhook arrives and verifies with the Standard Webhooks reference library'))
def opened_webhook(story, receiver, event):
    webhook = receiver.wait(1, timeout_s=60)[0]
    payload = Webhook(story["endpoint"]["secret"]).verify(webhook.body, webhook.headers)
    assert payload["type"] == event and payload["data"]["episode_id"] == story["episode_id"]
    assert payload["data"]["ai_asserted"] is True and "AI-derived" in payload["data"]["ai_derived"]
    summary = {k: v for k, v in payload["data"].items() if k != "resources"}
    assert story["patient"].value not in str(summary), "the summary names no patient (the FHIR resources do, as the core's webhooks do)"
    assert {r["resourceType"] for r in payload["data"]["resources"]} == {"Device", "Observation", "Flag"}
    story["opened_webhook_id"] = webhook.headers["webhook-id"]


@when("a nurse records an analgesic given after the third assessment")
def analgesic(story):
    story["given"] = story["t0"] + 13 * MINUTE
    body = {
        "patient": f"{SYSTEM}|{story['patient'].value}",
        "kind": "analgesic",
        "route": "parenteral",
        "description": "morphine 2 mg IV",
        "given_at": story["given"].isoformat(),
    }
    response = story["gateway"].client.post("/v1/patients/interventions", json=body, headers=story["headers"]("clinician"))
    assert response.status_code == 201, response.text


@when("the reassessment 30 minutes after the analgesic scores no pain")
def reassessment(story):
    story["reassessment"] = scored(story["given"] + 30 * MINUTE, "none", story["patient"])
    _store(story, story["reassessment"])


@then("the Flag in the EMR becomes inactive with its period end")
def inactive(story, emr):
    def closed():
        with emr.client() as client:
            flag = client.get(f"Flag/{story['flag_id']}").json()
        return flag if flag.get("status") == "inactive" else None

    flag = _wait(closed)
    assert flag["period"]["end"] >= flag["period"]["start"]
    assert len(_search(emr, "Flag", **{"subject:identifier": f"{SYSTEM}|{story['patient'].value}"})) == 1, "the same Flag, updated"


@then(parsers.parse('a "{event}" webhook arrives for the same episode'))
def resolved_webhook(story, receiver, event):
    webhooks = receiver.wait(2, timeout_s=60)
    assert [Webhook(story["endpoint"]["secret"]).verify(w.body, w.headers)["type"] for w in webhooks] == ["pain_alert.opened", event]
    payload = Webhook(story["endpoint"]["secret"]).verify(webhooks[-1].body, webhooks[-1].headers)
    assert payload["type"] == event and payload["data"]["episode_id"] == story["episode_id"]
    assert payload["data"]["status"] == "inactive" and payload["data"]["closed_reason"].startswith("condition reset")
    assert webhooks[-1].headers["webhook-id"] != story["opened_webhook_id"]


@then("the patient page shows the drop, with the two assessments it compares")
def patient_page(story):
    client = story["gateway"].client
    sign_in(client, story["gateway"].tokens["clinician"])
    html = client.get("/ui/patients", params={"patient": f"{SYSTEM}|{story['patient'].value}"}).text
    section = html.split('id="pain-over-time"')[1]
    assert "Pain <strong>fell</strong>" in section
    before, after = story["significant"][-1], story["reassessment"]
    assert f"{before.effective_start:%H:%M} significant" in section and f"{after.effective_start:%H:%M} none" in section
    assert "Open alert" not in section
