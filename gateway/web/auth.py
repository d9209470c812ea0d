"""Bearer-token authentication and role checks.

Every route is closed unless it says ``opt={"public": True}`` (``/health``, ``/ready`` and the pages a person
opens: ``/``, ``/docs``). Review UI pages (``opt["ui"]``) are authenticated by their session cookie
instead (``gateway.web.ui.guard``). The OpenAPI document under ``SCHEMA_PATH`` is public too: it holds no patient data,
and the docs page and client generators need it before anyone has a token.
``/metrics`` also opens, without a token, to addresses in ``PAIN_GATEWAY_METRICS_ALLOWLIST`` (``allow_scrapers``).
A handler lists the roles that may call it in ``opt={"roles": {...}}``; ``admin`` may call anything;
a handler without roles is admin-only, so a forgotten declaration fails closed.

Failed authentications are logged (never the token), audited (``login_failed``) and throttled per
client address: after ``auth_failure_burst`` failures within ``auth_failure_window_s`` seconds,
every request from that address that needs a token gets 429 with ``Retry-After`` -- valid token or
not -- until the oldest failure leaves the window. Checking the token of a throttled address would
keep answering "right" or "wrong" at full speed, which is what throttling must stop.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send

from gateway.contract.domain import DEFAULT_TENANT
from gateway.ops.metrics import SCRAPER_ROLE
from gateway.storage import audit
from gateway.storage.tokens import TokenInfo, TokenStore
from gateway.web import metrics

log = structlog.get_logger(__name__)

PUBLIC = {"public": True, "exclude_from_auth": True}
"""Route ``opt`` for endpoints open without a token."""

SCHEMA_PATH = "/schema"


def is_schema(path: str) -> bool:
    return path == SCHEMA_PATH or path.startswith(SCHEMA_PATH + "/")


class FailureThrottle:
    """Failed authentications per client address in a sliding window, in bounded memory.

    Each address keeps at most ``burst`` timestamps; at most ``max_addresses`` addresses are tracked,
    the least recently failing evicted first (an attacker spraying addresses only evicts itself).
    Per process: each gateway process counts on its own.
    """

    def __init__(self, burst: int, window_s: float, max_addresses: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.window_s, self.max_addresses, self.clock = burst, window_s, max_addresses, clock
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not throttled."""
        times = self.failures.get(address)
        if times is None or len(times) < self.burst:
            return None
        wait = times[0] + self.window_s - self.clock()
        return math.ceil(wait) if wait > 0 else None

    def failed(self, address: str) -> bool:
        """Count one failure; True when it is the one that starts throttling ``address``."""
        times = self.failures.get(address)
        if times is None:
            while len(self.failures) >= self.max_addresses:
                self.failures.popitem(last=False)
            times = self.failures[address] = deque(maxlen=self.burst)
        else:
            self.failures.move_to_end(address)
        times.append(self.clock())
        return self.retry_after(address) is not None

    def __len__(self) -> int:
        return len(self.failures)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reset = audit.current_principal.set(None)  # nothing leaks from one request into the next
        try:
            await super().__call__(scope, receive, send)
        finally:
            audit.current_principal.reset(reset)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        if is_schema(connection.url.path):  # Litestar's schema routes take no opt, so they are opened by path
            return AuthenticationResult(user=None, auth=None)
        address = connection.client.host if connection.client else "unknown"
        throttle: FailureThrottle | None = connection.app.state.get("auth_failures")
        wait = throttle.retry_after(address) if throttle is not None else None
        if wait is not None:
            raise TooManyRequestsException(
                f"too many failed authentications from this address; try again in {wait} s with a valid token",
                headers={"Retry-After": str(wait)},
            )
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if not header and _allow_listed_scraper(connection, address):
            return AuthenticationResult(user=SCRAPER, auth=None)
        if not header:  # no credential presented: nothing guessed, so neither counted nor audited
            raise NotAuthorizedException("missing Authorization header: send 'Authorization: Bearer <token>'; create a token with 'pain-gateway tokens create'")
        tokens: TokenStore = connection.app.state.tokens
        if scheme.lower() != "bearer" or not secret.strip():
            await self._failed(connection, tokens, throttle, address, "malformed", None)
            raise NotAuthorizedException("Authorization header must be 'Bearer <token>'")
        checked = await tokens.check(secret.strip())
        info = checked.info
        if checked.state == "expired":
            assert info is not None  # an expired token is a known one: TokenStore.check names it
            await self._failed(connection, tokens, throttle, address, "expired", info)
            raise NotAuthorizedException(
                f"token {info.id} expired at {info.expires_at:%Y-%m-%dT%H:%M:%SZ}; ask an administrator for a new one "
                f"('pain-gateway tokens rotate {info.id}' keeps its name and role)"
            )
        if checked.state != "ok":
            await self._failed(connection, tokens, throttle, address, checked.state, info)
            raise NotAuthorizedException("token is unknown or revoked; ask an administrator for a new one")
        audit.current_principal.set(audit.principal_for(info, address, _request_id()))
        return AuthenticationResult(user=info, auth=info)

    @staticmethod
    async def _failed(
        connection: ASGIConnection[Any, Any, Any, Any], tokens: TokenStore, throttle: FailureThrottle | None, address: str, reason: str, info: TokenInfo | None
    ) -> None:
        """Log and audit one failed authentication (never the token text) and count it against the address."""
        token_id = info.id if info is not None else None
        log.warning("auth_failed", reason=reason, client=address, token_id=token_id, path=connection.url.path)
        principal = audit.Principal(token_id, info.role if info is not None else "anonymous", info.tenant if info is not None else None, address, _request_id())
        started = throttle is not None and throttle.failed(address)
        try:
            await audit.record(tokens.engine, "login_failed", "api_token", token_id, outcome="failure", principal=principal)
            if started and throttle is not None:  # started implies a throttle
                log.warning("auth_throttled", client=address, burst=throttle.burst, window_s=throttle.window_s)
                await audit.record(tokens.engine, "login_throttled", "client_address", address, outcome="failure", principal=principal)
        except Exception:  # the refusal stands even when the audit table cannot be written
            log.exception("audit_write_failed", action="login_failed")


