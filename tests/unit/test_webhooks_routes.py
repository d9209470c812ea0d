"""``/v1/webhook-endpoints`` through the real app: roles, 422s naming the field, secrets shown once,
the attempt log and replay over the delivery ledger."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Controller
from litestar.testing import TestClient

try:
    from gateway.web.app import create_app
except ImportError as exc:  # pragma: no cover - only while the core is being rewritten
    pytest.skip(f"gateway.web.app does not import ({exc})", allow_module_level=True)

from conftest import Api, create_tokens

from gateway.contract.plugin_manager import Plugins
from gateway.ops.settings import Settings
from gateway.storage.engine import create_engine
from gateway.storage.tables import DeliveryRow
from tests.unit.test_webhooks import _ledger

PATH = "/v1/webhook-endpoints"
PUBLIC_URL = "https://93.184.215.14/hook"  # a public address literal: no DNS, never contacted here


def create(api, role: str = "telehealth", **overrides):
    body = {"url": PUBLIC_URL, "events": ["assessment.completed"], "description": "clinic A"} | overrides
    return api.post(PATH, role=role, json=body)


def run(coro_fn, url: str):
    async def go():
        engine = create_engine(url)
        try:
            return await coro_fn(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_the_plugin_registers_the_webhooks_destination(plugins):
    destination = plugins.destinations["webhooks"]
    assert destination.output == "fhir"
    controllers = [r for r in plugins.routes if isinstance(r, type) and issubclass(r, Controller)]
    assert [c.path for c in controllers if c.__module__ == "plugins.webhooks.routes"] == [PATH]


def test_register_read_and_list_shows_the_secret_only_once(api):
    created = create(api)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["events"] == ["assessment.completed"] and body["url"] == PUBLIC_URL and body["created_by"]
    listed = api.get(PATH, role="integrator").json()["endpoints"]
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    read = api.get(f"{PATH}/{body['id']}", role="telehealth").json()
    assert read["description"] == "clinic A" and "secret" not in read


@pytest.mark.parametrize("role", ["clinician"])
def test_other_roles_may_not_manage_endpoints(api, role):
    assert create(api, role=role).status_code == 403
    assert api.get(PATH, role=role).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"events": []}, "events", "at least one"),
        ({"events": ["assessment.deleted"]}, "events", "unknown event"),
        ({"url": "ftp://93.184.215.14/x"}, "url", "https://"),
        ({"url": "https://user:pw@93.184.215.14/x"}, "url", "credentials"),
        ({"url": "http://127.0.0.1:8080/hook"}, "url", "PAIN_GATEWAY_WEBHOOK_ALLOWLIST"),
        ({"url": "http://169.254.169.254/latest"}, "url", "PAIN_GATEWAY_WEBHOOK_ALLOWLIST"),
        ({"description": "x" * 501}, "description", "500"),
    ],
)
def test_bad_registrations_are_422_naming_the_field(api, overrides, field, words):
    response = create(api, **overrides)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field and words in problem["detail"]


def test_events_are_the_loaded_event_types_plugins_ones_included(sqlite_url, plugins):
    """Event types are open: the ``plugins`` dependency's ``event_types`` (the core's and those plugins declare)."""
    extended = Plugins(**{**vars(plugins), "event_types": {**plugins.event_types, "pain.sustained": "significant pain three times in an hour"}})
    settings = Settings(database_url=sqlite_url, data_dir=plugins.settings.data_dir)
    with TestClient(create_app(settings, extended)) as client:
        api = Api(client, create_tokens(sqlite_url))
        created = create(api, events=["pain.sustained", "assessment.completed", "pain.sustained"])
        assert created.status_code == 201, created.text
        assert created.json()["events"] == ["pain.sustained", "assessment.completed"]
        refused = create(api, events=["pain.gone"])
        assert refused.status_code == 422
        assert refused.json()["detail"] == ("unknown event type(s) pain.gone; expected some of " + ", ".join([*plugins.event_types, "pain.sustained"]))
        assert ", ".join([*plugins.event_types, "pain.sustained"]) in create(api, events=[]).json()["detail"]


def test_disable_enable_rotate_delete(api):
    endpoint = create(api).json()
    url = f"{PATH}/{endpoint['id']}"
    disabled = api.post(f"{url}/disable")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False and disabled.json()["disabled_reason"]
    assert api.post(f"{url}/enable").json()["enabled"] is True
    rotated = api.post(f"{url}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != endpoint["secret"]
    assert rotated.json()["previous_secret_expires_at"]
    assert api.client.delete(url, headers=api.headers("telehealth")).status_code == 204
    assert api.get(url).status_code == 404
    assert api.client.delete(url, headers=api.headers("telehealth")).status_code == 404
    for action in ("disable", "enable", "rotate-secret"):
        assert api.post(f"{url}/{action}").status_code == 404


def test_attempt_log_and_replay(api, sqlite_url):
    endpoint = create(api).json()
    other = create(api).json()
    run(lambda engine: _ledger(engine, endpoint["id"], "d-1", status="dead", attempts=3), sqlite_url)
    run(lambda engine: _ledger(engine, other["id"], "d-2"), sqlite_url)
    log = api.get(f"{PATH}/{endpoint['id']}/attempts")
    assert log.status_code == 200
    attempts = log.json()["attempts"]
    assert [a["attempt"] for a in attempts] == [3, 2, 1] and {a["message_id"] for a in attempts} == {"msg_d-1"}
    assert attempts[0]["status_code"] == "500" and attempts[0]["event_type"] == "assessment.completed"
    assert len(api.get(f"{PATH}/{endpoint['id']}/attempts?limit=1").json()["attempts"]) == 1
    assert api.get(f"{PATH}/{endpoint['id']}/attempts?limit=0").json()["field"] == "limit"
    assert api.get(f"{PATH}/nope/attempts").status_code == 404

    replay = api.post(f"{PATH}/{endpoint['id']}/messages/msg_d-1/replay")
    assert replay.status_code == 202 and replay.json() == {"message_id": "msg_d-1", "status": "pending"}

    async def status(engine):
        async with engine.connect() as conn:
            return (await conn.execute(DeliveryRow.__table__.select().where(DeliveryRow.id == "d-1"))).one()

    row = run(status, sqlite_url)  # a fresh budget, due now (the gateway may already be sending it)
    assert row.status in ("pending", "sending", "retrying") and row.attempts <= 1
    assert api.post(f"{PATH}/{endpoint['id']}/messages/msg_d-2/replay").status_code == 404
    api.post(f"{PATH}/{endpoint['id']}/disable")
    assert api.post(f"{PATH}/{endpoint['id']}/messages/msg_d-1/replay").status_code == 409


def test_the_openapi_schema_documents_the_bodies(api):
    schema = api.get("/schema/openapi.json").json()
    names = set(schema["components"]["schemas"])
    assert {"EndpointCreate", "EndpointCreated", "EndpointList", "AttemptList", "SecretRotated"} <= names
    assert "webhooks" in {t for op in schema["paths"][PATH].values() for t in op.get("tags", [])}


@pytest.fixture
def loopback_api(sqlite_url):
    """The app with loopback allowlisted (``PAIN_GATEWAY_WEBHOOK_ALLOWLIST``), as a site with an
    internal receiver would run it."""
    from conftest import Api, create_tokens
    from litestar.testing import TestClient

    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import load_settings

    settings = load_settings({"PAIN_GATEWAY_DATABASE_URL": sqlite_url, "PAIN_GATEWAY_WEBHOOK_ALLOWLIST": "127.0.0.0/8,localhost"})
    plugins = build_plugins(settings, environ={})
    with TestClient(create_app(settings, plugins)) as client:
        yield Api(client, create_tokens(sqlite_url))


def test_allowlisted_internal_receivers_can_register(loopback_api):
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook"):
        response = create(loopback_api, url=url)
        assert response.status_code == 201, response.text
    assert create(loopback_api, url="http://10.0.0.1/hook").status_code == 422


def test_a_typo_in_a_key_is_named_with_a_hint_and_other_content_types_are_415(api):
    typo = api.post(PATH, role="telehealth", json={"url": PUBLIC_URL, "event": ["assessment.completed"]})
    assert typo.status_code == 422 and typo.json()["field"] == "event"
    assert "did you mean 'events'?" in typo.json()["detail"]
    text = api.post(PATH, role="telehealth", headers={"content-type": "text/plain"}, content=b"url=x")
    assert text.status_code == 415 and "send application/json" in text.json()["detail"]
