"""The review UI as a SMART on FHIR app (SMART App Launch 2.2), launched from inside the EMR.

The EMR opens ``/ui/smart/launch?iss=<its FHIR base>&launch=<opaque>`` (an EHR launch; without
``launch`` it is a standalone launch that asks for a patient); the plugin discovers the issuer's
endpoints, sends the browser to its authorization endpoint with PKCE S256, ``state`` and a nonce,
exchanges the code at ``/ui/smart/callback``, verifies the id_token against the issuer's JWKS and signs
in its ``fhirUser`` Practitioner for the tenant the issuer is registered for (``[[plugins.smart_launch.issuers]]``).
The launch's patient is read through the EMR's FHIR API with the launch's access token and matched by
the tenant's identifier systems to open its patient page; no match opens a page that says so. Reviews
then name the Practitioner, and the registered issuers' origins may frame the UI.
"""

from __future__ import annotations

from pathlib import Path

from gateway import Migrations, hookimpl
from plugins.smart_launch.settings import SmartLaunchSettings

PLUGIN = "smart_launch"


def public_url(settings, config: SmartLaunchSettings) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    core = getattr(settings, "public_url", "") or ""
    return core.rstrip("/") if core else f"http://{settings.host}:{settings.port}"


@hookimpl
def register_settings(register):
    register(PLUGIN, SmartLaunchSettings)


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


def origin_of(url: str) -> str:
    """``https://host[:port]`` of a URL: what a CSP ``frame-ancestors`` source names."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@hookimpl
def register_frame_ancestors(register, settings):
    """The registered EMRs may show the UI in an iframe (none registered: nobody may)."""
    for issuer in settings.plugin_config(PLUGIN).issuers:
        register(origin_of(issuer.iss))


@hookimpl
def register_routes(register, settings):
    from plugins.smart_launch.routes import handlers

    config = settings.plugin_config(PLUGIN)
    for handler in handlers(config, public_url(settings, config)):
        register(handler)