SCRAPER = TokenInfo("scraper", "allow-listed scraper", SCRAPER_ROLE, "default", datetime.fromtimestamp(0, UTC), None)
"""Who an allow-listed address without a token is: a role that no token can hold, so only routes that
name it (``/metrics``) let it in."""


def _allow_listed_scraper(connection: ASGIConnection[Any, Any, Any, Any], address: str) -> bool:
    """A route marked ``allow_scrapers`` called from an address in ``PAIN_GATEWAY_METRICS_ALLOWLIST``."""
    return bool(connection.route_handler.opt.get("allow_scrapers")) and metrics.allowed(address, connection.app.state.metrics_allowlist)


def _request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if handler.opt.get("public") or handler.opt.get("ui") or getattr(handler.fn, "__name__", "") == "options_handler":  # Litestar's own OPTIONS: only Allow
        return
    if is_schema(connection.url.path):  # the API description holds no patient data
        return
    token: TokenInfo = connection.user
    allowed = set(handler.opt.get("roles", ())) | {"admin"}
    if token.role not in allowed:
        method = str(connection.scope.get("method", "WEBSOCKET"))  # a WebSocket scope has no method
        raise PermissionDeniedException(f"role {token.role!r} may not call {method} {connection.url.path}; allowed roles: {', '.join(sorted(allowed))}")
    if handler.opt.get("installation") and token.role == "admin" and token.tenant != DEFAULT_TENANT:
        raise PermissionDeniedException(
            f"{connection.url.path} describes the whole installation; only admins of the '{DEFAULT_TENANT}' tenant (the operators) may call it"
        )
