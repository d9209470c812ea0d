"""Clinical code mappings for FHIR outputs, kept in YAML so sites change codes without code changes.

The packaged ``pain_observation.yaml`` is the default; a site file overrides it key by key (deep
merge, ``null`` removes a key), and the merged result is checked against ``PainMappings`` so a
missing or misspelt key stops start-up with its path named instead of failing at render time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gateway.contract.domain import LEVELS

DEFAULT_FILE = "pain_observation.yaml"


class MappingError(ValueError):
    """A mapping file is unreadable or incomplete; the message names the file and the key."""


class Coding(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    system: str
    code: str
    display: str | None = None

    def fhir(self) -> dict[str, str]:
        return msgspec.to_builtins(self)


class Concept(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A CodeableConcept; ``codings`` is keyed by a local name so a site can override one coding."""

    codings: dict[str, Coding]
    text: str | None = None

    def fhir(self) -> dict[str, Any]:
        concept: dict[str, Any] = {"coding": [c.fhir() for c in self.codings.values()]}
        if self.text:
            concept["text"] = self.text
        return concept

    def matches(self, system: str | None, code: str) -> bool:
        return any(c.code == code and (system is None or c.system == system) for c in self.codings.values())


class Quantity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    unit: str
    system: str
    code: str


class ObservationCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Concept
    category: Concept
    method: Concept
    data_absent_reason: Concept
    ai_original: Concept


class DeviceCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Concept
    ai_kind_extension: str
    ai_kind: Concept


class ProvenanceCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    activity: Concept
    agent_type: Concept
    agent_role: Concept
    review_activity: Concept
    verifier_type: Concept
    informant_type: Concept


class FhirR4Codes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    observation_category_system: str
    observation_categories: list[str]
    data_absent_reason_system: str


class PainMappings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    observation: ObservationCodes
    values: dict[str, Concept]
    probability_components: dict[str, Concept]
    probability_unit: Quantity
    ai_asserted: Coding
    clinician_asserted: Coding
    device: DeviceCodes
    provenance: ProvenanceCodes
    fhir_r4: FhirR4Codes


def deep_merge(base: dict, override: dict) -> dict:
    """Override ``base`` key by key; nested mappings merge, ``None`` deletes, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(text: str, source: str) -> dict:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{source}: top level must be a mapping")
    return data


def load_mappings(path: str | None = None) -> PainMappings:
    """Packaged defaults, overridden by the site file at ``path`` when given."""
    data = _read_yaml(resources.files(__name__).joinpath(DEFAULT_FILE).read_text("utf-8"), DEFAULT_FILE)
    source = DEFAULT_FILE
    if path:
        try:
            site = Path(path).read_text("utf-8")
        except OSError as exc:
            raise MappingError(f"{path}: cannot read FHIR mappings: {exc}") from exc
        data = deep_merge(data, _read_yaml(site, path))
        source = f"{DEFAULT_FILE} + {path}"
    try:
        mappings = msgspec.convert(data, PainMappings)
    except msgspec.ValidationError as exc:
        raise MappingError(f"{source}: {exc}") from exc
    for section in ("values", "probability_components"):
        table = getattr(mappings, section)
        for level in LEVELS:
            if level not in table:
                raise MappingError(f"{source}: Object missing required field `{level}` - at `$.{section}`")
            if not table[level].codings:
                raise MappingError(f"{source}: no codings left - at `$.{section}.{level}.codings`")
    return mappings
