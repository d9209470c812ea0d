"""Read-only FHIR R4 facade: read and search the stored pain Observations the way FHIR clients do.

Every route here carries FHIR exception handlers, so any error on ``/fhir/*`` -- 401 from the auth
middleware, 403 from the role guard, 404, 405, 406, 422, 500 -- is an ``OperationOutcome`` in
``application/fhir+json``, never the API's problem+json. Unknown ``/fhir`` paths and methods are
answered by catch-all routes for the same reason (the app-level handlers only see unrouted requests).

Reads resolve the deterministic resource ids (UUIDv5, see ``resources.py``) through the store's alias
index: a miss first indexes the tenant's assessments not indexed yet, then looks again, so ids from
older deliveries resolve without a full scan on every read.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import Request, Response, get, post, route
from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from gateway import (
    EXAMPLE_ASSESSMENT,
    NO_TOKEN,
    PUBLIC,
    Assessment,
    AssessmentStore,
    InputError,
    SettingsError,
    TooBusy,
    UnsupportedMediaError,
    audit_record,
    documented,
    ok,
    problems,
    review_history,
)
from gateway import review_versions as versions
from plugins.fhir_observation.resources import (
    ISSUE_CODES,
    MEDIA_TYPE,
    FhirObservationOutput,
    assessment_identifier_system,
    capability_statement,
    code_matches,
    device_id,
    device_resource,
    document_reference_id,
    document_reference_resource,
    has_explanation,
    history_bundle,
    observation_id,
    observation_resource,
    operation_outcome,
    provenance_id,
    provenance_resource,
    searchset,
)
from plugins.fhir_observation.schema import SEARCH_FORM, SEARCH_PARAMETERS, OperationOutcome, Resource, outcome_example
from plugins.fhir_observation.search import SEARCH_PARAMS, parse_search

log = structlog.get_logger(__name__)

READERS = {"integrator", "telehealth", "clinician"}
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def outcome_response(status: int, diagnostics: str, headers: dict[str, str] | None = None) -> Response:
    code = ISSUE_CODES.get(status, "exception")
    severity = "error" if status < 500 else "fatal"
    return Response(operation_outcome([(severity, code, diagnostics)]), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code >= 500:
        log.error("server_error", path=request.url.path, error=repr(exc.__cause__ or exc), exc_info=exc)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    headers.update(exc.headers or {})
    detail = exc.detail
    if isinstance(exc, ValidationException) and exc.extra:
        detail = f"{detail}: {exc.extra}"
    return outcome_response(exc.status_code, detail, headers)


def _input_error(request: Request, exc: InputError) -> Response:
    """A malformed search value is 400 on a FHIR server (HAPI), not the API's 422."""
    return outcome_response(415 if isinstance(exc, UnsupportedMediaError) else 400, exc.message if exc.field in exc.message
                            else f"{exc.field}: {exc.message}")


def _too_busy(request: Request, exc: TooBusy) -> Response:
    return outcome_response(429, str(exc), {"Retry-After": str(exc.retry_after_s)})


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    if isinstance(exc, SettingsError):
        return outcome_response(503, str(exc))
    return outcome_response(500, "the gateway failed; the error is logged with this request's id")


EXCEPTION_HANDLERS: dict[Any, Callable[..., Response]] = {
    HTTPException: _http_error, InputError: _input_error, TooBusy: _too_busy, Exception: _unexpected,
}


def _wants_xml(connection: ASGIConnection) -> bool:
    fmt = connection.query_params.get("_format", "")
    if fmt:
        return "xml" in fmt
    accepted = [part.split(";")[0].strip() for part in connection.headers.get("accept", "").split(",") if part.strip()]
    return bool(accepted) and all("xml" in media for media in accepted)


