"""The review web UI under ``/ui``: server-rendered pages for clinicians, no CDN, works offline.

``router(handlers)`` assembles the pages: the session guard (``gateway.web.ui.guard``), security headers
(``gateway.web.ui.headers``), HTML error pages and the static files under ``/ui/static``. A new page is a
handler with ``opt=ui_opt(...)`` added to ``PAGES``.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router

from gateway.web.auth import PUBLIC
from gateway.web.ui import assessment, live, monitoring_page, signin, worklist
from gateway.web.ui.guard import session_guard
from gateway.web.ui.headers import security_headers
from gateway.web.ui.render import HANDLERS

STATIC = Path(__file__).parent / "static"

PAGES = [*signin.ROUTES, *worklist.ROUTES, *assessment.ROUTES, *monitoring_page.ROUTES, *live.ROUTES]


def router() -> Router:
    static = create_static_files_router("/static", directories=[STATIC], opt=PUBLIC, name="ui-static", include_in_schema=False)
    return Router(
        "/ui", route_handlers=[*PAGES, static], guards=[session_guard], middleware=[security_headers], exception_handlers=HANDLERS, include_in_schema=False
    )
