"""Submit a clip for scoring, follow its job, read assessments and their rendered outputs."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, Parameter

from gateway.contract.domain import CLINICAL_STATUSES, LEVELS, Assessment, InputError
from gateway.contract.plugin_manager import Plugins
from gateway.contract.protocols import CaptureRequest
from gateway.service.flow import AssessmentFlow, JobQueue
from gateway.storage import audit
from gateway.storage.assessments import AssessmentStore
from gateway.storage.jobs import Submission, SubmissionStore
from gateway.storage.listing import MAX_LIMIT, STATUSES, AssessmentListing
from gateway.storage.tokens import TokenInfo
from gateway.web.openapi import ok, problems
from gateway.web.routes.listing import EXAMPLE_PAGE, MOMENT, AssessmentPage, encode_cursor, list_item, listing_query
from gateway.web.routes.schemas import EXAMPLE_JOB, EXAMPLE_VIEW, AssessmentView
from gateway.web.uploads import received

SUBMITTERS = {"integrator", "telehealth"}
READERS = {"integrator", "telehealth", "clinician"}
IDEMPOTENCY_NAMESPACE = uuid.UUID("0b5a4c1e-6a43-5e36-9d0e-8f1f6c1d2a77")


def _links(assessment_id: str, plugins: Plugins) -> dict[str, str]:
    """Links (and ``Location``) from ``PAIN_GATEWAY_PUBLIC_URL``, never from the request's ``Host``."""
    base = plugins.settings.base_url
    links = {"self": f"{base}/v1/assessments/{assessment_id}"}
    links.update({name: f"{links['self']}/{name}" for name in plugins.outputs})
    links["deliveries"] = f"{base}/v1/deliveries?assessment_id={assessment_id}"
    links["reviews"] = f"{links['self']}/reviews"
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
    if assessment is None:  # queued, running or failed: there is nothing to render yet, so no output links
        links = {name: url for name, url in links.items() if name in ("self", "deliveries")}
    return body | {"links": links}


@post(
    "/v1/assessments",
    opt={"roles": SUBMITTERS, "capture_body": "any"},
    tags=["assessments"],
    status_code=201,
    responses=ok(AssessmentView, EXAMPLE_VIEW, 201, description="Keypoints scored")
    | ok(AssessmentView, EXAMPLE_VIEW, 200, description="The same clip, or Idempotency-Key, was already submitted: the stored assessment")
    | ok(AssessmentView, EXAMPLE_JOB, 202, description="Video accepted; poll Location")
    | problems(400, 413, 415, 422, 429, 503),
)
async def submit(request: Request, flow: NamedDependency[AssessmentFlow], plugins: NamedDependency[Plugins]) -> Response[AssessmentView]:
    """Submit keypoints (scored now) or a video (scored by a background job).

    Keypoints: 201 with the assessment and ``Location``; 200 with the stored assessment when the same
    clip for the same patient was already scored by the same model (safe retries).
    Video (multipart ``video`` file + ``metadata`` JSON part): 202 with ``Location`` to poll; an
    ``Idempotency-Key`` header makes a retried upload return the same assessment.
    Either way the result is delivered to every configured destination (``GET /v1/deliveries``).
    Invalid input: 4xx naming the field, and nothing is stored.
    """
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 200:
        raise InputError("Idempotency-Key", "must be 1 to 200 characters, unique per upload (e.g. a UUID)")
    token: TokenInfo = request.user
    scoped_key = f"{token.id}:{key}" if key else None
    submission_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, scoped_key)) if scoped_key else str(uuid.uuid4())
    async with received(request, plugins.settings) as upload:
        submitted = await flow.submit(upload.request, token.tenant, submission_id, scoped_key)
        if submitted.job is not None and submitted.created:
            upload.keep()
    if submitted.job is not None:
        sub = submitted.job
        links = _links(sub.id, plugins)
        return Response(_body(sub.id, None, sub, links), status_code=202 if submitted.created else 200, headers={"Location": links["self"]})
    assessed = submitted.assessed
    links = _links(assessed.assessment.id, plugins)
    timing = f"model;dur={assessed.scored.model_s * 1000:.1f}, score;dur={assessed.scored.total_s * 1000:.1f}"
    return Response(
        _body(assessed.assessment.id, assessed.assessment, None, links),
        status_code=201 if assessed.created else 200,
        headers={"Location": links["self"], "Server-Timing": timing},
    )


@get("/v1/assessments/{assessment_id:str}", opt={"roles": READERS}, tags=["assessments"], responses=ok(AssessmentView, EXAMPLE_VIEW) | problems(400, 404))
async def read(
    assessment_id: FromPath[str],
    request: Request,
    store: NamedDependency[AssessmentStore],
    plugins: NamedDependency[Plugins],
    submissions: NamedDependency[SubmissionStore],
) -> dict[str, Any]:
    """The assessment, or while it is being processed: ``status`` (queued → extracting → scoring →
    completed | failed), ``progress`` (0–100), ``eta_s`` and, if failed, ``error``."""
    tenant = request.user.tenant
    # the job first: read after it, an assessment stored in between is seen (never "completed" without a result)
    sub = await submissions.get(assessment_id, tenant)
    assessment = await store.get(assessment_id, tenant)
    if assessment is None and sub is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    await audit.record(store.engine, "read", "assessment", assessment_id, patient=assessment.patient if assessment else None)
    return _body(assessment_id, assessment, sub, _links(assessment_id, plugins))


