"""Submit a clip for scoring, follow its job, read assessments and their rendered outputs."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath

from gateway.baselines import BaselineStore
from gateway.contracts import CaptureRequest
from gateway.domain import Assessment, InputError
from gateway.jobs.pipeline import JobQueue
from gateway.jobs.state import Submission, SubmissionStore
from gateway.plugins import Plugins
from gateway.problems import problem
from gateway.scoring import score_clip
from gateway.store import AssessmentStore, TokenInfo
from gateway.uploads import received

SUBMITTERS = {"integrator", "telehealth"}
READERS = {"integrator", "telehealth", "clinician"}
IDEMPOTENCY_NAMESPACE = uuid.UUID("0b5a4c1e-6a43-5e36-9d0e-8f1f6c1d2a77")




def _links(request: Request, assessment_id: str, plugins: Plugins) -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    links = {"self": f"{base}/v1/assessments/{assessment_id}"}
    links.update({name: f"{links['self']}/{name}" for name in plugins.outputs})
    return links


def _job(sub: Submission) -> dict[str, Any]:
    return {"status": sub.status, "progress": sub.progress, "eta_s": sub.eta_s(), "error": sub.error, "attempts": sub.attempts}


def _body(assessment_id: str, assessment: Assessment | None, sub: Submission | None, links: dict[str, str]) -> dict[str, Any]:
    """A finished assessment, or while its job runs, the job's state (``status``, ``progress``, ETA)."""
    body: dict[str, Any] = msgspec.to_builtins(assessment) if assessment is not None else {"id": assessment_id}
    if sub is not None:
        body |= _job(sub) if assessment is None or sub.status != "completed" else {"status": "completed", "progress": 100}
    elif assessment is not None:
        body |= {"status": "completed", "progress": 100}
    return body | {"links": links}


@post("/v1/assessments", opt={"roles": SUBMITTERS}, tags=["assessments"], status_code=201)
async def submit(
    request: Request, store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins],
    submissions: NamedDependency[SubmissionStore], jobs: NamedDependency[JobQueue], baselines: NamedDependency[BaselineStore],
) -> Response:
    """Submit keypoints (scored now) or a video (scored by a background job).

    Keypoints: 201 with the assessment and ``Location``; 200 with the stored assessment when the same
    clip for the same patient was already scored by the same model (safe retries).
    Video (multipart ``video`` file + ``metadata`` JSON part): 202 with ``Location`` to poll; an
    ``Idempotency-Key`` header makes a retried upload return the same assessment.
    Invalid input: 4xx naming the field, and nothing is stored.
    """
    async with received(request, plugins.settings) as upload:
        submission = upload.request
        source = plugins.capture_source(submission)
        if source.deferred:
            await sync_to_thread(source.check, submission)
            response = await _accept_job(request, submission, source.name, plugins, submissions, jobs)
            if response.status_code == 202:
                upload.keep()
            return response
        clip = await sync_to_thread(source.capture, submission)
        scored = await sync_to_thread(partial(score_clip, clip, plugins, baseline=await baselines.get(clip.patient)))
    created = await store.add(scored)
    assessment = scored.assessment if created else await store.get(scored.assessment.id)
    links = _links(request, assessment.id, plugins)
    timing = f"model;dur={scored.model_s * 1000:.1f}, score;dur={scored.total_s * 1000:.1f}"
    return Response(
        _body(assessment.id, assessment, None, links),
        status_code=201 if created else 200,
        headers={"Location": links["self"], "Server-Timing": timing},
    )


async def _accept_job(request: Request, submission: CaptureRequest, source: str, plugins: Plugins, submissions: SubmissionStore, jobs: JobQueue) -> Response:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 200:
        raise InputError("Idempotency-Key", "must be 1 to 200 characters, unique per upload (e.g. a UUID)")
    token: TokenInfo = request.user
    scoped_key = f"{token.id}:{key}" if key else None
    submission_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, scoped_key)) if scoped_key else str(uuid.uuid4())
    sub, created = await submissions.create(submission_id, source, submission.as_record(), scoped_key, jobs.enqueue_processing)
    links = _links(request, sub.id, plugins)
    return Response(_body(sub.id, None, sub, links), status_code=202 if created else 200, headers={"Location": links["self"]})


@get("/v1/assessments/{assessment_id:str}", opt={"roles": READERS}, tags=["assessments"])
async def read(
    assessment_id: FromPath[str], request: Request, store: NamedDependency[AssessmentStore],
    plugins: NamedDependency[Plugins], submissions: NamedDependency[SubmissionStore],
) -> dict[str, Any]:
    """The assessment, or while it is being processed: ``status`` (queued → extracting → scoring →
    delivering → completed | failed), ``progress`` (0–100), ``eta_s`` and, if failed, ``error``."""
    assessment, sub = await store.get(assessment_id), await submissions.get(assessment_id)
    if assessment is None and sub is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    return _body(assessment_id, assessment, sub, _links(request, assessment_id, plugins))


@post("/v1/assessments/{assessment_id:str}/retry", opt={"roles": SUBMITTERS}, tags=["assessments"], status_code=202)
async def retry(
    assessment_id: FromPath[str], request: Request, plugins: NamedDependency[Plugins],
    submissions: NamedDependency[SubmissionStore], jobs: NamedDependency[JobQueue],
) -> Response:
    """Run a failed assessment again from its stored input."""
    sub = await submissions.get(assessment_id)
    if sub is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    if sub.status == "failed" and not all(f.path.exists() for f in CaptureRequest.from_record(sub.request).files.values()):
        raise ClientException(f"the upload was removed after a final failure ({sub.error}); submit it again", status_code=409)
    requeued = await submissions.retry(assessment_id, jobs.enqueue_processing)
    if requeued is None:
        raise ClientException(f"assessment is {sub.status}; only failed assessments can be retried", status_code=409)
    links = _links(request, assessment_id, plugins)
    return Response(_body(assessment_id, None, requeued, links), status_code=202, headers={"Location": links["self"]})


@get("/v1/assessments/{assessment_id:str}/{output:str}", opt={"roles": READERS}, tags=["assessments"])
async def read_output(
    assessment_id: FromPath[str], output: FromPath[str], store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins],
) -> Response:
    """A rendered output, e.g. ``/fhir`` for the FHIR Bundle (Observation, Device, Provenance)."""
    if output not in plugins.outputs:
        raise NotFoundException(f"no output {output!r}; available: {', '.join(sorted(plugins.outputs))}")
    row = await store.get_output(assessment_id, output)
    if row is None:
        raise NotFoundException(f"no assessment {assessment_id!r} with a {output!r} output")
    if row.body is None and row.error is None:
        return problem(409, "Output not ready", f"the {output!r} output is still being delivered; retry shortly", retry_after=2)
    if row.body is None:
        return problem(500, "Output failed", f"rendering {output!r} failed for this assessment: {row.error}")
    return Response(row.body, media_type=row.media_type)


ROUTES = [submit, read, retry, read_output]
