"""FHIR push: every assessment's transaction Bundle POSTed to the EMR's FHIR server.

One server from ``PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL`` (plus the ``..._AUTH`` and friends
below), several from ``[[plugins.fhir_delivery.destinations]]`` in the settings file. The Bundle
creates the Observation and Device conditionally on our deterministic identifiers, so a resend
creates nothing new.
"""

from __future__ import annotations

import msgspec

from gateway import hookimpl

AUTH_MODES = ("none", "bearer", "oauth2")
DEFAULT_EVENTS = ["assessment.completed", "assessment.reviewed"]


class FhirServer(msgspec.Struct, forbid_unknown_fields=True):
    """One EMR FHIR server.

    ``auth``: ``none``, ``bearer`` (``token``) or ``oauth2`` client credentials (``token_url``,
    ``client_id``, ``client_secret``, optional ``scope``). ``resolve_patient``: look the patient up by
    identifier first and reference ``Patient/<id>``; no match or several → dead letter, never a new
    patient. ``plugin_documents``: also send the FHIR documents plugins render for their own events
    (e.g. ``pain_alerts``' episode Observation and Flag), whatever ``events`` lists.
    """

    name: str = "fhir"
    base_url: str = ""
    auth: str = "none"
    token: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""
    resolve_patient: bool = False
    timeout_s: float = 30.0
    events: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_EVENTS))
    plugin_documents: bool = True

    def __post_init__(self) -> None:
        """Checked when settings load, so a bad value stops start-up naming the setting."""
        problems = [
            ("base_url", self.base_url.startswith(("http://", "https://")), "must be the server's http(s) FHIR base, e.g. https://emr.example.org/fhir"),
            ("name", bool(self.name.strip()), "must name the destination, e.g. emr"),
            ("auth", self.auth in AUTH_MODES, f"must be one of {', '.join(AUTH_MODES)}"),
            ("token", self.auth != "bearer" or bool(self.token), "is required with auth = bearer"),
            (
                "token_url",
                self.auth != "oauth2" or all((self.token_url, self.client_id, self.client_secret)),
                "token_url, client_id and client_secret are required with auth = oauth2",
            ),
            ("timeout_s", 1 <= self.timeout_s <= 300, "must be between 1 and 300 seconds"),
        ]
        for field, ok, message in problems:
            if not ok:
                raise ValueError(f"{field}: {message} (got {getattr(self, field)!r})")


class FhirDeliverySettings(FhirServer, forbid_unknown_fields=True):
    """The environment's server (``base_url`` empty: none) plus the settings file's ``destinations``."""

    destinations: list[FhirServer] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.base_url:
            super().__post_init__()

    def servers(self) -> list[FhirServer]:
        single = [FhirServer(**{f: getattr(self, f) for f in FhirServer.__struct_fields__})] if self.base_url else []
        return single + list(self.destinations)


@hookimpl
def register_settings(register):
    register("fhir_delivery", FhirDeliverySettings)


@hookimpl
def register_destinations(register, settings):
    from plugins.fhir_delivery.destination import FhirPush

    for server in settings.plugin_config("fhir_delivery").servers():
        register(FhirPush(server))
