"""``pain-gateway serve`` parses and scores submissions in scoring processes: same answers as in threads.

One gateway built as ``serve`` builds it (``warm=True``, the shipped ``PAIN_GATEWAY_SCORING_PROCESSES``)
serves every story here; the results must equal the in-thread path's, errors the caller must fix must
still name the field, and a scoring process killed under it must cost nothing but a retry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import create_tokens
from litestar.testing import TestClient

from gateway.contract.domain import InputError, UnsupportedMediaError
from gateway.contract.plugin_manager import build_plugins
from gateway.contract.protocols import CaptureRequest
from gateway.ops.settings import Settings
from gateway.pipeline.scoring import score_clip
from gateway.service.scoring_pool import ScoringPool
from gateway.web.app import create_app


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    url = f"sqlite+aiosqlite:///{tmp}/gateway.db"
    from gateway.storage.migrate import upgrade

    upgrade(url)
    settings = Settings(database_url=url, data_dir=str(tmp / "data"))
    plugins = build_plugins(settings, environ={})
    app = create_app(settings, plugins, warm=True)
    with TestClient(app) as client:
        tokens = create_tokens(url)
        yield client, {"Authorization": f"Bearer {tokens['integrator']}"}, app


def _pool(app) -> ScoringPool:
    pool = app.state.scoring
    assert isinstance(pool, ScoringPool) and pool.processes == Settings().scoring_processes
    return pool


def test_serve_scores_keypoints_in_its_scoring_processes_with_the_in_thread_answer(served, keypoints_json, plugins):
    client, headers, app = served
    body = keypoints_json(patient={"identifier": {"system": "urn:test", "value": "same-answer"}})
    response = client.post("/v1/assessments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    pool = _pool(app)
    workers = {p.pid for p in pool.workers.executor._processes.values()}
    assert len(workers) == pool.processes and os.getpid() not in workers

    source = next(s for s in plugins.capture_sources if s.name == "keypoint_upload")
    import json

    expected = score_clip(source.capture(CaptureRequest("application/json", body=json.dumps(body).encode())), plugins).assessment
    served_view = response.json()
    assert served_view["id"] == expected.id  # the content id: same clip, patient, model, tenant
    assert served_view["summary"]["level"] == expected.summary.level
    served_probabilities = [w["probabilities"] for w in served_view["windows"] if w["scorable"]]
    assert np.allclose(
        [[p[k] for k in ("none", "mild", "significant")] for p in served_probabilities],
        [[w.probabilities.none, w.probabilities.mild, w.probabilities.significant] for w in expected.windows if w.scorable],
    )
    again = client.post("/v1/assessments", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == expected.id


def test_errors_the_caller_must_fix_still_name_the_field_and_leave_no_file_behind(served, keypoints_json):
    client, headers, app = served
    response = client.post("/v1/assessments", json=keypoints_json(fps="fast"), headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "fps"
    frames = keypoints_json()["frames"]
    frames[3] = [[0.1, 0.2]] * 10
    response = client.post("/v1/assessments", json=keypoints_json(frames=frames), headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "frames" and "frame 3" in response.json()["detail"]
    spilled = Path(_pool(app).settings.data_dir) / "uploads"
    assert spilled.is_dir() and list(spilled.glob("*.body")) == []  # each body handed over through a file is removed once scored or refused


def test_an_array_upload_and_a_stored_baseline_cross_to_the_scoring_processes(served, face_points):
    client, headers, _ = served
    form = {"patient_system": "urn:test", "patient_value": "with-baseline", "fps": "30", "captured_at": "2026-11-23T10:00:00Z", "image_size": "640,480"}
    baseline = client.put(
        "/v1/patients/baseline", files={"keypoints": ("rest.npy", _npy(face_points[:60]), "application/octet-stream")}, data=form, headers=headers
    )
    assert baseline.status_code in (200, 201), baseline.text
    response = client.post("/v1/assessments", files={"keypoints": ("clip.npz", _npz(face_points), "application/octet-stream")}, data=form, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["personalised"] is True


def test_a_killed_scoring_process_costs_a_retry_not_the_submission(served, keypoints_json):
    client, headers, app = served
    pool = _pool(app)
    victim = next(iter(pool.workers.executor._processes.values()))
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    time.sleep(0.2)
    body = keypoints_json(patient={"identifier": {"system": "urn:test", "value": "after-a-kill"}})
    response = client.post("/v1/assessments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert victim.pid not in {p.pid for p in pool.workers.executor._processes.values()}


@pytest.mark.parametrize("error", [InputError("frames", "frame 3 has 10 points"), UnsupportedMediaError("content-type", "send JSON")])
def test_input_errors_cross_a_process_boundary_as_themselves(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and (copy.field, copy.message, str(copy)) == (error.field, error.message, str(error))


def _npy(points: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, points.astype(np.float32))
    return buffer.getvalue()


def _npz(points: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, points=points.astype(np.float32))
    return buffer.getvalue()


def test_a_reading_error_in_a_scoring_process_stays_the_clients_error(plugins, monkeypatch, tmp_path):
    """Its frames stay in the scoring process; the mark crosses, so the API still answers 4xx, not 500."""
    from gateway.service import processes, scoring_pool
    from gateway.web import problems

    class Overflowing:
        name = "overflowing"

        def capture(self, request, progress=None):
            raise OverflowError("date value out of range")

    monkeypatch.setattr(processes, "_plugins", dataclasses.replace(plugins, capture_sources=[Overflowing()]))
    with pytest.raises(OverflowError) as raised:
        scoring_pool._capture_and_score_in_process(plugins.settings, "overflowing", CaptureRequest("application/json", body=b"{}"), None, "t1")
    crossed = pickle.loads(pickle.dumps(raised.value))
    crossed.__traceback__ = None
    assert problems._raised_while_reading(crossed)
    assert not problems._raised_while_reading(OverflowError("raised by our own code"))


def test_body_files_a_killed_gateway_left_are_removed_and_live_ones_kept(tmp_path):
    from gateway.service.scoring_pool import STALE_SPILL_S, remove_stale_spills

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    stale, live, other = uploads / "a.body", uploads / "b.body", uploads / "c.npy"
    for path in (stale, live, other):
        path.write_bytes(b"{}")
    old = time.time() - STALE_SPILL_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_spills(str(tmp_path)) == 1
    assert not stale.exists() and live.exists() and other.exists()


def test_scoring_processes_that_keep_dying_answer_503_with_retry_after(served, keypoints_json, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    class Dying:
        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("a scoring process was killed")

        def shutdown(self, **kwargs):
            pass

    client, headers, app = served
    workers = _pool(app).workers
    working = workers.executor
    monkeypatch.setattr(workers, "_new", Dying)
    workers.executor = Dying()
    try:
        response = client.post("/v1/assessments", json=keypoints_json(), headers=headers)
    finally:
        workers.executor = working
    assert response.status_code == 503 and response.headers["retry-after"] and "scoring" in response.json()["detail"]


def test_a_starting_gateway_removes_body_files_a_killed_one_left(tmp_path):
    from gateway.service.scoring_pool import STALE_SPILL_S

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db", data_dir=str(tmp_path / "data"))
    left = tmp_path / "data" / "uploads" / "left-by-a-kill.body"
    left.parent.mkdir(parents=True)
    left.write_bytes(b'{"patient": "..."}')
    old = time.time() - STALE_SPILL_S - 1
    os.utime(left, (old, old))

    async def start_and_stop():
        pool = ScoringPool(build_plugins(settings, environ={}), 1)
        await pool.start()
        try:
            for _ in range(50):
                if not left.exists():
                    break
                await asyncio.sleep(0.1)
        finally:
            await pool.stop()

    asyncio.run(start_and_stop())
    assert not left.exists()
