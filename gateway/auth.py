"""Bearer-token authentication and role checks.

Every route is closed unless it says ``opt={"public": True}`` (only ``/health`` and ``/ready`` do).
A handler lists the roles that may call it in ``opt={"roles": {...}}``; ``admin`` may call anything;
a handler without roles is admin-only, so a forgotten declaration fails closed.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from gateway.store import TokenInfo, TokenStore

PUBLIC = {"public": True, "exclude_from_auth": True}
"""Route ``opt`` for endpoints open without a token."""

SCHEMA_PATH = "/schema"


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if not header:
            raise NotAuthorizedException("missing Authorization header: send 'Authorization: Bearer <token>'; create a token with 'pain-gateway tokens create'")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthorizedException("Authorization header must be 'Bearer <token>'")
        tokens: TokenStore = connection.app.state.tokens
        info = await tokens.verify(secret.strip())
        if info is None:
            raise NotAuthorizedException("token is unknown or revoked; ask an administrator for a new one")
        return AuthenticationResult(user=info, auth=info)


def role_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    if handler.opt.get("public") or getattr(handler.fn, "__name__", "") == "options_handler":  # Litestar's own OPTIONS: only Allow
        return
    path = connection.url.path
    if path == SCHEMA_PATH or path.startswith(SCHEMA_PATH + "/"):  # the API description holds no patient data
        return
    token: TokenInfo = connection.user
    allowed = set(handler.opt.get("roles", ())) | {"admin"}
    if token.role not in allowed:
        raise PermissionDeniedException(
            f"role {token.role!r} may not call {connection.scope['method']} {connection.url.path}; allowed roles: {', '.join(sorted(allowed))}"
        )