def negotiate(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """JSON only: a client that asks for XML alone gets 406 rather than JSON it cannot parse."""
    if _wants_xml(connection):
        raise HTTPException(status_code=406, detail="this server returns application/fhir+json only; XML is not supported")


DOCUMENT_REFERENCE_EXAMPLE = {
    "resourceType": "DocumentReference", "id": "example", "status": "current",
    "type": {"text": "AI model explanation: region occlusion (model-internal signal, not a clinical finding)"},
    "content": [{"attachment": {"contentType": "image/png", "title": "Region occlusion heatmap on the clip's mean face mesh"}},
                {"attachment": {"contentType": "application/json", "title": "Region and second importances"}}],
}


def build_routes(output: FhirObservationOutput, public_base: str) -> list:
    """``public_base`` (``PAIN_GATEWAY_PUBLIC_URL``) makes every URL we hand out; the ``Host`` header never does."""
    base = f"{public_base}/fhir"
    scope = output.base_url  # ids and identifier systems derive from it, so the alias index is kept per base
    fhir = {"exception_handlers": EXCEPTION_HANDLERS, "guards": [negotiate], "tags": ["fhir"]}

    def reader(**opt: Any) -> dict[str, Any]:
        return {"opt": {"roles": READERS, **opt}, **fhir}

    def doc(example: dict[str, Any], *errors: int, public: bool = False) -> dict[str, Any]:
        """Success as ``application/fhir+json`` with an example, errors as ``OperationOutcome``."""
        return {"responses": ok(Resource, example, media_type=MEDIA_TYPE) | problems(406, *errors, public=public, container=OperationOutcome,
                                                                                    media_type=MEDIA_TYPE, example=outcome_example)}

    observation_example = observation_resource(EXAMPLE_ASSESSMENT, output.mappings, scope)
    searchset_example = searchset([observation_example], 1, {"self": f"{base}/Observation?subject:identifier=urn:oid:1.2.3%7CMRN-1234"}, base)

    async def index_tenant(store: AssessmentStore, tenant: str) -> None:
        """Alias every assessment of ``tenant`` not aliased yet (Observation, Provenance, Device ids)."""
        done: set[str] = set()
        while batch := [a for a in await store.unaliased(tenant, scope, "fhir:Observation") if a.id not in done]:
            done.update(a.id for a in batch)  # a batch that did not stick is not retried forever
            aliases = {}
            for a in batch:
                aliases[("fhir:Observation", observation_id(a.id, scope))] = a
                aliases[("fhir:Provenance", provenance_id(a.id, scope))] = a
                if has_explanation(a):
                    aliases[("fhir:DocumentReference", document_reference_id(a.id, scope))] = a
                aliases.setdefault(("fhir:Device", device_id(a.model, scope)), a)
            await store.add_aliases(scope, [(a, kind, alias) for (kind, alias), a in aliases.items()])

    async def resolve(store: AssessmentStore, tenant: str, resource_type: str, resource_id: str) -> Assessment:
        """The assessment behind ``Type/id`` in the caller's tenant; another tenant's is the same 404 as none."""
        found = None
        if _ID.fullmatch(resource_id):
            kind = f"fhir:{resource_type}"
            found = await store.by_alias(tenant, scope, kind, resource_id)
            if found is None:
                await index_tenant(store, tenant)
                found = await store.by_alias(tenant, scope, kind, resource_id)
        if found is None:
            raise NotFoundException(f"{resource_type}/{resource_id} is not known to this server")
        return found

    def fhir_json(resource: dict[str, Any]) -> Response:
        return Response(resource, media_type=MEDIA_TYPE)

    @get("/fhir/Observation/{observation_id:str}", summary="Read a pain Observation", **reader(fhir=("Observation", "read")),
         **doc(observation_example, 400, 404))
    async def read_observation(request: Request, observation_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        a = await resolve(store, request.user.tenant, "Observation", observation_id)
        await audit_record(store.engine, "read", "Observation", observation_id, patient=a.patient)
        return fhir_json(observation_resource(a, output.mappings, scope))

    async def observation_versions(request: Request, store: AssessmentStore, observation_id: str) -> list[Assessment]:
        a = await resolve(store, request.user.tenant, "Observation", observation_id)
        await audit_record(store.engine, "read", "Observation", observation_id, patient=a.patient)
        return versions(a, await review_history(store.engine, request.user.tenant, a.id))

    @get("/fhir/Observation/{observation_id:str}/_history", summary="Every version of a pain Observation (clinician reviews)",
         **reader(fhir=("Observation", "history-instance")),
         **doc(history_bundle([observation_example], f"{base}/Observation/example/_history", base), 400, 404))
    async def observation_history(request: Request, observation_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        """A ``history`` Bundle, newest version first: the AI's preliminary result is version 1, each review adds one."""
        found = await observation_versions(request, store, observation_id)
        resources = [observation_resource(a, output.mappings, scope) for a in reversed(found)]
        return fhir_json(history_bundle(resources, f"{base}/Observation/{observation_id}/_history", base))

    @get("/fhir/Observation/{observation_id:str}/_history/{version_id:str}", summary="One version of a pain Observation",
         **reader(fhir=("Observation", "vread")), **doc(observation_example, 400, 404))
    async def read_observation_version(request: Request, observation_id: FromPath[str], version_id: FromPath[str],
                                       store: NamedDependency[AssessmentStore]) -> Response:
        found = await observation_versions(request, store, observation_id)
        if not (version_id.isascii() and version_id.isdigit() and len(version_id) < 10 and 1 <= int(version_id) <= len(found)):
            raise NotFoundException(f"Observation/{observation_id} has versions 1 to {len(found)}, not {version_id!r}")
        return fhir_json(observation_resource(found[int(version_id) - 1], output.mappings, scope))

    @get("/fhir/Provenance/{provenance_id:str}", summary="Read the Provenance of a pain Observation", **reader(fhir=("Provenance", "read")),
         **doc(provenance_resource(EXAMPLE_ASSESSMENT, output.mappings, scope), 400, 404))
    async def read_provenance(request: Request, provenance_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        a = await resolve(store, request.user.tenant, "Provenance", provenance_id)
        await audit_record(store.engine, "read", "Provenance", provenance_id, patient=a.patient)
        return fhir_json(provenance_resource(a, output.mappings, scope))

    @get("/fhir/DocumentReference/{document_reference_id:str}", summary="Read the explanation (heatmap PNG + JSON) of a pain Observation",
         **reader(fhir=("DocumentReference", "read")),
         **doc(DOCUMENT_REFERENCE_EXAMPLE, 400, 404))
    async def read_document_reference(request: Request, document_reference_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        a = await resolve(store, request.user.tenant, "DocumentReference", document_reference_id)
        await audit_record(store.engine, "read", "DocumentReference", document_reference_id, patient=a.patient)
        return fhir_json(await sync_to_thread(document_reference_resource, a, output.mappings, scope))  # draws the PNG

    @get("/fhir/Device/{device_id:str}", summary="Read the AI Device (model) behind Observations", **reader(fhir=("Device", "read")),
         **doc(device_resource(EXAMPLE_ASSESSMENT.model, output.mappings, scope), 400, 404))
    async def read_device(request: Request, device_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        a = await resolve(store, request.user.tenant, "Device", device_id)
        return fhir_json(device_resource(a.model, output.mappings, scope))

    async def run_search(request: Request, store: AssessmentStore, params: list[tuple[str, str]]) -> Response:
        strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "").lower()
        search = parse_search(params, assessment_identifier_system(scope), request.user.tenant, strict=strict)
        if search.matches_nothing or not all(code_matches(output.mappings, code) for code in search.codes):
            assessments, total = [], 0
        else:
            assessments, total = await store.search(search.query)
        for patient in {a.patient for a in assessments}:  # whose data this page disclosed
            await audit_record(store.engine, "search", "Observation", patient=patient)

        def link(offset: int) -> str:
            return f"{base}/Observation?" + urlencode([*search.echo, ("_count", str(search.count)), ("_offset", str(offset))])

        links = {"self": link(search.offset)}
        if not search.summary_count and search.count and search.offset + search.count < total:
            links["next"] = link(search.offset + search.count)
        if not search.summary_count and search.count and search.offset > 0:
            links["previous"] = link(max(search.offset - search.count, 0))
        observations = [observation_resource(a, output.mappings, scope) for a in assessments]
        outcome = operation_outcome(search.notes) if search.notes else None
        return fhir_json(searchset(observations, total, links, base, outcome))

    @get("/fhir/Observation", summary="Search pain Observations", **reader(fhir=("Observation", "search-type")),
         **doc(searchset_example, 400), operation_class=documented(parameters=SEARCH_PARAMETERS))
    async def search_observations(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """Searchset Bundle of pain Observations, newest first; parameters in ``search.py``."""
        return await run_search(request, store, list(request.query_params.multi_items()))

    @post("/fhir/Observation/_search", status_code=200, summary="Search pain Observations (form-encoded POST)", **reader(),
          **doc(searchset_example, 400, 415), operation_class=documented(SEARCH_FORM))
    async def search_observations_post(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """Same search with the parameters in an ``application/x-www-form-urlencoded`` body (R4 http.html#search)."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in {"", "application/x-www-form-urlencoded"}:
            raise HTTPException(status_code=415, detail="POST _search takes an application/x-www-form-urlencoded body")
        form = await request.form()
        body = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return await run_search(request, store, [*request.query_params.multi_items(), *body])

    served = [read_observation, observation_history, read_observation_version, read_provenance, read_document_reference, read_device,
              search_observations]

    def capabilities() -> dict[str, dict[str, Any]]:
        """What the handlers above declare, so the CapabilityStatement cannot advertise an unrouted interaction."""
        resources: dict[str, dict[str, Any]] = {}
        for handler in served:
            resource_type, interaction = handler.opt["fhir"]
            entry = resources.setdefault(resource_type, {"interactions": [], "search_params": []})
            entry["interactions"].append(interaction)
            if interaction == "search-type":
                entry["search_params"] = [(name, kind, doc) for name, (kind, doc) in SEARCH_PARAMS.items()
                                          if ":" not in name and not name.startswith("_")]
        return dict(sorted(resources.items()))

    try:
        version = importlib.metadata.version("pain-gateway")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"

    @get("/fhir/metadata", summary="CapabilityStatement (no token needed)", opt=PUBLIC, security=NO_TOKEN, **fhir,
         **doc(capability_statement(base, {"Observation": {"interactions": ["read"], "search_params": []}}, "0.1.0"), public=True))
    async def metadata() -> Response:
        return fhir_json(capability_statement(base, capabilities(), version))

    handlers = [*served, search_observations_post, metadata]
    fillers = []
    for path in sorted({p for h in handlers for p in h.paths}):
        allowed = sorted({m for h in handlers if path in h.paths for m in h.http_methods})
        missing = [m for m in METHODS if m not in allowed]
        if missing:
            fillers.append(_not_allowed(path, missing, allowed, fhir))

    @route("/fhir/{fhir_path:path}", http_method=list(METHODS), include_in_schema=False, **reader())
    async def unknown_path(fhir_path: FromPath[str]) -> Response:
        raise NotFoundException(f"{fhir_path.lstrip('/')} is not served here; see {base}/metadata for what is")

    return [*handlers, *fillers, unknown_path]


def _not_allowed(path: str, missing: list[str], allowed: list[str], fhir: dict[str, Any]):
    """405 as an OperationOutcome (the app's handler would answer problem+json): the facade is read-only."""

    @route(path, http_method=missing, include_in_schema=False, opt={"roles": READERS}, status_code=405, name=f"fhir-405:{path}", **fhir)
    async def not_allowed() -> Response:
        raise MethodNotAllowedException(f"{path} allows {', '.join(allowed)} only (read-only FHIR facade)",
                                        headers={"Allow": ", ".join(allowed)})

    return not_allowed
