"""Tests that pin promises a mutation spot-check found unguarded: each fails if its guard is removed.

Job state guards (both databases), plugin routes failing closed, the content id, the gap and JSON-size
boundaries through the API, and CI refusing to skip its services.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from conftest import create_tokens
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import get
from litestar.testing import TestClient
from sqlalchemy import update
from support.ci import service_missing, under_ci
from support.fhir_server import unavailable

from gateway.contract.domain import LANDMARK_COUNT, LandmarkClip, PatientRef
from gateway.contract.hookspecs import hookimpl
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.pipeline.scoring import content_id
from gateway.storage.engine import create_engine
from gateway.storage.jobs import SubmissionStore
from gateway.storage.tables import SubmissionRow
from gateway.storage.tokens import ROLES
from gateway.web.app import create_app

# --- job state guards, on SQLite and PostgreSQL -------------------------------------------------


def with_store(database_url, action):
    async def go():
        engine = create_engine(database_url)
        try:
            store = SubmissionStore(engine)

            async def nothing(connection, submission_id):
                return None

            await store.create("job-1", "video_upload", {}, None, nothing)
            return await action(store, engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_a_live_workers_job_cannot_be_claimed_again(database_url):
    async def action(store, engine):
        first = await store.claim("job-1", stalled_after_s=60, max_attempts=3, max_running_per_tenant=4)
        second = await store.claim("job-1", stalled_after_s=60, max_attempts=3, max_running_per_tenant=4)
        # the same job once its heartbeat is old: the worker is gone, so it may be taken over
        async with engine.begin() as connection:
            await connection.execute(update(SubmissionRow).values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=120)))
        taken_over = await store.claim("job-1", stalled_after_s=60, max_attempts=3, max_running_per_tenant=4)
        return first, second, taken_over

    first, second, taken_over = with_store(database_url, action)
    assert first is not None and first.status == "extracting" and first.attempts == 1
    assert second is None
    assert taken_over is not None and taken_over.attempts == 2


@pytest.mark.parametrize("final", ["completed", "failed"])
def test_a_finished_job_never_moves_again(database_url, final):
    async def action(store, engine):
        await store.claim("job-1", stalled_after_s=60, max_attempts=3, max_running_per_tenant=4)
        await store.advance("job-1", final, 100 if final == "completed" else 10, None if final == "completed" else "bad input")
        await store.advance("job-1", "scoring", 85)  # a late report from a worker
        async with engine.begin() as connection:  # and the in-transaction form the flow uses
            await store.advance("job-1", "queued", 0, connection=connection)
        return await store.get("job-1")

    after = with_store(database_url, action)
    assert after.status == final


# --- plugin routes fail closed ------------------------------------------------------------------


@get("/v1/example/undeclared")
async def undeclared_route() -> dict:
    return {"ok": True}


class UndeclaredRoutePlugin:
    @hookimpl
    def register_routes(self, register, settings):
        register(undeclared_route)


def test_a_plugin_route_without_roles_is_admin_only(sqlite_url):
    settings = Settings(database_url=sqlite_url)
    plugins = build_plugins(settings, extra=[("undeclared", UndeclaredRoutePlugin())], environ={})
    tokens = create_tokens(sqlite_url)
    with TestClient(create_app(settings, plugins)) as client:
        statuses = {role: client.get("/v1/example/undeclared", headers={"Authorization": f"Bearer {tokens[role]}"}).status_code for role in ROLES}
    assert statuses == {role: 200 if role == "admin" else 403 for role in ROLES}


# --- the content id -----------------------------------------------------------------------------

BASE_POINTS = np.random.default_rng(0).random((12, LANDMARK_COUNT, 3))
BASE = LandmarkClip(PatientRef(system="urn:oid:1.2.3", value="MRN-1"), datetime(2026, 11, 23, 10, tzinfo=UTC), 30.0, BASE_POINTS, (640, 480))
SHA = "a" * 64


def _changed_points(frame: int, landmark: int, axis: int, delta: float) -> np.ndarray:
    points = BASE_POINTS.copy()
    points[frame, landmark, axis] += delta
    return points


CHANGES = st.one_of(
    st.builds(lambda v: ("patient", PatientRef(system="urn:oid:1.2.3", value=v)), st.text(min_size=1, max_size=12).filter(lambda v: v != "MRN-1")),
    st.builds(lambda r: ("patient", PatientRef(reference=f"Patient/{r}")), st.text(min_size=1, max_size=12)),
    st.builds(lambda s: ("captured_at", BASE.captured_at + timedelta(seconds=s)), st.integers(-(10**6), 10**6).filter(bool)),
    st.builds(lambda f: ("fps", f), st.floats(1, 240).filter(lambda f: abs(f - 30.0) > 1e-5)),
    st.builds(
        lambda f, lm, a, d: ("points", _changed_points(f, lm, a, d)),
        st.integers(0, 11),
        st.integers(0, LANDMARK_COUNT - 1),
        st.integers(0, 2),
        st.floats(1e-3, 1),
    ),
    st.builds(lambda w, h: ("image_size", (w, h)), st.integers(1, 8000), st.integers(1, 8000)).filter(lambda c: c[1] != (640, 480)),
    st.just(("image_size", None)),
    st.builds(lambda t: ("tenant", t), st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True).filter(lambda t: t != "default")),
    st.builds(lambda s: ("model", s), st.from_regex(r"[0-9a-f]{64}", fullmatch=True).filter(lambda s: s != SHA)),
    st.builds(lambda v: ("baseline", np.full((LANDMARK_COUNT, 2), v, np.float32)), st.floats(-1, 1, width=32)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CHANGES)
def test_the_content_id_changes_with_everything_that_changes_the_result(change):
    field, value = change
    tenant, sha, clip, baseline = "default", SHA, BASE, None
    if field == "tenant":
        tenant = value
    elif field == "model":
        sha = value
    elif field == "baseline":  # a neutral face stored since the first submission changes the result
        baseline = value
    else:
        clip = LandmarkClip(**{**{k: getattr(BASE, k) for k in ("patient", "captured_at", "fps", "points", "image_size", "source")}, field: value})
    assert content_id(BASE, SHA, "default") == content_id(BASE, SHA, "default")
    assert content_id(clip, sha, tenant, baseline) != content_id(BASE, SHA, "default"), field


# --- boundaries through the API -----------------------------------------------------------------


def with_gap(keypoints_json, start: int, length: int) -> dict:
    body = keypoints_json()
    body["frames"] = [None if start <= i < start + length else frame for i, frame in enumerate(body["frames"])]
    return body


def test_the_default_gap_of_5_frames_is_bridged_and_6_is_not(api, keypoints_json):
    """The real face has a face in all 150 frames (5 windows at 30 fps); the gap sits inside window 1 (frames 30-59)."""
    five = api.post("/v1/assessments", json=with_gap(keypoints_json, 45, 5))
    six = api.post("/v1/assessments", json=with_gap(keypoints_json, 45, 6))
    assert (five.status_code, six.status_code) == (201, 201), (five.text, six.text)
    assert five.json()["summary"]["scored_windows"] == 5
    assert six.json()["summary"]["scored_windows"] == 4
    window = six.json()["windows"][1]
    assert window["scorable"] is False and "6 of 30" in window["reason"] and "longer than 5 frames" in window["reason"]


def padded(body: dict, size: int) -> bytes:
    """``body`` as JSON padded with trailing whitespace (still valid JSON) to exactly ``size`` bytes."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) <= size, len(raw)
    return raw + b" " * (size - len(raw))


