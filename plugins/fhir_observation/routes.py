"""Read-only FHIR R4 facade: read and search the stored pain Observations the way FHIR clients do.

``FhirController`` holds thin handlers over ``service.FhirService`` (resolving ids, versions, search,
capabilities); this module keeps what is HTTP: content negotiation and the errors.

Every route here carries FHIR exception handlers, so any error on ``/fhir/*`` -- 401 from the auth
middleware, 403 from the role guard, 404, 405, 406, 422, 500 -- is an ``OperationOutcome`` in
``application/fhir+json``, never the API's problem+json. Unknown ``/fhir`` paths and methods are
answered by catch-all routes for the same reason; a path no route matches (the router does not fall back
to the catch-all below a served path, e.g. ``/fhir/Observation/x/y/z``, nor serve ``/fhir`` itself) is
answered by these handlers too (``gateway.web.app.unrouted_error``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from litestar import Controller, Request, Response, get, post, route
from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from gateway import NO_TOKEN, PUBLIC, AssessmentStore, InputError, SettingsError, StorageFull, TooBusy, UnsupportedMediaError, documented, ok, problems
from plugins.fhir_observation.resources import ISSUE_CODES, MEDIA_TYPE, FhirObservationOutput, operation_outcome
from plugins.fhir_observation.schema import SEARCH_FORM, SEARCH_PARAMETERS, OperationOutcome, Resource, outcome_example
from plugins.fhir_observation.service import FhirService, software_version

log = structlog.get_logger(__name__)

READERS = {"integrator", "telehealth", "clinician"}
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
PATH = "/fhir"
TAGS = ["fhir"]
VERSION = software_version()


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
    return outcome_response(415 if isinstance(exc, UnsupportedMediaError) else 400, exc.message if exc.field in exc.message else f"{exc.field}: {exc.message}")


def _too_busy(request: Request, exc: TooBusy) -> Response:
    return outcome_response(429, str(exc), {"Retry-After": str(exc.retry_after_s)})


def _storage_full(request: Request, exc: StorageFull) -> Response:
    return outcome_response(413, str(exc))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    if isinstance(exc, SettingsError):
        return outcome_response(503, str(exc))
    return outcome_response(500, "the gateway failed; the error is logged with this request's id")


EXCEPTION_HANDLERS: dict[Any, Callable[..., Response]] = {
    HTTPException: _http_error,
    InputError: _input_error,
    TooBusy: _too_busy,
    StorageFull: _storage_full,
    Exception: _unexpected,
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


def fhir_json(resource: dict[str, Any]) -> Response:
    return Response(resource, media_type=MEDIA_TYPE)


DOCUMENT_REFERENCE_EXAMPLE = {
    "resourceType": "DocumentReference",
    "id": "example",
    "status": "current",
    "type": {"text": "AI model explanation: region occlusion (model-internal signal, not a clinical finding)"},
    "content": [
        {"attachment": {"contentType": "image/png", "title": "Region occlusion heatmap on the clip's mean face mesh"}},
        {"attachment": {"contentType": "application/json", "title": "Region and second importances"}},
    ],
}


@dataclass
class SiteExample(ResponseSpec):
    """The success response as a FHIR ``Resource`` whose example ``FhirService.<render>()`` draws with the
    site's settings (ids, codes and URLs follow them); ``FhirController`` fills it in when mounted."""

    render: str = ""


def doc(example: dict[str, Any] | str, *errors: int, public: bool = False) -> dict[int, ResponseSpec]:
    """Success as ``application/fhir+json`` with an example (a fixed one, or the name of the ``FhirService``
    method that renders it for the site), errors as ``OperationOutcome``."""
    success = {200: SiteExample(Resource, media_type=MEDIA_TYPE, render=example)} if isinstance(example, str) else ok(Resource, example, media_type=MEDIA_TYPE)
    return success | problems(406, *errors, public=public, container=OperationOutcome, media_type=MEDIA_TYPE, example=outcome_example)


def reader(resource_type: str | None = None, interaction: str | None = None) -> dict[str, Any]:
    """The readers' roles, and the FHIR interaction a handler serves (the CapabilityStatement lists those)."""
    return {"roles": READERS} | ({"fhir": (resource_type, interaction)} if resource_type else {})


