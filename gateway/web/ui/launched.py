"""Review UI sessions opened by an EMR launch (SMART App Launch), for a clinician the EMR vouches for.

A SMART launch has no bearer token of ours: the EMR's authorization server authenticated the clinician
and its id_token names them (``fhirUser``, a ``Practitioner`` reference). The launching plugin verifies
that and calls ``open_clinician_session``; the session is then an ordinary UI session (CSRF, roles,
audit), held by a clinician token created for this launch alone, named after the Practitioner
(``CLINICIAN_REFERENCE``), so reviews record that Practitioner, and revoked at sign-out. Its secret is
never shown to anyone: the session cookie is the only way in, and it lasts as long as the EMR's access
token. Over HTTPS the cookie is ``SameSite=None; Secure`` so that the app keeps working inside the EMR's
iframe; over plain HTTP (development) it stays ``Strict``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response

from gateway.contract.domain import InputError
from gateway.storage.tokens import CLINICIAN_REFERENCE, TokenInfo, TokenStore
from gateway.web.ui.guard import COOKIE
from gateway.web.ui.sessions import SessionStore
from gateway.web.ui.signin import secure

MIN_LIFETIME = timedelta(minutes=1)
MAX_LIFETIME = timedelta(hours=12)


async def open_clinician_session(request: Request[Any, Any, Any], response: Response[Any], *, tenant: str, clinician: str, lifetime: timedelta) -> TokenInfo:
    """Open a review UI session for ``clinician`` (``Practitioner/<id>`` or ``PractitionerRole/<id>``) of
    ``tenant`` lasting ``lifetime`` (clamped to 1 minute .. 12 hours), replacing the browser's earlier
    session, and set its cookie on ``response``. Returns the session's token (``id`` for the audit trail).
    Call it only after verifying the clinician's identity (a checked id_token)."""
    if not CLINICIAN_REFERENCE.fullmatch(clinician):
        raise InputError("fhirUser", f"must be a Practitioner/<id> or PractitionerRole/<id> reference, got {clinician[:80]!r}")
    lifetime = min(max(lifetime, MIN_LIFETIME), MAX_LIFETIME)
    tokens: TokenStore = request.app.state.tokens
    sessions: SessionStore = request.app.state.ui_sessions
    info, _ = await tokens.create(clinician, "clinician", tenant, expires_in=lifetime, clinician=True)  # the secret is never used
    await sessions.close(request.cookies.get(COOKIE, ""))
    secret, _ = await sessions.open(info, lifetime=lifetime)
    https = secure(request)
    response.set_cookie(COOKIE, secret, path="/ui", httponly=True, samesite="none" if https else "strict", secure=https, max_age=int(lifetime.total_seconds()))
    return info
