"""A full story under ``pain-gateway serve``, then its log read as an attacker with log access would: no
share-link token, live ticket, bearer token, secret or patient identifier appears in any line (ours or uvicorn's)."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets
from support.gateway import tokens_for
from support.serve import live_gateway


def test_a_served_story_leaves_no_secret_in_the_log(tmp_path, keypoints_json):
    settings = {"PAIN_GATEWAY_SCORING_PROCESSES": "0", "PAIN_GATEWAY_LOG_FORMAT": "json", "PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_SHARE_SECRET": "s" * 40}
    with live_gateway(tmp_path, settings) as gateway:
        headers = tokens_for(gateway.env["PAIN_GATEWAY_DATABASE_URL"], "default")
        with httpx.Client(base_url=gateway.origin, timeout=60) as client:
            patient = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-SECRET-4711"}}
            scored = client.post("/v1/assessments", json=keypoints_json(patient=patient), headers=headers["integrator"])
            assert scored.status_code == 201, scored.text
            link = client.post(f"/v1/assessments/{scored.json()['id']}/caregiver-summary/share", json={}, headers=headers["clinician"])
            assert link.status_code == 201, link.text
            token = link.json()["url"].rsplit("/", 1)[-1]
            assert client.get(f"/v1/shared/caregiver-summary/{token}").status_code == 200
            assert client.get(f"/v1/shared/caregiver-summary/{token}x").status_code == 403
            opened = client.post("/v1/live/sessions", json={"patient": patient}, headers=headers["telehealth"])
            assert opened.status_code == 201, opened.text
            ticket = opened.json()["ticket"]

        async def stream() -> None:
            async with websockets.connect(opened.json()["url"]) as socket:
                await socket.send(json.dumps({"type": "hello"}))
                await socket.send(json.dumps({"type": "end"}))
                async for _ in socket:
                    pass

        asyncio.run(stream())
    log = (tmp_path / "serve.log").read_text()
    assert "/v1/shared/caregiver-summary/" in log and "/v1/live/" in log, "the story's requests are logged"
    secrets = {
        "share link": token,
        "live ticket": ticket,
        "share secret": settings["PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_SHARE_SECRET"],
        "patient identifier": "MRN-SECRET-4711",
        **{f"{role} token": h["Authorization"].split()[1] for role, h in headers.items()},
    }
    leaked = [name for name, secret in secrets.items() if secret in log or secret[:20] in log]
    assert not leaked, f"{leaked} found in the log"
