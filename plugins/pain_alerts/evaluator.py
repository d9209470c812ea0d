"""The alert rules as a delivery destination: every ``assessment.completed`` and ``assessment.reviewed``
becomes a ledger row for ``pain_alerts``, and ``send`` evaluates the rules for that patient.

So an evaluation that fails (the database busy, a bug) is retried with backoff like a delivery and shows
in the ledger; it never loses the assessment, which was committed before. Each evaluation runs in one
transaction: the check, any episode opened or closed and its event commit together, under ids derived
from what happened, so running it twice (a retry, a replay after SIGKILL) changes nothing the second time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import LEVELS, Assessment, AssessmentEvent, DeliveryRequest, DeliveryResult, PatientRef, Publisher
from plugins.pain_alerts import PainAlertsSettings, Rules
from plugins.pain_alerts import metrics as alert_metrics
from plugins.pain_alerts import rules as R
from plugins.pain_alerts.episodes import (
    close_episode,
    extend_episode,
    get_episode,
    open_episode,
    open_episodes,
    patient_key,
    pending_interventions,
    recent_checks,
    save_check,
)
from plugins.pain_alerts.tables import InterventionRow

log = structlog.get_logger(__name__)

EVENTS = ("assessment.completed", "assessment.reviewed")
LOOK_BACK = timedelta(hours=24)
"""Checks older than this before the newest one never take part in a rule (the longest window is ``rising_hours`` ≤ 72 h
but a run broken by ``max_gap_minutes`` ≤ 24 h): bounded work per evaluation."""


def check_from(assessment: Assessment) -> R.Check:
    """The clinician's level once reviewed, else the AI's; the worst scored second's level."""
    level = assessment.clinician_level if assessment.clinical_version > 1 and assessment.clinician_level else assessment.summary.level
    scored = [w.level for w in assessment.windows if w.scorable and w.level in LEVELS]
    worst = max(scored, key=LEVELS.index) if scored else level
    if assessment.clinical_version > 1 and assessment.clinician_level:
        worst = assessment.clinician_level
    return R.Check(
        assessment.id,
        assessment.effective_start,
        assessment.effective_end,
        level,
        worst,
        assessment.summary.peak_probability.get("significant"),
        "assessment",
    )


def model_of(assessment: Assessment) -> dict[str, str]:
    m = assessment.model
    return {"model_id": m.model_id, "version": m.version, "name": m.name, "sha256": getattr(m, "sha256", "") or ""}


async def evaluate(
    connection: AsyncConnection,
    publisher: Publisher,
    rules: Rules,
    tenant: str,
    patient: PatientRef,
    new: R.Check,
    model: dict[str, str],
    now: datetime,
) -> list[AssessmentEvent]:
    """Store ``new`` and apply every rule to the patient's recent checks; the events of what opened or closed."""
    key = patient_key(patient)
    await save_check(connection, tenant, key, new)
    checks = await recent_checks(connection, tenant, key, new.end - LOOK_BACK)
    events: list[AssessmentEvent] = []
    max_gap, reset = timedelta(minutes=rules.max_gap_minutes), timedelta(minutes=rules.reset_minutes)
    found: dict[str, R.Finding] = {}
    if "sustained" in rules.enabled_rules and (f := R.latest_sustained(checks, rules.sustained_minutes, max_gap)):
        found["sustained"] = f
    if "rising" in rules.enabled_rules:
        pairs = [checks[i - 1 : i + 1] for i, c in enumerate(checks) if i > 0 and new.id in (c.id, checks[i - 1].id)]
        for pair in pairs:
            if f := R.rising(pair, rules.rising_hours):
                found["rising"] = f
    for intervention in await pending_interventions(connection, tenant, key):
        events += await _reassessed(connection, publisher, rules, intervention, checks, patient, model, now)
    for rule, finding in found.items():
        extra = {"baseline_check": finding.first.id, "baseline_worst": finding.first.worst} if rule == "rising" else None
        anchor = finding.last.id if rule == "rising" else None
        event = await open_episode(connection, publisher, tenant, patient, finding, model, now, anchor=anchor, extra=extra)
        events += [event] if event else []
    scorable = [c for c in checks if R.rank(c.level) >= 0]
    for episode in await open_episodes(connection, tenant, key):
        reason = None
        if episode.rule == "sustained":
            run = next((r for r in R.runs(checks, max_gap) if r[0].start <= episode.last_end + max_gap and r[-1].end >= episode.first_start), None)
            if run and (event := await extend_episode(connection, publisher, episode, run)):
                events.append(event)
            if (first := R.absent_since(checks, episode.last_end, reset)) is not None:
                reason = f"condition reset: {first.level} at {first.end:%H:%M} UTC"
        elif episode.rule == "rising":
            baseline = (episode.detail or {}).get("baseline_worst")
            if scorable and scorable[-1].end > episode.last_end and R.rank(scorable[-1].worst) <= R.rank(baseline):
                reason = f"level back to {scorable[-1].worst}"
        elif episode.rule == "no-relief":
            before = (episode.detail or {}).get("before_level")
            if scorable and scorable[-1].end > episode.last_end and R.rank(scorable[-1].level) < R.rank(before):
                reason = f"pain fell to {scorable[-1].level}"
        if reason is not None:
            event = await close_episode(connection, publisher, episode, reason, now)
            events += [event] if event else []
    return events


