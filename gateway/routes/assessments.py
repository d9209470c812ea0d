"""Submit a clip for scoring and read assessments and their rendered outputs."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from gateway.contracts import CaptureRequest, UploadedFile
from gateway.domain import Assessment
from gateway.plugins import Plugins
from gateway.problems import problem
from gateway.scoring import Scored, score_clip
from gateway.store import AssessmentStore

SUBMITTERS = {"integrator", "telehealth"}
READERS = {"integrator", "telehealth", "clinician"}


async def capture_request(request: Request) -> CaptureRequest:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        form = await request.form()
        fields, files = {}, {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = UploadedFile(value.filename, value.content_type, await value.read())
            else:
                fields[key] = value
        return CaptureRequest(media_type, fields=fields, files=files)
    return CaptureRequest(media_type, body=await request.body())


def capture_and_score(submission: CaptureRequest, plugins: Plugins) -> Scored:
    clip = plugins.capture_source(submission).capture(submission)
    return score_clip(clip, plugins)


def _links(request: Request, assessment_id: str, plugins: Plugins) -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    links = {"self": f"{base}/v1/assessments/{assessment_id}"}
    links.update({name: f"{links['self']}/{name}" for name in plugins.outputs})
    return links


def _body(assessment: Assessment, links: dict[str, str]) -> dict[str, Any]:
    return msgspec.to_builtins(assessment) | {"links": links}


@post("/v1/assessments", opt={"roles": SUBMITTERS}, tags=["assessments"], status_code=201)
async def submit(request: Request, store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]) -> Response:
    """Score a clip now and store the result.

    201 with the assessment and ``Location`` when new; 200 with the stored assessment when the same clip
    for the same patient was already scored by the same model (safe retries). Invalid input: 422 naming
    the field, and nothing is stored.
    """
    submission = await capture_request(request)
    scored = await sync_to_thread(capture_and_score, submission, plugins)
    created = await store.add(scored)
    assessment = scored.assessment if created else await store.get(scored.assessment.id)
    links = _links(request, assessment.id, plugins)
    timing = f"model;dur={scored.model_s * 1000:.1f}, score;dur={scored.total_s * 1000:.1f}"
    return Response(
        _body(assessment, links),
        status_code=201 if created else 200,
        headers={"Location": links["self"], "Server-Timing": timing},
    )


@get("/v1/assessments/{assessment_id:str}", opt={"roles": READERS}, tags=["assessments"])
async def read(assessment_id: FromPath[str], request: Request, store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]) -> dict[str, Any]:
    assessment = await store.get(assessment_id)
    if assessment is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    return _body(assessment, _links(request, assessment_id, plugins))


@get("/v1/assessments/{assessment_id:str}/{output:str}", opt={"roles": READERS}, tags=["assessments"])
async def read_output(assessment_id: FromPath[str], output: FromPath[str], store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]) -> Response:
    """A rendered output, e.g. ``/fhir`` for the FHIR Bundle (Observation, Device, Provenance)."""
    if output not in plugins.outputs:
        raise NotFoundException(f"no output {output!r}; available: {', '.join(sorted(plugins.outputs))}")
    row = await store.get_output(assessment_id, output)
    if row is None:
        raise NotFoundException(f"no assessment {assessment_id!r} with a {output!r} output")
    if row.body is None:
        return problem(500, "Output failed", f"rendering {output!r} failed for this assessment: {row.error}")
    return Response(row.body, media_type=row.media_type)


ROUTES = [submit, read, read_output]
