"""Vital signs in context, never fused: heart rate, respiratory rate, SpO2 and blood pressure from the
EMR's FHIR server, shown beside the AI's level for the minutes around the capture.

Vitals are weak pain indicators (an ICU review of 30 studies found their correlation with self-report
and behavioural scores "absent or weak": Shahiri & Gélinas, Pain Manag Nurs 2023, PMID 36781330), so
the model's score never changes with them: they are context for the clinician, not model input.
A reading is cached per assessment with the time it was read; a server that is down, slow or
missing leaves the page saying "unavailable", never blocking it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway import Migrations, hookimpl

PLUGIN = "vitals"
AUTH_MODES = ("none", "bearer", "oauth2")


class VitalsSettings(msgspec.Struct):
    """Where vitals are read, with credentials shaped like the FHIR destination's (``fhir_delivery``)."""

    fhir_base_url: str = ""
    """The EMR's FHIR base URL to read vital-sign Observations from (empty: vitals are not shown)."""
    auth: str = "none"
    """``none``, ``bearer`` (``token``) or ``oauth2`` client credentials (``token_url``, ``client_id``,
    ``client_secret``, ``scope``), as for the FHIR destination."""
    token: str = ""
    """The bearer token with ``auth = bearer``."""
    token_url: str = ""
    """The OAuth2 token endpoint with ``auth = oauth2``."""
    client_id: str = ""
    """The OAuth2 client id with ``auth = oauth2``."""
    client_secret: str = ""
    """The OAuth2 client secret with ``auth = oauth2``."""
    scope: str = ""
    """The OAuth2 scope to ask for, e.g. ``system/Observation.rs``."""
    window_minutes: float = 30.0
    """Vitals taken within this many minutes before the capture's start or after its end are shown."""
    timeout_s: float = 3.0
    """How long a page waits for the FHIR server before it says vitals are unavailable."""

    def __post_init__(self) -> None:
        problems = [
            ("fhir_base_url", not self.fhir_base_url or self.fhir_base_url.startswith(("http://", "https://")), "must be an http(s) FHIR base URL"),
            ("auth", self.auth in AUTH_MODES, f"must be one of {', '.join(AUTH_MODES)}"),
            ("token", self.auth != "bearer" or bool(self.token), "is required with auth = bearer"),
            (
                "token_url",
                self.auth != "oauth2" or all((self.token_url, self.client_id, self.client_secret)),
                "token_url, client_id and client_secret are required with auth = oauth2",
            ),
            ("window_minutes", 0 < self.window_minutes <= 24 * 60, "must be more than 0 and at most 1440"),
            ("timeout_s", 0.1 <= self.timeout_s <= 30, "must be between 0.1 and 30 seconds"),
        ]
        for field, ok, message in problems:
            if not ok:
                raise ValueError(f"{field}: {message}")


@hookimpl
def register_settings(register):
    register(PLUGIN, VitalsSettings)


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


_services: dict[bytes, object] = {}


def vitals_service(settings):
    """One ``VitalsService`` per configuration (its OAuth2 token cache is shared by the API and the pages)."""
    from plugins.vitals.service import VitalsService

    config = settings.plugin_config(PLUGIN)
    key = msgspec.json.encode(config)
    if key not in _services:
        _services[key] = VitalsService(config)
    return _services[key]


@hookimpl
def register_routes(register, settings):
    from plugins.vitals.routes import controller

    register(controller(vitals_service(settings)))


@hookimpl
async def ui_sections(page, context):
    """Vitals beside the AI's level on the assessment and patient pages (context only, never fused)."""
    if page not in ("assessment", "patient"):
        return None
    from plugins.vitals.ui import section

    found = await section(context, vitals_service(context.settings))
    return [found] if found is not None else None
