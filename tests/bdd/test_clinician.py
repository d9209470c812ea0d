"""Steps for the clinician review story (tests/features/clinician.feature): the bundled model, a real
FHIR server as the EMR, a real webhook receiver, the shipped settings."""

from __future__ import annotations

import json
import time

from pytest_bdd import given, parsers, scenarios, then, when
from support.ui import post_form, sign_in

from gateway.contract.domain import LEVELS

scenarios("clinician.feature")

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def codes(concept: dict) -> set[str]:
    return {c["code"] for c in concept.get("coding", [])}


def wait_delivered(gateway, assessment_id: str, event_type: str, timeout_s: float = 30.0) -> None:
    """Every delivery of ``event_type`` for the assessment delivered (FHIR and webhook)."""
    deadline = time.monotonic() + timeout_s
    while True:
        items = [d for d in gateway.deliveries(assessment_id) if d["event_type"] == event_type]
        if len(items) == 2 and all(d["status"] == "delivered" for d in items):
            return
        assert time.monotonic() < deadline, f"still {[(d['destination'], d['status'], d['last_error']) for d in items]}"
        time.sleep(0.2)


@given("the EMR's FHIR server and the platform's webhook receiver are the gateway's destinations")
def destinations(story, emr, receiver, gateway_for):
    gateway = gateway_for(core={"webhook_allowlist": ["127.0.0.1"]}, fhir_delivery={"base_url": emr.base})
    telehealth = {"Authorization": f"Bearer {gateway.tokens['telehealth']}"}
    hook = gateway.client.post(
        "/v1/webhook-endpoints", headers=telehealth, json={"url": receiver.url(), "events": ["assessment.completed", "assessment.reviewed"]}
    )
    assert hook.status_code == 201, hook.text
    story |= {"gateway": gateway, "clinician": {"Authorization": f"Bearer {gateway.tokens['clinician']}"}}


@given(parsers.parse('the AI has scored a real 5-second face clip of patient "{mrn}" and the EMR holds its preliminary Observation'))
def scored(story, keypoints_json, emr, mrn):
    gateway = story["gateway"]
    response = gateway.submit(keypoints_json(patient={"identifier": {"system": SYSTEM, "value": mrn}}))
    assert response.status_code == 201, response.text
    story["assessment"] = assessment = response.json()
    story["mrn"] = mrn
    wait_delivered(gateway, assessment["id"], "assessment.completed")
    [observation] = emr.observations(**{"subject:identifier": f"{SYSTEM}|{mrn}"})
    assert observation["status"] == "preliminary"
    story["emr_observation"] = observation


def review(story, body: dict) -> None:
    response = story["gateway"].client.post(f"/v1/assessments/{story['assessment']['id']}/review", headers=story["clinician"], json=body)
    assert response.status_code == 201, response.text
    story["review"] = response.json()
    wait_delivered(story["gateway"], story["assessment"]["id"], "assessment.reviewed")


@when("the clinician confirms the assessment")
def confirm(story):
    review(story, {"decision": "confirm", "reason": "clinical-judgement"})


@when("the clinician overrides the level because of the patient's report")
def override(story):
    ai = story["assessment"]["summary"]["level"]
    story["clinician_level"] = next(level for level in LEVELS if level != ai)
    review(story, {"decision": "override", "level": story["clinician_level"], "reason": "patient-report", "comment": "NRS 8/10"})


@then(parsers.parse('the assessment is completed and clinically "{status}" at version {version:d}'))
def clinical_status(story, status, version):
    read = story["gateway"].client.get(f"/v1/assessments/{story['assessment']['id']}", headers=story["clinician"]).json()
    assert (read["status"], read["clinical_status"], read["clinical_version"]) == ("completed", status, version)
    assert read["summary"]["level"] == story["assessment"]["summary"]["level"]  # the AI's result is untouched


def emr_observation(story, emr) -> dict:
    with emr.client() as client:
        current = client.get(f"Observation/{story['emr_observation']['id']}").json()
    assert current["meta"]["versionId"] != story["emr_observation"]["meta"]["versionId"]  # a new version, same resource
    assert len(emr.observations(identifier=story["assessment"]["id"])) == 1
    return current


@then(parsers.parse("the EMR's Observation becomes \"final\" at a new version with the AI's level, verified by the clinician"))
def emr_final(story, emr):
    observation = emr_observation(story, emr)
    assert observation["status"] == "final" and codes(observation["valueCodeableConcept"]) == codes(story["emr_observation"]["valueCodeableConcept"])
    assert "AIAST" in {s["code"] for s in observation["meta"]["security"]}
    provenances = review_provenances(story, emr, observation)
    assert {a["type"]["coding"][0]["code"]: a["who"].get("display") for a in provenances[0]["agent"]}["verifier"] == "clinician test-clinician"


