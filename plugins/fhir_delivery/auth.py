"""Credentials for a FHIR server: none, a static bearer token, or OAuth2 client credentials.

The OAuth2 access token is cached until shortly before it expires (SMART backend services and most
EMR gateways issue tokens for minutes), and dropped when the server says 401.
"""

from __future__ import annotations

import time

import httpx

from plugins.fhir_delivery import FhirServer

EARLY_S = 30.0


class TokenError(httpx.HTTPError):
    """The token endpoint did not give us a token: a retryable delivery failure, like a network error."""


class Credentials:
    def __init__(self, server: FhirServer) -> None:
        self.server = server
        self._token: str | None = None
        self._expires_at = 0.0

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        if self.server.auth == "bearer":
            return {"Authorization": f"Bearer {self.server.token}"}
        if self.server.auth == "oauth2":
            return {"Authorization": f"Bearer {await self._access_token(client)}"}
        return {}

    def forget(self) -> None:
        self._token = None

    async def _access_token(self, client: httpx.AsyncClient) -> str:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        form = {"grant_type": "client_credentials"}
        if self.server.scope:
            form["scope"] = self.server.scope
        response = await client.post(self.server.token_url, data=form, auth=(self.server.client_id, self.server.client_secret))
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise TokenError(f"the token endpoint answered {response.status_code} without an access_token") from None
        self._token = token
        self._expires_at = time.monotonic() + max(float(body.get("expires_in", 300)) - EARLY_S, 0.0)
        return token
