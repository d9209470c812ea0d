"""A CDS Hooks 2.0 service: the patient's latest AI pain level as a card in the EMR's chart.

``GET /cds-services`` lists the ``patient-view`` service ``pain-gateway-latest-pain``; the EMR calls it
when a chart opens, signed with its JWT (``[[plugins.cds_hooks.clients]]`` allow-lists its ``iss`` and
keys), and gets a card for the patient's latest assessment within ``lookback_h`` — level, review state,
the synthetic-model notice and a SMART link into the review app (plugin ``smart_launch``) — or none.
"""

from __future__ import annotations

from pathlib import Path

from gateway import Migrations, hookimpl
from plugins.cds_hooks.settings import CdsHooksSettings

PLUGIN = "cds_hooks"


def public_url(settings, config: CdsHooksSettings) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    core = getattr(settings, "public_url", "") or ""
    return core.rstrip("/") if core else f"http://{settings.host}:{settings.port}"


@hookimpl
def register_settings(register):
    register(PLUGIN, CdsHooksSettings)


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


@hookimpl
def register_routes(register, settings):
    from plugins.cds_hooks.routes import handlers

    config = settings.plugin_config(PLUGIN)
    base = public_url(settings, config)
    core = (getattr(settings, "public_url", "") or "").rstrip("/") or f"http://{settings.host}:{settings.port}"
    for handler in handlers(config, base, core + "/ui/smart/launch"):
        register(handler)
