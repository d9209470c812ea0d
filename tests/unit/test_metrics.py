"""``GET /metrics`` read by Prometheus' own parser, its access rule, and ``/ready`` naming a dead job engine."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import PATIENT_SYSTEM, create_tokens
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from support.receiver import Receiver, Reply

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings, SettingsError
from gateway.service.jobs.distributed import DistributedJobs
from gateway.web.app import create_app
from gateway.web.metrics import allowed, parse_allowlist

FAMILIES = {
    "pain_gateway_request_duration_seconds",
    "pain_gateway_submissions",
    "pain_gateway_stage_duration_seconds",
    "pain_gateway_model_inference_seconds",
    "pain_gateway_delivery_attempts",
    "pain_gateway_database_up",
    "pain_gateway_jobs",
    "pain_gateway_queue_depth",
    "pain_gateway_queue_oldest_age_seconds",
    "pain_gateway_deliveries",
    "pain_gateway_delivery_failed_attempts",
}


def scrape(client, headers=None) -> dict[str, dict[tuple, float]]:
    """family -> {(sample name, sorted labels): value}, through the real Prometheus text parser."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        family.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples} for family in text_string_to_metric_families(response.text)
    }


def value(families, family, sample, **labels) -> float:
    return families[family].get((sample, tuple(sorted(labels.items()))), 0.0)


def test_metrics_after_a_submission_and_a_delivery(gateway_for, keypoints_json):
    receiver = Receiver().start()
    try:
        gateway = gateway_for(core={"webhook_allowlist": ["127.0.0.1"], "delivery_retry_schedule_s": [0.1]})
        admin = {"Authorization": f"Bearer {gateway.tokens['admin']}"}
        telehealth = {"Authorization": f"Bearer {gateway.tokens['telehealth']}"}
        endpoint = gateway.client.post("/v1/webhook-endpoints", headers=telehealth, json={"url": receiver.url(), "events": ["assessment.completed"]})
        assert endpoint.status_code == 201, endpoint.text
        before = scrape(gateway.client, admin)
        receiver.reply(Reply(503, b"maintenance"))  # first attempt fails, the retry delivers
        body = keypoints_json(patient={"identifier": {"system": PATIENT_SYSTEM, "value": "MRN-METRICS-77"}})
        response = gateway.client.post("/v1/assessments", json=body, headers=telehealth)
        assert response.status_code == 201, response.text
        assessment = response.json()
        gateway.headers = telehealth
        gateway.wait(assessment["id"], "delivered", timeout_s=20)
        gateway.client.get(f"/v1/assessments/{assessment['id']}", headers=telehealth)
        after = scrape(gateway.client, admin)
    finally:
        receiver.stop()

    assert FAMILIES <= set(after)
    delta = lambda family, sample, **labels: value(after, family, sample, **labels) - value(before, family, sample, **labels)  # noqa: E731
    assert delta("pain_gateway_submissions", "pain_gateway_submissions_total", source="keypoint_upload", outcome="scored") == 1
    for stage in ("decode", "score"):
        assert delta("pain_gateway_stage_duration_seconds", "pain_gateway_stage_duration_seconds_count", stage=stage) == 1
    assert delta("pain_gateway_stage_duration_seconds", "pain_gateway_stage_duration_seconds_count", stage="deliver") >= 2
    assert delta("pain_gateway_model_inference_seconds", "pain_gateway_model_inference_seconds_count", model="sta-lstm-synthetic") == 1
    assert delta("pain_gateway_model_inference_seconds", "pain_gateway_model_inference_seconds_sum", model="sta-lstm-synthetic") > 0
    assert delta("pain_gateway_delivery_attempts", "pain_gateway_delivery_attempts_total", destination="webhooks", outcome="retry") == 1
    assert delta("pain_gateway_delivery_attempts", "pain_gateway_delivery_attempts_total", destination="webhooks", outcome="delivered") == 1
    # read from the database: this gateway's own ledger
    assert value(after, "pain_gateway_database_up", "pain_gateway_database_up") == 1
    assert value(after, "pain_gateway_deliveries", "pain_gateway_deliveries", destination="webhooks", status="delivered") == 1
    assert value(after, "pain_gateway_deliveries", "pain_gateway_deliveries", destination="webhooks", status="retrying") == 0
    assert value(after, "pain_gateway_delivery_failed_attempts", "pain_gateway_delivery_failed_attempts_total", destination="webhooks") == 1
    assert value(after, "pain_gateway_queue_depth", "pain_gateway_queue_depth", queue="processing") == 0
    assert value(after, "pain_gateway_queue_oldest_age_seconds", "pain_gateway_queue_oldest_age_seconds", queue="processing") == 0
    assert value(after, "pain_gateway_jobs", "pain_gateway_jobs", status="queued") == 0
    # latency per route template: the assessment read is one series, whatever its id
    routes = {dict(labels)["route"] for (name, labels) in after["pain_gateway_request_duration_seconds"] if name.endswith("_count")}
    assert "/v1/assessments" in routes and any(r.startswith("/v1/assessments/{") for r in routes)
    labels = " ".join(f"{k}={v}" for family in after.values() for (_, pairs) in family for k, v in pairs)
    for identifier in ("MRN-METRICS-77", PATIENT_SYSTEM, assessment["id"], endpoint.json()["id"], "default"):
        assert identifier not in labels


