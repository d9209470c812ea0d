"""Delivery back-pressure: a tenant whose deliveries pile up past PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES is
told to slow down (429, Retry-After) before any work; ``/ready`` and ``/metrics`` show the backlog; the embedded
scheduler starts the next due delivery as soon as a slot frees, not at its next poll."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from conftest import PATIENT_SYSTEM
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.jobs import embedded
from gateway.storage.deliveries import DeliveryStore
from gateway.storage.engine import create_engine
from gateway.storage.events import new_event
from gateway.storage.tables import DeliveryRow
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app


def add_deliveries(url: str, tenant: str, count: int, status: str = "sending", due_s_ago: float = 60.0, destination: str = "fhir") -> list[str]:
    """``count`` deliveries of ``tenant``, each of its own event, in ``status``; a ``sending`` one is leased for an
    hour (a worker is sending it), so no scheduler picks it up while the test looks."""

    async def go():
        engine = create_engine(url)
        try:
            ids = []
            async with engine.begin() as connection:
                for _ in range(count):
                    event = new_event("assessment.completed", str(uuid.uuid4()), tenant)
                    ids += await DeliveryStore.record_event(connection, event, [(destination, "default")])
                now = datetime.now(UTC)
                await connection.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(ids))
                    .values(status=status, next_attempt_at=now - timedelta(seconds=due_s_ago), lease_until=now + timedelta(hours=1))
                )
            return ids
        finally:
            await engine.dispose()

    return asyncio.run(go())


def telehealth_token(url: str, tenant: str) -> dict[str, str]:
    async def go():
        engine = create_engine(url)
        try:
            return (await TokenStore(engine).create(f"telehealth-{tenant}", "telehealth", tenant))[1]
        finally:
            await engine.dispose()

    return {"Authorization": f"Bearer {asyncio.run(go())}"}


def test_a_tenant_over_its_delivery_cap_is_refused_429_before_any_work_and_another_tenant_is_not(database_url, tmp_path, keypoints_json):
    settings = Settings(database_url=database_url, data_dir=str(tmp_path / "data"), tenant_max_pending_deliveries=3)
    busy, calm = telehealth_token(database_url, "clinic-busy"), telehealth_token(database_url, "clinic-calm")
    add_deliveries(database_url, "clinic-busy", 3)
    add_deliveries(database_url, "clinic-calm", 2)
    add_deliveries(database_url, "clinic-calm", 5, status="retrying", due_s_ago=-3600)  # a retry an hour away is not a backlog
    body = keypoints_json(patient={"identifier": {"system": PATIENT_SYSTEM, "value": "MRN-BACKLOG-1"}})
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        refused = client.post("/v1/assessments", json=body, headers=busy)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "30" and refused.headers["content-type"].startswith("application/problem+json")
        assert "PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES" in refused.json()["detail"] and "3 deliveries" in refused.json()["detail"]
        assert stored_assessments(database_url) == 0  # nothing scored or stored
        accepted = client.post("/v1/assessments", json=body, headers=calm)
        assert accepted.status_code == 201, accepted.text
    assert stored_assessments(database_url) == 1


def stored_assessments(url: str) -> int:
    async def go():
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.scalar(text("select count(*) from assessments"))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_under_the_shipped_cap_a_tenant_with_a_backlog_still_submits(sqlite_url, tmp_path, keypoints_json):
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"))
    assert settings.tenant_max_pending_deliveries == 1000
    tenant = telehealth_token(sqlite_url, "clinic-some")
    add_deliveries(sqlite_url, "clinic-some", 20)
    body = keypoints_json(patient={"identifier": {"system": PATIENT_SYSTEM, "value": "MRN-BACKLOG-2"}})
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        assert client.post("/v1/assessments", json=body, headers=tenant).status_code == 201


def test_ready_and_metrics_show_the_delivery_backlog(database_url, tmp_path):
    settings = Settings(database_url=database_url, data_dir=str(tmp_path / "data"), tenant_max_pending_deliveries=3)
    add_deliveries(database_url, "clinic-busy", 4, due_s_ago=120)
    add_deliveries(database_url, "clinic-calm", 1, due_s_ago=10, destination="webhooks")
    add_deliveries(database_url, "clinic-calm", 2, status="delivered")
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text  # a backlog is worked through, never a reason to take the gateway out
        body = ready.json()
        assert body["status"] == "degraded"  # a tenant is over its cap: its submissions are refused
        assert body["deliveries"]["pending"] == 5 and body["deliveries"]["tenants_over_cap"] == 1 and body["deliveries"]["tenant_cap"] == 3
        assert 115 <= body["deliveries"]["oldest_due_s"] < 3600
        assert "clinic-busy" not in ready.text  # public: tenants are counted, never named

        families = scrape(client, admin_headers(database_url))
    assert families[("pain_gateway_delivery_backlog", "fhir")] == 4 and families[("pain_gateway_delivery_backlog", "webhooks")] == 1
    assert 115 <= families[("pain_gateway_delivery_oldest_due_age_seconds", "fhir")] < 3600
    assert families[("pain_gateway_delivery_oldest_due_age_seconds", "webhooks")] < 115


def scrape(client, headers) -> dict[tuple[str, str], float]:
    """(sample name, destination) -> value, through Prometheus' own parser."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        (sample.name, sample.labels.get("destination", "")): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def admin_headers(url: str) -> dict[str, str]:
    async def go():
        engine = create_engine(url)
        try:
            return (await TokenStore(engine).create("metrics-admin", "admin"))[1]
        finally:
            await engine.dispose()

    return {"Authorization": f"Bearer {asyncio.run(go())}"}


def test_ready_without_a_backlog_is_ready(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"))
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        body = client.get("/ready").json()
    assert body["status"] == "ready" and body["deliveries"] == {"pending": 0, "oldest_due_s": 0.0, "tenant_cap": 1000, "tenants_over_cap": 0}


def test_the_scheduler_starts_the_next_due_delivery_when_a_slot_frees_not_at_its_next_poll(sqlite_url, tmp_path, monkeypatch):
    """It drained at ``delivery_concurrency`` per poll second (8/s) whatever the receiver's speed: a finished
    delivery did not wake it. With the poll an hour long, only that wake can start the second and third."""
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"), delivery_concurrency=1)
    ids = add_deliveries(sqlite_url, "default", 3, status="pending", due_s_ago=1)
    sent: list[str] = []

    async def fake_deliver(flow, delivery_id):
        sent.append(delivery_id)
        async with flow.engine.begin() as connection:
            await connection.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(status="delivered", next_attempt_at=None))

    monkeypatch.setattr(embedded, "POLL_S", 3600.0)
    monkeypatch.setattr(embedded, "deliver", fake_deliver)

    async def go():
        jobs = embedded.EmbeddedJobs(build_plugins(settings, environ={}), create_engine(sqlite_url))
        await jobs.start()
        try:
            deadline = time.monotonic() + 20
            while len(sent) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            await jobs.stop()
            await jobs.flow.engine.dispose()

    asyncio.run(go())
    assert sorted(sent) == sorted(ids)
