"""The review web UI under ``/ui``: server-rendered pages for clinicians, no CDN, works offline.

``router(handlers)`` assembles the pages: the session guard (``gateway.web.ui.guard``), security headers
(``gateway.web.ui.headers``), HTML error pages and the static files under ``/ui/static``. A new page is a
handler with ``opt=ui_opt(...)`` added to ``PAGES``; a plugin's page is a route it registers with
``opt=ui_opt(...)`` and a path relative to ``/ui`` (``@get("/concordance", opt=ui_opt())`` is ``/ui/concordance``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Router
from litestar.static_files import create_static_files_router

from gateway.web.auth import PUBLIC
from gateway.web.ui import assessment, live, model_summary, monitoring_page, patient, signin, worklist
from gateway.web.ui.guard import session_guard
from gateway.web.ui.headers import security_headers
from gateway.web.ui.render import HANDLERS

STATIC = Path(__file__).parent / "static"

PAGES = [*signin.ROUTES, *worklist.ROUTES, *assessment.ROUTES, *model_summary.ROUTES, *patient.ROUTES, *monitoring_page.ROUTES, *live.ROUTES]


def is_page(handler: object) -> bool:
    """A plugin's route marked with ``ui_opt()`` and a path relative to ``/ui``: a page mounted there with the
    core's guard, headers and error pages. A route that spells out ``/ui/...`` itself stays where it says, with
    the guards and error handlers it brings (the live page's JSON calls answer problem details, not pages)."""
    opt = getattr(handler, "opt", None)  # a Controller class has a descriptor here: never a page
    paths = getattr(handler, "paths", ())
    return isinstance(opt, dict) and bool(opt.get("ui")) and not any(path.startswith("/ui/") for path in paths)


def router(plugin_pages: Sequence[Any] = ()) -> Router:
    static = create_static_files_router("/static", directories=[STATIC], opt=PUBLIC, name="ui-static", include_in_schema=False)
    return Router(
        "/ui",
        route_handlers=[*PAGES, *plugin_pages, static],
        guards=[session_guard],
        middleware=[security_headers],
        exception_handlers=HANDLERS,
        include_in_schema=False,
    )
