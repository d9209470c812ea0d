"""Outbound HTTP that cannot be aimed at the gateway's own network (SSRF guard).

A webhook URL is chosen by a caller, so without a guard any token holder could make the gateway
POST to ``169.254.169.254`` or an admin port on the LAN. Checking the URL when it is registered is not
enough: DNS can change afterwards (rebinding). So the check happens at connect time, inside the
httpcore network backend: the name is resolved, every address is checked, and the socket connects to
a vetted address, while TLS still verifies the certificate against the name (SNI and ``Host`` come
from the URL). Nothing follows redirects and no proxy from the environment is used.

``PAIN_GATEWAY_WEBHOOK_ALLOWLIST`` (hosts or CIDRs) opens chosen internal receivers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore

from gateway import client_context

ALLOWLIST_SETTING = "PAIN_GATEWAY_WEBHOOK_ALLOWLIST"
EXCERPT_CHARS = 500
_READ_LIMIT = 4096  # bytes of a response body we read at most: the excerpt needs no more

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddress(httpcore.ConnectError):
    """The destination resolves to an address webhooks may not reach; retrying will not help."""


class UnresolvableHost(httpcore.ConnectError):
    """DNS gave no address (may be temporary)."""


@dataclass(frozen=True)
class Allowlist:
    """Hosts (exact, case-insensitive) and networks that may be reached despite being internal."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str] | str | None) -> Allowlist:
        if isinstance(entries, str):
            entries = entries.split(",")
        hosts, networks = set(), []
        for raw in entries or ():
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or ":" in entry or not all(part for part in entry.split(".")):
                raise ValueError(f"{ALLOWLIST_SETTING}: {raw.strip()!r} is neither a host name nor a CIDR")
            hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_settings(cls, settings: Any) -> Allowlist:
        """``settings.webhook_allowlist`` (a core setting: the env value split on commas)."""
        return cls.parse(getattr(settings, "webhook_allowlist", None) or [])

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def refusal(address: IPAddress) -> str | None:
    """Why an address is internal (private, loopback, link-local...), or None for a public one."""
    inner = _unmapped(address)
    for label in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(inner, f"is_{label}") or getattr(address, f"is_{label}"):
            return label.replace("_", "-")
    if not inner.is_global:  # shared address space (100.64/10), documentation ranges, ...
        return "not globally routable"
    return None


def check_address(host: str, address: IPAddress, allowlist: Allowlist) -> None:
    reason = refusal(address)
    if reason and not (allowlist.allows_host(host) or allowlist.allows_address(address) or allowlist.allows_address(_unmapped(address))):
        raise RefusedAddress(f"{host} resolves to a {reason} address ({address}); allow it with {ALLOWLIST_SETTING}")


async def resolve(host: str, port: int, allowlist: Allowlist) -> list[str]:
    """Every address of ``host``, each checked; one refused address refuses the host (no mixed bag)."""
    host = host.strip("[]")
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        check_address(host, literal, allowlist)
        return [str(literal)]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))
    if not addresses:
        raise UnresolvableHost(f"{host} does not resolve")
    for address in addresses:
        check_address(host, ipaddress.ip_address(address), allowlist)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and vets at connect time, then connects to a vetted address (never the name again)."""

    def __init__(self, allowlist: Allowlist, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allowlist = allowlist
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, self.allowlist)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("webhooks never connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@dataclass(frozen=True)
class Response:
    status: int
    excerpt: str
    duration_ms: float
    headers: dict[str, str] = field(default_factory=dict)

    def retry_after_s(self) -> float | None:
        """``Retry-After`` as seconds (delta or HTTP date); None when absent or unreadable."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, OverflowError):
            return None


async def post(url: str, body: bytes, headers: dict[str, str], allowlist: Allowlist, timeout_s: float) -> Response:
    """POST once through the guarded backend; raises httpcore errors (``RefusedAddress`` included).

    A pool per call: webhooks are infrequent, and a pool bound to one event loop must not outlive it
    (workers run sends in their own loops).
    """
    timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
    started = time.perf_counter()
    pool = httpcore.AsyncConnectionPool(network_backend=GuardedBackend(allowlist), ssl_context=client_context(), retries=0, max_connections=1)
    async with pool:
        async with asyncio.timeout(timeout_s):
            async with pool.stream("POST", url, headers=list(headers.items()), content=body, extensions={"timeout": timeouts}) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_stream():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= _READ_LIMIT:
                        break
    text = b"".join(chunks)[:_READ_LIMIT].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    response_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
    return Response(response.status, text, (time.perf_counter() - started) * 1000, response_headers)


MAX_URL_LENGTH = 2048


async def check_url(url: str, allowlist: Allowlist) -> str:
    """A registrable webhook URL, or ``ValueError`` saying what to fix.

    The address is checked now as a courtesy (a mistake shows at registration, not at the first
    event); the connect-time check is what protects the network.
    """
    from urllib.parse import urlsplit

    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise ValueError("must start with https:// (or http://)")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not contain credentials; the signature authenticates us to the receiver")
    if parts.fragment:
        raise ValueError("must not contain a #fragment (it is never sent)")
    try:
        await resolve(parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80), allowlist)
    except RefusedAddress as exc:
        raise ValueError(str(exc)) from None
    except UnresolvableHost as exc:
        raise ValueError(f"host {exc.args[0] if exc.args else parts.hostname}") from None
    return url
