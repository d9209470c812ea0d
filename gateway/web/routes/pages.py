"""Pages a person can open without a token: a landing page at ``/`` and Swagger UI at ``/docs``.

Swagger UI's files come from the ``openapi-ui-bundles`` package (Swagger UI 5, which renders the
OpenAPI 3.1 document Litestar writes; ``swagger-ui-bundle`` ships 4.x, which refuses 3.1), served from
the package directory: a clinical network often has no internet, and a CDN would see who reads the docs.
The API calls made from the page still need a bearer token (its Authorize button).
"""

from __future__ import annotations

import html
from importlib.metadata import PackageNotFoundError, version

import openapi_ui_bundles.swagger_ui
from litestar import get
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router

from gateway.web.auth import PUBLIC, SCHEMA_PATH

SCHEMA_URL = f"{SCHEMA_PATH}/openapi.json"
ASSETS = "/docs/assets"

SCHEMA_RENDERERS = [JsonRenderPlugin()]
"""Only the JSON document under ``/schema``: Litestar's own UIs (``/schema/swagger``, ``/redoc``...) load from CDNs."""

DISCLAIMER = "decision support only — the bundled model is trained on synthetic data and not clinically validated"


def _version() -> str:
    try:
        return version("pain-gateway")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pain Gateway</title><link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
.warn{{border-left:4px solid #c60;padding:.5rem 1rem;background:#fff4e5}}</style></head>
<body><h1>Pain Gateway <small>{version}</small></h1>
<p>An integration gateway for automated pain assessment from facial landmarks: it takes keypoints or video,
scores them and delivers the result as FHIR, HL7 v2 or webhooks.</p>
<p class="warn"><strong>{disclaimer}.</strong> A clinician must review every result.</p>
<ul>
<li><a href="/docs">API documentation</a> (interactive; calls need a bearer token)</li>
<li><a href="{schema}">OpenAPI document</a></li>
<li><a href="/fhir/metadata">FHIR CapabilityStatement</a></li>
<li><a href="/health">Health</a></li>
</ul></body></html>
"""

DOCS = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pain Gateway API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""

# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
INIT = f"""window.ui = SwaggerUIBundle({{
  url: "{SCHEMA_URL}", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null,
  persistAuthorization: true, presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
}});
"""


@get("/", opt=PUBLIC, media_type="text/html; charset=utf-8", include_in_schema=False, sync_to_thread=False)
def landing() -> str:
    """What this is and where to go next, for a person who opens the gateway's address."""
    return LANDING.format(version=html.escape(_version()), disclaimer=html.escape(DISCLAIMER), schema=SCHEMA_URL)


@get("/docs", opt=PUBLIC, media_type="text/html; charset=utf-8", include_in_schema=False, sync_to_thread=False)
def docs() -> str:
    """Swagger UI on the vendored assets."""
    return DOCS


@get("/docs/init.js", opt=PUBLIC, media_type="text/javascript; charset=utf-8", include_in_schema=False, sync_to_thread=False)
def docs_init() -> str:
    """Swagger UI's start-up as a file, not an inline script, so a strict Content-Security-Policy can still allow it."""
    return INIT


ROUTES = [landing, docs, docs_init, create_static_files_router(ASSETS, directories=[openapi_ui_bundles.swagger_ui.static_path], opt=PUBLIC, name="docs-assets")]
