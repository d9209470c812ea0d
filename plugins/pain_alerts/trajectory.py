"""A patient's trajectory over a period: every assessment (uploaded or a finished live session) in time
order with its AI level, probabilities, clinician level and quality; the other plugins' entries
(``TrajectorySource``: reference scales, interventions); the alert episodes; and per-hour and per-day
aggregates built from the 1-second windows (time at each level, unscorable time, worst level, checks).
Unscorable seconds are counted as such, never interpolated."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import LEVELS, SYNTHETIC_DISCLAIMER, Assessment, AssessmentQuery, AssessmentStore, InputError, PatientRef, TrajectoryEntry, TrajectorySource
from plugins.pain_alerts.episodes import episodes_of, interventions_of, patient_key
from plugins.pain_alerts.interventions import Intervention, as_intervention

log = structlog.get_logger(__name__)

MAX_DAYS = 31
DEFAULT_DAYS = 7
PAGE = 1000
MAX_POINTS = 20_000
"""Assessments in one answer at most (31 days of one check every 2.2 minutes); more are left out and ``truncated`` says so."""


class Point(msgspec.Struct, frozen=True):
    """One assessment on the trajectory. ``ai_level`` is AI-asserted (``model``); ``clinician_level`` is set once reviewed."""

    assessment_id: str
    start: datetime
    end: datetime
    source: str
    ai_level: str | None
    probabilities: dict[str, float]
    clinician_level: str | None
    clinical_status: str
    face_share: float | None
    scored_seconds: int
    unscorable_seconds: int
    model: str


class Bucket(msgspec.Struct, frozen=True):
    """An hour or a day: ``seconds`` at each AI level, ``unscorable_seconds``, the ``worst`` level seen, ``checks`` started in it."""

    start: datetime
    seconds: dict[str, float]
    unscorable_seconds: float
    worst: str | None
    checks: int


class EpisodeOut(msgspec.Struct, frozen=True):
    """An alert episode (AI-derived): ``status`` open or resolved, ``detail`` the rule's reason."""

    id: str
    rule: str
    status: str
    started_at: datetime
    last_seen_at: datetime
    opened_at: datetime
    closed_at: datetime | None
    closed_reason: str | None
    acknowledged_by: str | None
    detail: str
    ai_derived: bool = True


class Trajectory(msgspec.Struct, frozen=True):
    """``GET /v1/patients/trajectory``: decision support from a model trained on synthetic data (``disclaimer``)."""

    patient: PatientRef
    since: datetime
    until: datetime
    points: list[Point]
    entries: list[TrajectoryEntry]
    interventions: list[Intervention]
    episodes: list[EpisodeOut]
    hours: list[Bucket]
    days: list[Bucket]
    truncated: bool
    sources_failed: list[str]
    disclaimer: str = SYNTHETIC_DISCLAIMER


def period(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    end = _instant(until, "until") if until else now
    start = _instant(since, "since") if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise InputError("since", f"must be before until ({end.isoformat()}), got {start.isoformat()}")
    if end - start > timedelta(days=MAX_DAYS):
        raise InputError("since", f"the period may span at most {MAX_DAYS} days; got {(end - start).days} days from since to until")
    return start, end


def _instant(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(field, f"must be an ISO 8601 time with a zone, e.g. 2026-11-23T10:05:00Z, got {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise InputError(field, f"needs a time zone, e.g. 2026-11-23T10:05:00Z, got {text[:40]!r}")
    return moment.astimezone(UTC)


def point(a: Assessment) -> Point:
    return Point(
        a.id,
        a.effective_start,
        a.effective_end,
        a.source,
        a.summary.level,
        dict(a.summary.peak_probability),
        a.clinician_level if a.clinical_version > 1 else None,
        a.clinical_status,
        a.quality.face_share if a.quality else None,
        a.summary.scored_windows,
        a.summary.unscorable_windows,
        f"{a.model.model_id} {a.model.version}",
    )


def aggregate(assessments: list[Assessment], size: timedelta) -> list[Bucket]:
    """Seconds at each level per bucket, from the windows (each window counted in the bucket it starts in)."""
    seconds: dict[datetime, dict[str, float]] = defaultdict(lambda: dict.fromkeys(LEVELS, 0.0))
    unscorable: dict[datetime, float] = defaultdict(float)
    checks: dict[datetime, int] = defaultdict(int)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)

    def bucket(moment: datetime) -> datetime:
        return epoch + size * ((moment - epoch) // size)

    for a in assessments:
        checks[bucket(a.effective_start)] += 1
        for w in a.windows:
            at = bucket(a.effective_start + timedelta(seconds=w.start_s))
            if w.scorable and w.level in LEVELS:
                seconds[at][w.level] += w.end_s - w.start_s
            else:
                unscorable[at] += w.end_s - w.start_s
    keys = sorted(set(seconds) | set(unscorable) | set(checks))
    out = []
    for key in keys:
        levels = seconds.get(key, dict.fromkeys(LEVELS, 0.0))
        worst = max((lvl for lvl, s in levels.items() if s > 0), key=LEVELS.index, default=None)
        out.append(Bucket(key, {k: round(v, 1) for k, v in levels.items()}, round(unscorable.get(key, 0.0), 1), worst, checks.get(key, 0)))
    return out


async def assessments_of(store: AssessmentStore, tenant: str, patient: PatientRef, since: datetime, until: datetime) -> tuple[list[Assessment], bool]:
    found: list[Assessment] = []
    while len(found) < MAX_POINTS:
        query = AssessmentQuery(
            tenant=tenant, system=patient.system, value=patient.value, start_from=since, start_before=until, oldest_first=True, limit=PAGE, offset=len(found)
        )
        page, _ = await store.search(query)
        found += page
        if len(page) < PAGE:
            return found, False
    return found[:MAX_POINTS], True


async def known_patient(store: AssessmentStore, tenant: str, patient: PatientRef) -> bool:
    _, total = await store.search(AssessmentQuery(tenant=tenant, system=patient.system, value=patient.value, limit=0))
    return total > 0


async def build(
    store: AssessmentStore, sources: list[TrajectorySource], tenant: str, patient: PatientRef, since: datetime, until: datetime, now: datetime
) -> Trajectory:
    engine: AsyncEngine = store.engine
    assessments, truncated = await assessments_of(store, tenant, patient, since, until)
    entries: list[TrajectoryEntry] = []
    failed: list[str] = []
    for source in sources:
        try:
            entries += await source.entries(tenant, patient, since, until, engine)
        except Exception as exc:  # one broken source leaves its points out and says so; the trajectory stands
            log.warning("trajectory_source_failed", source=source.name, error=type(exc).__name__)
            failed.append(source.name)
    key = patient_key(patient)
    interventions = [as_intervention(r, now) for r in await interventions_of(engine, tenant, key, since, until)]
    episodes = [
        EpisodeOut(
            e.id,
            e.rule,
            e.status,
            e.first_start,
            e.last_end,
            e.opened_at,
            e.closed_at,
            e.closed_reason,
            e.acknowledged_by,
            str((e.detail or {}).get("text", "")),
        )
        for e in await episodes_of(engine, tenant, key, since, until)
    ]
    return Trajectory(
        patient,
        since,
        until,
        [point(a) for a in assessments],
        sorted(entries, key=lambda e: e.at),
        interventions,
        episodes,
        aggregate(assessments, timedelta(hours=1)),
        aggregate(assessments, timedelta(days=1)),
        truncated,
        failed,
    )
