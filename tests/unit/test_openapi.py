"""The OpenAPI document types every operation the app routes (``gateway.web.openapi`` says how a route complies).

The walk is over the app's own routes, core and plugins alike, so a route added anywhere is checked
without being listed here; a deliberately undocumented route shows that the check fails.
"""

from __future__ import annotations

import re

import msgspec
import pytest
from litestar import Response, get
from litestar.params import FromPath
from litestar.testing import TestClient

from gateway.contract.plugin_manager import Plugins
from gateway.ops.settings import Settings
from gateway.web.app import create_app
from gateway.web.openapi import PROBLEM_MEDIA_TYPE, Problem, binary, problems


def operations(app) -> list[tuple[str, str, object]]:
    """(method, OpenAPI path, handler) for every operation the app puts in its schema."""
    found = []
    for route in app.routes:
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            if method not in ("HEAD", "OPTIONS") and handler.resolve_include_in_schema():
                found.append((method.lower(), route.path_format or "/", handler))
    return found


def is_file(media_type: str, content: dict) -> bool:
    """A binary file answer (``gateway.web.openapi.binary``): bytes, which carry no JSON example."""
    textual = media_type.startswith("text/") or "json" in media_type
    return not textual and (content.get("schema") or {}).get("format") == "binary"


def gaps(app) -> list[str]:
    """Every way an operation falls short of the typed-OpenAPI rules in ``gateway.web.openapi``."""
    document = app.openapi_schema.to_schema()
    problems = []
    for method, path, handler in operations(app):
        where = f"{method.upper()} {path}"
        operation = document["paths"][path][method]
        responses = operation["responses"]
        success = {code: r for code, r in responses.items() if code.startswith("2")}
        if not success:
            problems.append(f"{where}: no 2xx response")
        for code, response in success.items():
            if code == "204":
                continue
            for media_type, content in (response.get("content") or {"(none)": {}}).items():
                if not content.get("schema"):
                    problems.append(f"{where}: {code} {media_type} has no schema")
                if not content.get("examples") and not content.get("example") and not is_file(media_type, content):
                    problems.append(f"{where}: {code} {media_type} has no example")
        required = set()
        if not handler.opt.get("exclude_from_auth"):
            required |= {"401", "403"}
        elif operation.get("security") != [{}]:
            problems.append(f"{where}: public, but the document asks for a token (security=NO_TOKEN)")
        if re.search(r"\{[^}]+\}", path):
            required.add("404")
        if "requestBody" in operation:
            required |= {"415"} | (set() if "400" in responses else {"422"})
        for code in sorted(required - set(responses)):
            problems.append(f"{where}: {code} not documented")
        for code, response in responses.items():
            if code.startswith("4") and not any(c.get("schema") for c in (response.get("content") or {}).values()):
                problems.append(f"{where}: {code} has no schema")
            if code.startswith("4") and not path.startswith("/fhir") and PROBLEM_MEDIA_TYPE not in (response.get("content") or {}):
                problems.append(f"{where}: {code} is not {PROBLEM_MEDIA_TYPE}")
    return problems


@pytest.fixture(scope="module")
def app(tmp_path_factory, plugins):
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('openapi')}/gateway.db"
    return create_app(Settings(database_url=url), plugins)


def test_every_operation_is_typed_with_examples_and_its_errors(app):
    assert len(operations(app)) >= 30
    assert gaps(app) == []


def test_an_undocumented_route_is_caught(plugins, tmp_path):
    @get("/v1/untyped/{thing_id:str}", opt={"roles": {"integrator"}})
    async def untyped(thing_id: FromPath[str]) -> dict:
        return {}

    extended = Plugins(**{**vars(plugins), "routes": [*plugins.routes, untyped]})
    found = gaps(create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db"), extended))
    assert {
        "GET /v1/untyped/{thing_id}: 200 application/json has no example",
        "GET /v1/untyped/{thing_id}: 401 not documented",
        "GET /v1/untyped/{thing_id}: 404 not documented",
    } <= set(found)


def test_only_a_binary_file_answer_goes_without_an_example(plugins, tmp_path):
    """``binary`` documents PNG/zip/PDF bytes; the same route undocumented, or JSON passed off as binary, is caught."""

    @get("/v1/figure.png", opt={"roles": {"integrator"}}, media_type="image/png", responses=binary("image/png", "A chart") | problems())
    async def figure() -> Response:
        return Response(b"", media_type="image/png")

    @get("/v1/bare.png", opt={"roles": {"integrator"}}, media_type="image/png", responses=problems())
    async def bare() -> Response:
        return Response(b"", media_type="image/png")

    extended = Plugins(**{**vars(plugins), "routes": [*plugins.routes, figure, bare]})
    found = gaps(create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db"), extended))
    assert not [gap for gap in found if gap.startswith("GET /v1/figure.png")]
    assert {"GET /v1/bare.png: 200 image/png has no schema", "GET /v1/bare.png: 200 image/png has no example"} <= set(found)
    assert not is_file("application/json", {"schema": {"type": "string", "format": "binary"}})
    with pytest.raises(ValueError, match="not a binary media type"):
        binary("text/html", "a page")


def test_submission_bodies_are_documented_from_the_capture_sources(app):
    body = app.openapi_schema.to_schema()["paths"]["/v1/assessments"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data", "application/x-pain-keypoints"}
    json_schema = body["application/json"]["schema"]
    assert {"patient", "fps", "captured_at", "frames"} <= set(json_schema["required"])
    assert json_schema["additionalProperties"] is False  # unknown keys are refused, and the document says so
    forms = body["multipart/form-data"]["schema"]["anyOf"]
    assert {tuple(sorted(f["required"])) for f in forms} == {("captured_at", "fps", "keypoints"), ("metadata", "video")}
    assert body["multipart/form-data"]["encoding"]["metadata"]["contentType"] == "application/json"
    baseline = app.openapi_schema.to_schema()["paths"]["/v1/patients/baseline"]["put"]["requestBody"]["content"]
    assert "video" not in str(baseline["multipart/form-data"]["schema"])  # a baseline is refused as video


def test_error_bodies_the_api_sends_match_the_documented_problem(api):
    """The schema is not aspirational: real refusals decode as ``Problem``."""
    answers = [
        api.get("/v1/assessments/nope"),
        api.client.get("/v1/deliveries"),
        api.post("/v1/assessments", content=b"x", headers={**api.headers("integrator"), "content-type": "text/plain"}),
        api.post("/v1/assessments", json={"image_sise": [1, 2]}),
    ]
    assert [a.status_code for a in answers] == [404, 401, 415, 422]
    for answer in answers:
        assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        msgspec.json.decode(answer.content, type=Problem)


def test_the_schema_and_docs_need_no_token(app):
    with TestClient(app) as client:
        document = client.get("/schema/openapi.json")
    assert document.status_code == 200 and "Problem" in document.json()["components"]["schemas"]
