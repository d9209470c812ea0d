"""No 5xx from a client's mistake: OPTIONS/CORS, 405 with Allow, HEAD, unparseable input, a busy SQLite."""

from __future__ import annotations

import re
import sqlite3

import pytest
from conftest import create_tokens
from litestar.testing import TestClient

from gateway.ops.settings import Settings, SettingsError
from gateway.storage import engine as db_engine
from gateway.web.app import create_app

PREFLIGHT = {"Origin": "https://portal.example.org", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}


def test_options_answers_allow_and_unsupported_methods_are_405_with_allow(api):
    response = api.client.options("/v1/live/sessions")
    assert response.status_code == 204 and response.headers["allow"] == "OPTIONS, POST"
    response = api.client.delete("/health")
    assert response.status_code == 405 and set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert response.headers["content-type"].startswith("application/problem+json")


SAMPLE_PARAMETER = {"str": "x1", "int": "1", "uuid": "00000000-0000-4000-8000-000000000000", "path": "x1"}


def test_options_allow_lists_every_method_of_every_path(api):
    """A path served by several handlers (a Controller's, or one per method) lists them all, e.g.
    ``GET`` beside ``POST`` on ``/v1/webhook-endpoints`` (Litestar 2 listed only the first registered)."""
    webhooks = api.client.options("/v1/webhook-endpoints")
    assert webhooks.status_code == 204 and webhooks.headers["allow"] == "GET, OPTIONS, POST"
    assert api.client.options("/v1/webhook-endpoints/x1").headers["allow"] == "DELETE, GET, OPTIONS"
    assert api.client.options("/fhir/Observation").headers["allow"] == "GET, OPTIONS", "the 405 fillers answer no method"
    for route in api.client.app.routes:
        if "OPTIONS" in getattr(route, "methods", ()) and not route.path.startswith("/schema"):
            path = re.sub(r"\{\w+:(\w+)\}", lambda m: SAMPLE_PARAMETER[m[1]], route.path)
            response = api.client.options(path)
            answered = {m for h in route.route_handlers if h.status_code != 405 for m in h.http_methods}
            assert response.headers.get("allow") == ", ".join(sorted(answered)), route.path


def test_head_runs_the_get_route_with_its_auth_and_no_body(api):
    health = api.client.head("/health")
    assert health.status_code == 200 and health.content == b"" and int(health.headers["content-length"]) > 0
    assert api.client.head("/v1/deliveries").status_code == 401, "HEAD must not bypass authentication"
    assert api.client.head("/v1/deliveries", headers=api.headers("integrator")).status_code == 200
    assert api.client.head("/v1/assessments", headers=api.headers("integrator")).status_code == 200  # the listing's GET
    assert api.client.head("/v1/live/sessions", headers=api.headers("integrator")).status_code == 405  # POST only


def test_without_cors_origins_a_preflight_is_refused_and_no_cors_headers_are_sent(api):
    response = api.client.options("/v1/assessments", headers=PREFLIGHT)
    assert response.status_code == 403 and "PAIN_GATEWAY_CORS_ORIGINS" in response.json()["detail"]
    assert "access-control-allow-origin" not in api.client.get("/health", headers={"Origin": PREFLIGHT["Origin"]}).headers


def test_cors_origins_allow_listed_browsers_only(sqlite_url, plugins):
    settings = Settings(database_url=sqlite_url, cors_origins=["https://portal.example.org"])
    with TestClient(create_app(settings, plugins)) as client:
        allowed = client.options("/v1/assessments", headers=PREFLIGHT)
        assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == "https://portal.example.org"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = client.options("/v1/assessments", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert 400 <= refused.status_code < 500 and "access-control-allow-origin" not in refused.headers
        simple = client.get("/health", headers={"Origin": "https://portal.example.org"})
        assert simple.headers["access-control-allow-origin"] == "https://portal.example.org"
    with pytest.raises(SettingsError, match="PAIN_GATEWAY_CORS_ORIGINS"):
        Settings(cors_origins=["https://portal.example.org/app"])


@pytest.mark.parametrize("captured_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_past_year_9999_in_utc_is_422_naming_the_field(api, keypoints_json, captured_at):
    response = api.post("/v1/assessments", json=keypoints_json(captured_at=captured_at))
    assert response.status_code == 422 and response.json()["field"] == "captured_at"


def test_json_nested_past_the_parser_depth_is_a_4xx_naming_the_body(api):
    body = '{"patient":' * 100_000 + "1" + "}" * 100_000
    response = api.post("/v1/assessments", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "body" and "nested" in response.json()["detail"]
    unknown = api.post("/v1/assessments", content=body.replace("patient", "a"), headers={"content-type": "application/json"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "a"  # refused at its first key, before the depth matters


def test_sqlite_still_busy_after_the_timeout_is_503_with_retry_after(sqlite_url, plugins, keypoints_json, monkeypatch):
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    tokens = create_tokens(sqlite_url)
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:
        holder = sqlite3.connect(path, isolation_level=None)  # another process holding the write lock
        holder.execute("BEGIN IMMEDIATE")
        try:
            response = client.post("/v1/assessments", json=keypoints_json(), headers={"Authorization": f"Bearer {tokens['integrator']}"})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "2" and "busy" in response.json()["detail"]
        retried = client.post("/v1/assessments", json=keypoints_json(), headers={"Authorization": f"Bearer {tokens['integrator']}"})
        assert retried.status_code == 201


def test_a_forged_npy_header_claiming_terabytes_is_422_naming_the_frame_limit(api):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 468, 3), }".ljust(118) + "\n"
    forged = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 100
    form = {"patient_system": "urn:test", "patient_value": "p1", "fps": "30", "captured_at": "2026-11-23T10:00:00Z", "image_size": "640,480"}
    response = api.post("/v1/assessments", files={"keypoints": ("k.npy", forged, "application/octet-stream")}, data=form)
    assert response.status_code == 422 and response.json()["field"] == "keypoints", response.text  # docs/guides/api.md: bounded input, 422
    assert "PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_FRAMES" in response.json()["detail"]