@post(
    "/v1/assessments/{assessment_id:str}/retry",
    opt={"roles": SUBMITTERS},
    tags=["assessments"],
    status_code=202,
    responses=ok(AssessmentView, EXAMPLE_JOB | {"status": "queued", "progress": 0}, 202) | problems(400, 404, 409),
)
async def retry(
    assessment_id: FromPath[str],
    request: Request,
    plugins: NamedDependency[Plugins],
    submissions: NamedDependency[SubmissionStore],
    jobs: NamedDependency[JobQueue],
) -> Response:
    """Run a failed assessment again from its stored input."""
    tenant = request.user.tenant
    sub = await submissions.get(assessment_id, tenant)
    if sub is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    if sub.status == "failed" and not all(f.path.exists() for f in CaptureRequest.from_record(sub.request).files.values()):
        raise ClientException(f"the upload was removed after a final failure ({sub.error}); submit it again", status_code=409)
    requeued = await submissions.retry(assessment_id, jobs.enqueue_processing, tenant)
    if requeued is None:
        raise ClientException(f"assessment is {sub.status}; only failed assessments can be retried", status_code=409)
    links = _links(assessment_id, plugins)
    return Response(_body(assessment_id, None, requeued, links), status_code=202, headers={"Location": links["self"]})


@get(
    "/v1/assessments/{assessment_id:str}/{output:str}",
    opt={"roles": READERS},
    tags=["assessments"],
    responses=ok(
        dict[str, Any],
        {"resourceType": "Bundle", "type": "collection", "entry": ["..."]},
        description="The document in the output's media type: application/fhir+json for fhir, text/plain HL7 v2 for hl7v2, ...",
    )
    | problems(400, 404),
)
async def read_output(
    assessment_id: FromPath[str],
    output: FromPath[str],
    request: Request,
    flow: NamedDependency[AssessmentFlow],
    plugins: NamedDependency[Plugins],
) -> Response:
    """A rendered output, e.g. ``/fhir`` for the FHIR Bundle (Observation, Device, Provenance), as it
    would be sent now."""
    if output not in plugins.outputs:
        raise NotFoundException(f"no output {output!r}; available: {', '.join(sorted(plugins.outputs))}")
    assessment = await flow.assessments.get(assessment_id, request.user.tenant)
    if assessment is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    document = await sync_to_thread(flow.render, output, assessment)
    await audit.record(flow.engine, "export", output, assessment_id, patient=assessment.patient)
    # set as the header itself: Litestar appends its own charset to a text/* media type, doubling one the output gives
    return Response(document.content, media_type=document.media_type.split(";")[0], headers={"content-type": document.media_type})


@get(
    "/v1/assessments",
    opt={"roles": READERS},
    tags=["assessments"],
    responses=ok(AssessmentPage, EXAMPLE_PAGE) | problems(400, 422),
)
async def list_assessments(
    request: Request,
    store: NamedDependency[AssessmentStore],
    plugins: NamedDependency[Plugins],
    patient: str | None = Parameter(default=None, max_length=520, description="The patient's identifier as 'system|value' (completed assessments only)"),
    since: str | None = Parameter(default=None, max_length=64, schema_extra=MOMENT, description="Received at or after this moment (ISO 8601 with a time zone)"),
    until: str | None = Parameter(default=None, max_length=64, schema_extra=MOMENT, description="Received before this moment (ISO 8601 with a time zone)"),
    status: str | None = Parameter(default=None, max_length=20, description=f"One of {', '.join(STATUSES)}"),
    clinical_status: str | None = Parameter(default=None, max_length=20, description=f"One of {', '.join(CLINICAL_STATUSES)}"),
    level: str | None = Parameter(default=None, max_length=20, description=f"The AI's clip level: one of {', '.join(LEVELS)}"),
    cursor: str | None = Parameter(default=None, max_length=200, description="Where the previous page ended: follow links.next rather than building it"),
    limit: int = Parameter(default=50, ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}"),
) -> AssessmentPage:
    """The tenant's assessments, newest received first: completed ones and video jobs still queued,
    running or failed, a page at a time; ``links.next`` continues (absent on the last page).

    A ``patient``, ``level`` or ``clinical_status`` filter lists completed assessments only. ``level``
    is the AI's (AI-asserted, by the model named in ``model``); ``clinician_level`` is the reviewer's.
    Listing is audited as a search."""
    query = listing_query(
        request.user.tenant,
        {"patient": patient, "status": status, "clinical_status": clinical_status, "level": level, "cursor": cursor},
        since,
        until,
        limit,
    )
    items, after = await AssessmentListing(store.engine).page(query)
    await audit.record(store.engine, "search", "assessment", None, patient=patient)
    base = f"{plugins.settings.base_url}/v1/assessments"
    echoed = [(k, v) for k, v in request.query_params.items() if k != "cursor"]
    links = {"self": f"{base}?{urlencode(list(request.query_params.items()))}".rstrip("?")}
    if after is not None:
        links["next"] = f"{base}?{urlencode([*echoed, ('cursor', encode_cursor(after))])}"
    return AssessmentPage(items=[list_item(item, base) for item in items], limit=query.limit, links=links)


ROUTES = [submit, list_assessments, read, retry, read_output]
