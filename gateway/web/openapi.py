"""Typed OpenAPI: the problem-details schema, error and success responses with examples, request bodies.

Every operation in ``/schema/openapi.json`` states its 2xx body (a msgspec Struct, with an example),
its request body, and every error it can answer, as problem+json (``gateway.web.problems``).
``tests/unit/test_openapi.py`` walks the app's routes and fails for an operation that does not.

How a new route passes that test:

* Return a msgspec Struct (or annotate ``Response[Struct]``) and pass ``responses=`` built here::

      @get("/v1/things/{thing_id:str}", opt={"roles": READERS},
           responses=ok(Thing, THING_EXAMPLE) | problems(404))
      async def read_thing(...) -> Thing: ...

  ``ok`` documents the success body with its example (``status=``, ``media_type=`` for others than 200
  JSON); ``problems(...)`` adds the listed statuses and, unless ``public=True``, 401 and 403; list 400 for a
  route with parameters or a body (Litestar's own 400 is not problem+json). A ``204`` route needs no ``ok``.
  ``details={status: (detail, field)}`` gives an example the route's own wording (what it really sends).
* A file answer (PNG, zip, PDF) uses ``binary(media_type, description)``: its schema is
  ``{type: string, format: binary}`` and, bytes having no JSON example, the description says what the
  file holds. The test accepts a 2xx without an example only for such a binary schema under a media
  type that is neither JSON nor text.
* A JSON body taken as ``data: Struct`` is typed by Litestar; add ``415`` and ``422`` (``gateway.contract.strict``
  answers them: another content type, an unknown key).
  A body or query parameters the handler reads itself (streamed uploads, FHIR search) are documented
  with ``operation_class=documented(Form(...), parameters=(query(...),))``: each ``Form`` is a media
  type, a Struct (or JSON Schema) and an example.
* A public route (``opt=PUBLIC``) passes ``security=NO_TOKEN`` and ``problems(..., public=True)``.
* The test requires: a 2xx with a schema and an example (or a 204, or a binary file), 401/403 unless public, 404 for a
  path parameter, 415 and 422 (or 400) for a request body, every documented 4xx with a schema.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIFormat, OpenAPIMediaType, Operation, Parameter, Reference, RequestBody
from litestar.params import KwargDefinition

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details: every 4xx/5xx of the API (``/fhir`` answers ``OperationOutcome``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    """The request field (or form part, header, parameter) to fix."""
    errors: list[dict[str, Any]] | None = None
    """Per-parameter validation errors."""


DETAILS = {
    400: ("the request could not be parsed", "limit"),
    401: ("missing or invalid bearer token", None),
    403: ("this token's role may not call this operation", None),
    404: ("no assessment 'a1b2c3'", None),
    409: ("assessment is completed; only failed assessments can be retried", None),
    413: ("upload exceeds the 200 MB limit (PAIN_GATEWAY_MAX_UPLOAD_MB); send a shorter clip", None),
    415: ("text/plain is not accepted here; send one of application/json, application/x-pain-keypoints, multipart/form-data", "content-type"),
    422: ("unknown key 'image_sise' (did you mean 'image_size'?)", "image_sise"),
    429: ("30 submissions of this tenant are waiting to be processed (PAIN_GATEWAY_TENANT_MAX_QUEUED_JOBS); retry later", None),
    503: ("the database is busy; retry shortly", None),
}
AUTH_ERRORS = (401, 403)
NO_TOKEN: list[dict[str, list[str]]] = [{}]
"""``security=NO_TOKEN`` on a public route (``opt=PUBLIC``): the document says it needs no bearer token."""


def problem_example(status: int, details: dict[int, tuple[str, str | None]] = DETAILS) -> dict[str, Any]:
    detail, field = details.get(status) or DETAILS.get(status, (HTTPStatus(status).description, None))
    example = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    return example | ({"field": field} if field else {})


def problems(
    *statuses: int,
    public: bool = False,
    container: type = Problem,
    media_type: str = PROBLEM_MEDIA_TYPE,
    example: Callable[[int], dict[str, Any]] = problem_example,
    details: dict[int, tuple[str, str | None]] | None = None,
) -> dict[int, ResponseSpec]:
    """Error responses for ``statuses`` (plus 401 and 403 unless ``public``), each with its schema and an example.

    ``details`` gives some statuses the route's own ``(detail, field)`` in place of the generic ``DETAILS``.
    ``container``, ``media_type`` and ``example(status)`` let a facade with its own error shape (FHIR's
    ``OperationOutcome``) use the same builder."""
    wanted = sorted(set(statuses) | (set() if public else set(AUTH_ERRORS)))
    own = details or {}
    return {
        status: ResponseSpec(
            data_container=container,
            description=HTTPStatus(status).phrase,
            media_type=media_type,
            generate_examples=False,
            examples=[Example(summary=HTTPStatus(status).phrase, value=problem_example(status, own) if status in own else example(status))],
        )
        for status in wanted
    }


def ok(container: Any, example: Any, status: int = 200, media_type: str = "application/json", description: str = "") -> dict[int, ResponseSpec]:
    """The success response: its schema and one example (a Struct instance or plain JSON)."""
    value = msgspec.to_builtins(example)
    return {
        status: ResponseSpec(
            data_container=container,
            description=description or HTTPStatus(status).phrase,
            media_type=media_type,
            generate_examples=False,
            examples=[Example(summary="Example", value=value)],
        )
    }


FileBytes = Annotated[bytes, KwargDefinition(format=OpenAPIFormat.BINARY)]
"""Raw file bytes: ``{type: string, format: binary}`` in the document."""


def binary(media_type: str, description: str, status: int = 200) -> dict[int, ResponseSpec]:
    """A file answer (``image/png``, ``application/zip``, ``application/pdf``): raw bytes, so no JSON example;
    ``description`` says what the file holds and how to use it."""
    if media_type.startswith("text/") or "json" in media_type:
        raise ValueError(f"{media_type} is not a binary media type; use ok() with an example")
    return {status: ResponseSpec(data_container=FileBytes, description=description, media_type=media_type, generate_examples=False)}


@dataclass(frozen=True)
class Form:
    """One way to send a request body: its media type, a Struct describing it, an example, a summary."""

    media_type: str
    schema: type | dict[str, Any]
    example: Any
    summary: str
    encoding: dict[str, str] | None = None
    """Content type per multipart part, e.g. ``{"metadata": "application/json"}``."""

    @property
    def file_parts(self) -> list[str]:
        """The multipart file parts of this form (fields typed ``Annotated[str, FILE]``)."""
        properties = json_schema(self.schema).get("properties", {})
        return [name for name, prop in properties.items() if prop.get("format") == "binary"]


FILE = msgspec.Meta(extra_json_schema={"format": "binary"}, description="a file part")
"""Annotates a ``Form`` field that is an uploaded file part: ``Annotated[str, FILE]``."""


def json_schema(schema: type | dict[str, Any]) -> dict[str, Any]:
    """msgspec's JSON Schema for a type with its ``$defs`` inlined: a request body schema stands alone."""
    if isinstance(schema, dict):
        return schema
    document = msgspec.json.schema(schema)
    definitions = document.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(copy.deepcopy(definitions[ref.removeprefix("#/$defs/")])) | {k: v for k, v in node.items() if k != "$ref"}
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(document)
    return inlined


