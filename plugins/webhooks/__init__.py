"""Telehealth webhooks: signed Standard Webhooks POSTs for assessment events, with managed endpoints.

Endpoints are registered through ``/v1/webhook-endpoints``; every ``assessment.*`` event an endpoint
subscribes to becomes a delivery in the core's ledger, which retries and dead-letters it. Outbound
requests only reach public addresses unless ``PAIN_GATEWAY_WEBHOOK_ALLOWLIST`` says otherwise.
The endpoints live in the plugin's own table (``tables.py``), created by its own Alembic branch
(``migrations/``, declared through ``register_migrations``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway import Migrations, hookimpl

PLUGIN = "webhooks"


class WebhookSettings(msgspec.Struct):
    """``timeout_s``: per attempt (the spec recommends 15-30 s). ``previous_secret_grace_h``: how long
    the old secret keeps signing after a rotation. ``public_url``: the gateway's address as receivers
    reach it, for links in payloads (empty: the core's ``public_url``, else ``http://host:port``)."""

    timeout_s: float = 15.0
    previous_secret_grace_h: float = 24.0
    public_url: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 120:
            raise ValueError("timeout_s must be between 0 and 120 seconds")
        if not 0 <= self.previous_secret_grace_h <= 24 * 30:
            raise ValueError("previous_secret_grace_h must be between 0 and 720 hours")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")


def public_url(settings, config: WebhookSettings) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    core = getattr(settings, "public_url", "") or ""
    return core.rstrip("/") if core else f"http://{settings.host}:{settings.port}"


def _allowlist(settings):
    from gateway import SettingsError
    from plugins.webhooks.egress import Allowlist

    try:
        return Allowlist.from_settings(settings)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


@hookimpl
def register_settings(register):
    register(PLUGIN, WebhookSettings)


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


@hookimpl
def register_destinations(register, settings):
    from plugins.webhooks.destination import WebhookDestination

    config = settings.plugin_config(PLUGIN)
    register(WebhookDestination(_allowlist(settings), public_url(settings, config), config.timeout_s))


@hookimpl
def register_routes(register, settings):
    from plugins.webhooks.routes import endpoints_controller

    register(endpoints_controller(settings.plugin_config(PLUGIN), _allowlist(settings)))
