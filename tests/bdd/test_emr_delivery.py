"""Steps for the EMR delivery story (tests/features/emr_delivery.feature), against a real FHIR server."""

from __future__ import annotations

import base64
import json

from pytest_bdd import given, parsers, scenarios, then, when

scenarios("emr_delivery.feature")


@given("the EMR's FHIR server is the gateway's FHIR delivery destination")
def configured(story, emr, emr_link, gateway_for):
    story["gateway"] = gateway_for(fhir_delivery={"base_url": emr_link.via(emr.base)})  # through a link the story can cut


@given(parsers.parse('MediaPipe keypoints of a real 5-second face clip for patient "{value}" of system "{system}"'))
def clip(story, keypoints_json, value, system):
    story["identifier"] = f"{system}|{value}"
    story["body"] = keypoints_json(patient={"identifier": {"system": system, "value": value}})


@given("the EMR's FHIR server is down")
def emr_down(emr_link):
    emr_link.off()  # connections refused, as from a stopped server


@when("the integrator submits the keypoints")
def submit(story):
    response = story["gateway"].submit(story["body"])
    assert response.status_code == 201, response.text
    story["assessment"] = response.json()


@when("the integrator submits the keypoints twice")
def submit_twice(story):
    submit(story)
    assert story["gateway"].submit(story["body"]).status_code == 200


@when("the EMR's FHIR server comes back")
def emr_back(emr_link):
    emr_link.on()  # back at once, so the shipped first retry (5 s ± 20 %) is the one that finds it


@then(parsers.parse('the delivery ledger shows the assessment delivered to "{destination}"'))
def delivered(story, destination):
    delivery = story["gateway"].wait(story["assessment"]["id"], "delivered", destination=destination)
    assert delivery["attempt_log"][-1]["outcome"] == "delivered"
    assert len(story["gateway"].deliveries(story["assessment"]["id"])) == 1


@then("the delivery waits for a retry and says why")
def waiting(story):
    delivery = story["gateway"].wait(story["assessment"]["id"], "retrying")
    assert delivery["next_attempt_at"] and delivery["last_error"]


@then("the EMR finds exactly 1 Observation for the patient by subject identifier")
def found_once(story, emr):
    found = emr.observations(**{"subject:identifier": story["identifier"]})
    assert [o["identifier"][0]["value"] for o in found] == [story["assessment"]["id"]]
    story["observation"] = found[0]


@then("the Observation in the EMR is preliminary and labelled AI-asserted")
def labelled(story):
    observation = story["observation"]
    assert observation["status"] == "preliminary"
    assert {"code": "AIAST"}.items() <= observation["meta"]["security"][0].items()


@then("the Observation points to the explanation in the EMR: a heatmap PNG and its data, marked as no clinical finding")
def explanation_in_emr(story, emr):
    [reference] = [e["valueReference"]["reference"] for e in story["observation"]["extension"] if e["url"].endswith("workflow-supportingInfo")]
    with emr.client() as client:
        document = client.get(f"{emr.base}/{reference}", headers={"Accept": "application/fhir+json"}).json()
    assert document["resourceType"] == "DocumentReference" and "not a clinical finding" in document["description"]
    attachments = {c["attachment"]["contentType"]: base64.b64decode(c["attachment"]["data"]) for c in document["content"]}
    assert attachments["image/png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads(attachments["application/json"])["assessment_id"] == story["assessment"]["id"]
