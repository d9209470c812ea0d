"""Steps for the telehealth story (tests/features/telehealth.feature)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient
from pytest_bdd import given, parsers, scenarios, then, when
from support.videos import face_video, not_a_video

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.web.app import create_app

scenarios("telehealth.feature")


@pytest.fixture
def gateway(sqlite_url, tmp_path, api_tokens_for):
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"))
    with TestClient(create_app(settings, build_plugins(settings, environ={})), timeout=60) as client:
        client.headers_for = api_tokens_for(sqlite_url)
        client.data_dir = Path(settings.data_dir)
        yield client


@given("the gateway is running in embedded mode with the bundled synthetic-data model")
def running(gateway):
    assert gateway.get("/ready").json()["checks"]["model"] == "ok"


@given("a telehealth platform holds a valid token")
def token(gateway):
    assert gateway.get("/fhir/metadata", headers=gateway.headers_for("telehealth")).status_code == 200


@given(parsers.parse('a {seconds:d}-second video of a real face for patient "{reference}"'))
def video(story, tmp_path, seconds, reference):
    story["video"] = face_video(tmp_path / "visit.mp4", seconds=float(seconds), size=(480, 360))
    story["metadata"] = json.dumps({"patient": {"reference": reference}, "captured_at": "2026-11-23T14:00:00+01:00"})


@given(parsers.parse('a text file named "{name}"'))
def text_file(story, tmp_path, name):
    story["video"] = not_a_video(tmp_path / name)
    story["metadata"] = json.dumps({"patient": {"reference": "Patient/x"}, "captured_at": "2026-11-23T14:00:00Z"})


def _post(gateway, story, key):
    files = {"video": (story["video"].name, story["video"].read_bytes(), "video/mp4")}
    headers = {**gateway.headers_for("telehealth"), "Idempotency-Key": key}
    return gateway.post("/v1/assessments", files=files, data={"metadata": story["metadata"]}, headers=headers)


@when(parsers.parse('the platform posts the video with idempotency key "{key}"'))
def post(gateway, story, key):
    story["key"] = key
    story["response"] = _post(gateway, story, key)


@when("the platform posts the video again with the same idempotency key")
def post_again(gateway, story):
    story["retry"] = _post(gateway, story, story["key"])


@then("the gateway answers 202 with the assessment's location")
def accepted(story):
    assert story["response"].status_code == 202, story["response"].text
    assert story["response"].headers["location"].endswith(story["response"].json()["id"])


@then("polling shows the job's status and progress until it completes")
def polled(gateway, story):
    seen, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        body = gateway.get(story["response"].headers["location"], headers=gateway.headers_for("telehealth")).json()
        seen.append((body["status"], body["progress"]))
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert body["status"] == "completed", body
    assert all(0 <= p <= 100 for _, p in seen) and seen[-1] == ("completed", 100)
    story["result"] = body


@then("the assessment has a pain level and quality flags for each scored second")
def levels(story):
    scored = [w for w in story["result"]["windows"] if w["scorable"]]
    assert len(scored) == 3
    assert all(w["level"] in ("none", "mild", "significant") and w["quality"]["face_share"] >= 0.9 for w in scored)


@then("the FHIR Observation for the EMR is labelled AI-asserted")
def fhir(gateway, story):
    bundle = gateway.get(story["result"]["links"]["fhir"], headers=gateway.headers_for("integrator")).json()
    observation = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    assert "AIAST" in [c["code"] for c in observation["meta"]["security"]]


@then("the raw video has been deleted while its landmarks are kept")
def privacy(gateway, story):
    assert not [p for p in (gateway.data_dir / "uploads").rglob("*") if p.is_file()]
    assert (gateway.data_dir / "landmarks" / f"{story['result']['id']}.npz").exists()


@then("both answers name the same assessment")
def same(story):
    assert (story["response"].status_code, story["retry"].status_code) == (202, 200)
    assert story["response"].json()["id"] == story["retry"].json()["id"]


@then(parsers.parse('the gateway answers 415 naming the field "{field}"'))
def unsupported(story, field):
    assert story["response"].status_code == 415 and story["response"].json()["field"] == field
