"""Steps for the live scoring story (tests/features/live.feature): the bundled model, a real webhook
receiver, and the edge client with MediaPipe against a served gateway."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from support.live import frames
from support.serve import live_gateway
from support.videos import face_video

scenarios("live.feature")

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "pain-gateway"


@given(parsers.parse('the platform\'s webhook receiver is registered for "{event}"'))
def registered(story, receiver, gateway_for, event):
    story["gateway"] = gateway = gateway_for(core={"webhook_allowlist": ["127.0.0.1"]})
    headers = {"Authorization": f"Bearer {gateway.tokens['telehealth']}"}
    response = gateway.client.post("/v1/webhook-endpoints", headers=headers, json={"url": receiver.url(), "events": [event]})
    assert response.status_code == 201, response.text


@given(parsers.parse('a clinician opens a live session for patient "{reference}"'))
def opened(story, reference):
    headers = {"Authorization": f"Bearer {story['gateway'].tokens['clinician']}"}
    response = story["gateway"].client.post("/v1/live/sessions", headers=headers, json={"patient": {"reference": reference}})
    assert response.status_code == 201, response.text
    story["session"] = response.json()


@when(parsers.parse("the bedside device streams {seconds:d} seconds of a real face's landmarks at 30 fps and ends the session"))
def streams(story, seconds):
    session = story["session"]
    with story["gateway"].client.websocket_connect(f"/v1/live/{session['id']}?ticket={session['ticket']}") as socket:
        socket.send_text(json.dumps({"type": "hello", "image_size": [640, 480], "fps": 30}))
        for _, frame in frames(seconds):
            socket.send_bytes(frame)
        socket.send_text(json.dumps({"type": "end"}))
        story["messages"] = messages = []
        while not messages or messages[-1]["type"] != "assessment":
            messages.append(socket.receive_json())


@then(parsers.parse("it gets {count:d} window results, one per second of capture, each with a level and the synthetic-data disclaimer"))
def windows(story, count):
    windows = [m for m in story["messages"] if m["type"] == "window"]
    assert [w["index"] for w in windows] == list(range(count))
    assert all(w["scorable"] and w["level"] in ("none", "mild", "significant") and "synthetic" in w["disclaimer"] for w in windows)


@then(parsers.parse('the assessment message names the stored assessment of {count:d} windows from source "{source}"'))
def stored(story, count, source):
    story["assessment"] = message = story["messages"][-1]
    headers = {"Authorization": f"Bearer {story['gateway'].tokens['clinician']}"}
    assessment = story["gateway"].client.get(f"/v1/assessments/{message['id']}", headers=headers).json()
    assert assessment["source"] == source and len(assessment["windows"]) == count == message["windows"]
    assert assessment["patient"] == {"reference": "Patient/bed-7"} and assessment["summary"]["level"] == message["level"]


@then(parsers.parse('a webhook "{event}" arrives for that assessment'))
def webhook(story, receiver, event):
    [delivered] = receiver.wait(1)
    payload = json.loads(delivered.body)
    assert payload["type"] == event and payload["data"]["assessment_id"] == story["assessment"]["id"]


@given(parsers.parse('a gateway served with "pain-gateway serve" and a clinician\'s token'))
def served(story, tmp_path):
    context = live_gateway(tmp_path)
    story["served"] = gateway = context.__enter__()
    story["close"] = context
    created = subprocess.run(
        [str(CLI), "tokens", "create", "--name", "bedside", "--role", "clinician"], cwd=ROOT, env=gateway.env, capture_output=True, text=True, timeout=120
    )
    assert created.returncode == 0, created.stderr
    story["token"] = created.stdout.strip()


@pytest.fixture(autouse=True)
def stop_served(story):
    yield
    if "close" in story:
        story["close"].__exit__(None, None, None)


@given(parsers.parse("a {seconds:d}-second face video"))
def video(story, tmp_path, seconds):
    story["video"] = face_video(tmp_path / "bedside.mp4", seconds=seconds)
    story["seconds"] = seconds


@when('the edge client "pain-gateway live" streams the video')
def edge_client(story):
    gateway = story["served"]
    story["run"] = subprocess.run(
        [str(CLI), "live", "--camera", str(story["video"]), "--patient-system", "urn:oid:1.2.36.146.595.217.0.1",
         "--patient-value", "MRN-BEDSIDE-1", "--url", gateway.origin, "--token", story["token"]],
        cwd=ROOT, env=gateway.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert story["run"].returncode == 0, story["run"].stdout + story["run"].stderr


@then("it prints a level for every second of the video")
def levels(story):
    lines = [line for line in story["run"].stdout.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", line)]
    assert len(lines) == story["seconds"], story["run"].stdout
    assert all(re.search(r"Z  (none|mild|significant)  \(\d+ frames\)$", line) for line in lines[:-1]), lines


@then("it prints the assessment, which the gateway serves")
def assessment(story):
    match = re.search(r"^assessment (\S+): (none|mild|significant|None) over (\d+) windows", story["run"].stdout, re.M)
    assert match, story["run"].stdout
    served = httpx.get(f"{story['served'].origin}/v1/assessments/{match[1]}", headers={"Authorization": f"Bearer {story['token']}"}, timeout=30)
    assert served.status_code == 200 and served.json()["source"] == "live_stream"
    assert served.json()["patient"] == {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-BEDSIDE-1"}
