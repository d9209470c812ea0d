"""Checks, episodes and interventions in the plugin's tables; opening and closing an episode publishes
its event in the same transaction, under an id derived from the episode, so a replay (a retried
evaluation, a gateway killed mid-way) never gives a second episode, Flag or webhook."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import AssessmentEvent, PatientRef, Publisher, as_utc, read_only
from plugins.pain_alerts.rules import Check, Finding
from plugins.pain_alerts.tables import CheckRow, EpisodeRow, InterventionRow

NAMESPACE = uuid.UUID("0b7e2c4e-6a1d-5f3e-9c2b-5d8f1e7a4c21")
RECENT_CHECKS = 200
"""At most this many of a patient's newest checks are read per evaluation: the rules' window, never the history."""
_DATES = ("start", "end", "first_start", "last_end", "opened_at", "closed_at", "given_at", "due_at", "created_at")


def patient_key(patient: PatientRef) -> str:
    """One string per patient: the business identifier (``system|value``), else the literal reference."""
    if patient.value:
        return f"{patient.system or ''}|{patient.value}"
    return f"ref:{patient.reference or ''}"


def patient_dict(patient: PatientRef) -> dict[str, str]:
    return {k: v for k, v in (("system", patient.system), ("value", patient.value), ("reference", patient.reference)) if v}


def episode_id(tenant: str, key: str, rule: str, anchor: str) -> str:
    """Stable per (patient, rule, the check that started it): the same run of checks is one episode."""
    return str(uuid.uuid5(NAMESPACE, f"{tenant}\x1f{key}\x1f{rule}\x1f{anchor}"))


def event_id(episode: str, what: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{episode}/{what}"))


def _aware(row: Any, table: type) -> Any:
    values = dict(row._mapping)
    for name in _DATES:
        if name in values:
            values[name] = as_utc(values[name])
    return table(**values)


def check_of(row: CheckRow) -> Check:
    return Check(row.id, row.start, row.end, row.level, row.worst, row.significant_p, row.source)


async def save_check(connection: AsyncConnection, tenant: str, key: str, check: Check) -> None:
    """Insert or replace (a review changes an assessment's level) one check."""
    values = {
        "tenant": tenant,
        "patient_key": key,
        "start": check.start,
        "end": check.end,
        "level": check.level,
        "worst": check.worst,
        "significant_p": check.significant_p,
        "source": check.source,
    }
    existing = (await connection.execute(select(CheckRow.id).where(CheckRow.id == check.id, CheckRow.tenant == tenant))).first()
    if existing:
        await connection.execute(update(CheckRow).where(CheckRow.id == check.id).values(**values))
    else:
        await connection.execute(insert(CheckRow).values(id=check.id, **values))


async def recent_checks(connection: AsyncConnection, tenant: str, key: str, since: datetime) -> list[Check]:
    """The patient's checks ending at or after ``since``, oldest first, at most ``RECENT_CHECKS`` (one index range)."""
    rows = await connection.execute(
        select(CheckRow).where(CheckRow.tenant == tenant, CheckRow.patient_key == key, CheckRow.end >= since).order_by(CheckRow.end.desc()).limit(RECENT_CHECKS)
    )
    return sorted((check_of(_aware(r, CheckRow)) for r in rows), key=lambda c: (c.end, c.start))


async def open_episodes(connection: AsyncConnection, tenant: str, key: str | None = None) -> list[EpisodeRow]:
    conditions = [EpisodeRow.tenant == tenant, EpisodeRow.status == "open"]
    if key is not None:
        conditions.append(EpisodeRow.patient_key == key)
    rows = await connection.execute(select(EpisodeRow).where(*conditions).order_by(EpisodeRow.opened_at).limit(500))
    return [_aware(r, EpisodeRow) for r in rows]


async def episodes_of(engine: AsyncEngine, tenant: str, key: str, since: datetime, until: datetime) -> list[EpisodeRow]:
    async with read_only(engine).connect() as connection:
        rows = await connection.execute(
            select(EpisodeRow)
            .where(EpisodeRow.tenant == tenant, EpisodeRow.patient_key == key, EpisodeRow.opened_at < until)
            .where((EpisodeRow.closed_at.is_(None)) | (EpisodeRow.closed_at >= since))
            .order_by(EpisodeRow.opened_at)
            .limit(1000)
        )
        return [_aware(r, EpisodeRow) for r in rows]


async def get_episode(engine: AsyncEngine, episode: str, tenant: str) -> EpisodeRow | None:
    async with read_only(engine).connect() as connection:
        row = (await connection.execute(select(EpisodeRow).where(EpisodeRow.id == episode, EpisodeRow.tenant == tenant))).first()
    return None if row is None else _aware(row, EpisodeRow)


async def open_episode(
    connection: AsyncConnection,
    publisher: Publisher,
    tenant: str,
    patient: PatientRef,
    finding: Finding,
    model: dict[str, str],
    now: datetime,
    *,
    anchor: str | None = None,
    extra: dict[str, Any] | None = None,
) -> AssessmentEvent | None:
    """Open an episode for ``finding`` unless this run already has one or the rule is open for the patient
    (at most one open episode per patient and rule; an alert re-fires only after it resolved)."""
    key = patient_key(patient)
    episode = episode_id(tenant, key, finding.rule, anchor or finding.first.id)
    open_key = f"{tenant}\x1f{key}\x1f{finding.rule}"
    taken = await connection.execute(select(EpisodeRow.id).where((EpisodeRow.id == episode) | (EpisodeRow.open_key == open_key)))
    if taken.first() is not None:
        return None
    significant = [c.significant_p for c in finding.checks if c.significant_p is not None]
    await connection.execute(
        insert(EpisodeRow).values(
            id=episode,
            tenant=tenant,
            patient_key=key,
            patient=patient_dict(patient),
            rule=finding.rule,
            open_key=open_key,
            status="open",
            first_start=finding.first.start,
            last_end=finding.last.end,
            opened_at=now,
            derived_from=[c.id for c in finding.checks if c.source == "assessment"][:50],
            model=model,
            max_probability=max(significant) if significant else None,
            source=finding.last.source,
            detail={"text": finding.detail, **(extra or {})},
        )
    )
    return await publisher.publish("pain_alert.opened", episode, tenant, event_id=event_id(episode, "opened"), connection=connection)


async def extend_episode(connection: AsyncConnection, publisher: Publisher, episode: EpisodeRow, run: list[Check]) -> AssessmentEvent | None:
    """The run behind an open episode grew (a later significant check, or a check arriving late inside it): the
    episode spans it and ``pain_alert.updated`` sends the EMR the Observation as it is now. None when nothing changed."""
    first, last = min(episode.first_start, run[0].start), max(episode.last_end, run[-1].end)
    ids = list(dict.fromkeys([*episode.derived_from, *(c.id for c in run if c.source == "assessment")]))[:50]
    if (first, last, sorted(ids)) == (episode.first_start, episode.last_end, sorted(episode.derived_from)):
        return None
    await connection.execute(update(EpisodeRow).where(EpisodeRow.id == episode.id).values(first_start=first, last_end=last, derived_from=ids))
    episode.first_start, episode.last_end, episode.derived_from = first, last, ids
    what = f"updated/{last.isoformat()}/{first.isoformat()}/{len(ids)}"
    return await publisher.publish("pain_alert.updated", episode.id, episode.tenant, event_id=event_id(episode.id, what), connection=connection)


async def close_episode(
    connection: AsyncConnection, publisher: Publisher, episode: EpisodeRow, reason: str, now: datetime, by: str | None = None
) -> AssessmentEvent | None:
    """Close an open episode (None when it was closed already, by another worker or a clinician)."""
    result = await connection.execute(
        update(EpisodeRow)
        .where(EpisodeRow.id == episode.id, EpisodeRow.tenant == episode.tenant, EpisodeRow.status == "open")
        .values(status="resolved", open_key=None, closed_at=now, closed_reason=reason, acknowledged_by=by)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return await publisher.publish("pain_alert.resolved", episode.id, episode.tenant, event_id=event_id(episode.id, "resolved"), connection=connection)


async def pending_interventions(connection: AsyncConnection, tenant: str, key: str) -> list[InterventionRow]:
    rows = await connection.execute(
        select(InterventionRow)
        .where(InterventionRow.tenant == tenant, InterventionRow.patient_key == key, InterventionRow.after_id.is_(None))
        .order_by(InterventionRow.given_at)
        .limit(50)
    )
    return [_aware(r, InterventionRow) for r in rows]


async def interventions_of(engine: AsyncEngine, tenant: str, key: str, since: datetime, until: datetime) -> list[InterventionRow]:
    async with read_only(engine).connect() as connection:
        rows = await connection.execute(
            select(InterventionRow)
            .where(InterventionRow.tenant == tenant, InterventionRow.patient_key == key, InterventionRow.given_at >= since, InterventionRow.given_at < until)
            .order_by(InterventionRow.given_at)
            .limit(2000)
        )
        return [_aware(r, InterventionRow) for r in rows]


async def overdue_interventions(engine: AsyncEngine, tenant: str, now: datetime) -> list[InterventionRow]:
    async with read_only(engine).connect() as connection:
        rows = await connection.execute(
            select(InterventionRow)
            .where(InterventionRow.tenant == tenant, InterventionRow.after_id.is_(None), InterventionRow.due_at <= now)
            .order_by(InterventionRow.due_at)
            .limit(500)
        )
        return [_aware(r, InterventionRow) for r in rows]
