"""A tenant's kept landmarks are bounded (PAIN_GATEWAY_TENANT_MAX_STORAGE_MB) and expire
(PAIN_GATEWAY_RETENTION_DAYS): refused before any work, removed with an audit row each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, update

from gateway.cli import main
from gateway.ops.settings import Settings
from gateway.service.retention import run_retention
from gateway.storage import kept_landmarks
from gateway.storage.engine import create_engine
from gateway.storage.tables import AssessmentRow, AuditEventRow, KeptLandmarksRow


def _run(database_url: str, action):
    async def go():
        engine = create_engine(database_url)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_the_shipped_quota_and_retention():
    settings = Settings()
    assert settings.tenant_max_storage_mb == 2048 and settings.retention_days == 365


def test_a_submission_at_the_quota_is_refused_413_before_anything_is_scored_or_kept(gateway_for, keypoints_json, sqlite_url, tmp_path):
    gateway = gateway_for(core={"tenant_max_storage_mb": 1})
    landmarks = tmp_path / "data" / "landmarks"
    accepted = []
    for second in range(10):
        response = gateway.submit(keypoints_json(captured_at=f"2026-11-23T10:00:{second:02d}Z"))
        if response.status_code != 201:
            break
        accepted.append(response.json()["id"])
    assert response.status_code == 413, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["setting"] == "PAIN_GATEWAY_TENANT_MAX_STORAGE_MB" and "PAIN_GATEWAY_TENANT_MAX_STORAGE_MB=1" in problem["detail"]
    assert "retention run" in problem["detail"]
    # the quota counted what is on disk, and the refusal wrote nothing
    used = _run(sqlite_url, lambda engine: kept_landmarks.used_bytes(engine, "default"))
    assert used >= 1_000_000 and used == sum(p.stat().st_size for p in landmarks.iterdir())
    assert sorted(p.stem for p in landmarks.iterdir()) == sorted(accepted)
    assessments = _run(sqlite_url, lambda engine: _count(engine, AssessmentRow))
    assert assessments == len(accepted)


async def _count(engine, table) -> int:
    async with engine.connect() as connection:
        return len((await connection.execute(select(table))).all())


def test_retention_removes_old_landmarks_audits_each_and_frees_the_quota(gateway_for, keypoints_json, sqlite_url, tmp_path):
    gateway = gateway_for()
    ids = [gateway.submit(keypoints_json(captured_at=f"2026-11-23T10:00:{s:02d}Z")).json()["id"] for s in range(3)]
    data_dir = str(tmp_path / "data")
    old, legacy, recent = ids
    now = datetime.now(UTC)

    async def age(engine):
        async with engine.begin() as connection:
            await connection.execute(update(KeptLandmarksRow).where(KeptLandmarksRow.assessment_id == old).values(kept_at=now - timedelta(days=400)))
            # kept before sizes were accounted: no row, found through the assessment's created_at
            await connection.execute(KeptLandmarksRow.__table__.delete().where(KeptLandmarksRow.assessment_id == legacy))
            await connection.execute(update(AssessmentRow).where(AssessmentRow.id == legacy).values(created_at=now - timedelta(days=400)))

    _run(sqlite_url, age)
    before = _run(sqlite_url, lambda engine: kept_landmarks.used_bytes(engine, "default"))
    size = kept_landmarks.path(data_dir, old).stat().st_size
    removed = _run(sqlite_url, lambda engine: run_retention(engine, data_dir, 365))
    assert sorted(r.assessment_id for r in removed) == sorted([old, legacy])
    assert not kept_landmarks.path(data_dir, old).exists() and not kept_landmarks.path(data_dir, legacy).exists()
    assert kept_landmarks.path(data_dir, recent).exists()
    assert _run(sqlite_url, lambda engine: kept_landmarks.used_bytes(engine, "default")) == before - size

    async def audited(engine):
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(AuditEventRow.resource_id, AuditEventRow.tenant).where(AuditEventRow.action == "delete", AuditEventRow.resource_type == "landmarks")
            )
            return sorted(rows.all())

    assert _run(sqlite_url, audited) == sorted([(old, "default"), (legacy, "default")])
    # a second run (another replica, or tomorrow) removes and audits nothing again
    assert _run(sqlite_url, lambda engine: run_retention(engine, data_dir, 365)) == []
    assert len(_run(sqlite_url, audited)) == 2


def test_retention_run_prints_what_it_removed_and_zero_days_keeps_everything(gateway_for, keypoints_json, sqlite_url, tmp_path, monkeypatch):
    gateway = gateway_for()
    assessment_id = gateway.submit(keypoints_json()).json()["id"]
    monkeypatch.setenv("PAIN_GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PAIN_GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAIN_GATEWAY_RETENTION_DAYS", "0")
    kept = CliRunner().invoke(main, ["retention", "run"])
    assert kept.exit_code == 0, kept.output
    assert "nothing removed" in kept.output and Path(kept_landmarks.path(str(tmp_path / "data"), assessment_id)).exists()

    async def age(engine):
        async with engine.begin() as connection:
            await connection.execute(update(KeptLandmarksRow).values(kept_at=datetime.now(UTC) - timedelta(days=2)))

    _run(sqlite_url, age)
    result = CliRunner().invoke(main, ["retention", "run", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert f"removed landmarks of assessment {assessment_id}" in result.output and "removed 1 kept landmark files" in result.output
    assert not kept_landmarks.path(str(tmp_path / "data"), assessment_id).exists()
