"""Clinician review: a clinician confirms or overrides the AI's level, append-only.

Each review is a new row (``assessment_reviews``, never changed or removed) that moves the
assessment's clinical status on: ``final`` on confirm, ``amended`` on override, at the next clinical
version. The AI result in the assessment's document is never touched, so the AI's level stays
visible next to the clinician's. The review, its audit row and the ``assessment.reviewed`` event with
its deliveries commit together; two clinicians reviewing at once cannot both win the same version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import msgspec
from litestar.exceptions import ClientException, NotFoundException
from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.contract.domain import LEVELS, Assessment, AssessmentEvent, InputError, PatientRef
from gateway.storage import audit
from gateway.storage.events import new_event
from gateway.storage.tables import AssessmentRow, ReviewRow, SubmissionRow

if TYPE_CHECKING:
    from gateway.storage.events import Events

DECISIONS: tuple[str, ...] = ("confirm", "override")
REVIEW_REASONS: dict[str, str] = {
    "clinical-judgement": "the clinician's own assessment of the patient",
    "poor-video": "the clip was unsuitable (lighting, pose, occlusion, too short)",
    "patient-report": "the patient's own report (e.g. NRS) disagrees",
    "other": "anything else; say what in the comment",
}
"""Why a clinician reviewed as they did: code -> meaning. Data, not logic: extend it here."""
MAX_COMMENT = 2000
STATUS_AFTER = {"confirm": "final", "override": "amended"}


class ReviewRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A clinician's decision. ``level`` may be left out on confirm (it is the AI's); an override
    names a level other than the AI's and a ``reason``."""

    decision: str
    level: str | None = None
    reason: str | None = None
    comment: str = ""


class Review(msgspec.Struct, frozen=True):
    """One recorded review; ``version`` is the clinical version it made (the AI's result is version 1)."""

    id: str
    assessment_id: str
    version: int
    decision: str
    level: str
    ai_level: str | None
    reason: str | None
    comment: str
    reviewer: str
    reviewed_at: datetime


REVIEW_EXAMPLE = {"decision": "override", "level": "significant", "reason": "patient-report", "comment": "Patient reports NRS 8/10."}


def checked(request: ReviewRequest, ai_level: str | None) -> tuple[str, str | None, str]:
    """The level, reason and comment to record, or ``InputError`` naming the field and the fix."""
    if request.decision not in DECISIONS:
        raise InputError("decision", f"must be 'confirm' (the AI's level is right) or 'override' (it is not), got {request.decision!r}")
    if request.level is not None and request.level not in LEVELS:
        raise InputError("level", f"must be one of {', '.join(LEVELS)}, got {request.level!r}")
    if request.reason is not None and request.reason not in REVIEW_REASONS:
        raise InputError("reason", f"must be one of {', '.join(REVIEW_REASONS)}, got {request.reason!r}")
    comment = request.comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InputError("comment", f"must be at most {MAX_COMMENT} characters, got {len(comment)}")
    if request.decision == "confirm":
        if ai_level is None:
            raise InputError(
                "decision", "the AI gave no level (no scorable second) so there is nothing to confirm; send decision 'override' with the level you observed"
            )
        if request.level not in (None, ai_level):
            raise InputError("level", f"a confirm keeps the AI's level {ai_level!r}; to record {request.level!r} send decision 'override'")
        return ai_level, request.reason, comment
    if request.level is None:
        raise InputError("level", f"an override needs the level you observed: one of {', '.join(LEVELS)}")
    if request.level == ai_level:
        raise InputError("level", f"{request.level!r} is the AI's level; send decision 'confirm' to agree with it")
    if request.reason is None:
        raise InputError("reason", f"an override needs a reason: one of {', '.join(REVIEW_REASONS)}")
    return request.level, request.reason, comment


def _review(row: ReviewRow) -> Review:
    reviewed_at = row.reviewed_at if row.reviewed_at.tzinfo else row.reviewed_at.replace(tzinfo=UTC)
    return Review(row.id, row.assessment_id, row.version, row.decision, row.level, row.ai_level, row.reason, row.comment, row.reviewer, reviewed_at)


async def _job_status(engine: AsyncEngine, tenant: str, assessment_id: str) -> str:
    """The status of a submission without an assessment yet; 404 when there is none in this tenant."""
    async with engine.connect() as connection:
        status = await connection.scalar(select(SubmissionRow.status).where(SubmissionRow.id == assessment_id, SubmissionRow.tenant == tenant))
    if status is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    return status


