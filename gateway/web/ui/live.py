"""``/ui/live``: score a patient at the bedside from the tablet's camera, second by second.

Face Mesh runs in the page on the vendored, pinned npm files (``face_mesh_assets``); the page streams
only landmark frames over the live WebSocket (README: Live scoring protocol). The page's script needs
``'wasm-unsafe-eval'`` to compile Face Mesh's WebAssembly, so this one page relaxes the UI's CSP by that.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from gateway.contract.plugin_manager import Plugins
from gateway.storage.tokens import TokenInfo
from gateway.web.routes.reviews import REVIEWERS
from gateway.web.ui import face_mesh_assets
from gateway.web.ui.guard import SIGN_IN_ROLES, STREAM_ROLES, ui_opt
from gateway.web.ui.headers import CSP
from gateway.web.ui.render import page
from gateway.web.ui.sections import sections_for
from gateway.web.ui.sessions import UISession

LIVE_ROLES = SIGN_IN_ROLES | STREAM_ROLES
"""Who may open a live session: clinicians and admins from the UI, telehealth and integrator clients."""
LIVE_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'")
SESSIONS = "/ui/live/sessions"


@get("/live", opt=ui_opt(LIVE_ROLES))
async def live_page(request: Request[TokenInfo, UISession, Any], plugins: NamedDependency[Plugins]) -> Response[Any]:
    """The page holds no patient data; Start opens a live session with this UI session's credentials."""
    if not face_mesh_assets.present():
        return page(
            request,
            "error.html",
            status_code=503,
            title="Live scoring is not installed",
            detail="the pinned Face Mesh files are missing; an operator runs 'make mediapipe' "
            "(python gateway/web/ui/face_mesh_assets.py) once, then reloads this page",
        )
    session = request.scope["auth"]
    config = {
        "assets": "/ui/static/mediapipe/",
        "csrf": session.csrf,
        "sessions": SESSIONS,
        "ticket": SESSIONS + "/{id}/ticket",
        "assessment_link": "/ui/assessments/{id}" if session.token.role in SIGN_IN_ROLES else None,  # the review page is for clinicians
    }
    sections = await sections_for(request, plugins, "live")
    may_record_baseline = session.token.role in REVIEWERS  # the assessment page's offer is a clinician's
    return page(request, "live.html", config=config, sections=sections, may_record_baseline=may_record_baseline, headers={"content-security-policy": LIVE_CSP})


ROUTES = [live_page]
