"""Distributed mode on the real PostgreSQL: procrastinate workers as separate processes.

The crash test kills a worker with SIGKILL in the middle of a job and shows that another worker picks
the job up and the assessment completes exactly once, with exactly one assessment.completed event.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient
from support.videos import face_video

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.jobs.distributed import apply_schema, conninfo
from gateway.web.app import create_app

pytestmark = pytest.mark.postgres

CLI = Path(sys.executable).parent / "pain-gateway"
METADATA = json.dumps({"patient": {"reference": "Patient/tele-7"}, "captured_at": "2026-11-23T09:30:00Z"})
STALLED_AFTER_S = 5


@pytest.fixture
def distributed(postgres_url, tmp_path, api_tokens_for):
    asyncio.run(apply_schema(postgres_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}
    env |= {
        "PAIN_GATEWAY_DATABASE_URL": postgres_url,
        "PAIN_GATEWAY_JOB_ENGINE": "procrastinate",
        "PAIN_GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "PAIN_GATEWAY_STALLED_AFTER_S": str(STALLED_AFTER_S),
        "PAIN_GATEWAY_LOG_FORMAT": "json",
        "PAIN_GATEWAY_WEBHOOK_ALLOWLIST": "127.0.0.1",
    }
    settings = Settings(
        database_url=postgres_url, job_engine="procrastinate", data_dir=str(tmp_path / "data"), stalled_after_s=STALLED_AFTER_S, webhook_allowlist=["127.0.0.1"]
    )
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        log = (tmp_path / f"worker{len(workers)}.log").open("wb")
        proc = subprocess.Popen([str(CLI), "worker", "--concurrency", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append(proc)
        return proc

    headers = api_tokens_for(postgres_url)
    with TestClient(create_app(settings, build_plugins(settings, environ={})), timeout=60) as client:
        client.auth_headers = headers
        client.start_worker = start_worker
        yield client
    for proc in workers:
        proc.kill()
        proc.wait()


def submit(client, video: Path):
    files = {"video": (video.name, video.read_bytes(), "video/mp4")}
    response = client.post("/v1/assessments", files=files, data={"metadata": METADATA}, headers=client.auth_headers("telehealth"))
    assert response.status_code == 202, response.text
    return response.headers["location"]


def status(client, location):
    return client.get(location, headers=client.auth_headers("telehealth")).json()


def poll(client, location, until, timeout_s=180):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = status(client, location)
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"timed out; last state { ({k: body.get(k) for k in ('status', 'progress', 'error')}) }")


def counts(url: str, assessment_id: str) -> dict[str, int]:
    with psycopg.connect(conninfo(url)) as conn:
        one = lambda sql: conn.execute(sql, (assessment_id,)).fetchone()[0]  # noqa: E731
        return {
            "assessments": one("select count(*) from assessments where id = %s"),
            "completed_events": one("select count(*) from events where assessment_id = %s and type = 'assessment.completed'"),
            "attempts": one("select attempts from submissions where id = %s"),
        }


def test_a_video_is_scored_by_a_separate_worker(distributed, tmp_path, postgres_url):
    location = submit(distributed, face_video(tmp_path / "face.mp4", seconds=2.0, size=(320, 240)))
    assert status(distributed, location)["status"] == "queued"  # nothing runs it until a worker starts
    distributed.start_worker()
    body = poll(distributed, location, lambda b: b["status"] in ("completed", "failed"))
    assert body["status"] == "completed", body
    assert counts(postgres_url, body["id"]) == {"assessments": 1, "completed_events": 1, "attempts": 1}


def test_a_killed_worker_does_not_lose_or_duplicate_the_assessment(distributed, tmp_path, postgres_url):
    location = submit(distributed, face_video(tmp_path / "long.mp4", seconds=12.0, size=(640, 480)))
    first = distributed.start_worker()
    poll(distributed, location, lambda b: b["status"] == "extracting" and b["progress"] >= 5)
    first.send_signal(signal.SIGKILL)  # no graceful shutdown: the job is left 'doing'
    first.wait()
    progress_at_kill = status(distributed, location)
    assert progress_at_kill["status"] == "extracting"

    distributed.start_worker()
    body = poll(distributed, location, lambda b: b["status"] in ("completed", "failed"), timeout_s=240)
    assert body["status"] == "completed", body
    assert counts(postgres_url, body["id"]) == {"assessments": 1, "completed_events": 1, "attempts": 2}


def test_the_job_is_enqueued_in_the_submission_transaction(postgres_url, tmp_path):
    """Either the submission and its job both exist, or neither: no accepted upload without a job."""
    from gateway.contract.protocols import CaptureRequest
    from gateway.service.jobs.distributed import DistributedJobs
    from gateway.storage.jobs import SubmissionStore

    asyncio.run(apply_schema(postgres_url))
    settings = Settings(database_url=postgres_url, job_engine="procrastinate", data_dir=str(tmp_path))
    jobs = DistributedJobs(build_plugins(settings, environ={}))
    record = CaptureRequest("multipart/form-data", fields={"metadata": METADATA}).as_record()

    async def scenario():
        async with jobs.app.open_async():
            store = SubmissionStore((await jobs.flow()).engine)

            async def enqueue_then_fail(connection, submission_id):
                await jobs.enqueue_processing(connection, submission_id)
                raise RuntimeError("the process died between the two writes")

            with pytest.raises(RuntimeError):
                await store.create("aaaaaaaa-0000-4000-8000-000000000001", "video_upload", record, None, enqueue_then_fail)
            await store.create("aaaaaaaa-0000-4000-8000-000000000002", "video_upload", record, None, jobs.enqueue_processing)
            await jobs.stop()

    asyncio.run(scenario())
    with psycopg.connect(conninfo(postgres_url)) as conn:
        submissions = [r[0] for r in conn.execute("select id from submissions")]
        job_args = [r[0]["submission_id"] for r in conn.execute("select args from procrastinate_jobs where task_name = 'pain_gateway.process'")]
    assert submissions == job_args == ["aaaaaaaa-0000-4000-8000-000000000002"]


def test_a_submission_left_without_a_job_is_picked_up(distributed, tmp_path, postgres_url):
    """A crash between a state change and its enqueue leaves a queued submission and no job: the
    periodic check re-triggers it."""
    from gateway.contract.protocols import CaptureRequest, UploadedFile
    from gateway.storage.engine import create_engine
    from gateway.storage.jobs import SubmissionStore

    video = face_video(tmp_path / "orphan.mp4", seconds=2.0, size=(320, 240))
    record = CaptureRequest("multipart/form-data", fields={"metadata": METADATA}, files={"video": UploadedFile("orphan.mp4", "video/mp4", video)}).as_record()

    async def orphan() -> str:
        engine = create_engine(postgres_url)

        async def lost_enqueue(connection, submission_id):
            return None

        sub, _ = await SubmissionStore(engine).create("33333333-2222-4333-8444-555555555555", "video_upload", record, None, lost_enqueue)
        await engine.dispose()
        return sub.id

    submission_id = asyncio.run(orphan())
    distributed.start_worker()
    body = poll(distributed, f"/v1/assessments/{submission_id}", lambda b: b["status"] in ("completed", "failed"), timeout_s=90)
    assert body["status"] == "completed", body


def test_a_worker_delivers_and_defers_its_retry_to_the_ledgers_time(distributed, postgres_url, keypoints_json):
    """Delivery jobs run on workers; a "retry later" is deferred to the ledger's next attempt time
    (procrastinate does not retry on its own), and the retry keeps the webhook id."""
    from standardwebhooks.webhooks import Webhook
    from support.receiver import Receiver, Reply

    receiver = Receiver().start()
    try:
        receiver.reply(Reply(503, b"busy"))
        headers = distributed.auth_headers("telehealth")
        endpoint = distributed.post("/v1/webhook-endpoints", headers=headers, json={"url": receiver.url(), "events": ["assessment.completed"]}).json()
        created = distributed.post("/v1/assessments", json=keypoints_json(), headers=headers)
        assert created.status_code == 201, created.text
        distributed.start_worker()
        first, second = receiver.wait(2, timeout_s=60)
    finally:
        receiver.stop()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(endpoint["secret"]).verify(second.body, second.headers)
    with psycopg.connect(conninfo(postgres_url)) as conn:
        deliver_jobs = conn.execute("select count(*) from procrastinate_jobs where task_name = 'pain_gateway.deliver'").fetchone()[0]
        ledger = conn.execute("select status, attempts from deliveries").fetchall()
    assert deliver_jobs >= 2 and ledger == [("delivered", 2)]  # the periodic check may add a job that finds nothing due
