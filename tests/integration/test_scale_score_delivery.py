"""A recorded scale score reaches the EMR through the delivery ledger like an AI result: as a FHIR
Observation in the real FHIR server (LOINC 72514-3 for NRS, the local code for PAINAD), valid against
the independent R4 validator and not labelled AI-asserted; and as an HL7 v2.5.1 ORU that hl7apy parses
at STRICT validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from support.fhir_r4 import validate
from support.mllp import MllpListener

from fhir_mappings.scales import LOCAL_SYSTEM

SYSTEM, VALUE = "urn:oid:1.2.36.146.595.217.0.1", "MRN-SCALES-1"
PATIENT = {"identifier": {"system": SYSTEM, "value": VALUE}}


def observed() -> str:
    return (datetime.now(UTC) - timedelta(minutes=5)).isoformat()


def record(gateway, body: dict) -> dict:
    headers = {"Authorization": f"Bearer {gateway.tokens['clinician']}"}
    response = gateway.client.post("/v1/patients/scale-scores", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_scale_score_lands_in_the_fhir_server_as_a_clinician_observation(emr, gateway_for):
    gateway = gateway_for(fhir_delivery={"base_url": emr.base})
    nrs = record(gateway, {"patient": PATIENT, "scale": "nrs", "items": {"intensity": 7}, "observed_at": observed(), "assessor": "Practitioner/rn-42"})
    painad = record(
        gateway,
        {
            "patient": PATIENT,
            "scale": "painad",
            "items": {"breathing": 1, "vocalisation": 1, "facial_expression": 2, "body_language": 1, "consolability": 0},
            "observed_at": observed(),
            "assessor": "RN Example",
        },
    )
    for score in (nrs, painad):
        delivery = gateway.wait(score["id"], "delivered", destination="fhir")
        assert delivery["status"] == "delivered"

    with emr.client() as client:
        [found] = [e["resource"] for e in client.get("/Observation", params={"code": "http://loinc.org|72514-3"}).json()["entry"]]
        [local] = [e["resource"] for e in client.get("/Observation", params={"code": f"{LOCAL_SYSTEM}|painad-total"}).json()["entry"]]
    assert validate(found) == [] and validate(local) == []
    assert found["valueInteger"] == 7 and found["performer"] == [{"reference": "Practitioner/rn-42"}]
    assert found["subject"]["identifier"] == {"system": SYSTEM, "value": VALUE}
    assert local["valueInteger"] == 5 and [c["valueInteger"] for c in local["component"]] == [1, 1, 2, 1, 0]
    assert local["performer"] == [{"display": "RN Example"}]
    for resource in (found, local):
        assert "AIAST" not in str(resource) and "security" not in resource.get("meta", {})
        assert "not AI-derived" in resource["note"][0]["text"]


def test_a_scale_score_is_sent_as_an_oru_where_hl7_is_on(gateway_for):
    listener = MllpListener().start()
    try:
        gateway = gateway_for(hl7v2={"host": "127.0.0.1", "port": listener.port})
        score = record(
            gateway,
            {
                "patient": PATIENT,
                "scale": "abbey",
                "items": {
                    "vocalisation": 1,
                    "facial_expression": 2,
                    "body_language": 1,
                    "behavioural_change": 0,
                    "physiological_change": 0,
                    "physical_changes": 3,
                },
                "observed_at": observed(),
                "assessor": "RN Example",
            },
        )
        gateway.wait(score["id"], "delivered", destination="hl7v2")
    finally:
        listener.stop()
    [er7] = listener.messages
    message = parse_message(er7, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate()
    obx = [s for s in er7.split("\r") if s.startswith("OBX|")]
    assert obx[0].split("|")[3] == "abbey-total^Abbey Pain Scale total score^L" and obx[0].split("|")[5] == "7"
    assert len(obx) == 7 and "not AI-derived" in er7
