"""Checks the R4B pydantic models do not make: required bindings, invariants and AI-IG elements.

fhir.resources accepts any string for a required-binding code and evaluates no FHIRPath invariants
(shared/research/fhir.md §6), so these checks are what stop an invalid resource reaching an EMR.
Each function returns human-readable problems, empty when the input is valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_mappings import PainMappings, load_mappings

# Required bindings of FHIR R4 elements of type `code` (part of the base spec, not clinical codes).
OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
DEVICE_STATUS = {"active", "inactive", "entered-in-error", "unknown"}
DEVICE_NAME_TYPE = {"udi-label-name", "user-friendly-name", "patient-reported-name", "manufacturer-name", "model-name", "other"}
ENTITY_ROLE = {"derivation", "revision", "quotation", "source", "removal"}
BUNDLE_TYPE = {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history", "searchset", "collection"}
HTTP_VERB = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}

_ID = r"[A-Za-z0-9\-.]{1,64}"
_REFERENCE = re.compile(
    rf"^(https?://\S+/)?[A-Z][A-Za-z]+/{_ID}(/_history/{_ID})?$"
    r"|^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    r"|^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$"
    r"|^#\S*$"
)


@cache
def _default_mappings() -> PainMappings:
    return load_mappings()


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every (path, literal reference) in a resource, found wherever a Reference sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            elif key != "resource":  # contained bundle entries are checked on their own
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _references(item, f"{path}[{i}]")


def _codings(concept: dict | None) -> list[tuple[str | None, str | None]]:
    return [(c.get("system"), c.get("code")) for c in (concept or {}).get("coding", [])]


def _has_coding(concepts: list[dict], system: str, code: str) -> bool:
    return any((system, code) in _codings(c) for c in concepts)


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _check_period(period: dict | None, path: str) -> list[str]:
    """per-1: start <= end (both need a zone to compare, which instants in our output always have)."""
    if not period or "start" not in period or "end" not in period:
        return []
    start, end = _parse_time(period["start"]), _parse_time(period["end"])
    if start is None or end is None or (start.tzinfo is None) != (end.tzinfo is None):
        return [f"{path}: start/end are not comparable date-times"]
    return [f"{path}: start is after end (per-1)"] if start > end else []


def _check_observation(obs: dict, m: PainMappings) -> list[str]:
    errors = []
    if obs.get("status") not in OBSERVATION_STATUS:
        errors.append(f"Observation.status: {obs.get('status')!r} is not an observation-status code")
    categories = obs.get("category", [])
    fhir_categories = [code for c in categories for system, code in _codings(c) if system == m.fhir_r4.observation_category_system]
    if not fhir_categories:
        errors.append("Observation.category: needs a coding from " + m.fhir_r4.observation_category_system)
    errors += [
        f"Observation.category: {code!r} is not an observation-category code" for code in fhir_categories if code not in m.fhir_r4.observation_categories
    ]
    if not _codings(obs.get("code")):
        errors.append("Observation.code: needs at least one coding")
    has_value = any(key.startswith("value") for key in obs)
    if has_value and "dataAbsentReason" in obs:
        errors.append("Observation.dataAbsentReason: only allowed when there is no value (obs-6)")
    if not has_value and "dataAbsentReason" not in obs:
        errors.append("Observation: an AI result needs a value or a dataAbsentReason")
    reason_codes = _codings(obs.get("dataAbsentReason"))
    if reason_codes and not any(s == m.fhir_r4.data_absent_reason_system for s, _ in reason_codes):
        errors.append("Observation.dataAbsentReason: needs a coding from " + m.fhir_r4.data_absent_reason_system)
    obs_codes = set(_codings(obs.get("code")))
    for i, component in enumerate(obs.get("component", [])):
        if set(_codings(component.get("code"))) & obs_codes and any(k.startswith("value") for k in component):
            errors.append(f"Observation.component[{i}]: has a value but the same code as Observation.code (obs-7)")
        if any(k.startswith("value") for k in component) and "dataAbsentReason" in component:
            errors.append(f"Observation.component[{i}].dataAbsentReason: only allowed without a value (obs-6)")
    security = (obs.get("meta") or {}).get("security", [])
    label = m.clinician_asserted if obs.get("status") == "amended" else m.ai_asserted  # a clinician's override is theirs
    if (label.system, label.code) not in [(s.get("system"), s.get("code")) for s in security]:
        errors.append(f"Observation.meta.security: missing the {label.code} label")
    subject = obs.get("subject") or {}
    if not subject.get("reference") and not (subject.get("identifier") or {}).get("value"):
        errors.append("Observation.subject: needs a reference or an identifier value")
    return errors + _check_period(obs.get("effectivePeriod"), "Observation.effectivePeriod")


def _check_device(device: dict, m: PainMappings) -> list[str]:
    errors = []
    if "status" in device and device["status"] not in DEVICE_STATUS:
        errors.append(f"Device.status: {device['status']!r} is not a device-status code")
    if not _codings(device.get("type")):
        errors.append("Device.type: required by the AI-Device profile")
    if not any(i.get("value") for i in device.get("identifier", [])):
        errors.append("Device.identifier: needs a value identifying the model")
    for i, name in enumerate(device.get("deviceName", [])):
        if name.get("type") not in DEVICE_NAME_TYPE:
            errors.append(f"Device.deviceName[{i}].type: {name.get('type')!r} is not a device-nametype code")
    if not any(v.get("value") for v in device.get("version", [])):
        errors.append("Device.version: needs the model version")
    return errors


def _check_provenance(prov: dict, m: PainMappings) -> list[str]:
    errors = []
    if not prov.get("target"):
        errors.append("Provenance.target: at least one target is required")
    if not prov.get("recorded"):
        errors.append("Provenance.recorded: required")
    if not prov.get("agent"):
        errors.append("Provenance.agent: at least one agent is required")
    errors += [f"Provenance.agent[{i}].who: required" for i, agent in enumerate(prov.get("agent", [])) if not agent.get("who")]
    if not _has_coding(prov.get("reason", []), m.ai_asserted.system, m.ai_asserted.code):
        errors.append(f"Provenance.reason: missing {m.ai_asserted.code} (AI-Provenance AIReason)")
    for i, entity in enumerate(prov.get("entity", [])):
        if entity.get("role") not in ENTITY_ROLE:
            errors.append(f"Provenance.entity[{i}].role: {entity.get('role')!r} is not a provenance-entity-role")
        if not entity.get("what"):
            errors.append(f"Provenance.entity[{i}].what: required")
    return errors + _check_period(prov.get("occurredPeriod"), "Provenance.occurredPeriod")


def _check_document_reference(doc: dict, m: PainMappings) -> list[str]:
    """The explanation DocumentReference: AI-asserted, attachments typed, tied to its Observation."""
    errors = []
    labels = doc.get("meta", {}).get("security", [])
    if not any((c.get("system"), c.get("code")) == (m.ai_asserted.system, m.ai_asserted.code) for c in labels):
        errors.append(f"DocumentReference.meta.security: missing {m.ai_asserted.code}")
    errors += [
        f"DocumentReference.content[{i}].attachment.contentType: required with data (att-1)"
        for i, c in enumerate(doc.get("content", []))
        if c.get("attachment", {}).get("data") and not c["attachment"].get("contentType")
    ]
    if not doc.get("context", {}).get("related"):
        errors.append("DocumentReference.context.related: must name the Observation it explains")
    return errors


_CHECKS = {"Observation": _check_observation, "Device": _check_device, "Provenance": _check_provenance, "DocumentReference": _check_document_reference}


def _structural(resource: dict) -> list[str]:
    """R4B model validation: unknown or missing elements, wrong types."""
    try:
        model = get_fhir_model_class(resource.get("resourceType", ""))
    except (KeyError, ValueError):
        return [f"resourceType: {resource.get('resourceType')!r} is not a FHIR resource type"]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [f"{resource['resourceType']}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


def validate_resource(resource: dict, mappings: PainMappings | None = None) -> list[str]:
    """Problems with one resource; ``urn:uuid`` references are only resolved by ``validate_bundle``."""
    errors = _structural(resource)
    if errors:
        return errors
    rtype = resource["resourceType"]
    check = _CHECKS.get(rtype)
    errors = check(resource, mappings or _default_mappings()) if check else []
    return errors + [
        f"{rtype}{path}: {ref!r} is not a literal reference (Type/id, urn:uuid:, #id)" for path, ref in _references(resource, "") if not _REFERENCE.match(ref)
    ]


def validate_bundle(bundle: dict, mappings: PainMappings | None = None) -> list[str]:
    """Problems with a Bundle and each of its resources, including unresolvable ``urn:uuid`` references."""
    errors = _structural(bundle)
    if errors:
        return errors
    if bundle.get("resourceType") != "Bundle":
        return [f"resourceType: expected Bundle, got {bundle.get('resourceType')!r}"]
    btype = bundle.get("type")
    if btype not in BUNDLE_TYPE:
        errors.append(f"Bundle.type: {btype!r} is not a bundle-type code")
    if "total" in bundle and btype not in ("searchset", "history"):
        errors.append("Bundle.total: only for searchset or history (bdl-1)")
    entries = bundle.get("entry", [])
    full_urls = [e["fullUrl"] for e in entries if "fullUrl" in e]
    if btype != "history":  # a history holds one resource's versions under one fullUrl
        errors += [f"Bundle.entry.fullUrl: {u!r} appears more than once (bdl-7)" for u in sorted({u for u in full_urls if full_urls.count(u) > 1})]
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if "/_history/" in entry.get("fullUrl", ""):
            errors.append(f"{where}.fullUrl: must not be version specific (bdl-8)")
        if "search" in entry and btype != "searchset":
            errors.append(f"{where}.search: only in a searchset (bdl-2)")
        request = entry.get("request")
        if btype in ("transaction", "batch", "history"):
            if not request or request.get("method") not in HTTP_VERB or not request.get("url"):
                errors.append(f"{where}.request: method and url are required in a {btype} (bdl-3)")
        elif request:
            errors.append(f"{where}.request: only in a batch, transaction or history (bdl-3)")
        resource = entry.get("resource")
        if resource is None:
            continue
        errors += [f"{where}.resource: {e}" for e in validate_resource(resource, mappings)]
        errors += [
            f"{where}.resource{path}: {ref!r} does not resolve to an entry of this Bundle"
            for path, ref in _references(resource, "")
            if ref.startswith("urn:") and ref not in full_urls
        ]
    return errors
