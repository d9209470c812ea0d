"""HL7 v2 output (ORU^R01 2.5.1) and MLLP destinations for EMRs that do not speak FHIR.

The ``hl7v2`` output is always registered; one destination is registered per configured MLLP
receiver (``hl7v2`` from ``PAIN_GATEWAY_PLUGIN_HL7V2_HOST``, ``hl7v2:<name>`` per
``[[plugins.hl7v2.destinations]]``), none when nothing is configured.
"""

from __future__ import annotations

from collections.abc import Callable

from fhir_mappings import PainMappings, load_mappings
from gateway import Settings, SettingsError, hookimpl
from plugins.hl7v2.settings import Hl7v2Settings

PLUGIN = "hl7v2"


def _mappings(settings: Settings) -> PainMappings:
    """Our own ``mappings_path``, else the FHIR output's, so both outputs carry the same codes."""
    path = settings.plugin_config(PLUGIN).mappings_path
    if not path:
        try:
            path = settings.plugin_config("fhir_observation").mappings_path
        except SettingsError:
            path = ""
    return load_mappings(path or None)


@hookimpl
def register_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN, Hl7v2Settings)


@hookimpl
def register_outputs(register: Callable, settings: Settings) -> None:
    from plugins.hl7v2.message import Hl7v2Output

    register(Hl7v2Output(settings.plugin_config(PLUGIN), _mappings(settings)))


@hookimpl
def register_destinations(register: Callable, settings: Settings) -> None:
    from plugins.hl7v2.destination import MllpDestination

    config: Hl7v2Settings = settings.plugin_config(PLUGIN)
    receivers = config.receivers()
    if receivers:
        mappings = _mappings(settings)
        for name, receiver in receivers:
            register(MllpDestination(name, receiver, config, mappings))
