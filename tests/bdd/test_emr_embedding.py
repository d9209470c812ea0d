"""Steps for the EMR embedding story (tests/features/emr_embedding.feature): the CDS Hooks service with a
key the story generates, and the SMART launch's first refusal (the harness tests drive the whole launch
with the reference launcher and sandbox: tests/integration/test_smart_launcher.py, test_cds_sandbox.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from joserfc.jwk import ECKey
from pytest_bdd import given, parsers, scenarios, then, when
from support.assessments import make_assessment
from support.cds import cds_errors, cds_jwt

from gateway.contract.domain import PatientRef
from gateway.storage.assessments import AssessmentStore
from gateway.storage.engine import create_engine

scenarios("emr_embedding.feature")

MRN = "urn:oid:1.2.36.146.595.217.0.1"
BASE = "http://gateway.test"
SERVICE = "/cds-services/pain-gateway-latest-pain"


@given(parsers.parse('the EMR "{iss}" is registered as a CDS client and SMART issuer of tenant "{tenant}"'))
def registered(story, gateway_for, iss, tenant):
    story["key"], story["iss"] = ECKey.generate_key("P-384", auto_kid=True), iss
    jwks = json.dumps({"keys": [story["key"].as_dict(private=False) | {"kid": story["key"].kid}]})
    story["gateway"] = gateway_for(
        core={"public_url": BASE},
        cds_hooks={"clients": [{"iss": iss, "tenant": tenant, "jwks": jwks, "identifier_systems": [MRN]}]},
        smart_launch={"issuers": [{"iss": f"{iss}/fhir", "client_id": "pain-gateway", "tenant": tenant, "identifier_systems": [MRN]}]},
    )


@given(parsers.parse('patient "{value}" of tenant "{tenant}" was assessed as "{level}" an hour ago'))
def assessed(sqlite_url, value, tenant, level):
    async def add():
        engine = create_engine(sqlite_url)
        try:
            start = datetime.now(UTC) - timedelta(hours=1)
            await AssessmentStore(engine).add(
                make_assessment(id=str(uuid.uuid4()), tenant=tenant, patient=PatientRef(system=MRN, value=value), start=start, level=level)
            )
        finally:
            await engine.dispose()

    asyncio.run(add())


@when(parsers.parse('the EMR calls the service for its patient with "{value}", signed with its key'))
def call(story, value):
    patient = {"resourceType": "Patient", "id": "chart-1", "identifier": [{"system": MRN, "value": value}]}
    story["body"] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": "chart-1", "userId": "Practitioner/1"},
        "prefetch": {"patient": patient},
    }
    story["jwt"] = cds_jwt(story["key"], iss=story["iss"], aud=BASE + SERVICE)
    story["answer"] = story["gateway"].client.post(SERVICE, json=story["body"], headers={"Authorization": f"Bearer {story['jwt']}"})


@when("the EMR sends the same call with the same JWT again")
def replay(story):
    story["replayed"] = story["gateway"].client.post(SERVICE, json=story["body"], headers={"Authorization": f"Bearer {story['jwt']}"})


@when(parsers.parse('a browser opens the app\'s launch URL from "{iss}"'))
def launch(story, iss):
    story["page"] = story["gateway"].client.get("/ui/smart/launch", params={"iss": iss, "launch": "abc"}, follow_redirects=False)


@then(parsers.parse('the answer is a "{indicator}" card saying "{summary}"'))
def a_card(story, indicator, summary):
    assert story["answer"].status_code == 200, story["answer"].text
    (card,) = story["answer"].json()["cards"]
    assert card["indicator"] == indicator and card["summary"].startswith(summary)
    story["card"] = card


@then("the card says the model is synthetic-trained decision support and links to the SMART app")
def honest(story):
    card = story["card"]
    assert "synthetic-trained" in card["source"]["label"] and "Decision support only" in card["detail"] and "not clinically validated" in card["detail"]
    assert card["links"][0]["type"] == "smart" and card["links"][0]["url"] == f"{BASE}/ui/smart/launch"


@then("the answer is valid CDS Hooks 2.0")
def valid(story):
    assert cds_errors("response", story["answer"].json()) == []


@then(parsers.parse('the second call is refused with 401 naming "{field}"'))
def refused(story, field):
    assert story["answer"].status_code == 200
    assert story["replayed"].status_code == 401 and story["replayed"].json()["field"] == field


@then(parsers.parse('the page says the launch was refused naming "{what}" and no session is opened'))
def launch_refused(story, what):
    page = story["page"]
    assert page.status_code == 403 and f"<strong>{what}</strong>" in page.text and "is not an EMR registered with this gateway" in page.text
    assert "pgw_session" not in page.headers.get("set-cookie", "")
