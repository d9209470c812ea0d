"""The HTTP API: auth and roles, problem details, nothing stored on bad input, idempotent retries."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from plugins.fhir_observation.validation import validate_bundle


def test_only_health_and_ready_are_open(api):
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "jobs": "ok", "model": "ok"}
    for path in ("/v1/assessments/x", "/v1/models/sta-lstm-synthetic/card"):  # the schema and docs: tests/unit/test_pages.py
        response = api.client.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Authorization" in response.json()["detail"]
    fhir = api.client.get("/fhir/Observation")  # FHIR clients get an OperationOutcome
    assert fhir.status_code == 401 and fhir.headers["content-type"].startswith("application/fhir+json")
    assert "Authorization" in fhir.json()["issue"][0]["diagnostics"] and fhir.headers["www-authenticate"] == "Bearer"
    assert api.client.get("/fhir/metadata").status_code == 200  # capability discovery is public (FHIR, SMART)


def test_bad_and_revoked_tokens_are_401(api):
    assert api.client.get("/v1/assessments/x", headers={"Authorization": "Basic abc"}).status_code == 401
    response = api.client.get("/v1/assessments/x", headers={"Authorization": "Bearer pgw_wrong"})
    assert response.status_code == 401 and "unknown or revoked" in response.json()["detail"]


def test_roles_are_enforced_with_a_clear_message(api, keypoints_json):
    response = api.post("/v1/assessments", role="clinician", json=keypoints_json())
    assert response.status_code == 403
    assert "clinician" in response.json()["detail"] and "integrator" in response.json()["detail"]
    assert api.get("/v1/plugins", role="integrator").status_code == 403
    plugins = api.get("/v1/plugins", role="admin").json()
    assert {p["name"] for p in plugins} >= {"keypoint_upload", "sta_lstm", "fhir_observation", "attention_regions"}


def test_submit_scores_and_stores(api, keypoints_json):
    response = api.post("/v1/assessments", json=keypoints_json())
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"].endswith(f"/v1/assessments/{body['id']}")
    assert "model;dur=" in response.headers["server-timing"]
    assert body["ai_asserted"] is True and "synthetic" in body["disclaimer"]
    assert body["summary"]["scored_windows"] == 5 and body["summary"]["level"] in ("none", "mild", "significant")
    assert all(abs(sum(w["probabilities"].values()) - 1) < 1e-3 for w in body["windows"])
    assert body["explanations"][0]["explainer"] == "attention_regions"
    assert body["quality"]["face_share"] == 1.0 and body["quality"]["max_head_turn_deg"] < 20
    assert all(w["quality"]["face_share"] == 1.0 for w in body["windows"])
    assert api.get(f"/v1/assessments/{body['id']}", role="clinician").json()["id"] == body["id"]
    bundle = api.get(body["links"]["fhir"]).json()
    assert validate_bundle(bundle) == []


def test_retrying_the_same_clip_returns_the_stored_assessment(api, keypoints_json):
    first = api.post("/v1/assessments", json=keypoints_json())
    second = api.post("/v1/assessments", json=keypoints_json())
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert api.get("/fhir/Observation", params={"patient:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}).json()["total"] == 1


def test_npz_upload_as_multipart(api, face_points):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, points=face_points.astype(np.float32))
    response = api.post(
        "/v1/assessments",
        files={"keypoints": ("clip.npz", buffer.getvalue(), "application/octet-stream")},
        data={"patient_reference": "Patient/p-77", "fps": "30", "captured_at": "2026-11-23T11:00:00Z", "image_size": "640,480"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["patient"] == {"reference": "Patient/p-77"}


BAD_INPUTS = [
    ("wrong landmark count", lambda f: {"frames": [fr[:467] if fr else fr for fr in f["frames"]]}, "frames", "468"),
    ("NaN in a face frame", lambda f: {"frames": [[[float("nan"), 0.5]] + fr[1:] if fr else fr for fr in f["frames"]]}, "frames", "NaN"),
    ("fewer than 30 usable frames", lambda f: {"frames": f["frames"][:29]}, "frames", "at least 30"),
    ("fps too low", lambda f: {"fps": 2}, "fps", "between 5 and 120"),
    ("fps too high", lambda f: {"fps": 240}, "fps", "between 5 and 120"),
    ("unknown patient form", lambda f: {"patient": {"mrn": "1234"}}, "patient.mrn", "unknown key 'mrn' in patient"),
    ("no time zone", lambda f: {"captured_at": "2026-11-23T10:00:00"}, "captured_at", "time zone"),
    ("typo in an optional key", lambda f: {"image_sise": [640, 480]}, "image_sise", "unknown key 'image_sise' (did you mean 'image_size'?)"),
    (
        "typo in a nested key",
        lambda f: {"patient": {"identifier": {"system": "urn:s", "valeu": "x"}}},
        "patient.identifier.valeu",
        "(did you mean 'value'?) in patient.identifier",
    ),
]


@pytest.mark.parametrize(("case", "change", "field", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_422_naming_the_field_and_nothing_is_stored(api, keypoints_json, case, change, field, words):
    body = keypoints_json()
    body.update(change(body))
    raw = api.client.post("/v1/assessments", content=_json(body), headers={**api.headers("integrator"), "content-type": "application/json"})
    assert raw.status_code == 422, raw.text
    problem = raw.json()
    assert problem["field"] == field and words in problem["detail"]
    assert raw.headers["content-type"].startswith("application/problem+json")
    assert api.get("/fhir/Observation", params={"subject": "Patient/nobody"}).json()["total"] == 0
    assert api.get("/fhir/Observation", params={"patient:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}).json()["total"] == 0


def _json(body) -> bytes:
    import json

    return json.dumps(body, allow_nan=True).encode()


def test_form_typos_and_wrong_parts_are_named(api, face_points):
    """Multipart part names are checked like JSON keys; a form without a known file part says which it needs."""
    array = io.BytesIO()
    np.save(array, face_points.astype(np.float32))
    fields = {"patient_sytem": "urn:s", "patient_value": "v", "fps": "30", "captured_at": "2026-11-23T11:00:00Z"}
    typo = api.post("/v1/assessments", files={"keypoints": ("k.npy", array.getvalue())}, data=fields)
    assert typo.status_code == 422 and typo.json()["field"] == "patient_sytem"
    assert "did you mean 'patient_system'?" in typo.json()["detail"]
    wrong_part = api.post("/v1/assessments", files={"keypoint": ("k.npy", array.getvalue())}, data=fields)
    assert wrong_part.status_code == 422 and wrong_part.json()["field"] == "body"
    assert "needs a 'keypoints' or 'video' file part; file parts received: 'keypoint'" in wrong_part.json()["detail"]


def test_unsupported_content_type_lists_the_accepted_ones(api):
    response = api.post("/v1/assessments", content=b"x", headers={**api.headers("integrator"), "content-type": "text/plain"})
    assert response.status_code == 415 and response.json()["field"] == "content-type"
    assert "send one of application/json, application/x-pain-keypoints, multipart/form-data" in response.json()["detail"]


def test_unknown_assessment_and_output(api):
    assert api.get("/v1/assessments/nope").status_code == 404
    assert api.get("/v1/assessments/nope/fhir").status_code == 404
    assert "available" in api.get("/v1/assessments/nope/hl7").json()["detail"]


def test_model_card_says_synthetic(api):
    card = api.get("/v1/models/sta-lstm-synthetic/card", role="clinician")
    assert card.status_code == 200 and "synthetic" in card.text.lower()
    assert api.get("/v1/models/other/card").status_code == 404


def test_openapi_lists_the_api(api):
    paths = api.get("/schema/openapi.json").json()["paths"]
    assert {"/v1/assessments", "/fhir/Observation", "/fhir/metadata", "/health"} <= set(paths)


def test_links_and_location_come_from_the_public_url_never_the_host_header(sqlite_url, keypoints_json):
    from conftest import create_tokens
    from litestar.testing import TestClient

    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import Settings
    from gateway.web.app import create_app

    settings = Settings(database_url=sqlite_url, public_url="https://pain.example.org")
    plugins = build_plugins(settings, environ={})
    headers = {"Authorization": f"Bearer {create_tokens(sqlite_url)['integrator']}", "Host": "evil.example.com"}
    with TestClient(create_app(settings, plugins)) as client:
        created = client.post("/v1/assessments", json=keypoints_json(), headers=headers)
        search = client.get("/fhir/Observation", headers=headers).json()
    assert created.headers["location"].startswith("https://pain.example.org/v1/assessments/")
    assert all(link.startswith("https://pain.example.org/") for link in created.json()["links"].values())
    assert search["link"][0]["url"].startswith("https://pain.example.org/fhir/Observation")
    assert "evil.example.com" not in created.text + json.dumps(search)
