"""Vital signs in context from a real FHIR server (sekmet): seeded Observations of the R4 vital-sign
LOINC codes appear for the assessment captured within 30 minutes of them; with the server stopped the
answer says unavailable instead of failing, and a read once made is served from the cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from support.assessments import make_assessment

from gateway import PatientRef
from gateway.storage.assessments import AssessmentStore
from gateway.storage.engine import create_engine

SYSTEM, VALUE = "urn:oid:1.2.36.146.595.217.0.1", "MRN-VITALS-1"
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]
UCUM = "http://unitsofmeasure.org"


def quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def observation(patient_id: str, code: str, at: datetime, value: float | None = None, unit: str = "", components: list | None = None) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": CATEGORY,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}", "identifier": {"system": SYSTEM, "value": VALUE}},
        "effectiveDateTime": at.isoformat().replace("+00:00", "Z"),
    }
    if components:
        resource["component"] = components
    else:
        resource["valueQuantity"] = quantity(value, unit)
    return resource


def seed_vitals(emr) -> None:
    """Four vitals within 30 minutes of T0's capture, one an hour before (not shown), one other code."""
    with emr.client() as client:
        patient = client.post("/Patient", json={"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": VALUE}]}).json()["id"]
        bp = [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": quantity(142, "mm[Hg]")},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": quantity(91, "mm[Hg]")},
        ]
        for resource in (
            observation(patient, "8867-4", T0 + timedelta(minutes=5), 104, "/min"),
            observation(patient, "9279-1", T0 - timedelta(minutes=20), 22, "/min"),
            observation(patient, "59408-5", T0 + timedelta(minutes=1), 93, "%"),
            observation(patient, "85354-9", T0 + timedelta(minutes=10), components=bp),
            observation(patient, "8867-4", T0 - timedelta(minutes=65), 70, "/min"),
            observation(patient, "8310-5", T0, 38.4, "Cel"),
        ):
            response = client.post("/Observation", json=resource)
            assert response.status_code == 201, response.text


def store(url: str, *assessments) -> None:
    async def add():
        engine = create_engine(url)
        try:
            for a in assessments:
                assert await AssessmentStore(engine).add(a)
        finally:
            await engine.dispose()

    asyncio.run(add())


def test_vitals_around_the_capture_come_from_the_fhir_server_and_say_unavailable_when_it_is_down(emr, gateway_for, sqlite_url):
    seed_vitals(emr)
    patient = PatientRef(system=SYSTEM, value=VALUE)
    store(sqlite_url, make_assessment(id="seen", start=T0, patient=patient), make_assessment(id="later", start=T0 + timedelta(minutes=2), patient=patient))
    gateway = gateway_for(vitals={"fhir_base_url": emr.base})
    headers = {"Authorization": f"Bearer {gateway.tokens['clinician']}"}

    body = gateway.client.get("/v1/assessments/seen/vitals", headers=headers).json()
    assert body["status"] == "ok" and body["read_at"]
    shown = {(r["kind"], r["code"]): r for r in body["readings"]}
    assert set(shown) == {("heart rate", "8867-4"), ("respiratory rate", "9279-1"), ("SpO2", "59408-5"), ("blood pressure", "85354-9")}
    assert shown[("heart rate", "8867-4")]["value"] == 104 and shown[("heart rate", "8867-4")]["unit"] == "/min"
    assert (shown[("blood pressure", "85354-9")]["systolic"], shown[("blood pressure", "85354-9")]["diastolic"]) == (142, 91)
    assert "never change the AI's score" in body["note"]

    emr.stop()
    cached = gateway.client.get("/v1/assessments/seen/vitals", headers=headers).json()
    assert cached["status"] == "ok" and cached["read_at"] == body["read_at"]  # from the cache, with the time read
    down = gateway.client.get("/v1/assessments/later/vitals", headers=headers)
    assert down.status_code == 200
    assert down.json()["status"] == "unavailable" and "could not be reached" in down.json()["reason"]
    assert VALUE not in down.text  # no patient identifier in the reason


def test_without_a_fhir_server_vitals_are_not_configured(api, sqlite_url):
    store(sqlite_url, make_assessment(id="a-1"))
    body = api.get("/v1/assessments/a-1/vitals", role="clinician").json()
    assert body["status"] == "not configured"


def test_another_tenants_assessment_has_no_vitals(api, sqlite_url):
    store(sqlite_url, make_assessment(id="theirs", tenant="other-site"))
    assert api.get("/v1/assessments/theirs/vitals", role="clinician").status_code == 404


@pytest.mark.parametrize("setting", [{"fhir_base_url": "emr.example.org"}, {"auth": "bearer"}, {"timeout_s": 0}])
def test_bad_vitals_settings_stop_start_up_naming_the_setting(setting):
    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=next(iter(setting))):
        build_plugins(Settings(plugins={"vitals": setting}), environ={})


def test_the_assessment_page_shows_vitals_and_still_loads_saying_unavailable_when_the_server_is_down(emr, gateway_for, sqlite_url):
    from support.ui import sign_in

    seed_vitals(emr)
    patient = PatientRef(system=SYSTEM, value=VALUE)
    store(sqlite_url, make_assessment(id="seen", start=T0, patient=patient), make_assessment(id="later", start=T0 + timedelta(minutes=2), patient=patient))
    gateway = gateway_for(vitals={"fhir_base_url": emr.base})
    sign_in(gateway.client, gateway.tokens["clinician"])
    page = gateway.client.get("/ui/assessments/seen")
    assert page.status_code == 200
    assert 'id="vitals"' in page.text and 'data-code="8867-4"' in page.text and "142/91 mm[Hg]" in page.text
    assert "never change the AI" in page.text
    patient_page = gateway.client.get("/ui/patients", params={"patient": f"{SYSTEM}|{VALUE}"})
    assert 'id="vitals"' in patient_page.text and "the latest assessment" in patient_page.text

    store(sqlite_url, make_assessment(id="unread", start=T0 + timedelta(minutes=4), patient=patient))
    emr.stop()
    down = gateway.client.get("/ui/assessments/unread")
    assert down.status_code == 200
    assert "Vital signs unavailable:" in down.text and "could not be reached" in down.text
