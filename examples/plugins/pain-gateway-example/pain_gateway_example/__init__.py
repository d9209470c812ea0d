"""An example third-party Pain Gateway plugin: notes on assessments, a one-line output and an event type.

Everything from the gateway comes through its public API (``from gateway import ...``); the hooks are
documented in the gateway's ``gateway/contract/hookspecs.py``. Hook implementations only register
objects; the routes, table and output live in their own modules, imported when the hook fires.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway import PLUGIN_API_VERSION, Migrations, hookimpl

if PLUGIN_API_VERSION.split(".")[0] != "1":  # a major version changes names incompatibly
    raise ImportError(f"pain-gateway-example needs the plugin API 1.x, this gateway has {PLUGIN_API_VERSION}")

PLUGIN = "example_notes"
"""The entry-point name: the plugin's settings section, its migration branch and what ``GET /v1/plugins`` lists."""

NOTE_ADDED = "example.note_added"


class ExampleSettings(msgspec.Struct):
    """``max_note_chars``: the longest note accepted (``PAIN_GATEWAY_PLUGIN_EXAMPLE_NOTES_MAX_NOTE_CHARS``)."""

    max_note_chars: int = 500

    def __post_init__(self) -> None:
        if not 1 <= self.max_note_chars <= 10_000:
            raise ValueError("max_note_chars must be between 1 and 10000")


@hookimpl
def register_settings(register):
    register(PLUGIN, ExampleSettings)


@hookimpl
def register_event_types(register, settings):
    register(NOTE_ADDED, "a note was added to an assessment (pain-gateway-example)")


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


@hookimpl
def register_outputs(register, settings):
    from pain_gateway_example.output import OneLine

    register(OneLine())


@hookimpl
def register_routes(register, settings):
    from pain_gateway_example.routes import build_routes

    for route in build_routes(settings.plugin_config(PLUGIN)):
        register(route)
