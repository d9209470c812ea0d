"""``/ui/smart/launch`` (EHR and standalone launch) and ``/ui/smart/callback`` (the redirect URI).

Thin handlers over ``oauth`` and ``states``: every refusal is the UI's error page naming what was
wrong, an audit row (``login_failed``, resource ``smart_launch``, naming the issuer) and no session.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Redirect
from markupsafe import escape

from gateway import (
    PUBLIC,
    AssessmentStore,
    AuditPrincipal,
    PatientRef,
    audit_record,
    client_context,
    open_clinician_session,
    ui_opt,
    ui_page,
)
from plugins.smart_launch import oauth
from plugins.smart_launch.oauth import LaunchRefused
from plugins.smart_launch.settings import Issuer, SmartLaunchSettings
from plugins.smart_launch.states import LaunchStates, StateRefused

PACKAGE = "plugins.smart_launch"
CALLBACK = "/ui/smart/callback"
NO_MATCH = "/ui/smart/no-match"
MAX_PARAM = 2000
MAX_SESSION_S = 12 * 3600
BINDING_COOKIE = "pgw_smart_launch"
"""Binds a launch to the browser that started it: the hashes of its recent launches' ``state``. Without it a
callback URL made by someone else's launch (their code, their state) would sign this browser in as them."""
BINDING = re.compile(r"[0-9a-f]{32}")
MAX_BINDINGS = 5


def binding_of(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def bindings(request: Request) -> list[str]:
    """The browser's launches under way (their ``state`` hashes), newest last."""
    return [b for b in request.cookies.get(BINDING_COOKIE, "").split(".") if BINDING.fullmatch(b)][-MAX_BINDINGS:]


def https(request: Request) -> bool:
    return request.url.scheme == "https" or bool(request.app.state.get("public_https", False))


def matched_patient(resource: dict[str, Any], systems: list[str]) -> PatientRef | None:
    """The EMR Patient's identifier in the first of the tenant's ``systems`` it has; None: no match."""
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict)]
    for system in systems:
        for identifier in identifiers:
            value = identifier.get("value")
            if identifier.get("system") == system and isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
                return PatientRef(system=system, value=value)
    return None


