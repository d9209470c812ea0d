"""The plugin's settings: the EMRs (CDS clients) allowed to call the service, one tenant each.

A CDS client signs every call with a JWT (CDS Hooks 2.0, "Trusting CDS Clients"); its ``iss`` is
allow-listed here with the keys that may sign for it, pinned in the settings file (``jwks`` or
``jwks_file``) or fetched from a ``jku`` URL this file allow-lists::

    [[plugins.cds_hooks.clients]]
    iss = "https://ehr.example.org"
    tenant = "st-marys"
    jwks_file = "/etc/pain-gateway/ehr-cds-jwks.json"
    identifier_systems = ["urn:oid:1.2.36.146.595.217.0.1"]
    fhir_servers = ["https://ehr.example.org/fhir"]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

ALGORITHMS = ("ES384", "RS384")
"""What CDS Hooks 2.0 recommends; ``none`` and HMAC are never accepted (the spec forbids them)."""
TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}")
URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")


class CdsClient(msgspec.Struct, forbid_unknown_fields=True):
    """One EMR allowed to call the service: the ``iss`` of its JWTs, their keys, and its tenant."""

    iss: str = ""  # the iss claim of the EMR's JWTs
    tenant: str = "default"  # the gateway tenant whose assessments this EMR's calls see
    jwks: str = ""  # the EMR's public keys, a JWKS JSON document pinned inline
    jwks_file: str = ""  # or a file holding that JWKS
    jku_allowlist: list[str] = msgspec.field(default_factory=list)  # jku URLs whose JWKS may be fetched for this iss
    identifier_systems: list[str] = msgspec.field(default_factory=list)  # the tenant's patient identifier systems, in order of preference
    fhir_servers: list[str] = msgspec.field(default_factory=list)  # fhirServer values it may send: the Patient is read there when not prefetched

    def __post_init__(self) -> None:
        where = f"plugins.cds_hooks.clients (iss {self.iss!r})"
        if not self.iss.strip() or len(self.iss) > 500:
            raise ValueError("plugins.cds_hooks.clients: iss is required (the iss claim of the EMR's JWTs)")
        if not TENANT.fullmatch(self.tenant):
            raise ValueError(f"{where}: tenant must be 1 to 64 letters, digits, '.', '_' or '-'")
        if not (self.jwks or self.jwks_file or self.jku_allowlist):
            raise ValueError(f"{where}: give the EMR's keys: jwks, jwks_file or jku_allowlist")
        if self.jwks and self.jwks_file:
            raise ValueError(f"{where}: give jwks or jwks_file, not both")
        if self.jwks or self.jwks_file:
            self.pinned()
        for url in [*self.jku_allowlist, *self.fhir_servers]:
            if not URL.fullmatch(url):
                raise ValueError(f"{where}: {url!r} is not an http(s) URL")
        self.fhir_servers = [url.rstrip("/") for url in self.fhir_servers]
        if not self.identifier_systems:
            raise ValueError(f"{where}: identifier_systems must name the tenant's patient identifier systems (how the EMR's patient is matched)")

    def pinned(self) -> Any:
        """The pinned keys as a joserfc ``KeySet`` (public keys only), or None."""
        from joserfc.jwk import KeySet

        if not (self.jwks or self.jwks_file):
            return None
        try:
            raw = Path(self.jwks_file).read_bytes() if self.jwks_file else self.jwks.encode()
        except OSError as exc:
            raise ValueError(f"plugins.cds_hooks.clients: jwks_file {self.jwks_file} cannot be read ({exc.strerror})") from None
        try:
            document = msgspec.json.decode(raw)
            keys = [{k: v for k, v in key.items() if k not in ("d", "p", "q", "dp", "dq", "qi")} for key in document["keys"]]  # public parts only
            return KeySet.import_key_set({"keys": keys})
        except Exception:
            raise ValueError(f"plugins.cds_hooks.clients (iss {self.iss!r}): jwks must be a JSON Web Key Set with EC or RSA keys") from None


class CdsHooksSettings(msgspec.Struct):
    """A CDS Hooks 2.0 service: ``GET /cds-services`` and the ``patient-view`` service
    ``pain-gateway-latest-pain``, a card with the patient's latest AI pain assessment. ``clients`` are
    written as ``[[plugins.cds_hooks.clients]]`` tables."""

    clients: list[CdsClient] = msgspec.field(default_factory=list)  # the EMRs allowed to call ([[plugins.cds_hooks.clients]]); none: every call is refused
    lookback_h: float = 24.0  # a card shows the latest assessment within this many hours, else no card
    public_url: str = ""  # the service's base URL as EMRs call it: JWTs' aud is checked against it (empty: the core's public_url)
    http_timeout_s: float = 10.0  # per request to an EMR (a jku, the Patient on its fhirServer)
    leeway_s: int = 30  # clock skew allowed on the JWT's iat and exp

    def __post_init__(self) -> None:
        if not 0 < self.lookback_h <= 24 * 31:
            raise ValueError("plugins.cds_hooks.lookback_h must be between 0 and 744 hours")
        if not 0 < self.http_timeout_s <= 60:
            raise ValueError("plugins.cds_hooks.http_timeout_s must be between 0 and 60 seconds")
        if not 0 <= self.leeway_s <= 300:
            raise ValueError("plugins.cds_hooks.leeway_s must be between 0 and 300 seconds")
        if self.public_url and not URL.fullmatch(self.public_url):
            raise ValueError("plugins.cds_hooks.public_url must be an http(s) URL")
        seen = [client.iss for client in self.clients]
        if len(seen) != len(set(seen)):
            raise ValueError("plugins.cds_hooks.clients: an iss is listed twice")

    def client(self, iss: str) -> CdsClient | None:
        return next((client for client in self.clients if client.iss == iss), None)
