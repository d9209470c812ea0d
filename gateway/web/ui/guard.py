"""What every review UI page shares: its route ``opt``, the session guard and CSRF check.

UI pages are not bearer-token routes: ``ui_opt()`` takes them out of ``BearerTokenMiddleware`` and
``session_guard`` (on the ``/ui`` router) authenticates them from the session cookie instead. A page
of another module joins by being added to the router in ``gateway.web.ui`` with ``opt=ui_opt(...)``; it
then finds the signed-in token in ``request.user`` (tenant, role, id) as API handlers do, and the
audit principal is set, so ``audit.record`` names the clinician.

Every request with a method other than GET/HEAD must carry the session's CSRF token in a form field
``csrf`` (synchroniser token; templates put it in with ``{{ csrf_field() }}``), else 403. The cookie
is also ``SameSite=Strict``, so a cross-site form post does not even carry it.
"""

from __future__ import annotations

import hmac
from typing import Any, cast

import structlog
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import HTTPScope

from gateway.storage import audit
from gateway.web.ui.sessions import SessionStore, UISession

COOKIE = "pgw_session"
SIGN_IN_COOKIE = "pgw_sign_in"
"""The double-submit CSRF cookie of the sign-in form (there is no session yet to hold a token)."""
CSRF_FIELD = "csrf"
SIGN_IN_ROLES = frozenset({"clinician", "admin"})
"""Who may sign in to the review UI; a page narrows it with ``ui_opt(roles=...)``."""
STREAM_ROLES = frozenset({"telehealth", "integrator"})
"""May sign in too, for the live page only (``/ui/live`` lists them; the review pages do not)."""


class SignInRequired(Exception):
    """No usable session: the UI answers with a redirect to the sign-in page."""


def ui_opt(roles: frozenset[str] | set[str] = SIGN_IN_ROLES) -> dict[str, Any]:
    """Route ``opt`` of a UI page: authenticated by the session cookie, open to ``roles`` (exactly: the
    ``admin`` shortcut of the API does not apply, e.g. only clinicians review)."""
    return {"exclude_from_auth": True, "ui": True, "ui_roles": frozenset(roles)}


def csrf_matches(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


async def session_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Authenticate a UI page from its cookie, check the role and, on a state change, the CSRF token."""
    if not handler.opt.get("ui"):  # static files, the sign-in page itself
        return
    sessions: SessionStore = connection.app.state.ui_sessions
    session = await sessions.get(connection.cookies.get(COOKIE, ""))
    if session is None:
        raise SignInRequired
    connection.scope["user"], connection.scope["auth"] = session.token, session
    address = connection.client.host if connection.client else None
    audit.current_principal.set(audit.principal_for(session.token, address, structlog.contextvars.get_contextvars().get("request_id")))
    if session.token.role not in handler.opt["ui_roles"]:
        raise PermissionDeniedException(f"a {session.token.role} may not use {connection.url.path}; it is for: {', '.join(sorted(handler.opt['ui_roles']))}")
    if cast("HTTPScope", connection.scope)["method"] not in ("GET", "HEAD"):  # the /ui router has HTTP routes only
        form = await connection.form() if isinstance(connection, Request) else {}
        if not csrf_matches(form.get(CSRF_FIELD), session.csrf):
            raise PermissionDeniedException("the form's CSRF token is missing or does not match this session; reload the page and submit it again")


def current_session(request: Request[Any, Any, Any]) -> UISession | None:
    auth = request.scope.get("auth")
    return auth if isinstance(auth, UISession) else None
