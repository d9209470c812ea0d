"""Webhooks sent for real to an HTTP receiver on loopback (allowlisted, as a site would allow an
internal receiver). Signatures are verified with the reference Standard Webhooks library."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.ports import free_port
from support.receiver import Receiver, Reply

from gateway.contract.domain import AssessmentEvent
from gateway.contract.protocols import DeliveryRequest
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade
from plugins.webhooks import egress
from plugins.webhooks.destination import WebhookDestination
from plugins.webhooks.endpoints import EndpointStore
from tests.unit.test_webhooks import SCORED, event, fhir_document

LOOPBACK = egress.Allowlist.parse("127.0.0.0/8")


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def webhook_db(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/webhooks.db"
    upgrade(url)
    return url


@pytest.fixture
async def engine(webhook_db):
    engine = create_engine(webhook_db)
    yield engine
    await engine.dispose()


def destination(allowlist: egress.Allowlist = LOOPBACK, timeout_s: float = 5.0) -> WebhookDestination:
    return WebhookDestination(allowlist, "https://gw.example", timeout_s)


def request(
    engine, target: str, delivery_id: str = "0b7c6f0e-1111-4c1e-9d7e-2a1f0c3b4d5e", attempt: int = 1, evt: AssessmentEvent | None = None
) -> DeliveryRequest:
    a = SCORED
    evt = evt or event()
    failed = evt.type == "assessment.failed"
    return DeliveryRequest(
        delivery_id=delivery_id,
        destination="webhooks",
        target=target,
        attempt=attempt,
        event=evt,
        assessment=None if failed else a,
        document=None if failed else fhir_document(a),
        engine=engine,
    )


async def test_a_completed_assessment_arrives_signed_and_verifies(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.completed"], "", None)
    receiver.reply(Reply(200, b'{"received":true}'))
    result = await destination().send(request(engine, endpoint.id))
    assert (result.outcome, result.status_code, result.response_excerpt) == ("delivered", 200, '{"received":true}')
    [got] = receiver.requests
    assert got.path == "/hook"
    message = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert message["type"] == "assessment.completed"
    assert message["data"]["observation"]["resourceType"] == "Observation"
    assert message["data"]["links"]["self"] == "https://gw.example/v1/assessments/asm-1"
    assert got.headers["webhook-id"] == "msg_0b7c6f0e-1111-4c1e-9d7e-2a1f0c3b4d5e"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 5
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "PainGateway-Webhooks/1"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_failed_event_arrives_with_its_error(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.failed"], "", None)
    evt = event("assessment.failed", error="no face found")
    result = await destination().send(request(engine, endpoint.id, evt=evt))
    assert result.outcome == "delivered"
    data = Webhook(endpoint.secret).verify(receiver.requests[0].body, receiver.requests[0].headers)["data"]
    assert data["status"] == "failed" and data["error"] == "no face found" and "observation" not in data


async def test_webhook_id_is_stable_across_retries_and_500_is_retried(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.completed"], "", None)
    receiver.reply(Reply(500, b"boom"), Reply(204, b""))
    first = await destination().send(request(engine, endpoint.id, attempt=1))
    assert (first.outcome, first.status_code, first.response_excerpt) == ("retry", 500, "boom")
    assert first.retry_after_s is None and "500" in first.reason
    second = await destination().send(request(engine, endpoint.id, attempt=2))
    assert (second.outcome, second.status_code) == ("delivered", 204)
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1]
    for r in receiver.requests:
        Webhook(endpoint.secret).verify(r.body, r.headers)


async def test_retry_after_is_honoured_and_the_excerpt_bounded(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.completed"], "", None)
    receiver.reply(Reply(503, b"x" * 50_000, {"Retry-After": "120"}), Reply(429, b"slow down", {"Retry-After": "7"}))
    result = await destination().send(request(engine, endpoint.id))
    assert (result.outcome, result.status_code, result.retry_after_s) == ("retry", 503, 120.0)
    assert len(result.response_excerpt) == egress.EXCERPT_CHARS
    throttled = await destination().send(request(engine, endpoint.id))
    assert (throttled.outcome, throttled.status_code, throttled.retry_after_s) == ("retry", 429, 7.0)


async def test_a_receiver_that_does_not_answer_in_time_is_retried(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.completed"], "", None)
    receiver.reply(Reply(200, delay_s=1.5))
    started = time.perf_counter()
    result = await destination(timeout_s=0.3).send(request(engine, endpoint.id))
    assert time.perf_counter() - started < 1.2
    assert result.outcome == "retry" and "no answer within 0.3 s" in result.reason


async def test_a_receiver_that_is_down_is_retried(engine):
    endpoint = await EndpointStore(engine).create(f"http://127.0.0.1:{free_port()}/hook", ["assessment.completed"], "", None)
    result = await destination().send(request(engine, endpoint.id))
    assert result.outcome == "retry" and "connection failed" in result.reason


async def test_410_gone_disables_the_endpoint(engine, receiver):
    store = EndpointStore(engine)
    endpoint = await store.create(receiver.url(), ["assessment.completed"], "", None)
    receiver.reply(Reply(410, b"unsubscribed"))
    result = await destination().send(request(engine, endpoint.id))
    assert (result.outcome, result.status_code, result.response_excerpt) == ("failed", 410, "unsubscribed")
    after = await store.get(endpoint.id)
    assert not after.enabled and "410" in after.disabled_reason
    async with engine.connect() as conn:
        assert await EndpointStore.subscribed(conn, "assessment.completed", "default") == []
    again = await destination().send(request(engine, endpoint.id, attempt=2))
    assert again.outcome == "failed" and "disabled" in again.reason
    assert len(receiver.requests) == 1


async def test_a_deleted_endpoint_fails_without_sending(engine, receiver):
    store = EndpointStore(engine)
    endpoint = await store.create(receiver.url(), ["assessment.completed"], "", None)
    await store.delete(endpoint.id)
    result = await destination().send(request(engine, endpoint.id))
    assert result.outcome == "failed" and "deleted" in result.reason
    assert receiver.requests == []


async def test_redirects_are_not_followed(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.completed"], "", None)
    receiver.reply(Reply(302, b"", {"Location": receiver.url("/elsewhere")}))
    result = await destination().send(request(engine, endpoint.id))
    assert (result.outcome, result.status_code) == ("retry", 302) and "redirects are not followed" in result.reason
    assert [r.path for r in receiver.requests] == ["/hook"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_internal_receivers_are_refused_at_connect_time(engine, receiver, host):
    """The stored URL is not trusted: even a row that skipped registration checks is refused."""
    endpoint = await EndpointStore(engine).create(receiver.url(host=host), ["assessment.completed"], "", None)
    result = await destination(allowlist=egress.Allowlist()).send(request(engine, endpoint.id))
    assert result.outcome == "failed" and "refused" in result.reason and "PAIN_GATEWAY_WEBHOOK_ALLOWLIST" in result.reason
    assert receiver.requests == []


async def test_an_allowlisted_host_name_connects_and_keeps_its_host_header(engine, receiver):
    """``localhost`` may resolve to ::1 first; the vetted addresses are tried in turn."""
    endpoint = await EndpointStore(engine).create(receiver.url(host="localhost"), ["assessment.completed"], "", None)
    result = await destination(allowlist=egress.Allowlist.parse("localhost")).send(request(engine, endpoint.id))
    assert result.outcome == "delivered"
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


async def test_after_rotation_both_secrets_verify_until_the_grace_ends(engine, receiver):
    store = EndpointStore(engine)
    endpoint = await store.create(receiver.url(), ["assessment.completed"], "", None)
    rotated = await store.rotate(endpoint.id, timedelta(hours=24))
    await destination().send(request(engine, endpoint.id))
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(endpoint.secret).verify(got.body, got.headers)["type"] == "assessment.completed"
    assert Webhook(rotated.secret).verify(got.body, got.headers)["type"] == "assessment.completed"

    await store.rotate(endpoint.id, timedelta(0))
    newest = (await store.get(endpoint.id)).secret
    await destination().send(request(engine, endpoint.id))
    got = receiver.requests[-1]
    assert Webhook(newest).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(got.body, got.headers)


async def test_probe_sends_a_signed_test_and_reports_the_worst_endpoint(engine, receiver):
    store = EndpointStore(engine)
    assert (await destination().probe(engine)).outcome == "failed"  # nothing to test
    good = await store.create(receiver.url("/good"), ["assessment.completed"], "", None)
    result = await destination().probe(engine)
    assert result.outcome == "delivered"
    message = Webhook(good.secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
    assert message["type"] == "webhook.test"
    bad = await store.create(receiver.url("/bad"), ["assessment.completed"], "", None)
    receiver.reply(Reply(200), Reply(500, b"down"))
    result = await destination().probe(engine)
    assert result.outcome == "retry" and bad.id in result.reason and result.status_code == 500
    assert (await store.get(bad.id)).enabled  # a probe changes nothing


async def test_timestamp_is_now_while_the_payload_timestamp_is_the_event_time(engine, receiver):
    endpoint = await EndpointStore(engine).create(receiver.url(), ["assessment.completed"], "", None)
    await destination().send(request(engine, endpoint.id))
    got = receiver.requests[0]
    body = msgspec.json.decode(got.body)
    assert body["timestamp"] == datetime(2026, 1, 1, 12, tzinfo=UTC).isoformat()
    assert int(got.headers["webhook-timestamp"]) >= int(time.time()) - 5
