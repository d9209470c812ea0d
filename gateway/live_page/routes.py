"""``/ui/live`` and its assets: the hand-written page and the vendored, pinned Face Mesh files.

The Face Mesh files are served from the gateway (``face_mesh_assets`` fetches them at build time): a
clinical network often has no internet, and a CDN would learn who films patients when.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from litestar import get
from litestar.static_files import create_static_files_router

from gateway.auth import PUBLIC
from gateway.domain import SYNTHETIC_DISCLAIMER
from gateway.live_page import face_mesh_assets

STATIC = "/ui/static"
HERE = Path(__file__).resolve().parent
TEMPLATE = (HERE / "live.html").read_text()
TOKEN_FIELD = '<label>API token (role clinician, telehealth or integrator) <input id="token" type="password" required autocomplete="off"></label>'
MISSING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Live scoring unavailable</title></head>
<body><h1>Live scoring is not installed</h1><p>The pinned Face Mesh files are missing from this installation.
An operator runs <code>make mediapipe</code> (or <code>python gateway/live_page/face_mesh_assets.py</code>) once, then reloads.</p></body></html>"""


def render() -> str:
    config = {"assets": f"{STATIC}/mediapipe/", "assessment_link": "/v1/assessments/{id}", "csrf": None}
    return TEMPLATE.format(
        static=STATIC, disclaimer=html.escape(SYNTHETIC_DISCLAIMER), token_field=TOKEN_FIELD, config=html.escape(json.dumps(config), quote=False)
    )


@get("/ui/live", opt=PUBLIC, media_type="text/html", include_in_schema=False, sync_to_thread=False)
def live_page() -> str:
    """The page carries no patient data; starting a session calls the API with the person's credentials."""
    return MISSING if face_mesh_assets.missing() else render()


ROUTES = [
    live_page,
    create_static_files_router(f"{STATIC}/live", directories=[HERE / "static" / "live"], opt=PUBLIC, name="live-assets", include_in_schema=False),
    create_static_files_router(f"{STATIC}/mediapipe", directories=[face_mesh_assets.DIRECTORY], opt=PUBLIC, name="face-mesh-assets", include_in_schema=False),
]
