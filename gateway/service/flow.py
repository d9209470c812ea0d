"""The one assessment flow: capture → checks → score → store with its event and deliveries.

Every entry point goes through here: the API (keypoints scored now, video accepted as a job), the
job that processes a video, the CLI, baselines. Whatever the entry point, an assessment is stored in
one transaction with its ``assessment.completed`` event, the delivery ledger rows of every destination
that wants it and their jobs; sending happens in delivery jobs (``gateway.service.jobs.pipeline.deliver``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.contract.domain import Assessment, AssessmentEvent, InputError, LandmarkClip, OutputDocument, StorageFull, TooBusy
from gateway.contract.plugin_manager import Plugins
from gateway.contract.protocols import CaptureRequest, CaptureSource, Progress
from gateway.ops import metrics
from gateway.pipeline.clip_checks import check_clip
from gateway.pipeline.scoring import Scored
from gateway.service.scoring_pool import InThreads, Scoring
from gateway.storage import audit, kept_landmarks
from gateway.storage.assessments import AssessmentStore
from gateway.storage.baselines import BaselineStore, reference_from_clip
from gateway.storage.deliveries import DeliveryStore
from gateway.storage.events import Events, new_event
from gateway.storage.jobs import Submission, SubmissionStore
from gateway.storage.reviews import Review, ReviewRequest, record_review

if TYPE_CHECKING:
    from gateway.ops.settings import Settings
    from gateway.storage.tokens import TokenInfo


@runtime_checkable
class JobQueue(Protocol):
    """What a job engine offers the flow: triggers, enqueued inside the caller's transaction."""

    async def enqueue_processing(self, connection: AsyncConnection | None, submission_id: str) -> None: ...

    async def enqueue_delivery(self, connection: AsyncConnection | None, delivery_ids: list[str]) -> None: ...


DELIVERY_BACKLOG_RETRY_AFTER_S = 30  # a backlog at the default cap drains in about this long at the default concurrency


class RowsAreTheQueue:
    """For a process without a job engine of its own (the CLI, an embedded pool process): the rows it
    writes are the jobs, which the serving gateway's scheduler or the distributed periodic check runs."""

    async def enqueue_processing(self, connection: AsyncConnection | None, submission_id: str) -> None:
        return None

    async def enqueue_delivery(self, connection: AsyncConnection | None, delivery_ids: list[str]) -> None:
        return None


@dataclass(frozen=True)
class Assessed:
    assessment: Assessment
    created: bool  # False: the same clip was already assessed (a retry); ``assessment`` is the stored one
    scored: Scored


@dataclass(frozen=True)
class Submitted:
    """A submission's answer: an assessment scored now, or a background job (video)."""

    created: bool
    assessed: Assessed | None = None
    job: Submission | None = None


def calm(assessment: Assessment) -> bool:
    """Nobody saw pain in the clip: a reviewing clinician set or confirmed the level none (their judgement wins),
    or, unreviewed, the AI scored every second none."""
    if assessment.clinical_status in ("final", "amended"):
        return (assessment.clinician_level or assessment.summary.level) == "none"
    scored = [w for w in assessment.windows if w.scorable]
    return bool(scored) and all(w.level == "none" for w in scored)


