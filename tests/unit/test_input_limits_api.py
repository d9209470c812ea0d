"""Through the API: hostile and implausible keypoint submissions are 422 problems naming the field and
the setting, answered quickly, and nothing is stored."""

from __future__ import annotations

import io
import time

import msgspec
import numpy as np
import pytest
from litestar.testing import TestClient

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.web.app import create_app

PATIENT = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}}


def post_json(api, content: bytes):
    return api.client.post("/v1/assessments", content=content, headers={**api.headers("integrator"), "content-type": "application/json"})


def nothing_stored(api) -> bool:
    query = {"patient.identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}
    return api.get("/fhir/Observation", params=query).json()["total"] == 0


def pixels(body):
    return {"frames": [[[p[0] * 640, p[1] * 480, *p[2:]] for p in frame] if frame else frame for frame in body["frames"]]}


def strings(body):
    return {"frames": [[[str(v) for v in p] for p in frame] if frame else frame for frame in body["frames"]]}


HOSTILE = [
    ("capture time in year 9999", lambda b: {"captured_at": "9999-12-31T23:59:59Z"}, "captured_at", "in the future"),
    ("capture time before 2000", lambda b: {"captured_at": "1970-01-01T00:00:00Z"}, "captured_at", "before 2000-01-01"),
    ("a coordinate of 1e300", lambda b: {"frames": [[[1e300, 0.5, 0.0]] + b["frames"][0][1:]] + b["frames"][1:]}, "frames", "outside the image"),
    ("pixel coordinates", pixels, "frames", "pixel coordinates"),
    ("coordinates as strings", strings, "frames", "JSON numbers"),
    ("NUL in the identifier", lambda b: {"patient": {"identifier": {"system": "urn:s", "value": "MRN\x00"}}}, "patient.identifier.value", "U+0000"),
    ("right-to-left override", lambda b: {"patient": {"identifier": {"system": "urn:s", "value": "\u202eMRN"}}}, "patient.identifier.value", "U+202E"),
    ("5 MB identifier", lambda b: {"patient": {"identifier": {"system": "urn:s", "value": "9" * 5_000_000}}}, "patient.identifier.value", "at most 256"),
]


@pytest.mark.parametrize(("case", "change", "field", "words"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_implausible_keypoints_are_422_and_nothing_is_stored(api, keypoints_json, case, change, field, words):
    body = keypoints_json(patient=PATIENT, frames=[f for f in keypoints_json()["frames"] if f is not None][:40])
    body.update(change(body))
    response = post_json(api, msgspec.json.encode(body))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and words in response.json()["detail"]
    assert nothing_stored(api)


def test_json_nested_a_hundred_thousand_deep_is_422(api):
    started = time.monotonic()
    response = post_json(api, b'{"patient": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert response.status_code == 422 and response.json()["field"] == "body"
    assert time.monotonic() - started < 2


def test_null_frames_beyond_the_frame_limit_are_422_naming_the_setting(api):
    body = b'{"patient": {"reference": "Patient/p1"}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": [' + b"null," * 100_000 + b"null]}"
    response = post_json(api, body)
    assert response.status_code == 422
    assert "PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_FRAMES" in response.json()["detail"]


def test_forged_npy_header_is_422_without_allocating(api):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (100_000_000, 468, 3)})
    response = api.post(
        "/v1/assessments",
        files={"keypoints": ("clip.npy", buffer.getvalue(), "application/octet-stream")},
        data={"patient_reference": "Patient/p-77", "fps": "30", "captured_at": "2026-11-23T11:00:00Z"},
    )
    assert response.status_code == 422 and response.json()["field"] == "keypoints"
    assert "100000000 frames" in response.json()["detail"] and "MAX_FRAMES" in response.json()["detail"]


def test_limits_come_from_the_plugin_settings(sqlite_url, api_tokens_for, keypoints_json):
    settings = Settings(database_url=sqlite_url, max_clock_skew_s=0)
    plugins = build_plugins(settings, environ={"PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_DURATION_S": "2"})
    headers = api_tokens_for(sqlite_url)("integrator")
    with TestClient(create_app(settings, plugins)) as client:
        response = client.post("/v1/assessments", json=keypoints_json(), headers=headers)
        assert response.status_code == 422
        assert "at most 2 s" in response.json()["detail"] and "PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_DURATION_S" in response.json()["detail"]
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
        response = client.post("/v1/assessments", json=keypoints_json(captured_at=soon), headers=headers)
        assert response.status_code == 422 and "allowed clock skew 0 s" in response.json()["detail"]
