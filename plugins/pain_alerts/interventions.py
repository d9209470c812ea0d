"""Interventions a clinician records (analgesic, non-drug, other) and their reassessment timer.

The reassessment is due ``reassess_parenteral_minutes`` (30) after a parenteral analgesic, else
``reassess_minutes`` (60): the usual ward practice of checking pain when the drug should act. The
first scorable check after ``given_at`` is the reassessment; the evaluator then states whether pain
fell, was unchanged or rose, with the two checks it compares.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import InputError, PatientRef, TrajectoryEntry, as_utc
from plugins.pain_alerts import Rules
from plugins.pain_alerts.episodes import interventions_of, patient_dict, patient_key
from plugins.pain_alerts.tables import InterventionRow

KINDS = ("analgesic", "non-drug", "other")
ROUTES = ("parenteral", "oral", "other")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


class InterventionIn(msgspec.Struct, forbid_unknown_fields=True):
    """``patient``: ``system|value`` (or a value alone); ``kind``: analgesic, non-drug or other; ``route``
    (analgesics): parenteral or oral, which sets when the reassessment is due; ``given_at``: ISO 8601 with
    a zone, not in the future, not before 2000."""

    patient: str
    kind: str
    description: str
    given_at: datetime
    route: str | None = None


class Intervention(msgspec.Struct, frozen=True):
    """A recorded intervention; ``outcome`` (fell, unchanged, rose) compares ``before_id`` with ``after_id``
    (assessment ids) once reassessed; ``overdue``: its reassessment is due and not done."""

    id: str
    kind: str
    route: str | None
    description: str
    given_at: datetime
    due_at: datetime
    recorded_by: str
    outcome: str | None
    before_id: str | None
    after_id: str | None
    overdue: bool


def parse_patient(text: str, field: str = "patient") -> PatientRef:
    text = (text or "").strip()
    if not text or len(text) > 300:
        raise InputError(field, "give the patient as system|value (e.g. urn:oid:1.2.3|MRN-1234) or a value alone, at most 300 characters")
    system, _, value = text.rpartition("|") if "|" in text else ("", "", text)
    if not value.strip():
        raise InputError(field, f"has no identifier value after '|': {text[:60]!r}")
    return PatientRef(system=system or None, value=value)


def validated(body: InterventionIn, now: datetime) -> tuple[PatientRef, datetime]:
    patient = parse_patient(body.patient)
    if body.kind not in KINDS:
        raise InputError("kind", f"must be one of {', '.join(KINDS)}, got {body.kind[:40]!r}")
    if body.route is not None and body.route not in ROUTES:
        raise InputError("route", f"must be one of {', '.join(ROUTES)} or absent, got {body.route[:40]!r}")
    if not body.description.strip() or len(body.description) > 500:
        raise InputError("description", "say what was given (e.g. 'morphine 2 mg IV'), at most 500 characters")
    if body.given_at.tzinfo is None:
        raise InputError("given_at", "needs a time zone, e.g. 2026-11-23T10:05:00Z")
    given = body.given_at.astimezone(UTC)
    if given < EARLIEST:
        raise InputError("given_at", f"must not be before 2000-01-01, got {given.isoformat()}")
    if given > now + CLOCK_SKEW:
        raise InputError("given_at", f"must not be in the future (now {now.isoformat(timespec='seconds')}), got {given.isoformat()}")
    return patient, given


def due(rules: Rules, kind: str, route: str | None, given: datetime) -> datetime:
    minutes = rules.reassess_parenteral_minutes if kind == "analgesic" and route == "parenteral" else rules.reassess_minutes
    return given + timedelta(minutes=minutes)


async def record(engine: AsyncEngine, tenant: str, body: InterventionIn, rules: Rules, recorded_by: str, now: datetime) -> tuple[Intervention, PatientRef]:
    patient, given = validated(body, now)
    row = {
        "id": str(uuid.uuid4()),
        "tenant": tenant,
        "patient_key": patient_key(patient),
        "patient": patient_dict(patient),
        "kind": body.kind,
        "route": body.route,
        "description": body.description.strip(),
        "given_at": given,
        "due_at": due(rules, body.kind, body.route, given),
        "recorded_by": recorded_by,
        "created_at": now,
    }
    async with engine.begin() as connection:
        await connection.execute(insert(InterventionRow).values(**row))
    return Intervention(
        row["id"], body.kind, body.route, row["description"], given, row["due_at"], recorded_by, None, None, None, row["due_at"] <= now
    ), patient


def as_intervention(row: InterventionRow, now: datetime) -> Intervention:
    return Intervention(
        row.id,
        row.kind,
        row.route,
        row.description,
        as_utc(row.given_at),
        as_utc(row.due_at),
        row.recorded_by,
        row.outcome,
        row.before_id,
        row.after_id,
        row.after_id is None and as_utc(row.due_at) <= now,
    )


class InterventionEntries:
    """``TrajectorySource``: recorded interventions as markers on the trajectory."""

    name = "pain_alerts"

    async def entries(self, tenant: str, patient: PatientRef, since: datetime, until: datetime, engine: AsyncEngine) -> list[TrajectoryEntry]:
        rows = await interventions_of(engine, tenant, patient_key(patient), since, until)
        return [TrajectoryEntry(id=r.id, at=r.given_at, kind="intervention", label=f"{r.kind}: {r.description}", source=self.name) for r in rows]