class AssessmentFlow:
    """The one assessment flow (module docstring): every entry point submits, assesses, reviews and publishes here."""

    def __init__(self, plugins: Plugins, engine: AsyncEngine, queue: JobQueue, scoring: Scoring | None = None) -> None:
        """``scoring``: where parsing and scoring run (default: this process's threads)."""
        self.plugins = plugins
        self.scoring = scoring or InThreads(plugins)
        self.engine = engine
        self.queue = queue
        self.events = Events(plugins, queue)
        self.assessments = AssessmentStore(engine)
        self.submissions = SubmissionStore(engine, self.events)
        self.baselines = BaselineStore(engine)
        self.deliveries = DeliveryStore(engine)

    @property
    def settings(self) -> Settings:
        return self.plugins.settings

    async def submit(self, request: CaptureRequest, tenant: str, submission_id: str, idempotency_key: str | None = None) -> Submitted:
        """Keypoints are scored and stored now; a deferred source (video) is checked now and queued."""
        source = self.plugins.capture_source(request)
        await self.check_storage(tenant)
        await self.check_delivery_backlog(tenant)
        if source.deferred:
            await asyncio.to_thread(source.check, request)
            waiting, _ = await self.submissions.in_progress(tenant)
            if waiting >= self.settings.tenant_max_queued_jobs:
                raise TooBusy(
                    f"{waiting} submissions of this tenant are waiting to be processed, the limit (PAIN_GATEWAY_TENANT_MAX_QUEUED_JOBS); retry later",
                    retry_after_s=30,
                )
            job, created = await self.submissions.create(
                submission_id, source.name, request.as_record(), idempotency_key, self.queue.enqueue_processing, tenant
            )
            if created:
                await audit.record(self.engine, "create", "submission", job.id, principal=audit.acting_for(tenant))
            metrics.SUBMISSIONS.labels(source.name, "queued" if created else "duplicate").inc()
            return Submitted(created, job=job)
        try:
            scored = await self.scoring.capture_and_score(source, request, tenant, self.baselines)
        except InputError:
            metrics.SUBMISSIONS.labels(source.name, "rejected").inc()
            raise
        metrics.STAGE_SECONDS.labels("decode").observe(scored.decode_s)
        assessed = await self._store(scored, tenant)
        metrics.SUBMISSIONS.labels(source.name, "scored" if assessed.created else "duplicate").inc()
        return Submitted(assessed.created, assessed=assessed)

    async def check_storage(self, tenant: str) -> None:
        """Refuse new work (``StorageFull``, 413) while the tenant's kept landmarks are at or over
        ``PAIN_GATEWAY_TENANT_MAX_STORAGE_MB``: checked when a submission or live session is accepted, before
        anything is parsed, scored or written; work already accepted (a queued video) is always finished,
        so a tenant may end at most the submissions in flight over the quota."""
        limit_mb = self.settings.tenant_max_storage_mb
        if limit_mb == 0:
            return
        used = await kept_landmarks.used_bytes(self.engine, tenant)
        if used >= limit_mb * 1_000_000:
            raise StorageFull(
                f"this tenant keeps {used / 1e6:.1f} MB of landmarks, its quota (PAIN_GATEWAY_TENANT_MAX_STORAGE_MB={limit_mb}); "
                "nothing was scored or stored: free space (PAIN_GATEWAY_RETENTION_DAYS, `pain-gateway retention run`) "
                "or raise the quota, then resubmit"
            )

    async def check_delivery_backlog(self, tenant: str) -> None:
        """Refuse new work (``TooBusy``, 429) while the tenant has ``PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES``
        or more deliveries due or being sent: every result adds deliveries, so a submitter is told to slow
        down before anything is parsed, scored or written (one count on an index of the deliveries table)."""
        backlog = await self.deliveries.tenant_backlog(tenant)
        if backlog >= self.settings.tenant_max_pending_deliveries:
            raise TooBusy(
                f"{backlog} deliveries of this tenant's results are waiting to be sent, the limit (PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES); retry later",
                retry_after_s=DELIVERY_BACKLOG_RETRY_AFTER_S,
            )

    async def capture(self, source: CaptureSource, request: CaptureRequest, progress: Progress | None = None) -> LandmarkClip:
        """Landmarks from any source, off the event loop; scoring checks them (``check_clip``)."""
        return await self.scoring.capture(source, request, progress)

    async def capture_keypoints(self, request: CaptureRequest) -> LandmarkClip:
        """For callers that need landmarks at once (baselines): video is refused, not queued."""
        source = self.plugins.capture_source(request)
        if source.deferred:
            raise InputError("content-type", "send this clip as keypoints (JSON, .npy or .npz), not video")
        clip = await self.capture(source, request)
        check_clip(clip, self.settings)
        return clip

    async def assess(self, clip: LandmarkClip, tenant: str, submission_id: str | None = None) -> Assessed:
        """Score with the patient's baseline (which keeps the landmarks) and store (``_store``)."""
        baseline = await self.baselines.get(clip.patient, tenant)
        scored = await self.scoring.score(clip, tenant, submission_id, baseline)
        return await self._store(scored, tenant, submission_id)

    async def _store(self, scored: Scored, tenant: str, submission_id: str | None = None) -> Assessed:
        """Store with the event, its deliveries and (for a job) the submission's completion, in one transaction."""
        metrics.observe_scored(scored.assessment.model.model_id, scored.model_s, scored.total_s)
        event = new_event("assessment.completed", scored.assessment.id, tenant)
        patient = scored.assessment.patient

        async def with_event(connection: AsyncConnection) -> None:
            await self.events.record(connection, event)
            await audit.record(connection, "create", "assessment", scored.assessment.id, patient=patient, principal=audit.acting_for(tenant))
            await kept_landmarks.record(connection, tenant, scored.assessment.id, scored.kept_bytes, scored.assessment.created_at)
            if submission_id is not None:
                await self.submissions.advance(submission_id, "completed", 100, connection=connection)

        created = await self.assessments.add(scored.assessment, then=with_event)
        if not created:
            if submission_id is not None:  # an earlier attempt stored it and died before answering
                await self.submissions.advance(submission_id, "completed", 100)
            return Assessed(await self.assessments.get(scored.assessment.id, tenant) or scored.assessment, False, scored)
        self.events.committed(event)
        return Assessed(scored.assessment, True, scored)

    async def may_become_baseline(self, assessment: Assessment) -> bool:
        """Whether a first visit's clip may become its patient's neutral face: the model uses one, none is stored
        yet (one is never replaced from an old result) and nobody saw pain in the clip (``calm``)."""
        first_visit = assessment.reliability is not None and assessment.reliability.baseline == "none"
        if not (first_visit and calm(assessment) and kept_landmarks.path(self.settings.data_dir, assessment.id).is_file()):
            return False
        return await self.baselines.get(assessment.patient, assessment.tenant) is None

    async def baseline_from(self, assessment: Assessment) -> int:
        """Store the neutral face of an assessment's kept landmarks as its patient's baseline (a clinician judged
        the patient at rest and free of pain in that clip); the number of face frames it was averaged over."""
        kept = await asyncio.to_thread(kept_landmarks.load, self.settings.data_dir, assessment.id)
        if kept is None:
            raise InputError("assessment", "its landmarks are no longer kept (retention): record a new neutral clip with the patient at rest")
        if not await self.may_become_baseline(assessment):
            raise InputError(
                "assessment",
                "only a first visit's clip can become the patient's neutral face, while none is stored, and only if the AI scored "
                "every second none or a reviewing clinician set the level to none",
            )
        clip = LandmarkClip(assessment.patient, assessment.captured_at, kept.fps, kept.points, kept.image_size, assessment.source)
        reference, frames = await asyncio.to_thread(reference_from_clip, clip)
        if not await self.baselines.add_if_absent(assessment.patient, assessment.tenant, reference, frames):
            raise InputError("assessment", "a neutral face was stored for this patient meanwhile; it is kept")
        await audit.record(self.engine, "create", "patient_baseline", assessment.id, patient=assessment.patient)
        return frames

    async def review(self, tenant: str, assessment_id: str, request: ReviewRequest, principal: TokenInfo) -> Review:
        """A clinician's confirm or override, committed with its ``assessment.reviewed`` event and deliveries."""
        return await record_review(self.engine, tenant, assessment_id, request, principal, events=self.events)

    async def publish(
        self, event_type: str, assessment_id: str, tenant: str, *, event_id: str | None = None, connection: AsyncConnection | None = None
    ) -> AssessmentEvent:
        """A plugin's own event (its type declared with ``register_event_types``): committed with its
        deliveries like the core's, then told to ``handle_event`` observers.

        ``assessment_id`` must be the tenant's assessment (its deliveries carry it to that tenant's
        destinations), except for a type whose documents the plugin renders (``register_event_documents``):
        then it is the plugin's own subject id (an alert episode) and the plugin's documents are sent.
        ``event_id`` (a UUID the plugin derives from what happened) makes publishing idempotent: an event
        already recorded under it is returned as it was, with no second delivery. With ``connection`` the
        event is written in the caller's transaction (with the plugin's own rows, all or nothing) and
        observers are told only after the caller's commit, never by this call."""
        documented = event_type in self.plugins.event_documents
        if not documented and await self.assessments.get(assessment_id, tenant) is None:
            raise LookupError(f"tenant {tenant!r} has no assessment {assessment_id!r}")
        event = new_event(event_type, assessment_id, tenant)
        if event_id is not None:
            event = msgspec.structs.replace(event, id=str(uuid.UUID(event_id)))
        if connection is not None:
            return await self.events.record_once(connection, event)
        async with self.engine.begin() as own:
            recorded = await self.events.record_once(own, event)
        if recorded is event:
            self.events.committed(event)
        return recorded

    def announce(self, event: AssessmentEvent) -> None:
        """Tell ``handle_event`` observers of an event a plugin published in its own transaction
        (``publish(..., connection=...)``), once that transaction has committed."""
        self.events.committed(event)

    def render(self, output: str, assessment: Assessment) -> OutputDocument:
        """CPU work (12 ms for FHIR): callers on the event loop run it in a thread."""
        try:
            renderer = self.plugins.outputs[output]
        except KeyError:
            raise LookupError(f"output {output!r} is not loaded; available: {', '.join(sorted(self.plugins.outputs))}") from None
        return renderer.render(assessment)
