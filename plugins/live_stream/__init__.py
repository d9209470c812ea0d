"""Live scoring: landmark frames streamed over a WebSocket, a result every second, one assessment at the end.

The protocol and the session logic live in ``plugins.live_stream``; this plugin offers them: the routes
(``routes.py``), the capture source that hands a finished session to ``AssessmentFlow``
(``source.py``), its settings and the ``pain-gateway live`` edge client (``client.py``).
"""

from __future__ import annotations

from pathlib import Path

from gateway import Migrations, hookimpl
from plugins.live_stream.settings import PLUGIN, LiveSettings


@hookimpl
def register_settings(register):
    register(PLUGIN, LiveSettings)


@hookimpl
def register_capture_sources(register, settings):
    from plugins.live_stream.source import LiveStreamSource

    register(LiveStreamSource(settings.plugin_config(PLUGIN)))


@hookimpl
def register_routes(register, settings):
    from plugins.live_stream.routes import build_routes

    for route in build_routes(settings.plugin_config(PLUGIN), settings):
        register(route)


@hookimpl
def register_commands(register, settings):
    from plugins.live_stream.client import live

    register(live)


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))
