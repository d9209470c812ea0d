"""Steps for the integrator story (tests/features/integrator.feature)."""

from __future__ import annotations

import json

from pytest_bdd import given, parsers, scenarios, then, when

from plugins.fhir_observation.validation import validate_bundle, validate_resource

scenarios("integrator.feature")


@given("the gateway is running with the bundled synthetic-data model")
def gateway(api):
    assert api.client.get("/ready").status_code == 200


@given("an integrator holds a valid token")
def integrator_token(api):
    assert api.tokens["integrator"]


@given(parsers.parse('MediaPipe keypoints of a real 5-second face clip for patient "{value}" of system "{system}"'))
def clip(story, keypoints_json, value, system):
    story["identifier"] = f"{system}|{value}"
    story["body"] = keypoints_json(patient={"identifier": {"system": system, "value": value}})


PROBLEMS = {
    "467 landmarks per frame": lambda b: {"frames": [f[:467] if f else f for f in b["frames"]]},
    "a NaN coordinate": lambda b: {"frames": [[[float("nan"), 0.1], *f[1:]] if f else f for f in b["frames"]]},
    "only 20 frames with a face": lambda b: {"frames": b["frames"][:20] + [None] * 20},
    "200 frames per second": lambda b: {"fps": 200},
    "a patient given by name only": lambda b: {"patient": {"name": "Jane Doe"}},
}


@given(parsers.parse("the submission has {problem}"))
def broken(story, problem):
    story["body"].update(PROBLEMS[problem](story["body"]))


def _submit(api, story):
    return api.client.post(
        "/v1/assessments",
        content=json.dumps(story["body"], allow_nan=True),
        headers={**api.headers("integrator"), "content-type": "application/json"},
    )


@when("the integrator submits the keypoints")
def submit(api, story):
    story["response"] = _submit(api, story)


@when("the integrator submits the keypoints again")
def submit_again(api, story):
    story["retry"] = _submit(api, story)


@then("the gateway answers 201 with the assessment's location")
def created(story):
    response = story["response"]
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(response.json()["id"])


@then(parsers.parse("the assessment has a pain level for each of the {n:d} one-second windows"))
def window_levels(story, n):
    windows = story["response"].json()["windows"]
    assert len(windows) == n and all(w["level"] in ("none", "mild", "significant") for w in windows)


@then("the FHIR Bundle holds an Observation, a Device, a Provenance and the explanation DocumentReference")
def bundle(api, story):
    story["bundle"] = api.get(story["response"].json()["links"]["fhir"]).json()
    story["resources"] = {e["resource"]["resourceType"]: e["resource"] for e in story["bundle"]["entry"]}
    assert set(story["resources"]) == {"Observation", "Device", "Provenance", "DocumentReference"}


@then("the Observation is preliminary and labelled AI-asserted")
def ai_asserted(story):
    observation = story["resources"]["Observation"]
    assert observation["status"] == "preliminary"
    assert "AIAST" in [c["code"] for c in observation["meta"]["security"]]


@then("the Device names the model version and says it was trained on synthetic data")
def device(story):
    device = story["resources"]["Device"]
    assert device["version"][0]["value"] == story["response"].json()["model"]["version"]
    assert "synthetic" in json.dumps(device).lower()


@then("every resource passes the gateway's FHIR validation")
def valid(story):
    assert validate_bundle(story["bundle"]) == []
    assert all(validate_resource(r) == [] for r in story["resources"].values())


@then("a search on the patient identifier finds the Observation")
def found(api, story):
    result = api.get("/fhir/Observation", params={"patient:identifier": story["identifier"]}).json()
    assert result["type"] == "searchset" and result["total"] == 1
    assert result["entry"][0]["resource"]["id"] == story["resources"]["Observation"]["id"]


@then("the second answer is 200 with the same assessment")
def same(story):
    assert story["retry"].status_code == 200
    assert story["retry"].json()["id"] == story["response"].json()["id"]


@then(parsers.parse("a search on the patient identifier finds exactly {n:d} Observation"))
def found_n(api, story, n):
    assert api.get("/fhir/Observation", params={"patient:identifier": story["identifier"]}).json()["total"] == n


@then(parsers.parse('the gateway answers 422 naming the field "{field}"'))
def refused(story, field):
    response = story["response"]
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