async def record_review(engine: AsyncEngine, tenant: str, assessment_id: str, request: ReviewRequest, principal: Any, events: Events | None = None) -> Review:
    """Record a review by ``principal`` (the clinician's token: ``id``, ``name``) and move the clinical
    status on; with ``events`` (``AssessmentFlow.review`` passes its own) the ``assessment.reviewed``
    event and its deliveries commit with it, and observers are told after the commit."""
    async with engine.connect() as connection:
        current = (
            await connection.execute(
                select(AssessmentRow.document, AssessmentRow.clinical_version, AssessmentRow.model_id, AssessmentRow.model_version).where(
                    AssessmentRow.id == assessment_id, AssessmentRow.tenant == tenant
                )
            )
        ).first()
    if current is None:
        status = await _job_status(engine, tenant, assessment_id)
        raise ClientException(f"assessment is {status}; only completed assessments can be reviewed", status_code=409)
    document, version, model_id, model_version = current
    ai_level = (document.get("summary") or {}).get("level")
    level, reason, comment = checked(request, ai_level)
    review = ReviewRow(
        id=str(uuid.uuid4()),
        tenant=tenant,
        assessment_id=assessment_id,
        version=version + 1,
        decision=request.decision,
        level=level,
        ai_level=ai_level,
        reason=reason,
        comment=comment,
        reviewer=str(principal.name)[:100],
        reviewer_token=principal.id,
        model_id=model_id,
        model_version=model_version,
        reviewed_at=datetime.now(UTC),
    )
    event: AssessmentEvent = new_event("assessment.reviewed", assessment_id, tenant)
    try:
        async with engine.begin() as connection:
            moved = await connection.execute(
                update(AssessmentRow)
                .where(AssessmentRow.id == assessment_id, AssessmentRow.tenant == tenant, AssessmentRow.clinical_version == version)
                .values(clinical_status=STATUS_AFTER[request.decision], clinical_version=version + 1, clinician_level=level)
            )
            if moved.rowcount != 1:
                raise IntegrityError("clinical_version moved", None, Exception("concurrent review"))
            await connection.execute(
                cast("Table", ReviewRow.__table__)
                .insert()
                .values(  # a mapped class's __table__ is a Table
                    {c.key: getattr(review, c.key) for c in ReviewRow.__table__.columns}
                )
            )
            await audit.record(connection, "review", "assessment", assessment_id, patient=msgspec.convert(document["patient"], PatientRef))
            if events is not None:
                await events.record(connection, event)
    except IntegrityError:
        raise ClientException("another review of this assessment was recorded at the same moment; read the history and review again", status_code=409) from None
    if events is not None:
        events.committed(event)
    return _review(review)


async def review_history(engine: AsyncEngine, tenant: str, assessment_id: str) -> list[Review]:
    """Every review of the assessment, oldest first (the last one is in force); none while it is
    being processed; 404 when the tenant has no such assessment. The read is audited."""
    async with engine.connect() as connection:
        document = await connection.scalar(select(AssessmentRow.document).where(AssessmentRow.id == assessment_id, AssessmentRow.tenant == tenant))
        rows = (
            []
            if document is None
            else list(
                await connection.execute(
                    select(ReviewRow).where(ReviewRow.assessment_id == assessment_id, ReviewRow.tenant == tenant).order_by(ReviewRow.version)
                )
            )
        )
    if document is None:
        await _job_status(engine, tenant, assessment_id)
        return []
    await audit.record(engine, "read", "review", assessment_id, patient=msgspec.convert(document["patient"], PatientRef))
    return [_review(ReviewRow(**r._mapping)) for r in rows]


def versions(assessment: Assessment, reviews: list[Review]) -> list[Assessment]:
    """The assessment as it stood at each clinical version, oldest first: the AI's result
    (``preliminary``, version 1), then one per review (what FHIR ``_history`` serves)."""
    first = msgspec.structs.replace(assessment, clinical_status="preliminary", clinical_version=1, clinician_level=None, reviewed_by=None, reviewed_at=None)
    return [
        first,
        *(
            msgspec.structs.replace(
                assessment,
                clinical_status=STATUS_AFTER[r.decision],
                clinical_version=r.version,
                clinician_level=r.level,
                reviewed_by=r.reviewer,
                reviewed_at=r.reviewed_at,
            )
            for r in reviews
        ),
    ]