def query(name: str, description: str, kind: str = "string") -> Parameter:
    """A query parameter the handler reads from the request itself (e.g. FHIR search parameters)."""
    # a raw JSON Schema dict where Litestar declares its Schema object: to_schema() copies a dict as it is
    return Parameter(name=name, param_in="query", required=False, description=description, schema={"type": kind})  # type: ignore[arg-type]


def documented(*forms: Form, parameters: tuple[Parameter, ...] = (), description: str = "") -> type[Operation]:
    """An ``operation_class`` documenting a body or query parameters the handler reads itself (uploads
    stream to disk, so Litestar never parses them). Forms sharing a media type become ``anyOf`` (``oneOf`` makes fuzzers validate file parts as JSON)."""
    request_body = _request_body(forms, description) if forms else None

    @dataclass
    class Documented(Operation):
        def __post_init__(self) -> None:
            self.request_body = request_body or self.request_body
            self.parameters = [*(self.parameters or []), *parameters] or None

    return Documented


def _request_body(forms: tuple[Form, ...], description: str) -> RequestBody:
    content: dict[str, OpenAPIMediaType] = {}
    for media_type in dict.fromkeys(f.media_type for f in forms):
        same = [f for f in forms if f.media_type == media_type]
        schemas = [json_schema(f.schema) for f in same]
        examples: dict[str, Example | Reference] = {
            f"{media_type.split('/')[-1]}-{i}": Example(summary=f.summary, value=msgspec.to_builtins(f.example))
            for i, f in enumerate(same)
            if f.example is not None
        }
        encoding = {part: {"contentType": kind} for f in same for part, kind in (f.encoding or {}).items()}
        content[media_type] = OpenAPIMediaType(  # raw JSON Schema and encoding dicts: to_schema() copies a dict as it is
            schema=schemas[0] if len(schemas) == 1 else {"anyOf": schemas},  # type: ignore[arg-type]
            examples=examples or None,
            encoding=encoding or None,  # type: ignore[arg-type]
        )
    return RequestBody(content=content, required=True, description=description or None)
