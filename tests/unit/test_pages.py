"""The pages a person opens -- ``/``, ``/docs``, the OpenAPI document -- answer without a token and load
nothing from outside the gateway (a clinical network may have no internet; a CDN would see who reads)."""

from __future__ import annotations

import re

import pytest

from gateway.web.routes.pages import DISCLAIMER

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


@pytest.mark.parametrize("path", ["/", "/docs", "/docs/init.js", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/schema/openapi.json"])
def test_open_without_a_token(api, path):
    response = api.client.get(path)
    assert response.status_code == 200, (path, response.text[:300])


def test_schema_is_public_and_lists_the_api(api):
    schema = api.client.get("/schema/openapi.json").json()
    assert "/v1/assessments" in schema["paths"]
    assert not {"/", "/docs"} & set(schema["paths"])  # pages are not API operations


def test_landing_page_says_what_this_is(api):
    page = api.client.get("/").text
    assert DISCLAIMER in page and "0.1.0" in page
    for link in ("/docs", "/schema/openapi.json", "/fhir/metadata", "/health"):
        assert f'href="{link}"' in page, link


@pytest.mark.parametrize("path", ["/", "/docs", "/docs/init.js"])
def test_pages_reference_no_external_asset(api, path):
    body = api.client.get(path).text
    assert not EXTERNAL.search(body), EXTERNAL.search(body)
    assert not re.search(r"https?://", body), "an absolute URL: every link and asset stays on the gateway"


def test_docs_point_at_local_assets_only(api):
    page = api.client.get("/docs").text
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", page)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger", "/schema/redoc", "/schema/elements", "/schema/rapidoc"])
def test_litestar_cdn_uis_are_gone(api, path):
    response = api.client.get(path)
    assert "cdn." not in response.text and "unpkg" not in response.text, path
