"""Steps for the clinician's explanation story (tests/features/clinician_explanation.feature)."""

from __future__ import annotations

import cv2
import numpy as np
from pytest_bdd import given, scenarios, then, when

from tests.unit.test_tenants import tokens_for

scenarios("clinician_explanation.feature")

MRN = "MRN-EXPLAIN-1"


@given("the gateway is running with the bundled synthetic-data model")
def gateway(api):
    assert api.client.get("/ready").status_code == 200


@given("an integrator has submitted MediaPipe keypoints of a real 5-second face clip")
def submitted(api, story, keypoints_json):
    response = api.post("/v1/assessments", json=keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.3", "value": MRN}}))
    assert response.status_code == 201, response.text
    story["assessment"] = response.json()


@when("the clinician asks why the model scored it")
def ask(api, story):
    story["response"] = api.get(f"/v1/assessments/{story['assessment']['id']}/explanation", role="clinician")
    assert story["response"].status_code == 200, story["response"].text
    story["explanation"] = story["response"].json()


@then("the answer ranks all 7 face regions by how much occluding them lowers the pain probability")
def ranked(story):
    regions = story["explanation"]["regions"]
    assert {r["region"] for r in regions} == {"brow", "eyes", "nose", "mouth", "cheeks", "jaw", "forehead"}
    assert [r["importance"] for r in regions] == sorted((r["importance"] for r in regions), reverse=True)
    assert story["explanation"]["method"] == "region_occlusion"


@then("it gives the importance of each of the 5 scored seconds")
def seconds(story):
    assert [(s["start"], s["end"]) for s in story["explanation"]["seconds"]] == [(float(i), i + 1.0) for i in range(5)]


@then("it either names the region that stands out or says that none does")
def verdict(story):
    explanation = story["explanation"]
    top = explanation["regions"][0]
    if top["importance"] >= explanation["threshold"]:
        assert explanation["top_region"] == top["region"] and explanation["verdict"].startswith(top["region"])
    else:
        assert explanation["top_region"] is None and explanation["verdict"].startswith("No region stands out")


@then("it says that it is a model-internal signal, not a clinical finding, from a model trained on synthetic data")
def caveat(story):
    notice = story["explanation"]["notice"]
    assert "Model-internal signal, not a clinical finding" in notice and "synthetic data" in notice


@when("the clinician opens the explanation heatmap")
def heatmap(api, story):
    story["response"] = api.get(f"/v1/assessments/{story['assessment']['id']}/explanation.png", role="clinician")


@then("it is a 720 by 740 PNG that is mostly blank page")
def drawing(story):
    response = story["response"]
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (740, 720, 3) and (image == 255).all(axis=2).mean() > 0.5


@when("a clinician of another tenant asks why the model scored it")
def other_tenant(api, story, sqlite_url):
    other = tokens_for(sqlite_url, "other-site")["clinician"]
    story["response"] = api.client.get(f"/v1/assessments/{story['assessment']['id']}/explanation", headers=other)


@then("the answer is 404 and names nothing of the patient")
def refused(story):
    assert story["response"].status_code == 404 and MRN not in story["response"].text
