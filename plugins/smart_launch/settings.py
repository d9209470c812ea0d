"""The plugin's settings: the EMRs (SMART issuers) registered with this gateway, one tenant each.

An issuer is registered out of band, as SMART App Launch requires: the EMR's administrator registers our
app (its launch and redirect URLs, printed by the docs page "Embed in your EMR") and gives back a
``client_id``; the gateway's operator writes it here with the tenant the issuer's clinicians act for::

    [[plugins.smart_launch.issuers]]
    iss = "https://ehr.example.org/fhir"
    client_id = "pain-gateway"
    tenant = "st-marys"
    private_key_file = "/etc/pain-gateway/smart-client-es384.pem"   # or client_secret, or neither: a public client
    identifier_systems = ["urn:oid:1.2.36.146.595.217.0.1"]

A launch from any other ``iss`` is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

DEFAULT_SCOPE = "launch openid fhirUser patient/Observation.rs patient/Patient.r"
CLIENT_ALGS = ("RS384", "ES384")
"""``private_key_jwt`` signing algorithms SMART clients SHALL support (client-confidential-asymmetric)."""
ROLE_TYPES = ("Practitioner", "PractitionerRole")
TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Issuer(msgspec.Struct, forbid_unknown_fields=True):
    """One registered EMR: its FHIR base (``iss``), our client there, and the tenant it acts for."""

    iss: str = ""  # the EMR's FHIR base URL exactly as its launches send it (https://, or http:// on loopback)
    client_id: str = ""  # the client id the EMR gave this app
    tenant: str = "default"  # the gateway tenant whose assessments this EMR's clinicians see and review
    client_secret: str = ""  # confidential client with a secret (client_secret_basic)
    private_key_file: str = ""  # confidential client with private_key_jwt: a PEM or JWK file of the app's RS384/ES384 key
    key_id: str = ""  # the key's kid, as registered with the EMR (its JWKS)
    alg: str = "ES384"  # RS384 or ES384, for private_key_jwt
    roles: list[str] = msgspec.field(default_factory=lambda: list(ROLE_TYPES))  # fhirUser types allowed in: Practitioner, PractitionerRole
    identifier_systems: list[str] = msgspec.field(default_factory=list)  # the tenant's patient identifier systems, in order of preference
    scope: str = ""  # scopes to request (empty: the plugin's scope)

    def __post_init__(self) -> None:
        where = f"plugins.smart_launch.issuers (iss {self.iss!r})"
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.iss):
            raise ValueError(f"{where}: iss must be the EMR's FHIR base URL, e.g. https://ehr.example.org/fhir")
        self.iss = self.iss.rstrip("/")
        if not self.client_id.strip():
            raise ValueError(f"{where}: client_id is required (the EMR gives it when the app is registered)")
        if not TENANT.fullmatch(self.tenant):
            raise ValueError(f"{where}: tenant must be 1 to 64 letters, digits, '.', '_' or '-'")
        if self.client_secret and self.private_key_file:
            raise ValueError(f"{where}: give client_secret or private_key_file, not both")
        if self.alg not in CLIENT_ALGS:
            raise ValueError(f"{where}: alg must be one of {', '.join(CLIENT_ALGS)} (SMART's private_key_jwt algorithms), got {self.alg!r}")
        if self.private_key_file:
            self.private_key()  # unreadable or the wrong kind of key: refuse to start, not at the first launch
        if not self.roles or any(role not in ROLE_TYPES for role in self.roles):
            raise ValueError(f"{where}: roles must name some of {', '.join(ROLE_TYPES)}")
        if not self.identifier_systems:
            raise ValueError(f"{where}: identifier_systems must name the tenant's patient identifier systems (how an EMR patient is matched)")

    def private_key(self) -> Any:
        """The client's signing key (a joserfc key) for ``private_key_jwt``."""
        from joserfc.jwk import ECKey, RSAKey

        path = Path(self.private_key_file)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"plugins.smart_launch.issuers: private_key_file {path} cannot be read ({exc.strerror})") from None
        kind = ECKey if self.alg.startswith("ES") else RSAKey
        try:
            key = kind.import_key(msgspec.json.decode(raw) if raw.lstrip().startswith(b"{") else raw)
        except Exception:
            raise ValueError(f"plugins.smart_launch.issuers: private_key_file {path} is not a private {self.alg} key in PEM or JWK") from None
        if not key.is_private or (kind is ECKey and key.curve_name != "P-384"):
            raise ValueError(f"plugins.smart_launch.issuers: private_key_file {path} must hold the private key ({'P-384' if kind is ECKey else 'RSA'})")
        return key

    @property
    def client_type(self) -> str:
        return "private_key_jwt" if self.private_key_file else "client_secret" if self.client_secret else "public"


class SmartLaunchSettings(msgspec.Struct):
    """The review UI as a SMART on FHIR app (SMART App Launch 2.2): EHR and standalone launch, PKCE S256,
    the id_token verified against the EMR's JWKS, the clinician (``fhirUser``) signed in for the tenant of
    the registered issuer. ``issuers`` are written as ``[[plugins.smart_launch.issuers]]`` tables."""

    issuers: list[Issuer] = msgspec.field(default_factory=list)  # the registered EMRs ([[plugins.smart_launch.issuers]]); none: every launch is refused
    scope: str = DEFAULT_SCOPE  # scopes requested (an issuer may override); must include openid and fhirUser
    public_url: str = ""  # the gateway's address as the browser reaches it, for redirect_uri (empty: the core's public_url)
    launch_ttl_s: int = 600  # how long a started launch may take to come back with its code
    http_timeout_s: float = 10.0  # per request to the EMR (discovery, token, JWKS, Patient)

    def __post_init__(self) -> None:
        scopes = set(self.scope.split())
        if not {"openid", "fhirUser"} <= scopes:
            raise ValueError("plugins.smart_launch.scope must include openid and fhirUser (the clinician's identity)")
        if not 30 <= self.launch_ttl_s <= 3600:
            raise ValueError("plugins.smart_launch.launch_ttl_s must be between 30 and 3600 seconds")
        if not 0 < self.http_timeout_s <= 60:
            raise ValueError("plugins.smart_launch.http_timeout_s must be between 0 and 60 seconds")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("plugins.smart_launch.public_url must start with http:// or https://")
        seen = [issuer.iss for issuer in self.issuers]
        if len(seen) != len(set(seen)):
            raise ValueError("plugins.smart_launch.issuers: an iss is registered twice")

    def issuer(self, iss: str) -> Issuer | None:
        iss = iss.rstrip("/")
        return next((issuer for issuer in self.issuers if issuer.iss == iss), None)