FHIR: dict[str, Any] = {"exception_handlers": EXCEPTION_HANDLERS, "guards": [negotiate]}
"""On each handler rather than the controller: Litestar's automatic OPTIONS handlers belong to the
controller too, and stay the app's (no content negotiation, problem+json)."""


def read_route(path: str, summary: str, resource_type: str, interaction: str, example: dict[str, Any] | str) -> get:
    """``GET`` of one resource (or its history) by id: the readers' roles, the FHIR interaction served,
    and 400/404 as ``OperationOutcome``s besides the success ``example``."""
    return get(path, summary=summary, opt=reader(resource_type, interaction), **FHIR, responses=doc(example, 400, 404))


class FhirController(Controller):
    """``/fhir``: the read and search interactions, the CapabilityStatement and a 404 for the rest.

    The site's settings arrive as the class attribute ``service``, set by ``fhir_controller`` on a
    subclass: the OpenAPI examples render with them when Litestar mounts the controller, before any
    request, which a dependency (resolved per request) could not do.
    """

    path = PATH
    tags = TAGS
    service: ClassVar[FhirService]

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        """Litestar's copies of the handlers, with the site's examples in place of each ``SiteExample``."""
        handlers = super().get_route_handlers()
        for handler in handlers:
            if isinstance(handler, HTTPRouteHandler) and handler.responses:
                handler.responses = {
                    status: ok(Resource, getattr(self.service, spec.render)(), status, MEDIA_TYPE)[status] if isinstance(spec, SiteExample) else spec
                    for status, spec in handler.responses.items()
                }
        return handlers

    @read_route("/Observation/{observation_id:str}", "Read a pain Observation", "Observation", "read", "example_observation")
    async def read_observation(self, request: Request, observation_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        return fhir_json(self.service.observation(await self.service.read(store, request.user.tenant, "Observation", observation_id)))

    @read_route(
        "/Observation/{observation_id:str}/_history",
        "Every version of a pain Observation (clinician reviews)",
        "Observation",
        "history-instance",
        "example_history",
    )
    async def observation_history(self, request: Request, observation_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        """A ``history`` Bundle, newest version first: the AI's preliminary result is version 1, each review adds one."""
        found = await self.service.observation_versions(store, request.user.tenant, observation_id)
        return fhir_json(self.service.history(observation_id, found))

    @read_route(
        "/Observation/{observation_id:str}/_history/{version_id:str}", "One version of a pain Observation", "Observation", "vread", "example_observation"
    )
    async def read_observation_version(
        self, request: Request, observation_id: FromPath[str], version_id: FromPath[str], store: NamedDependency[AssessmentStore]
    ) -> Response:
        found = await self.service.observation_versions(store, request.user.tenant, observation_id)
        return fhir_json(self.service.observation(self.service.version(observation_id, version_id, found)))

    @read_route("/Provenance/{provenance_id:str}", "Read the Provenance of a pain Observation", "Provenance", "read", "example_provenance")
    async def read_provenance(self, request: Request, provenance_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        return fhir_json(self.service.provenance(await self.service.read(store, request.user.tenant, "Provenance", provenance_id)))

    @read_route(
        "/DocumentReference/{document_reference_id:str}",
        "Read the explanation (heatmap PNG + JSON) of a pain Observation",
        "DocumentReference",
        "read",
        DOCUMENT_REFERENCE_EXAMPLE,
    )
    async def read_document_reference(self, request: Request, document_reference_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        found = await self.service.read(store, request.user.tenant, "DocumentReference", document_reference_id)
        return fhir_json(await sync_to_thread(self.service.document_reference, found))  # draws the PNG

    @read_route("/Device/{device_id:str}", "Read the AI Device (model) behind Observations", "Device", "read", "example_device")
    async def read_device(self, request: Request, device_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Response:
        return fhir_json(self.service.device(await self.service.resolve(store, request.user.tenant, "Device", device_id)))  # not audited: no patient data

    @get(
        "/Observation",
        summary="Search pain Observations",
        opt=reader("Observation", "search-type"),
        **FHIR,
        responses=doc("example_searchset", 400),
        operation_class=documented(parameters=SEARCH_PARAMETERS),
    )
    async def search_observations(self, request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """Searchset Bundle of pain Observations, newest first; parameters in ``search.py``."""
        return fhir_json(await self.service.search(store, request.user.tenant, list(request.query_params.multi_items()), _strict(request)))

    @post(
        "/Observation/_search",
        status_code=200,
        summary="Search pain Observations (form-encoded POST)",
        opt=reader(),
        **FHIR,
        responses=doc("example_searchset", 400, 415),
        operation_class=documented(SEARCH_FORM),
    )
    async def search_observations_post(self, request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """Same search with the parameters in an ``application/x-www-form-urlencoded`` body (R4 http.html#search):
        the body is a form, so ``Content-Type`` must say so; an empty form searches with the URL's parameters alone."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            got = f"got {media!r}" if media else "got no Content-Type"
            raise HTTPException(
                status_code=415,
                detail=f"POST _search takes an application/x-www-form-urlencoded body ({got}); send Content-Type: application/x-www-form-urlencoded, "
                "with the search parameters as the form or an empty body to search with the URL's parameters alone",
            )
        form = await request.form()
        body = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return fhir_json(await self.service.search(store, request.user.tenant, [*request.query_params.multi_items(), *body], _strict(request)))

    @get(
        "/metadata",
        summary="CapabilityStatement (no token needed)",
        opt=PUBLIC,
        security=NO_TOKEN,
        **FHIR,
        responses=doc("example_capability_statement", public=True),
    )
    async def metadata(self) -> Response:
        return fhir_json(self.service.capability_statement(served_interactions(), VERSION))

    @route("/{fhir_path:path}", http_method=list(METHODS), include_in_schema=False, opt=reader(), **FHIR)
    async def unknown_path(self, fhir_path: FromPath[str]) -> Response:
        raise NotFoundException(f"{fhir_path.lstrip('/')} is not served here; see {self.service.base}/metadata for what is")


def _strict(request: Request) -> bool:
    """``Prefer: handling=strict``: unknown search parameters are an error, not a note."""
    return "handling=strict" in request.headers.get("prefer", "").replace(" ", "").lower()


def _handlers() -> list[HTTPRouteHandler]:
    """``FhirController``'s handlers in the order the class declares them."""
    return [value for value in vars(FhirController).values() if isinstance(value, HTTPRouteHandler)]


def served_interactions() -> list[tuple[str, str]]:
    """What the handlers declare, so the CapabilityStatement cannot advertise an unrouted interaction."""
    return [handler.opt["fhir"] for handler in _handlers() if "fhir" in handler.opt]


def fhir_controller(output: FhirObservationOutput, public_base: str) -> type[FhirController]:
    """``FhirController`` for a site: ``output`` (the plugin's settings) and ``public_base``
    (``PAIN_GATEWAY_PUBLIC_URL``) as its ``service``. A subclass per app, so two apps built in one process
    (tests) never share settings."""
    return type("FhirController", (FhirController,), {"service": FhirService(output, public_base)})


def not_allowed_routes() -> list[HTTPRouteHandler]:
    """405 as an OperationOutcome (the app's handler would answer problem+json) for each method a served
    ``/fhir`` path does not allow: the facade is read-only."""
    handlers = [h for h in _handlers() if h is not FhirController.unknown_path]
    fillers = []
    for path in sorted({p for h in handlers for p in h.paths}):
        allowed = sorted({m for h in handlers if path in h.paths for m in h.http_methods})
        missing = [m for m in METHODS if m not in allowed]
        if missing:
            fillers.append(_not_allowed(f"{PATH}{path}", missing, allowed))
    return fillers


def _not_allowed(path: str, missing: list[str], allowed: list[str]) -> HTTPRouteHandler:
    @route(path, http_method=missing, include_in_schema=False, opt={"roles": READERS}, status_code=405, name=f"fhir-405:{path}", tags=TAGS, **FHIR)
    async def not_allowed() -> Response:
        raise MethodNotAllowedException(f"{path} allows {', '.join(allowed)} only (read-only FHIR facade)", headers={"Allow": ", ".join(allowed)})

    return not_allowed
