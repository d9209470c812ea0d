"""Tenant isolation: every route, every role, the caller's own tenant and another's.

Tenant "a" owns an assessment, its webhook endpoint and the delivery to it. Every route the app
serves is called with each role of tenant "b" with "a"'s ids filled in: nothing of "a" may come back
and nothing of "a" may change (another tenant's resource is a 404, existence not revealed). The same
walk as tenant "a" shows the routes do serve those resources to their owner.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from litestar.testing import TestClient
from support.gateway import tokens_for
from support.ui import csrf_of, sign_in

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app
from plugins.fhir_observation.resources import provenance_id

MRN = "MRN-TENANT-A"


@pytest.fixture
def world(sqlite_url, keypoints_json):
    settings = Settings(database_url=sqlite_url, webhook_allowlist=["127.0.0.1"])
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        a, b = tokens_for(sqlite_url, "a"), tokens_for(sqlite_url, "b")
        endpoint = client.post(
            "/v1/webhook-endpoints", headers=a["telehealth"], json={"url": "http://127.0.0.1:9/hook", "events": ["assessment.completed"]}
        ).json()
        body = keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.3", "value": MRN}})
        assessment = client.post("/v1/assessments", headers=a["integrator"], json=body).json()
        [delivery] = client.get("/v1/deliveries", headers=a["integrator"], params={"assessment_id": assessment["id"]}).json()["items"]
        fhir = client.get("/fhir/Observation", headers=a["integrator"], params={"identifier": assessment["id"]}).json()
        observation = fhir["entry"][0]["resource"]
        live = client.post("/v1/live/sessions", headers=a["clinician"], json={"patient": body["patient"]}).json()
        ids = {
            "assessment_id": assessment["id"],
            "delivery_id": delivery["id"],
            "endpoint_id": endpoint["id"],
            "message_id": f"msg_{delivery['id']}",
            "output": "fhir",
            "model_id": "sta-lstm-synthetic",
            "observation_id": observation["id"],
            "device_id": observation["device"]["reference"].split("/")[1],
            "provenance_id": provenance_id(assessment["id"], "urn:pain-gateway"),
            "fhir_path": "Patient/1",
            "version_id": "1",
            "document_reference_id": observation["extension"][0]["valueReference"]["reference"].split("/")[1],
            "file_path": "swagger-ui.css",  # /docs/assets: public, walked like the rest
            "token": "not-a-share-link.x",  # /v1/shared/caregiver-summary: public, refused (403) for anything unsigned
            "session_id": live["id"],
            "episode_id": "5b0f3c8e-2f8e-5d0a-9a47-3f7f9d1c2b6e",  # alerts are off by default: tenant a has none
        }
        yield client, a, b, ids, body


def routes(client) -> list[tuple[str, str]]:
    app = client.app
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", ())):
            if method not in ("HEAD", "OPTIONS") and not route.path.startswith("/schema"):
                found.append((method, route.path))
    return found


def call(client, method: str, path: str, ids: dict[str, str], headers: dict[str, str], body: dict):
    url = path
    for name, value in ids.items():
        url = url.replace(f"{{{name}:str}}", value).replace(f"{{{name}:path}}", value).replace(f"{{{name}}}", value)
    assert "{" not in url, f"no id for a parameter of {path}"
    if path.startswith("/ui/") and not path.startswith(("/ui/static", "/ui/sign-in")):
        return ui_call(client, method, url, headers)
    if method in ("POST", "PUT"):
        return client.request(method, url, headers={**headers, "content-type": "application/json"}, content=json.dumps(body))
    return client.request(method, url, headers=headers)


def ui_call(client, method: str, url: str, headers: dict[str, str]):
    """Review UI pages take a session cookie, not the bearer token: sign in with the token (a role the
    UI is not for is refused there, 403), then send the request with the session's CSRF token."""
    client.cookies.clear()
    signed_in = sign_in(client, headers["Authorization"].split(" ", 1)[1])
    if signed_in.status_code != 303:
        return signed_in
    data = {"csrf": csrf_of(client.get("/ui/worklist").text)} if method == "POST" else None
    try:
        return client.request(method, url, data=data, follow_redirects=False)
    finally:
        client.cookies.clear()


def leaks(response, ids: dict[str, str]) -> list[str]:
    """What of tenant a's data came back (a refusal may echo the id the caller itself sent)."""
    text = response.text
    echoed = response.status_code >= 400
    return [name for name in ("assessment_id", "delivery_id", "endpoint_id") if ids[name] in text and not echoed] + ([MRN] if MRN in text else [])