def session_seconds(expires_in: Any) -> int:
    """The UI session's length: the access token's ``expires_in`` (an hour when absent), at most
    ``MAX_SESSION_S`` (a huge value from the EMR must not overflow a timedelta into a 500)."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        return 3600
    return min(expires_in, MAX_SESSION_S)


class SmartRoutes:
    """The plugin's handlers, bound to its settings and the gateway's public URL."""

    def __init__(self, config: SmartLaunchSettings, public_url: str) -> None:
        self.config, self.redirect_uri = config, public_url.rstrip("/") + CALLBACK

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.config.http_timeout_s, follow_redirects=False, verify=client_context())

    async def refused(self, request: Request, store: AssessmentStore, refusal: LaunchRefused, iss: str, tenant: str | None) -> Response:
        address = request.client.host if request.client else None
        principal = AuditPrincipal(token_id=None, role="emr_launch", tenant=tenant, client_address=address)
        await audit_record(store.engine, "login_failed", "smart_launch", f"{refusal.what} (iss {iss})"[:200], outcome="failure", principal=principal)
        return ui_page(request, "smart_refused.html", package=PACKAGE, status_code=refusal.status, what=refusal.what, detail=refusal.detail, iss=iss)

    async def launch(self, request: Request, store: AssessmentStore) -> Response:
        iss, launch = request.query_params.get("iss", ""), request.query_params.get("launch")
        try:
            if not iss or len(iss) > MAX_PARAM:
                raise LaunchRefused("iss", "the launch carries no iss (the EMR's FHIR base URL); open the app from the EMR, or add ?iss=<FHIR base>")
            issuer = self.config.issuer(iss)
            if issuer is None:
                raise LaunchRefused("iss", f"{iss[:200]} is not an EMR registered with this gateway ([[plugins.smart_launch.issuers]])", 403)
            if launch is not None and not 0 < len(launch) <= MAX_PARAM:
                raise LaunchRefused("launch", f"must be 1 to {MAX_PARAM} characters")
            async with self.client() as client:
                endpoints = await oauth.discover(client, issuer.iss)
        except LaunchRefused as refusal:
            return await self.refused(request, store, refusal, iss[:200], None)
        states = LaunchStates(store.engine, timedelta(seconds=self.config.launch_ttl_s))
        state, pending = await states.begin(issuer.iss)
        url = oauth.authorize_url(
            endpoints,
            issuer,
            scope=issuer.scope or self.config.scope,
            redirect_uri=self.redirect_uri,
            state=state,
            verifier=pending.code_verifier,
            nonce=pending.nonce,
            launch=launch,
        )
        redirect = Redirect(url, status_code=303)
        secure = https(request)  # inside the EMR's iframe over HTTPS the callback needs SameSite=None; on HTTP Lax (a navigation)
        redirect.set_cookie(
            BINDING_COOKIE,
            ".".join([*bindings(request)[1 - MAX_BINDINGS :], binding_of(state)]),
            path="/ui/smart",  # the launch reads it too, to keep the browser's other launches under way
            httponly=True,
            samesite="none" if secure else "lax",
            secure=secure,
            max_age=self.config.launch_ttl_s,
        )
        return redirect

    async def callback(self, request: Request, store: AssessmentStore) -> Response:
        params = request.query_params
        iss, tenant = "", None
        try:
            pending = await LaunchStates(store.engine, timedelta(seconds=self.config.launch_ttl_s)).take(params.get("state", "")[: MAX_PARAM + 1])
            iss = pending.iss
            if binding_of(params.get("state", "")) not in bindings(request):
                raise StateRefused(
                    "this browser did not start the launch this callback belongs to (a callback from another browser); start the launch again from the EMR"
                )
            issuer = self.config.issuer(iss)
            if issuer is None:
                raise LaunchRefused("iss", f"{iss} is no longer registered with this gateway", 403)
            tenant = issuer.tenant
            if params.get("error"):
                raise LaunchRefused("authorization", f"the EMR refused: {params.get('error', '')[:60]} {params.get('error_description', '')[:200]}", 403)
            code = params.get("code", "")
            if not 0 < len(code) <= 4000:
                raise LaunchRefused("code", "the callback carries no authorization code")
            session = await self.session(request, store, issuer, pending.nonce, pending.code_verifier, code)
        except StateRefused as exc:
            return await self.refused(request, store, LaunchRefused("state", str(exc)), iss, tenant)
        except LaunchRefused as refusal:
            return await self.refused(request, store, refusal, iss, tenant)
        return session

    async def session(self, request: Request, store: AssessmentStore, issuer: Issuer, nonce: str, verifier: str, code: str) -> Response:
        async with self.client() as client:
            endpoints = await oauth.discover(client, issuer.iss)
            tokens = await oauth.exchange(client, endpoints, issuer, code=code, redirect_uri=self.redirect_uri, verifier=verifier)
            if not isinstance(tokens.get("id_token"), str):
                raise LaunchRefused("id_token", "the EMR sent no id_token (the scopes openid fhirUser are needed to know the clinician)")
            claims = oauth.verify_id_token(tokens["id_token"], await oauth.jwks(client, endpoints), issuer=issuer, nonce=nonce)
            practitioner = oauth.clinician(claims, issuer)
            resource = await oauth.read_patient(client, issuer, str(tokens.get("patient") or ""), tokens["access_token"])
        patient = matched_patient(resource, issuer.identifier_systems)
        banner = tokens.get("need_patient_banner") is not False
        if patient is None:
            target = NO_MATCH
        else:
            target = f"/ui/patients?patient={quote(f'{patient.system}|{patient.value}', safe='')}" + ("" if banner else "&banner=0")
        expires_in = tokens.get("expires_in")
        lifetime = timedelta(seconds=session_seconds(expires_in))
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Opening Pain Gateway</title>'
            f'<meta http-equiv="refresh" content="0;url={escape(target)}"></head>'
            f'<body><p>Signed in as {escape(practitioner)}. <a href="{escape(target)}">Open the patient\'s page</a>.</p></body></html>'
        )
        response: Response = Response(body, media_type="text/html; charset=utf-8")
        info = await open_clinician_session(request, response, tenant=issuer.tenant, clinician=practitioner, lifetime=lifetime)
        address = request.client.host if request.client else None
        principal = AuditPrincipal(token_id=info.id, role=info.role, tenant=info.tenant, client_address=address)
        encounter = f" encounter {str(tokens['encounter'])[:40]}" if tokens.get("encounter") else ""
        await audit_record(store.engine, "login", "smart_launch", f"{practitioner} from {issuer.iss}{encounter}"[:200], patient=patient, principal=principal)
        return response

    async def no_match(self, request: Request) -> Response:
        return ui_page(request, "smart_no_match.html", package=PACKAGE, systems=self.systems_of(request.user.tenant))

    def systems_of(self, tenant: str) -> list[str]:
        return sorted({s for issuer in self.config.issuers if issuer.tenant == tenant for s in issuer.identifier_systems})


def page_headers(config: SmartLaunchSettings) -> dict[str, str]:
    """The UI's security headers for the launch and callback pages (they answer outside ``/ui``'s router,
    before any session), framable by the registered EMRs only."""
    from plugins.smart_launch import origin_of

    ancestors = " ".join(["'self'", *dict.fromkeys(origin_of(issuer.iss) for issuer in config.issuers)]) if config.issuers else "'none'"
    return {
        "Content-Security-Policy": f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def handlers(config: SmartLaunchSettings, public_url: str) -> list[Any]:
    routes = SmartRoutes(config, public_url)
    headers = page_headers(config)

    def secured(response: Response) -> Response:
        response.headers.update(headers)
        return response

    @get("/ui/smart/launch", opt=PUBLIC, include_in_schema=False)
    async def smart_launch(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """SMART EHR launch (``iss`` and ``launch``) or standalone launch (``iss`` alone)."""
        return secured(await routes.launch(request, store))

    @get(CALLBACK, opt=PUBLIC, include_in_schema=False)
    async def smart_callback(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """The redirect URI: the code is exchanged, the id_token verified, the clinician signed in."""
        return secured(await routes.callback(request, store))

    @get(NO_MATCH.removeprefix("/ui"), opt=ui_opt(), include_in_schema=False)  # a page under /ui: the core's guard and headers
    async def smart_no_match(request: Request) -> Response:
        """The EMR's patient has none of the tenant's identifiers: an empty page that says so."""
        return await routes.no_match(request)

    return [smart_launch, smart_callback, smart_no_match]
