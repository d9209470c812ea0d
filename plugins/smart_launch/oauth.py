"""The SMART App Launch client: discovery, the authorization request (PKCE S256), the token request
(public client, client secret or ``private_key_jwt``) and the id_token's verification.

Every JOSE operation is joserfc's (never hand-rolled); the id_token must be signed with an asymmetric
algorithm by a key in the issuer's JWKS (``jwks_uri`` from its discovery document), and its issuer,
audience, expiry and nonce must be ours.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from plugins.smart_launch.settings import Issuer

ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
"""Asymmetric only: ``none`` and HMAC (a secret both sides know) can never vouch for a clinician."""
LEEWAY_S = 60
MAX_DOCUMENT = 1_000_000
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""FHIR's id type: nothing else goes into a URL path on the EMR's FHIR server."""


class LaunchRefused(Exception):
    """A launch that cannot go on: ``what`` names the failing part (for the page and the audit row)."""

    def __init__(self, what: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{what}: {detail}")
        self.what, self.detail, self.status = what, detail, status


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    jwks_uri: str | None


@dataclass(frozen=True)
class Answer:
    """An EMR's answer, read within ``MAX_DOCUMENT`` bytes and the client's timeout in all."""

    status_code: int
    content: bytes
    too_large: bool = False


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Answer:
    """One request whose body is read at most ``MAX_DOCUMENT`` bytes far and within twice the client's
    read timeout in all (httpx bounds each read, not a server that drips bytes): ``httpx.HTTPError`` past either."""
    total = 2 * (client.timeout.read or 10.0)
    try:
        async with asyncio.timeout(total), client.stream(method, url, **kwargs) as response:
            if int(response.headers.get("content-length") or 0) > MAX_DOCUMENT:
                return Answer(response.status_code, b"", too_large=True)
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_DOCUMENT:
                    return Answer(response.status_code, b"", too_large=True)
            return Answer(response.status_code, bytes(content))
    except TimeoutError:
        raise httpx.ReadTimeout(f"no whole answer within {total} s") from None


def _json(response: Answer, what: str) -> dict[str, Any]:
    if response.too_large:
        raise LaunchRefused(what, f"the EMR's answer is larger than {MAX_DOCUMENT} bytes", 502)
    try:
        body = json.loads(response.content)
    except ValueError:
        raise LaunchRefused(what, f"the EMR answered {response.status_code} with something that is not JSON", 502) from None
    if not isinstance(body, dict):
        raise LaunchRefused(what, "the EMR's answer is not a JSON object", 502)
    return body


async def discover(client: httpx.AsyncClient, iss: str) -> Endpoints:
    """``{iss}/.well-known/smart-configuration``: the endpoints, refusing a server without PKCE S256."""
    try:
        response = await _send(client, "GET", f"{iss}/.well-known/smart-configuration", headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise LaunchRefused("discovery", f"{iss}/.well-known/smart-configuration cannot be reached ({type(exc).__name__})", 502) from None
    if response.status_code != 200:
        raise LaunchRefused("discovery", f"{iss}/.well-known/smart-configuration answered {response.status_code}", 502)
    config = _json(response, "discovery")
    authorize, token = config.get("authorization_endpoint"), config.get("token_endpoint")
    if not (
        isinstance(authorize, str) and isinstance(token, str) and authorize.startswith(("http://", "https://")) and token.startswith(("http://", "https://"))
    ):
        raise LaunchRefused("discovery", "the EMR's smart-configuration lacks authorization_endpoint or token_endpoint", 502)
    if "S256" not in (config.get("code_challenge_methods_supported") or []):
        raise LaunchRefused("discovery", "the EMR does not advertise PKCE S256 (code_challenge_methods_supported); this app never uses plain", 502)
    jwks_uri = config.get("jwks_uri")
    return Endpoints(authorize, token, jwks_uri if isinstance(jwks_uri, str) else None)


def code_challenge(verifier: str) -> str:
    """PKCE S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_url(endpoints: Endpoints, issuer: Issuer, *, scope: str, redirect_uri: str, state: str, verifier: str, nonce: str, launch: str | None) -> str:
    """The authorization request: an EHR launch echoes ``launch``; a standalone one asks for a patient."""
    scopes = scope.split()
    if launch is None:
        scopes = [s for s in scopes if s != "launch"] + ["launch/patient"]
    params = {
        "response_type": "code",
        "client_id": issuer.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(dict.fromkeys(scopes)),
        "state": state,
        "nonce": nonce,
        "aud": issuer.iss,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
        **({"launch": launch} if launch is not None else {}),
    }
    return f"{endpoints.authorize}{'&' if '?' in endpoints.authorize else '?'}{urlencode(params)}"


def client_assertion(issuer: Issuer, token_endpoint: str) -> str:
    """``private_key_jwt``: a short-lived JWT signed with the app's key (SMART Backend Services' claims)."""
    now = int(time.time())
    header = {"alg": issuer.alg, "typ": "JWT", **({"kid": issuer.key_id} if issuer.key_id else {})}
    claims = {"iss": issuer.client_id, "sub": issuer.client_id, "aud": token_endpoint, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(header, claims, issuer.private_key(), algorithms=[issuer.alg])


async def exchange(client: httpx.AsyncClient, endpoints: Endpoints, issuer: Issuer, *, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
    """The token request; the EMR's refusal (a replayed or expired code, a wrong verifier) is a refusal here."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    auth: tuple[str, str] | None = None
    if issuer.client_type == "private_key_jwt":
        form |= {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(issuer, endpoints.token),
        }
    elif issuer.client_type == "client_secret":
        auth = (issuer.client_id, issuer.client_secret)
    else:
        form["client_id"] = issuer.client_id
    try:
        response = await _send(client, "POST", endpoints.token, data=form, auth=auth, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise LaunchRefused("token", f"the EMR's token endpoint cannot be reached ({type(exc).__name__})", 502) from None
    body = _json(response, "token")
    if response.status_code != 200:
        error = str(body.get("error", ""))[:60]
        description = str(body.get("error_description", ""))[:200]
        raise LaunchRefused(
            "code",
            f"the EMR refused the authorization code ({error or response.status_code}: {description}); an expired or replayed code, start the launch again",
        )
    if not isinstance(body.get("access_token"), str) or str(body.get("token_type", "")).lower() != "bearer":
        raise LaunchRefused("token", "the EMR's token response has no bearer access_token", 502)
    return body


async def jwks(client: httpx.AsyncClient, endpoints: Endpoints) -> KeySet:
    if endpoints.jwks_uri is None:
        raise LaunchRefused("id_token", "the EMR's smart-configuration has no jwks_uri to verify the id_token with", 502)
    try:
        response = await _send(client, "GET", endpoints.jwks_uri, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise LaunchRefused("id_token", f"the EMR's JWKS cannot be read ({type(exc).__name__})", 502) from None
    try:
        return KeySet.import_key_set(_json(response, "id_token"))  # type: ignore[arg-type]  # a JWKS document
    except (JoseError, ValueError, KeyError, TypeError):
        raise LaunchRefused("id_token", "the EMR's jwks_uri does not hold a JSON Web Key Set", 502) from None


def verify_id_token(id_token: str, keys: KeySet, *, issuer: Issuer, nonce: str, now: float | None = None) -> dict[str, Any]:
    """The id_token's claims once its signature (a key of ``keys``), ``iss``, ``aud``, ``exp`` and
    ``nonce`` are checked; ``LaunchRefused`` naming the first that is wrong."""

    def key_for(token: Any) -> Any:
        kid = token.headers().get("kid")
        alg = str(token.headers().get("alg", ""))
        candidates = [k for k in keys.keys if (kid is None or k.kid == kid) and k.key_type == ("EC" if alg.startswith("ES") else "RSA")]
        if len(candidates) != 1:
            raise LaunchRefused("id_token", f"no single key of the EMR's JWKS matches the id_token (kid {kid!r}, alg {alg!r})")
        return candidates[0]

    try:
        token = jwt.decode(id_token, key_for, algorithms=list(ID_TOKEN_ALGS))
    except LaunchRefused:
        raise
    except JoseError as exc:
        raise LaunchRefused("id_token", f"signature not verified with the EMR's keys ({exc.error}); algorithms allowed: {', '.join(ID_TOKEN_ALGS)}") from None
    except ValueError:
        raise LaunchRefused("id_token", "is not a compact JWS") from None
    claims = token.claims
    now = time.time() if now is None else now
    if str(claims.get("iss", "")).rstrip("/") != issuer.iss:
        raise LaunchRefused("id_token", f"was issued by {str(claims.get('iss'))[:100]!r}, not the registered issuer {issuer.iss!r}")
    audience = claims.get("aud")
    if issuer.client_id not in (audience if isinstance(audience, list) else [audience]):
        raise LaunchRefused("id_token", f"its audience {str(audience)[:100]!r} is not this app's client_id {issuer.client_id!r}")
    if not isinstance(claims.get("exp"), int | float) or isinstance(claims["exp"], bool) or not math.isfinite(claims["exp"]) or claims["exp"] + LEEWAY_S < now:
        raise LaunchRefused("id_token", "has expired (exp) or carries no expiry")
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
        raise LaunchRefused("id_token", "its nonce is not this launch's (a replayed or substituted id_token)")
    return claims


def clinician(claims: dict[str, Any], issuer: Issuer) -> str:
    """``fhirUser`` as ``Practitioner/<id>`` (relative to the issuer), refused unless of an allowed type."""
    fhir_user = str(claims.get("fhirUser") or "")
    if fhir_user.startswith(issuer.iss + "/"):
        fhir_user = fhir_user[len(issuer.iss) + 1 :]
    kind, _, ident = fhir_user.partition("/")
    if kind not in issuer.roles or not ident or "/" in ident or len(ident) > 64:
        allowed = " or ".join(f"{role}/<id>" for role in issuer.roles)
        raise LaunchRefused("fhirUser", f"the id_token's fhirUser {fhir_user[:100]!r} is not {allowed} of {issuer.iss}: only clinicians may review", 403)
    return fhir_user


async def read_patient(client: httpx.AsyncClient, issuer: Issuer, patient_id: str, access_token: str) -> dict[str, Any]:
    """The launch's Patient, read through the EMR's FHIR API with the launch's access token."""
    if not FHIR_ID.fullmatch(patient_id):
        raise LaunchRefused("patient", "the EMR sent no usable patient in the launch context; open the app from a patient's chart")
    try:
        response = await _send(
            client, "GET", f"{issuer.iss}/Patient/{patient_id}", headers={"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"}
        )
    except httpx.HTTPError as exc:
        raise LaunchRefused("patient", f"the EMR's FHIR API cannot be reached ({type(exc).__name__})", 502) from None
    if response.status_code != 200:
        raise LaunchRefused("patient", f"the EMR answered {response.status_code} reading the launch's Patient", 502)
    resource = _json(response, "patient")
    if resource.get("resourceType") != "Patient" or resource.get("id") != patient_id:
        raise LaunchRefused("patient", "the EMR answered with a resource other than the launch's Patient", 502)
    return resource