def test_queue_depth_and_age_count_waiting_video_jobs(sqlite_url, plugins):
    """A queued submission shows in depth and age without a worker having touched it."""
    from datetime import UTC, datetime, timedelta

    from gateway.storage.engine import create_engine
    from gateway.storage.jobs import SubmissionStore
    from gateway.web.metrics import database_families

    async def go():
        engine = create_engine(sqlite_url)
        try:

            async def nothing(connection, submission_id):
                return None

            await SubmissionStore(engine).create("s-1", "video_upload", {}, None, nothing)
            families = await database_families(engine, now=datetime.now(UTC) + timedelta(seconds=90))
        finally:
            await engine.dispose()
        return {f.name: {tuple(s.labels.values()): s.value for s in f.samples} for f in families}

    families = asyncio.run(go())
    assert families["pain_gateway_queue_depth"][("processing",)] == 1
    assert 89 <= families["pain_gateway_queue_oldest_age_seconds"][("processing",)] <= 95
    assert families["pain_gateway_jobs"][("queued",)] == 1


def with_client(app, host: str):
    """The app as reached from ``host`` (the test client's own address is the non-IP 'testclient')."""

    async def asgi(scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "client": (host, 40000)}
        await app(scope, receive, send)

    return asgi


def test_metrics_need_admin_or_an_allow_listed_address(sqlite_url, plugins):
    settings = Settings(database_url=sqlite_url, metrics_allowlist=["10.9.0.0/16", "::1"])
    tokens = create_tokens(sqlite_url)
    app = create_app(settings, plugins)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        for role in ("integrator", "telehealth", "clinician"):
            assert client.get("/metrics", headers={"Authorization": f"Bearer {tokens[role]}"}).status_code == 403, role
        assert client.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"}).status_code == 200
    with TestClient(with_client(app, "10.9.4.2")) as client:
        assert "pain_gateway_database_up 1.0" in client.get("/metrics").text
        assert client.get("/v1/plugins").status_code == 401  # the allowlist opens /metrics, nothing else
        # a token sent from the allow-listed address is still checked: a wrong one does not pass
        assert client.get("/metrics", headers={"Authorization": "Bearer pgw_wrong"}).status_code == 401
    with TestClient(with_client(app, "10.10.0.1")) as client:
        assert client.get("/metrics").status_code == 401


def test_allowlist_entries_are_ips_or_cidrs():
    networks = parse_allowlist(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert allowed("10.200.3.4", networks) and allowed("::1", networks) and allowed("127.0.0.1", networks)
    assert not allowed("11.0.0.1", networks) and not allowed("testclient", networks) and not allowed(None, networks)
    assert Settings().metrics_allowlist == []  # nobody without a token unless the operator says so
    with pytest.raises(SettingsError, match="METRICS_ALLOWLIST"):
        Settings(metrics_allowlist=["prometheus.internal"])


async def _cancel(task) -> None:
    task.cancel()


def test_ready_is_503_when_the_embedded_scheduler_died(sqlite_url, plugins):
    app = create_app(Settings(database_url=sqlite_url), plugins)
    with TestClient(app) as client:
        assert client.get("/ready").json()["checks"]["jobs"] == "ok"
        jobs = client.blocking_portal.call(app.dependencies["jobs"].dependency)
        client.blocking_portal.call(_cancel, jobs._task)  # the fault: the scheduler task is gone
        deadline = time.monotonic() + 5
        while not jobs._task.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        response = client.get("/ready")
        assert response.status_code == 503 and response.json()["checks"]["jobs"].startswith("scheduler stopped")


def test_ready_is_503_when_the_database_is_unreachable(tmp_path, plugins):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing-dir/gateway.db")
    with TestClient(create_app(settings, plugins)) as client:
        response = client.get("/ready")
        assert response.status_code == 503 and response.json()["checks"]["database"].startswith("unavailable")


@pytest.mark.postgres
def test_procrastinate_is_not_ready_once_its_connector_cannot_reach_postgres(postgres_url):
    jobs = DistributedJobs(build_plugins(Settings(database_url=postgres_url, job_engine="procrastinate"), environ={}))

    async def go():
        await jobs.start()
        reachable = await jobs.problem()
        await jobs.app.connector.close_async()  # its pool is gone: nothing reaches PostgreSQL through it
        return reachable, await jobs.problem()

    reachable, gone = asyncio.run(go())
    assert reachable is None and gone.startswith("unreachable")