def test_the_json_size_limit_holds_at_its_boundary(gateway_for, keypoints_json):
    gateway = gateway_for(keypoint_upload={"max_json_mb": 1})
    limit = 1024 * 1024
    body = keypoints_json()
    body["frames"] = [None if f is None else [[round(c, 3) for c in p] for p in f] for f in body["frames"][:40]]
    at = gateway.client.post("/v1/assessments", content=padded(body, limit), headers={**gateway.headers, "content-type": "application/json"})
    assert at.status_code == 201, at.text
    over = gateway.client.post("/v1/assessments", content=padded(body, limit + 1), headers={**gateway.headers, "content-type": "application/json"})
    assert over.status_code in (413, 422), over.text
    assert "MAX_JSON_MB" in over.json()["detail"]


# --- CI never skips its services ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "1", "yes", "True", "TRUE", "on", " yes "])
def test_any_truthy_ci_fails_instead_of_skipping(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert under_ci()
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        service_missing("PostgreSQL at x is not reachable", "CI must run the PostgreSQL tests")
    with pytest.raises(pytest.fail.Exception, match="FHIR test server unavailable"):
        unavailable("not installed")


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "False"])
def test_off_ci_a_missing_service_skips_with_its_reason(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not under_ci()
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        service_missing("PostgreSQL at x is not reachable", "CI must run the PostgreSQL tests")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        unavailable("not installed")


def test_two_different_baselines_give_two_ids_and_the_same_one_the_same():
    first, second = np.zeros((LANDMARK_COUNT, 2), np.float32), np.full((LANDMARK_COUNT, 2), 1e-3, np.float32)
    assert content_id(BASE, SHA, "default", first) != content_id(BASE, SHA, "default", second)
    assert content_id(BASE, SHA, "default", first) == content_id(BASE, SHA, "default", first.copy())
