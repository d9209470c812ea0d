"""FHIR R4 output: each assessment becomes an AI-labelled Observation with its AI Device and Provenance."""

from __future__ import annotations

import msgspec

from gateway import hookimpl
from plugins.fhir_observation.resources import FhirObservationOutput


class FhirSettings(msgspec.Struct):
    """``mappings_path``: site YAML overriding ``fhir_mappings/pain_observation.yaml`` key by key.

    ``base_url`` prefixes identifier systems and deterministic ids, so it must stay stable for a site.
    """

    mappings_path: str = ""
    base_url: str = "urn:pain-gateway"


@hookimpl
def register_settings(register):
    register("fhir_observation", FhirSettings)


@hookimpl
def register_outputs(register, settings):
    register(FhirObservationOutput(settings.plugin_config("fhir_observation")))


@hookimpl
def register_routes(register, settings):
    from plugins.fhir_observation.routes import fhir_controller, not_allowed_routes

    register(fhir_controller(FhirObservationOutput(settings.plugin_config("fhir_observation")), settings.base_url))
    for handler in not_allowed_routes():
        register(handler)
