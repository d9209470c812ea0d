"""Our Bundles against a real FHIR R4 server (sekmet-fhir, SQLite) on loopback (tests/support/fhir_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.assessments import make_assessment
from support.fhir_server import FHIR_JSON, FhirServer

from fhir_mappings import load_mappings
from gateway.contract.domain import PatientRef
from plugins.fhir_observation.resources import build_bundle
from plugins.fhir_observation.validation import validate_resource

BASE = "urn:pain-gateway"
MAPPINGS = load_mappings()
PATIENT = PatientRef(system="urn:oid:1.2.3", value="MRN-7")
PEAKS = {"none": 0.05, "mild": 0.15, "significant": 0.8}


@pytest.fixture(scope="module")
def fhir_base(tmp_path_factory) -> Iterator[str]:
    server = FhirServer(tmp_path_factory.mktemp("fhir-server"))
    server.start()
    try:
        yield server.base
    finally:
        server.stop()


@pytest.fixture
def client(fhir_base) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fhir_base, headers=FHIR_JSON, timeout=30) as c:
        yield c


def post_transaction(client: httpx.Client, bundle: dict) -> list[dict]:
    response = client.post("", json=bundle)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "transaction-response"
    return [entry["response"] for entry in answer["entry"]]


def read(client: httpx.Client, location: str) -> dict:
    """Read a resource back from a response location, version-independent."""
    relative = location.split("/fhir/", 1)[-1].split("/_history/", 1)[0]
    response = client.get(relative)
    assert response.status_code == 200, response.text
    return response.json()


def server_validates(client: httpx.Client, resource: dict) -> list[dict]:
    response = client.post(f"{resource['resourceType']}/$validate", json=resource)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["issue"] if i["severity"] in ("error", "fatal")]


def test_server_speaks_r4(client):
    assert client.get("metadata").json()["fhirVersion"] == "4.0.1"


def test_transaction_is_accepted_and_reads_back_linked(client):
    responses = post_transaction(
        client, build_bundle(make_assessment(id="it-accept", status="scored", patient=PATIENT, level="significant", peaks=PEAKS), MAPPINGS, BASE, "transaction")
    )

    assert [r["status"].split()[0] for r in responses] == ["201", "201", "201"]
    device, observation, provenance = (read(client, r["location"]) for r in responses)
    for resource in (device, observation, provenance):
        assert server_validates(client, resource) == []
        assert validate_resource(resource) == []
    assert observation["meta"]["security"][0]["code"] == "AIAST"
    assert {c["code"] for c in observation["valueCodeableConcept"]["coding"]} >= {"significant-pain", "371924009"}
    assert observation["device"]["reference"] == f"Device/{device['id']}"
    assert provenance["target"] == [{"reference": f"Observation/{observation['id']}"}]
    assert provenance["agent"][0]["who"]["reference"] == f"Device/{device['id']}"


def test_resending_the_same_assessment_creates_nothing_new(client):
    bundle = build_bundle(make_assessment(id="it-resend", status="scored", patient=PATIENT, level="significant", peaks=PEAKS), MAPPINGS, BASE, "transaction")
    post_transaction(client, bundle)

    again = post_transaction(
        client, build_bundle(make_assessment(id="it-resend", status="scored", patient=PATIENT, level="significant", peaks=PEAKS), MAPPINGS, BASE, "transaction")
    )

    assert [r["status"].split()[0] for r in again] == ["200", "200", "200"]
    found = client.get("Observation", params={"identifier": f"{BASE}/assessment|it-resend"}).json()
    assert found["total"] == 1
    observation_id = found["entry"][0]["resource"]["id"]
    provenances = client.get("Provenance", params={"target": f"Observation/{observation_id}"}).json()
    assert provenances["total"] == 1


def test_unscorable_clip_and_collection_bundle_are_accepted(client):
    responses = post_transaction(
        client, build_bundle(make_assessment(id="it-absent", status="scored", patient=PATIENT, level=None), MAPPINGS, BASE, "transaction")
    )
    observation = read(client, responses[1]["location"])
    assert "valueCodeableConcept" not in observation and observation["dataAbsentReason"]

    collection = build_bundle(make_assessment(id="it-collection", status="scored", patient=PATIENT, level="significant", peaks=PEAKS), MAPPINGS, BASE)
    stored = client.post("Bundle", json=collection)
    assert stored.status_code == 201, stored.text
    assert server_validates(client, collection) == []


def test_server_rejects_what_is_structurally_invalid(client):
    """Guards the checks above: a server that accepted anything would prove nothing."""
    bundle = build_bundle(make_assessment(id="it-invalid", status="scored", patient=PATIENT, level="significant", peaks=PEAKS), MAPPINGS, BASE)
    observation = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    del observation["code"]

    assert client.post("Observation", json=observation).status_code == 400


def test_a_real_face_scored_through_the_api_lands_in_the_emr(client, api, keypoints_json):
    """The integrator's whole path: MediaPipe keypoints in, our Bundle accepted by a real FHIR server."""
    created = api.post("/v1/assessments", json=keypoints_json(patient={"reference": "Patient/emr-42"}))
    assert created.status_code == 201, created.text
    bundle = api.get(created.json()["links"]["fhir"]).json()

    responses = post_transaction(client, bundle)
    assert [r["status"].split()[0] for r in responses] == ["201"] * 4  # Device, explanation DocumentReference, Observation, Provenance
    created_by_type = {e["resource"]["resourceType"]: r for e, r in zip(bundle["entry"], responses, strict=True)}
    observation = read(client, created_by_type["Observation"]["location"])
    assert server_validates(client, observation) == []
    document = read(client, created_by_type["DocumentReference"]["location"])
    assert server_validates(client, document) == [] and "not a clinical finding" in document["description"]
    assert observation["subject"] == {"reference": "Patient/emr-42"}
    assert observation["meta"]["security"][0]["code"] == "AIAST"
    searched = client.get("Observation", params={"subject": "Patient/emr-42"}).json()
    assert [e["resource"]["id"] for e in searched.get("entry", [])] == [observation["id"]]
