"""Sign in to the review UI with a bearer token, and sign out.

The token is checked exactly as the API checks it (``TokenStore.check``), failures are throttled per
address and audited like the API's (``BearerTokenMiddleware``), and the token itself is never stored:
the session cookie is a separate random secret. The sign-in form is protected against login CSRF by a
double-submit cookie (there is no session yet to hold a token). Whatever refuses a sign-in (a bad or
expired token, a stale form, throttling, a role the UI is not for) shows the form again with the reason
at its top, focused.
"""

from __future__ import annotations

import secrets
from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from gateway.storage import audit
from gateway.storage.tokens import CLINICIAN_REFERENCE
from gateway.web.auth import PUBLIC, BearerTokenMiddleware
from gateway.web.ui.guard import COOKIE, SIGN_IN_COOKIE, SIGN_IN_ROLES, STREAM_ROLES, csrf_matches, current_session, ui_opt
from gateway.web.ui.render import page
from gateway.web.ui.sessions import SessionStore

HOME = "/ui/worklist"
LIVE = "/ui/live"
"""Where a telehealth or integrator session starts: the only page it may open."""


class SignInForm(msgspec.Struct):
    token: str = ""
    csrf: str = ""
    next: str = ""


def _safe_next(target: str) -> str:
    """Only a UI path of this gateway (no open redirect to another site)."""
    ok = len(target) <= 2000 and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target and not any(c in target for c in "\r\n")
    return target if ok else HOME


def secure(request: Request) -> bool:
    """Cookies are ``Secure`` when the gateway is reached over HTTPS (directly or behind a TLS proxy)."""
    return request.url.scheme == "https" or request.app.state.get("public_https", False)


def _sign_in_form(request: Request, status_code: int = 200, error: str | None = None, next_path: str = "") -> Response:
    csrf = secrets.token_urlsafe(24)
    response = page(request, "sign_in.html", status_code=status_code, error=error, next=_safe_next(next_path) if next_path else "", sign_in_csrf=csrf)
    response.set_cookie(SIGN_IN_COOKIE, csrf, path="/ui/sign-in", httponly=True, samesite="strict", secure=secure(request), max_age=3600)
    return response


@get("/sign-in", opt=PUBLIC, include_in_schema=False)
async def sign_in_page(request: Request) -> Response:
    """The sign-in form; the ``next`` query parameter is where to go afterwards."""
    return _sign_in_form(request, next_path=request.query_params.get("next", ""))


@post("/sign-in", opt=PUBLIC, include_in_schema=False)
async def sign_in(request: Request, data: Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Response:
    """Check the token; open a session for a clinician (or admin) of its tenant."""
    if not csrf_matches(data.csrf, request.cookies.get(SIGN_IN_COOKIE, "")):
        return _sign_in_form(request, 403, "This sign-in form expired or was not sent from this gateway's page; paste the token again and sign in.", data.next)
    address = request.client.host if request.client else "unknown"
    throttle = request.app.state.auth_failures
    wait = throttle.retry_after(address)
    if wait is not None:
        refused = _sign_in_form(request, 429, f"Too many failed sign-ins from this address; try again in {wait} s.", data.next)
        refused.headers["Retry-After"] = str(wait)
        return refused
    tokens = request.app.state.tokens
    checked = await tokens.check(data.token.strip()) if 0 < len(data.token.strip()) <= 200 else None
    if checked is None or checked.state != "ok":
        state = "malformed" if checked is None else checked.state
        await BearerTokenMiddleware._failed(request, tokens, throttle, address, state, checked.info if checked else None)
        why = "has expired; ask an administrator to rotate it" if state == "expired" else "is not a valid token; paste the whole pgw_… token"
        return _sign_in_form(request, 401, f"That token {why}.", data.next)
    if checked.info.role not in SIGN_IN_ROLES | STREAM_ROLES:
        why = f"A {checked.info.role} token cannot sign in to the review UI; it is for clinicians: ask for a token with role clinician."
        return _sign_in_form(request, 403, why, data.next)
    sessions: SessionStore = request.app.state.ui_sessions
    await sessions.close(request.cookies.get(COOKIE, ""))  # signing in again replaces the browser's earlier session
    secret, session = await sessions.open(checked.info)
    await audit.record(tokens.engine, "login", "ui_session", checked.info.id, principal=audit.principal_for(checked.info, address, None))
    start = _safe_next(data.next) if data.next or checked.info.role in SIGN_IN_ROLES else LIVE
    response = Redirect(start, status_code=303)
    response.set_cookie(COOKIE, secret, path="/ui", httponly=True, samesite="strict", secure=secure(request), max_age=int(sessions.lifetime.total_seconds()))
    response.delete_cookie(SIGN_IN_COOKIE, path="/ui/sign-in")
    return response


@post("/sign-out", opt=ui_opt(SIGN_IN_ROLES | STREAM_ROLES), include_in_schema=False)  # whoever may sign in may sign out
async def sign_out(request: Request) -> Response:
    """End the session (server-side: the cookie is useless afterwards even if copied)."""
    sessions: SessionStore = request.app.state.ui_sessions
    await sessions.close(request.cookies.get(COOKIE, ""))
    session = current_session(request)
    if session is not None and CLINICIAN_REFERENCE.fullmatch(session.token.name):  # an EMR launch's own token: it ends here
        await request.app.state.tokens.revoke(session.token.id)
    await audit.record(sessions.engine, "logout", "ui_session", session.token.id if session else None)
    response = Redirect("/ui/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@get("/", opt=PUBLIC, include_in_schema=False)
async def home() -> Redirect:
    return Redirect(HOME, status_code=303)


ROUTES = [sign_in_page, sign_in, sign_out, home]
