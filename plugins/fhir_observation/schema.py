"""The FHIR facade in the OpenAPI document: resource and OperationOutcome schemas, search parameters,
examples rendered by ``resources.py`` itself from an example assessment (so they cannot drift)."""

from __future__ import annotations

from http import HTTPStatus

import msgspec

from gateway import Form, query
from plugins.fhir_observation.resources import ISSUE_CODES, operation_outcome
from plugins.fhir_observation.search import SEARCH_PARAMS


class Resource(msgspec.Struct):
    """A FHIR R4 resource (Observation, Device, Provenance, Bundle, CapabilityStatement); see hl7.org/fhir/R4."""

    resourceType: str


class Issue(msgspec.Struct):
    severity: str
    code: str
    diagnostics: str


class OperationOutcome(msgspec.Struct):
    """Every error on ``/fhir/*``, as ``application/fhir+json``."""

    resourceType: str
    issue: list[Issue]


def outcome_example(status: int) -> dict:
    return operation_outcome([("error", ISSUE_CODES.get(status, "exception"), HTTPStatus(status).description)])


_KINDS = {"number": "integer"}
SEARCH_PARAMETERS = tuple(query(name, doc, _KINDS.get(kind, "string")) for name, (kind, doc) in SEARCH_PARAMS.items())
SEARCH_FORM = Form(
    "application/x-www-form-urlencoded",
    {"type": "object", "properties": {name: {"type": _KINDS.get(kind, "string"), "description": doc} for name, (kind, doc) in SEARCH_PARAMS.items()}},
    example={"subject:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234", "_count": 10},
    summary="Search parameters, form-encoded",
)