@then(parsers.parse("the EMR's Observation becomes \"amended\" with the clinician's level and the AI's level beside it"))
def emr_amended(story, emr):
    observation = emr_observation(story, emr)
    assert observation["status"] == "amended" and "CLINAST" in {s["code"] for s in observation["meta"]["security"]}
    assert codes(observation["valueCodeableConcept"]) & {f"{story['clinician_level'].replace('none', 'no')}-pain"}
    [original] = [c for c in observation["component"] if "ai-original-class" in codes(c["code"])]
    assert codes(original["valueCodeableConcept"]) == codes(story["emr_observation"]["valueCodeableConcept"])
    with emr.client() as client:  # the EMR's own history keeps the AI's preliminary version
        history = client.get(f"Observation/{observation['id']}/_history").json()
    assert {e["resource"]["status"] for e in history["entry"]} >= {"preliminary", "amended"}
    story["emr_amended"] = observation


def review_provenances(story, emr, observation: dict) -> list[dict]:
    with emr.client() as client:
        found = client.get("Provenance", params={"target": f"Observation/{observation['id']}"}).json()
    reviews = [e["resource"] for e in found.get("entry", []) if e["resource"]["activity"]["coding"][0]["code"] == "UPDATE"]
    assert len(reviews) == 1, found
    return reviews


@then("the EMR holds a Provenance naming the clinician as author and the AI version as revised")
def emr_provenance(story, emr):
    [provenance] = review_provenances(story, emr, story["emr_amended"])
    agents = {a["type"]["coding"][0]["code"]: a["who"] for a in provenance["agent"]}
    assert agents["author"]["display"] == "clinician test-clinician" and agents["informant"]["reference"].startswith("Device/")
    assert provenance["entity"][0]["role"] == "revision" and provenance["entity"][0]["what"]["display"] == "Observation version 1"


@then("the gateway's FHIR history shows the AI's version and the clinician's")
def facade_history(story):
    gateway = story["gateway"]
    [observation] = gateway.client.get("/fhir/Observation", params={"identifier": story["assessment"]["id"]}, headers=story["clinician"]).json()["entry"]
    oid = observation["resource"]["id"]
    history = gateway.client.get(f"/fhir/Observation/{oid}/_history", headers=story["clinician"]).json()
    assert [(e["resource"]["meta"]["versionId"], e["resource"]["status"]) for e in history["entry"]] == [("2", "amended"), ("1", "preliminary")]
    first = gateway.client.get(f"/fhir/Observation/{oid}/_history/1", headers=story["clinician"]).json()
    assert first["status"] == "preliminary" and codes(first["valueCodeableConcept"]) == codes(story["emr_observation"]["valueCodeableConcept"])


@then(parsers.parse('the platform\'s webhook says "{event}" with both levels'))
def webhook(story, receiver, event):
    received = [json.loads(r.body) for r in receiver.wait(2)]
    assert [r["type"] for r in received] == ["assessment.completed", event]
    clinical = received[1]["data"]["clinical"]
    assert (clinical["status"], clinical["version"], clinical["reviewed_by"]) == ("amended", 2, "test-clinician")
    assert (clinical["ai_level"], clinical["clinician_level"]) == (story["assessment"]["summary"]["level"], story["clinician_level"])
    assert received[1]["data"]["observation"]["status"] == "amended"


@then("model monitoring shows the override for the model version")
def monitoring(story):
    report = story["gateway"].client.get("/v1/model-monitoring", headers=story["clinician"]).json()
    [model] = report["models"]
    assert (model["model_version"], model["reviewed"], model["overridden"], model["override_rate"]) == (story["assessment"]["model"]["version"], 1, 1, 1.0)
    ai, clinician = LEVELS.index(story["assessment"]["summary"]["level"]), LEVELS.index(story["clinician_level"])
    assert model["confusion"][ai][clinician] == 1


@then("the assessment says it was scored without a neutral baseline, quoting the model's measured reliability for that case")
def first_visit(story):
    reliability = story["assessment"]["reliability"]
    assert reliability["baseline"] == "none" and story["assessment"]["personalised"] is False
    measured = story["assessment"]["model"]["reliability"]["none"]
    assert reliability["measured"] == measured and "without a stored neutral face" in measured


@then("the EMR's preliminary Observation notes that it was scored without a neutral baseline")
def emr_first_visit_note(story):
    notes = [n["text"] for n in story["emr_observation"]["note"]]
    assert any(n.startswith("No neutral baseline was stored for this patient") and story["assessment"]["reliability"]["measured"] in n for n in notes), notes


@when("the clinician records the clip as the patient's neutral face and the clip is scored again")
def record_neutral_face(story, keypoints_json):
    gateway = story["gateway"]
    assert sign_in(gateway.client, gateway.tokens["clinician"]).status_code == 303
    page = f"/ui/assessments/{story['assessment']['id']}"
    assert post_form(gateway.client, f"{page}/baseline", {"at_rest": "yes"}, page=page).status_code == 303
    response = gateway.submit(keypoints_json(patient={"identifier": {"system": SYSTEM, "value": story["mrn"]}}))
    assert response.status_code == 201, response.text  # a new result, not the first visit's answered again
    story["second"] = response.json()


@then("the new assessment is scored against the patient's neutral face and none of its seconds is flagged unfamiliar")
def personal(story):
    second = story["second"]
    assert second["personalised"] is True and second["reliability"]["baseline"] == "stored"
    assert second["reliability"]["unfamiliar_windows"] == 0 < story["assessment"]["reliability"]["unfamiliar_windows"]
