"""A clinician asks why an assessment scored as it did: JSON and a heatmap, scoped to the tenant, audited."""

from __future__ import annotations

import cv2
import numpy as np

from gateway.service.explanations import NOTICE
from tests.unit.test_audit import rows as audit_rows


def test_explanation_lists_every_region_by_occlusion_with_seconds_and_notice(api, keypoints_json):
    created = api.post("/v1/assessments", json=keypoints_json()).json()
    response = api.get(f"/v1/assessments/{created['id']}/explanation", role="clinician")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "region_occlusion" and body["notice"] == NOTICE
    assert sorted(r["region"] for r in body["regions"]) == sorted(["brow", "eyes", "nose", "mouth", "cheeks", "jaw", "forehead"])
    importances = [r["importance"] for r in body["regions"]]
    assert importances == sorted(importances, reverse=True)
    scored = [w for w in created["windows"] if w["scorable"]]
    assert [(s["start"], s["end"]) for s in body["seconds"]] == [(w["start_s"], w["end_s"]) for w in scored]
    assert all(len(s["regions"]) == 7 for s in body["seconds"])  # per window, each region's drop
    assert (body["top_region"] is None) == ("No region stands out" in body["verdict"])
    assert body["model_id"] == created["model"]["model_id"]


def test_reading_an_explanation_is_audited_with_the_patient(api, keypoints_json, sqlite_url):
    created = api.post("/v1/assessments", json=keypoints_json()).json()
    assert api.get(f"/v1/assessments/{created['id']}/explanation", role="clinician").status_code == 200
    [row] = [r for r in audit_rows(sqlite_url) if r["resource_type"] == "explanation"]
    assert (row["action"], row["resource_id"], row["role"]) == ("read", created["id"], "clinician") and row["patient"]


def test_heatmap_is_a_png_drawing(api, keypoints_json):
    created = api.post("/v1/assessments", json=keypoints_json()).json()
    response = api.get(f"/v1/assessments/{created['id']}/explanation.png", role="clinician")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (740, 720, 3)


def test_unknown_assessment_is_404_problem(api):
    for suffix in ("explanation", "explanation.png"):
        response = api.get(f"/v1/assessments/nope/{suffix}", role="clinician")
        assert response.status_code == 404 and response.headers["content-type"].startswith("application/problem+json")


def test_openapi_documents_both_routes_with_typed_answers(api):
    paths = api.client.get("/schema/openapi.json").json()["paths"]
    explanation = paths["/v1/assessments/{assessment_id}/explanation"]["get"]["responses"]
    assert "AssessmentExplanation" in str(explanation["200"]) and "example" in str(explanation["200"]).lower()
    assert "application/problem+json" in explanation["404"]["content"]
    png = paths["/v1/assessments/{assessment_id}/explanation.png"]["get"]["responses"]
    assert "image/png" in png["200"]["content"] and "404" in png