def test_another_tenants_data_is_invisible_and_unchangeable_on_every_route(world):
    client, a, b, ids, body = world
    body = {**body, "patient": {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-TENANT-B"}}}  # b sends its own patients
    walked = routes(client)
    assert len(walked) >= 20
    for method, path in walked:
        for role, headers in b.items():
            payload = {"decision": "confirm"} if path.endswith("/review") else body  # a valid review: the tenant is what is refused
            response = call(client, method, path, ids, headers, payload)
            assert response.status_code < 500, (method, path, role, response.text)
            assert not leaks(response, ids), (method, path, role, response.status_code, response.text[:300])
            if any(f"{{{name}" in path for name in ("assessment_id", "delivery_id", "endpoint_id", "session_id")):
                refused = (401, 403, 404) if path.startswith("/ui/") else (403, 404)  # /ui takes a session cookie, not a token
                assert response.status_code in refused, (method, path, role, response.status_code)
            if any(f"{{{name}" in path for name in ("observation_id", "provenance_id", "document_reference_id")):  # read-only: other methods are 405 for all
                assert response.status_code in ((403, 404) if method == "GET" else (405,)), (method, path, role, response.status_code)
    # tenant a's resources are untouched
    endpoint = client.get(f"/v1/webhook-endpoints/{ids['endpoint_id']}", headers=a["telehealth"])
    assert endpoint.status_code == 200 and endpoint.json()["enabled"] is True
    owned = client.get(f"/v1/assessments/{ids['assessment_id']}", headers=a["integrator"])
    assert owned.status_code == 200 and owned.json()["clinical_status"] == "preliminary"  # no other tenant's clinician reviewed it


def test_the_owner_sees_its_own_data_on_the_read_routes(world):
    client, a, _, ids, _ = world
    for path in (
        "/v1/assessments/{assessment_id}",
        "/v1/assessments/{assessment_id}/fhir",
        "/v1/deliveries/{delivery_id}",
        "/v1/webhook-endpoints/{endpoint_id}",
        "/v1/webhook-endpoints/{endpoint_id}/attempts",
        "/v1/assessments/{assessment_id}/explanation",
        "/v1/assessments/{assessment_id}/explanation.png",
        "/fhir/DocumentReference/{document_reference_id}",
    ):
        role = "telehealth" if "webhook" in path else "integrator"
        response = call(client, "GET", path, ids, a[role], {})
        assert response.status_code == 200, (path, response.text)
    search = client.get("/fhir/Observation", headers=a["integrator"], params={"identifier": ids["assessment_id"]}).json()
    assert search["total"] == 1
    assert client.get("/fhir/Observation", headers=a["integrator"]).json()["total"] == 1


def test_the_same_clip_from_two_tenants_is_two_assessments(world):
    client, a, b, ids, body = world
    theirs = client.post("/v1/assessments", headers=b["integrator"], json=body)
    assert theirs.status_code == 201 and theirs.json()["id"] != ids["assessment_id"]
    assert client.get("/fhir/Observation", headers=b["integrator"]).json()["total"] == 1
    again = client.post("/v1/assessments", headers=a["integrator"], json=body)
    assert again.status_code == 200 and again.json()["id"] == ids["assessment_id"]


def test_a_tenants_webhooks_carry_only_its_own_events(world):
    client, a, b, ids, body = world
    theirs = client.post("/v1/assessments", headers=b["integrator"], json=body).json()
    mine = client.get("/v1/deliveries", headers=a["integrator"]).json()["items"]
    assert {d["assessment_id"] for d in mine} == {ids["assessment_id"]}
    assert client.get("/v1/deliveries", headers=b["integrator"], params={"assessment_id": theirs["id"]}).json()["items"] == []


def test_tokens_are_created_per_tenant_and_the_tenant_is_checked(sqlite_url):
    from gateway.contract.domain import InputError

    async def act():
        engine = create_engine(sqlite_url)
        try:
            store = TokenStore(engine)
            info, secret = await store.create("ward-7", "clinician", "st-marys")
            verified = await store.verify(secret)
            with pytest.raises(InputError, match="tenant"):
                await store.create("x", "clinician", "no spaces allowed")
            return info, verified
        finally:
            await engine.dispose()

    info, verified = asyncio.run(act())
    assert info.tenant == verified.tenant == "st-marys"


def test_installation_wide_routes_are_for_the_operators_admins_only(world, api_tokens_for, sqlite_url):
    client, _, b, _, _ = world
    operators = tokens_for(sqlite_url, "default")
    for path in ("/metrics", "/v1/plugins"):
        assert client.get(path, headers=b["admin"]).status_code == 403, path
        assert client.get(path, headers=operators["admin"]).status_code == 200, path
