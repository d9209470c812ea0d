"""The two job functions every engine runs: process a submission, attempt one delivery.

Both are safe to run more than once (at-least-once engines, crash retries): processing claims the
submission with a conditional update and stores its assessment once; a delivery is claimed with a
lease and its outcome recorded once per attempt. CPU work runs in a thread so the engine's event loop
keeps its heartbeat.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime

import structlog

from gateway.contract.domain import DeliveryResult, InputError
from gateway.contract.protocols import CaptureRequest, DeliveryRequest
from gateway.ops import metrics
from gateway.pipeline.scoring import warm_model
from gateway.service.flow import AssessmentFlow
from gateway.storage import audit
from gateway.storage.deliveries import Delivery
from gateway.storage.jobs import ACTIVE

log = structlog.get_logger(__name__)

EXTRACTION_SHARE = 80  # progress points for landmark extraction; scoring takes the rest


def warm_up(plugins) -> None:
    """Warm the model and every capture source that can be warmed, so a worker's first job does not pay
    MediaPipe's and torch's start-up. Best effort, like ``gateway.pipeline.scoring.warm_model``."""
    started = time.perf_counter()
    warm_model(plugins)
    for source in plugins.capture_sources:
        if hasattr(source, "warm"):
            try:
                source.warm()
            except Exception as exc:
                log.warning("worker_warm_up_failed", part=source.name, error=f"{type(exc).__name__}: {exc}")
    log.info("worker_warmed_up", seconds=round(time.perf_counter() - started, 2))


def _remove_uploads(request: CaptureRequest) -> None:
    for upload in request.files.values():
        shutil.rmtree(upload.path.parent, ignore_errors=True)


async def process(flow: AssessmentFlow, submission_id: str) -> str:
    """Extract, score and store one submission; returns its status afterwards."""
    settings, submissions = flow.settings, flow.submissions
    sub = await submissions.claim(submission_id, settings.stalled_after_s, settings.max_attempts, settings.tenant_max_running_jobs)
    if sub is None:
        current = await submissions.get(submission_id)
        return "running" if current is not None and current.status in ("queued", *ACTIVE) else "skipped"
    log.info("job_started", submission_id=submission_id, attempt=sub.attempts)
    request = CaptureRequest.from_record(sub.request)
    loop = asyncio.get_running_loop()
    last_report = 0.0

    def progress(fraction: float) -> None:  # called from the capture thread
        nonlocal last_report
        if time.monotonic() - last_report >= 0.5:
            last_report = time.monotonic()
            points = int(max(0.0, min(fraction, 1.0)) * EXTRACTION_SHARE)
            asyncio.run_coroutine_threadsafe(submissions.advance(submission_id, "extracting", points, expect="extracting"), loop)

    try:
        source = {s.name: s for s in flow.plugins.capture_sources}.get(sub.source)
        if source is None:
            await submissions.advance(submission_id, "failed", 0, f"capture source {sub.source!r} is not loaded in this worker")
            return "failed"
        clip = await flow.capture(source, request, progress)
        await submissions.advance(submission_id, "scoring", EXTRACTION_SHARE + 5, expect="extracting")
        assessed = await flow.assess(clip, sub.tenant, submission_id)
        if not settings.retain_video:  # only now: until the assessment is stored, a retry needs the video
            _remove_uploads(request)
        log.info("job_scored", submission_id=submission_id, level=assessed.assessment.summary.level)
        return "completed"
    except InputError as exc:  # the input itself is unusable: retrying cannot help
        _remove_uploads(request)
        await submissions.advance(submission_id, "failed", sub.progress, f"{exc.field}: {exc.message}")
        log.info("job_failed", submission_id=submission_id, reason=exc.field)
        return "failed"
    except Exception as exc:
        log.exception("job_error", submission_id=submission_id)
        status = await submissions.requeue_or_fail(submission_id, f"{type(exc).__name__}: {exc}", settings.max_attempts)
        if status == "queued":
            await flow.queue.enqueue_processing(None, submission_id)
        return status


async def deliver(flow: AssessmentFlow, delivery_id: str) -> Delivery | None:
    """One attempt of one delivery: render, send, record; None when it was not due (or is held)."""
    settings = flow.settings
    delivery = await flow.deliveries.claim(delivery_id, lease_s=settings.delivery_timeout_s * 2 + 30)
    if delivery is None:
        return None
    started, clock = datetime.now(UTC), time.perf_counter()
    result = await _attempt(flow, delivery)
    metrics.observe_delivery(delivery.destination, result.outcome, time.perf_counter() - clock)
    recorded = await flow.deliveries.record(delivery, started, (time.perf_counter() - clock) * 1000, result, settings.delivery_retry_schedule_s)
    log.info(
        "delivery_attempt",
        delivery_id=delivery_id,
        destination=delivery.destination,
        attempt=delivery.attempts,
        outcome=result.outcome,
        status=recorded.status,
        status_code=result.status_code,
    )
    patient = assessment.patient if (assessment := await flow.assessments.get(delivery.assessment_id, delivery.tenant)) else None
    await audit.record(
        flow.engine,
        "deliver",
        "delivery",
        delivery.id,
        patient=patient,
        outcome={"delivered": "success", "retry": "error"}.get(result.outcome, "failure"),
        principal=audit.Principal(None, "system", recorded.tenant),
    )
    return recorded


async def _attempt(flow: AssessmentFlow, delivery: Delivery) -> DeliveryResult:
    """A destination's verdict. Rendering is deterministic, so a render error is final (dead letter);
    our other failures (a plugin bug, a timeout) become retries, never crashes."""
    destination = flow.plugins.destinations.get(delivery.destination)
    if destination is None:
        return DeliveryResult.retry_later(f"destination {delivery.destination!r} is not configured in this worker")
    event = await flow.deliveries.event(delivery.event_id)
    event = None if event is None else flow.plugins.with_documents(event)
    assessment = await flow.assessments.get(delivery.assessment_id, delivery.tenant)  # never another tenant's, whoever wrote the event
    document = None
    documents = None if event is None else flow.plugins.event_documents.get(event.type)
    if documents is not None and event is not None:  # a plugin's own event: its document, not the assessment's
        if destination.output is not None and destination.output in documents.outputs:
            try:
                document = await documents.render(event, destination.output, flow.engine)
            except Exception as exc:
                log.exception("render_error", delivery_id=delivery.id, output=destination.output)
                return DeliveryResult.retry_later(f"{documents.name!r} could not render its {destination.output!r} document: {type(exc).__name__}: {exc}")
    elif destination.output is not None and assessment is not None:
        try:
            document = await asyncio.to_thread(flow.render, destination.output, assessment)
        except Exception as exc:
            log.exception("render_error", delivery_id=delivery.id, output=destination.output)
            return DeliveryResult.failed(f"rendering the {destination.output!r} output failed: {type(exc).__name__}: {exc}")
    request = DeliveryRequest(delivery.id, delivery.destination, delivery.target, delivery.attempts, event, assessment, document, flow.engine, flow)
    try:
        return await asyncio.wait_for(destination.send(request), flow.settings.delivery_timeout_s)
    except TimeoutError:
        return DeliveryResult.retry_later(f"no answer within {flow.settings.delivery_timeout_s:g} s (PAIN_GATEWAY_DELIVERY_TIMEOUT_S)")
    except Exception as exc:
        log.exception("delivery_error", delivery_id=delivery.id, destination=delivery.destination)
        return DeliveryResult.retry_later(f"{type(exc).__name__}: {exc}")
