"""The two job functions every engine runs: process a submission, deliver one output.

Both are safe to run more than once (at-least-once engines, crash retries): processing claims the
submission with a conditional update and writes its assessment once; delivery fills an output row
only while it is empty. CPU work runs in a thread so the engine's event loop keeps its heartbeat.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.baselines import BaselineStore
from gateway.contracts import CaptureRequest
from gateway.domain import InputError, LandmarkClip
from gateway.jobs.state import ACTIVE, SubmissionStore
from gateway.plugins import Plugins
from gateway.scoring import score_clip
from gateway.store import AssessmentStore

log = structlog.get_logger(__name__)

EXTRACTION_SHARE = 80  # progress points for landmark extraction; scoring and delivery take the rest


@runtime_checkable
class JobQueue(Protocol):
    """What a job engine offers the pipeline: triggers, enqueued inside the caller's transaction."""

    async def enqueue_processing(self, connection: AsyncConnection | None, submission_id: str) -> None: ...

    async def enqueue_delivery(self, connection: AsyncConnection | None, submission_id: str, outputs: list[str]) -> None: ...


@dataclass
class JobContext:
    plugins: Plugins
    engine: AsyncEngine
    queue: JobQueue

    @property
    def settings(self):
        return self.plugins.settings

    @property
    def submissions(self) -> SubmissionStore:
        return SubmissionStore(self.engine)

    @property
    def assessments(self) -> AssessmentStore:
        return AssessmentStore(self.engine)


def landmarks_path(data_dir: str, submission_id: str) -> Path:
    return Path(data_dir) / "landmarks" / f"{submission_id}.npz"


def _keep_landmarks(clip: LandmarkClip, path: Path) -> None:
    """Landmarks outlive the video: clinicians review them and sites retrain on them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, points=clip.points.astype(np.float32), fps=clip.fps,
                        image_size=np.array(clip.image_size or (0, 0)), captured_at=clip.captured_at.isoformat())


def _remove_uploads(request: CaptureRequest) -> None:
    for upload in request.files.values():
        shutil.rmtree(upload.path.parent, ignore_errors=True)


async def process(ctx: JobContext, submission_id: str) -> str:
    """Extract, score and store one submission; returns its status afterwards."""
    settings, submissions = ctx.settings, ctx.submissions
    sub = await submissions.claim(submission_id, settings.stalled_after_s, settings.max_attempts)
    if sub is None:
        current = await submissions.get(submission_id)
        return "running" if current is not None and current.status in ACTIVE[:2] else "skipped"
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
        source = {s.name: s for s in ctx.plugins.capture_sources}.get(sub.source)
        if source is None:
            await submissions.advance(submission_id, "failed", 0, f"capture source {sub.source!r} is not loaded in this worker")
            return "failed"
        clip = await asyncio.to_thread(source.capture, request, progress)
        _keep_landmarks(clip, landmarks_path(settings.data_dir, submission_id))
        await submissions.advance(submission_id, "scoring", EXTRACTION_SHARE + 5, expect="extracting")
        baseline = await BaselineStore(ctx.engine).get(clip.patient)
        scored = await asyncio.to_thread(partial(score_clip, clip, ctx.plugins, assessment_id=submission_id, render=False, baseline=baseline))
        outputs = list(ctx.plugins.outputs)

        async def deliver_next(connection: AsyncConnection) -> None:
            await submissions.advance(submission_id, "delivering", 90, connection=connection)
            await ctx.queue.enqueue_delivery(connection, submission_id, outputs)

        created = await ctx.assessments.add(scored, pending=outputs, then=deliver_next)
        if not settings.retain_video:  # only now: until the assessment is stored, a retry needs the video
            _remove_uploads(request)
        if not created:
            # an earlier attempt stored the assessment before it died: finish its deliveries
            await submissions.advance(submission_id, "delivering", 90)
            pending = [name for _, name in await ctx.assessments.pending_outputs(submission_id)]
            await ctx.queue.enqueue_delivery(None, submission_id, pending)
            outputs = pending
        if not outputs:
            await submissions.advance(submission_id, "completed", 100)
        log.info("job_scored", submission_id=submission_id, level=scored.assessment.summary.level)
        return "delivering" if outputs else "completed"
    except InputError as exc:  # the input itself is unusable: retrying cannot help
        _remove_uploads(request)
        await submissions.advance(submission_id, "failed", sub.progress, f"{exc.field}: {exc.message}")
        log.info("job_failed", submission_id=submission_id, reason=exc.field)
        return "failed"
    except Exception as exc:
        log.exception("job_error", submission_id=submission_id)
        status = await submissions.requeue_or_fail(submission_id, f"{type(exc).__name__}: {exc}", settings.max_attempts)
        if status == "queued":
            await ctx.queue.enqueue_processing(None, submission_id)
        return status


async def deliver(ctx: JobContext, submission_id: str, output_name: str) -> None:
    """Render (and in future send) one output; completes the submission when none is left pending."""
    assessments = ctx.assessments
    if (submission_id, output_name) in await assessments.pending_outputs(submission_id):
        assessment = await assessments.get(submission_id)
        output = ctx.plugins.outputs.get(output_name)
        try:
            if output is None:
                raise LookupError(f"output plugin {output_name!r} is not loaded in this worker")
            await assessments.save_output(submission_id, await asyncio.to_thread(output.render, assessment))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            row = await assessments.get_output(submission_id, output_name)
            give_up = row.attempts + 1 >= ctx.settings.max_attempts
            await assessments.output_failed(submission_id, output_name, error, give_up=give_up)
            if not give_up:
                raise  # the engine retries this delivery
            log.error("output_gave_up", submission_id=submission_id, output=output_name, error=error)
    if not await assessments.pending_outputs(submission_id):
        await ctx.submissions.advance(submission_id, "completed", 100)