async def _reassessed(
    connection: AsyncConnection,
    publisher: Publisher,
    rules: Rules,
    intervention: InterventionRow,
    checks: list[R.Check],
    patient: PatientRef,
    model: dict[str, str],
    now: datetime,
) -> list[AssessmentEvent]:
    """The first scorable check starting after an intervention reassesses it against the last one before."""
    after = next((c for c in checks if c.start >= intervention.given_at and R.rank(c.level) >= 0), None)
    before = next((c for c in reversed(checks) if c.end <= intervention.given_at and R.rank(c.level) >= 0), None)
    if after is None:
        return []
    outcome = R.compare(before, after) if before is not None else "unchanged"
    await connection.execute(
        update(InterventionRow)
        .where(InterventionRow.id == intervention.id, InterventionRow.after_id.is_(None))
        .values(outcome=outcome if before is not None else None, before_id=before.id if before else None, after_id=after.id)
    )
    if before is None or "no-relief" not in rules.enabled_rules or not (finding := R.no_relief(before, after)):
        return []
    event = await open_episode(
        connection,
        publisher,
        intervention.tenant,
        patient,
        finding,
        model,
        now,
        anchor=intervention.id,
        extra={"before_level": before.level, "intervention": intervention.id},
    )
    return [event] if event else []


async def announce(publisher: Publisher, engine: AsyncEngine, events: list[AssessmentEvent], tenant: str) -> None:
    """After the commit: observers, metrics (by rule) and the tenant's alert rate."""
    for event in events:
        publisher.announce(event)
        episode = await get_episode(engine, event.assessment_id, tenant)
        alert_metrics.count(event.type, episode.rule if episode else "unknown")
    if any(e.type == "pain_alert.opened" for e in events):
        await alert_metrics.observe_rate(engine, tenant, datetime.now(UTC))


class AlertEvaluator:
    """The ``pain_alerts`` destination: evaluates, sends nothing elsewhere (``output`` None)."""

    name = "pain_alerts"
    output = None

    def __init__(self, settings: PainAlertsSettings) -> None:
        self.settings = settings

    async def targets(self, event: AssessmentEvent, connection: AsyncConnection) -> list[str]:
        return [""] if event.type in EVENTS and self.settings.rules_for(event.tenant).enabled else []

    async def send(self, request: DeliveryRequest) -> DeliveryResult:
        assessment = request.assessment
        if assessment is None:
            return DeliveryResult.delivered(None, "no assessment to evaluate")
        if request.publisher is None:
            return DeliveryResult.retry_later("this gateway cannot publish plugin events (no publisher)")
        rules = self.settings.rules_for(assessment.tenant)
        try:
            async with request.engine.begin() as connection:
                events = await evaluate(
                    connection, request.publisher, rules, assessment.tenant, assessment.patient, check_from(assessment), model_of(assessment), datetime.now(UTC)
                )
        except IntegrityError:  # another worker opened or closed the same episode at the same moment: look again
            return DeliveryResult.retry_later("another evaluation of this patient ran at the same time; evaluating again")
        await announce(request.publisher, request.engine, events, assessment.tenant)
        return DeliveryResult.delivered(None, ", ".join(e.type for e in events) or "no alert change")

    async def probe(self, engine: AsyncEngine) -> DeliveryResult:
        return DeliveryResult.delivered(None, "alert rules evaluate in the gateway's own database")
