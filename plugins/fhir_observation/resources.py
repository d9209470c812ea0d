"""FHIR R4 (4.0.1) resources for one assessment: Observation, AI Device, Provenance and, when the
region occlusion explainer ran, the explanation as a DocumentReference (heatmap PNG + JSON).

Resources are assembled as plain dicts from ``PainMappings`` (no code lives here) and round-tripped
through ``fhir.resources.R4B`` models, which catch structural mistakes; only elements that exist
unchanged in R4 are used, so the JSON is valid R4 (shared/research/fhir.md §6). Ids are UUIDv5 of
the assessment id (the Device's of the model checkpoint), so rendering the same assessment again
yields the same Bundle and re-delivery is idempotent (fhir.md §8).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from fhir.resources.R4B import get_fhir_model_class

from fhir_mappings import PainMappings, load_mappings
from gateway import (
    CLINICIAN_REFERENCE,
    IMPORTANCE_KIND,
    LEVELS,
    Assessment,
    ModelInfo,
    OutputDocument,
    PatientRef,
    explain,
    explanation_png,
    reliability_notes,
)
from gateway import EXPLANATION_NOTICE as NOTICE

if TYPE_CHECKING:
    from plugins.fhir_observation import FhirSettings

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"
BUNDLE_TYPES = ("collection", "transaction")

Ref = Callable[[str, str], str]


def _bundle_ref(resource_type: str, resource_id: str) -> str:
    """Inside a Bundle every entry has a ``urn:uuid`` fullUrl, which servers rewrite on transaction."""
    return f"urn:uuid:{resource_id}"


def _literal_ref(resource_type: str, resource_id: str) -> str:
    return f"{resource_type}/{resource_id}"


def resource_id(base_url: str, kind: str, key: str) -> str:
    """Deterministic id: the same key under the same gateway always names the same resource."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/{kind}/{key}"))


def observation_id(assessment_id: str, base_url: str) -> str:
    return resource_id(base_url, "assessment", f"{assessment_id}/Observation")


def provenance_id(assessment_id: str, base_url: str) -> str:
    return resource_id(base_url, "assessment", f"{assessment_id}/Provenance")


def review_provenance_id(assessment_id: str, version: int, base_url: str) -> str:
    """The Provenance of the review that made clinical ``version`` (2, 3, ...)."""
    return resource_id(base_url, "assessment", f"{assessment_id}/Provenance/{version}")


def document_reference_id(assessment_id: str, base_url: str) -> str:
    return resource_id(base_url, "assessment", f"{assessment_id}/DocumentReference")


def device_id(model: ModelInfo, base_url: str) -> str:
    """Keyed by checkpoint hash, so every assessment of one model points at one Device."""
    return resource_id(base_url, "model", model.sha256)


def assessment_identifier_system(base_url: str) -> str:
    return f"{base_url}/assessment"


def _explanation_identifier_system(base_url: str) -> str:
    return f"{base_url}/explanation"


def _model_identifier_system(base_url: str) -> str:
    return f"{base_url}/model-sha256"


def _instant(value: datetime, field: str) -> str:
    """FHIR instants need a zone; guessing one for a clinical timestamp would be worse than failing."""
    if value.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware, got {value.isoformat()}")
    return value.isoformat()


def _subject(patient: PatientRef) -> dict[str, Any]:
    subject: dict[str, Any] = {}
    if patient.reference:
        subject["reference"] = patient.reference
    if patient.value:
        subject["identifier"] = {"system": patient.system, "value": patient.value} if patient.system else {"value": patient.value}
    if not subject:
        raise ValueError("patient: needs a reference or an identifier value")
    return subject


def _device_ref(model: ModelInfo, base_url: str, ref: Ref) -> dict[str, str]:
    return {"reference": ref("Device", device_id(model, base_url)), "display": f"{model.name} {model.version}"}


def _model_card_url(model: ModelInfo) -> str:
    return model.model_card_url or f"/v1/models/{model.model_id}/card"


def _narrative(*paragraphs: str) -> dict[str, str]:
    """Generated XHTML narrative (dom-6): what a clinician's viewer shows when it renders no coded data.

    Built only from the resource's own content, so the same assessment always gives the same text.
    """
    body = "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def _patient_text(patient: PatientRef) -> str:
    if patient.value:
        return f"{patient.system}|{patient.value}" if patient.system else patient.value
    return patient.reference or "unknown"


def _dump(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate against the R4B model and return its canonical JSON form."""
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _overridden(assessment: Assessment) -> bool:
    return assessment.clinical_status == "amended"


def _review_text(assessment: Assessment, ai_result: str, mappings: PainMappings) -> str:
    """What the clinician did, for the narrative: who, when, and the AI's result beside theirs."""
    when = _instant(assessment.reviewed_at, "reviewed_at") if assessment.reviewed_at else "unknown time"
    if _overridden(assessment):
        level = assessment.clinician_level or ""
        clinician = mappings.values[level].text or level if level in mappings.values else level
        return f"amended: clinician {assessment.reviewed_by} recorded {clinician} on {when}; the AI had asserted {ai_result}."
    return f"final: confirmed by clinician {assessment.reviewed_by} on {when}."


def _observation(assessment: Assessment, mappings: PainMappings, base_url: str, ref: Ref) -> dict[str, Any]:
    codes = mappings.observation
    summary = assessment.summary
    reviewed = assessment.clinical_version > 1
    label = mappings.clinician_asserted if _overridden(assessment) else mappings.ai_asserted
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id(assessment.id, base_url),
        "meta": {"versionId": str(assessment.clinical_version), "security": [label.fhir()]},
        "identifier": [{"system": assessment_identifier_system(base_url), "value": assessment.id}],
        # AI output stays preliminary until a clinician reviews it: final on confirm, amended on override (fhir.md §3.2).
        "status": assessment.clinical_status,
        "category": [codes.category.fhir()],
        "code": codes.code.fhir(),
        "subject": _subject(assessment.patient),
        "effectivePeriod": {
            "start": _instant(assessment.effective_start, "effective_start"),
            "end": _instant(assessment.effective_end, "effective_end"),
        },
        # when this version was made available: the AI's result, then each review
        "issued": _instant(assessment.reviewed_at, "reviewed_at") if assessment.reviewed_at else _instant(assessment.created_at, "created_at"),
        "method": codes.method.fhir(),
        "device": _device_ref(assessment.model, base_url, ref),
        "note": [{"text": assessment.disclaimer}],
    }
    reliability = reliability_notes(assessment.reliability, assessment.summary.scored_windows)
    obs["note"].extend({"text": note} for note in reliability)
    if has_explanation(assessment):  # R4 core extension: other information relevant to this event
        obs["extension"] = [
            {
                "url": SUPPORTING_INFO,
                "valueReference": {
                    "reference": ref("DocumentReference", document_reference_id(assessment.id, base_url)),
                    "display": "Why the model scored this (model-internal signal, not a clinical finding)",
                },
            }
        ]
    if summary.level is None:
        ai_value: dict[str, Any] = {"dataAbsentReason": codes.data_absent_reason.fhir()}
        result = f"no result: {codes.data_absent_reason.text or 'data absent'}"
    elif summary.level in LEVELS:
        ai_value = {"valueCodeableConcept": mappings.values[summary.level].fhir()}
        result = mappings.values[summary.level].text or summary.level
    else:
        raise ValueError(f"summary.level: unknown pain level {summary.level!r}, expected one of {LEVELS}")
    if reviewed and assessment.clinician_level in LEVELS:
        obs["valueCodeableConcept"] = mappings.values[assessment.clinician_level].fhir()
    else:
        obs.update(ai_value)
    status = _review_text(assessment, result, mappings) if reviewed else "preliminary, AI-generated, not reviewed by a clinician"
    peaks = ", ".join(f"{level} {summary.peak_probability[level]:.2f}" for level in LEVELS if level in summary.peak_probability)
    obs["text"] = _narrative(
        f"{codes.code.text or 'AI pain assessment'}: {result} ({status}).",
        f"Patient {_patient_text(assessment.patient)}; clip {obs['effectivePeriod']['start']} to {obs['effectivePeriod']['end']}.",
        *([f"Peak window probabilities: {peaks}."] if peaks else []),
        *reliability,
        f"Model {assessment.model.name} {assessment.model.version}. {assessment.disclaimer}",
    )
    unit = {"unit": mappings.probability_unit.unit, "system": mappings.probability_unit.system, "code": mappings.probability_unit.code}
    components = [
        {"code": mappings.probability_components[level].fhir(), "valueQuantity": {"value": peak, **unit}}
        for level in LEVELS
        if (peak := summary.peak_probability.get(level)) is not None
    ]
    if reviewed:  # the AI's original value stays next to the clinician's
        components.append({"code": codes.ai_original.fhir(), **ai_value})
        obs["note"].append({"text": f"Clinical status {status}"})
    if components:
        obs["component"] = components
    return obs


def _device(model: ModelInfo, mappings: PainMappings, base_url: str) -> dict[str, Any]:
    codes = mappings.device
    return {
        "resourceType": "Device",
        "id": device_id(model, base_url),
        "text": _narrative(
            f"AI model {model.name} {model.version} ({model.model_id}), checkpoint sha256 {model.sha256}.",
            f"{model.disclaimer} Model card: {_model_card_url(model)}",
        ),
        "extension": [{"url": codes.ai_kind_extension, "valueCodeableConcept": codes.ai_kind.fhir()}],
        "identifier": [{"system": _model_identifier_system(base_url), "value": model.sha256}],
        "status": "active",
        "deviceName": [{"name": model.name, "type": "model-name"}],
        "modelNumber": model.model_id,
        "type": codes.type.fhir(),
        "version": [{"value": model.version}],
        "note": [{"text": f"{model.disclaimer} Training data: {model.training_data}. Model card: {_model_card_url(model)}"}],
    }


def _provenance(assessment: Assessment, mappings: PainMappings, base_url: str, ref: Ref) -> dict[str, Any]:
    codes = mappings.provenance
    clip = (
        f"Face landmark clip from {assessment.source}: {assessment.frames} frames at {assessment.fps:g} fps, "
        f"captured {_instant(assessment.captured_at, 'captured_at')}"
    )
    return {
        "resourceType": "Provenance",
        "id": provenance_id(assessment.id, base_url),
        "text": _narrative(
            f"Observation {observation_id(assessment.id, base_url)} was asserted by the AI model "
            f"{assessment.model.name} {assessment.model.version}, recorded {_instant(assessment.created_at, 'created_at')}.",
            clip,
        ),
        "target": [{"reference": ref("Observation", observation_id(assessment.id, base_url))}],
        "recorded": _instant(assessment.created_at, "created_at"),
        "activity": codes.activity.fhir(),
        "reason": [{"coding": [mappings.ai_asserted.fhir()]}],
        "agent": [
            {
                "type": codes.agent_type.fhir(),
                "role": [codes.agent_role.fhir()],
                "who": _device_ref(assessment.model, base_url, ref),
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {"identifier": {"system": f"{base_url}/clip", "value": assessment.id}, "display": clip},
            }
        ],
    }


def _clinician(assessment: Assessment, base_url: str) -> dict[str, Any]:
    """The reviewer: the EMR's Practitioner when the review was made in a SMART launch (its ``fhirUser``,
    a reference the EMR resolves), else the gateway token's name as an identifier of ours."""
    if assessment.reviewed_by and CLINICIAN_REFERENCE.fullmatch(assessment.reviewed_by):
        return {"reference": assessment.reviewed_by, "display": f"clinician {assessment.reviewed_by}"}
    return {"identifier": {"system": f"{base_url}/reviewer", "value": assessment.reviewed_by or "unknown"}, "display": f"clinician {assessment.reviewed_by}"}


def _review_provenance(assessment: Assessment, mappings: PainMappings, base_url: str, ref: Ref) -> dict[str, Any]:
    """The review that made the current version (fhir.md §3.2): an UPDATE by the clinician, who
    verifies a confirmed value (the AI Device stays author) or authors an override (the AI Device
    becomes informant); the previous version is the entity it revised."""
    codes = mappings.provenance
    version = assessment.clinical_version
    obs = observation_id(assessment.id, base_url)
    versioned = ref is _literal_ref  # inside a Bundle the EMR assigns ids and versions
    target = f"Observation/{obs}/_history/{version}" if versioned else ref("Observation", obs)
    previous = f"Observation/{obs}/_history/{version - 1}" if versioned else ref("Observation", obs)
    when = _instant(assessment.reviewed_at or assessment.created_at, "reviewed_at")
    ai = _device_ref(assessment.model, base_url, ref)
    if _overridden(assessment):
        agents = [
            {"type": codes.agent_type.fhir(), "who": _clinician(assessment, base_url)},
            {"type": codes.informant_type.fhir(), "role": [codes.agent_role.fhir()], "who": ai},
        ]
        reasons = [mappings.ai_asserted, mappings.clinician_asserted]
    else:
        agents = [
            {"type": codes.agent_type.fhir(), "role": [codes.agent_role.fhir()], "who": ai},
            {"type": codes.verifier_type.fhir(), "who": _clinician(assessment, base_url)},
        ]
        reasons = [mappings.ai_asserted]
    return {
        "resourceType": "Provenance",
        "id": review_provenance_id(assessment.id, version, base_url),
        "text": _narrative(
            f"Observation {obs} version {version}: "
            f"{'overridden' if _overridden(assessment) else 'confirmed'} by clinician {assessment.reviewed_by} at {when}; "
            f"it revises version {version - 1}."
        ),
        "target": [{"reference": target}],
        "recorded": when,
        "activity": codes.review_activity.fhir(),
        "reason": [{"coding": [reason.fhir()]} for reason in reasons],
        "agent": agents,
        "entity": [{"role": "revision", "what": {"reference": previous, "display": f"Observation version {version - 1}"}}],
    }


SUPPORTING_INFO = "http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo"


def has_explanation(assessment: Assessment) -> bool:
    """Whether there is a drawable region occlusion explanation to send as a DocumentReference."""
    return any(e.kind == IMPORTANCE_KIND and e.mesh for e in assessment.explanations)


def _attachment(content_type: str, data: bytes, title: str, created: str) -> dict[str, Any]:
    return {
        "contentType": content_type,
        "data": base64.b64encode(data).decode(),
        "title": title,
        "creation": created,
        "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "size": len(data),
    }  # R4 Attachment.hash is SHA-1


def _document_reference(assessment: Assessment, mappings: PainMappings, base_url: str, ref: Ref) -> dict[str, Any]:
    """The explanation (``gateway.service.explanations``) as PNG and JSON attachments; deterministic like the rest."""
    explained = explain(assessment)
    created = _instant(assessment.created_at, "created_at")
    png = explanation_png(assessment)
    return {
        "resourceType": "DocumentReference",
        "id": document_reference_id(assessment.id, base_url),
        "meta": {"security": [mappings.ai_asserted.fhir()]},
        "text": _narrative(
            f"Explanation of the AI pain assessment {assessment.id} by {assessment.model.name} {assessment.model.version}: {explained.verdict}", NOTICE
        ),
        "identifier": [{"system": _explanation_identifier_system(base_url), "value": assessment.id}],
        "status": "current",
        "type": {"text": "AI model explanation: region occlusion (model-internal signal, not a clinical finding)"},
        "subject": _subject(assessment.patient),
        "date": created,
        "author": [_device_ref(assessment.model, base_url, ref)],
        "description": f"{explained.verdict} {NOTICE}",
        "content": [
            {"attachment": _attachment("image/png", png, "Region occlusion heatmap on the clip's mean face mesh", created)},
            {"attachment": _attachment("application/json", msgspec.json.encode(explained), "Region and second importances", created)},
        ],
        "context": {"related": [{"reference": ref("Observation", observation_id(assessment.id, base_url))}]},
    }


def document_reference_resource(assessment: Assessment, mappings: PainMappings, base_url: str) -> dict[str, Any]:
    """The explanation DocumentReference with literal references, as served by FHIR read."""
    return _dump(_document_reference(assessment, mappings, base_url, _literal_ref))


def observation_resource(assessment: Assessment, mappings: PainMappings, base_url: str) -> dict[str, Any]:
    """The Observation alone, with literal ``Type/id`` references, as served by FHIR read/search."""
    return _dump(_observation(assessment, mappings, base_url, _literal_ref))


def device_resource(model: ModelInfo, mappings: PainMappings, base_url: str) -> dict[str, Any]:
    """The AI Device, as served by FHIR read."""
    return _dump(_device(model, mappings, base_url))


def provenance_resource(assessment: Assessment, mappings: PainMappings, base_url: str) -> dict[str, Any]:
    """The Provenance with literal references, as served by FHIR read."""
    return _dump(_provenance(assessment, mappings, base_url, _literal_ref))


def review_provenance_resource(assessment: Assessment, mappings: PainMappings, base_url: str) -> dict[str, Any]:
    """The Provenance of the review that made the assessment's current clinical version (2 or more)."""
    return _dump(_review_provenance(assessment, mappings, base_url, _literal_ref))


def build_bundle(assessment: Assessment, mappings: PainMappings, base_url: str, bundle_type: str = "collection") -> dict[str, Any]:
    """Device, Observation, Provenance, the explanation DocumentReference when explained, and the
    review's Provenance once reviewed.

    A ``transaction`` creates Device, DocumentReference and Observation conditionally on their
    identifiers and PUTs the Provenance under its deterministic id (R4 Provenance has no identifier),
    so resending it creates nothing new on a server that allows update-as-create (fhir.md §8). A
    reviewed assessment's Observation is a conditional update instead: the EMR's Observation gets a
    new version.
    """
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"bundle_type: expected one of {BUNDLE_TYPES}, got {bundle_type!r}")
    model = assessment.model
    device = _device(model, mappings, base_url)
    observation = _observation(assessment, mappings, base_url, _bundle_ref)
    provenance = _provenance(assessment, mappings, base_url, _bundle_ref)
    identifier = urlencode({"identifier": f"{assessment_identifier_system(base_url)}|{assessment.id}"})
    reviewed = assessment.clinical_version > 1
    observation_entry = observation
    observation_request = {"method": "POST", "url": "Observation", "ifNoneExist": identifier}
    if reviewed:
        observation_request = {"method": "PUT", "url": f"Observation?{identifier}"}
        if bundle_type == "transaction":  # the EMR's id for it is its own
            observation_entry = {k: v for k, v in observation.items() if k != "id"}
    resources = [
        (device, {"method": "POST", "url": "Device", "ifNoneExist": urlencode({"identifier": f"{_model_identifier_system(base_url)}|{model.sha256}"})}),
        (observation_entry, observation_request),
        (provenance, {"method": "PUT", "url": f"Provenance/{provenance['id']}"}),
    ]
    if has_explanation(assessment):
        document = _document_reference(assessment, mappings, base_url, _bundle_ref)
        resources.insert(
            1,
            (
                document,
                {
                    "method": "POST",
                    "url": "DocumentReference",
                    "ifNoneExist": urlencode({"identifier": f"{_explanation_identifier_system(base_url)}|{assessment.id}"}),
                },
            ),
        )
    if reviewed:
        review = _review_provenance(assessment, mappings, base_url, _bundle_ref)
        resources.append((review, {"method": "PUT", "url": f"Provenance/{review['id']}"}))
    entries = []
    for resource, request in resources:
        entry = {"fullUrl": _bundle_ref(resource["resourceType"], resource.get("id") or observation["id"]), "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = request
        entries.append(entry)
    return _dump(
        {
            "resourceType": "Bundle",
            "id": resource_id(
                base_url, "assessment", f"{assessment.id}/Bundle/{bundle_type}" + (f"/{assessment.clinical_version}" if assessment.clinical_version > 1 else "")
            ),
            "type": bundle_type,
            "timestamp": _instant(assessment.created_at, "created_at"),
            "entry": entries,
        }
    )


def history_bundle(resources: list[dict[str, Any]], self_url: str, resource_base: str) -> dict[str, Any]:
    """An R4 ``history`` Bundle of one resource's versions, newest first (each entry with request and response)."""
    entries = []
    for resource in resources:
        version = resource["meta"]["versionId"]
        url = f"{resource['resourceType']}/{resource['id']}"
        entries.append(
            {
                "fullUrl": f"{resource_base}/{url}",
                "resource": resource,
                "request": {"method": "POST" if version == "1" else "PUT", "url": resource["resourceType"] if version == "1" else url},
                "response": {"status": "201 Created" if version == "1" else "200 OK", "etag": f'W/"{version}"'},
            }
        )
    return _dump({"resourceType": "Bundle", "type": "history", "total": len(entries), "link": [{"relation": "self", "url": self_url}], "entry": entries})


def searchset(
    observations: list[dict[str, Any]], total: int | None, links: dict[str, str], resource_base: str, outcome: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Search result Bundle: ``links`` by relation (self, next, previous), fullUrls ``[resource_base]/Type/id``.

    ``outcome`` (an OperationOutcome about the search itself, e.g. ignored parameters) goes last with
    ``search.mode = outcome``, as R4 search.html §3.1.1.4 (handling errors) asks.
    """
    entries = [{"fullUrl": f"{resource_base}/{obs['resourceType']}/{obs['id']}", "resource": obs, "search": {"mode": "match"}} for obs in observations]
    if outcome is not None:  # a urn:uuid fullUrl keeps bdl-7/bdl-8 checkable on every entry
        key = "|".join(issue.get("diagnostics", "") for issue in outcome["issue"])
        entries.append(
            {"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{resource_base}/outcome/{key}')}", "resource": outcome, "search": {"mode": "outcome"}}
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
    }
    if total is not None:
        bundle["total"] = total
    if entries:
        bundle["entry"] = entries
    return _dump(bundle)


ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}
"""R4 issue-type code for an HTTP error status."""


def operation_outcome(issues: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """OperationOutcome from ``(severity, code, diagnostics)`` issues (codes from R4 issue-type)."""
    issues = list(issues)
    return _dump(
        {
            "resourceType": "OperationOutcome",
            "text": _narrative(*(f"{severity}: {diagnostics}" for severity, _, diagnostics in issues)),
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics} for severity, code, diagnostics in issues],
        }
    )


SECURITY = (
    "Every request except GET [base]/metadata needs 'Authorization: Bearer <token>' (tokens are issued per tenant "
    "by an administrator with 'pain-gateway tokens create'); a token sees only its own tenant's data. "
    "SMART on FHIR authorization is not offered."
)


def capability_statement(base_url: str, resources: dict[str, dict[str, Any]], software_version: str, date: str | None = None) -> dict[str, Any]:
    """R4 CapabilityStatement of the read-only facade (never 4.3.0: R4 clients reject it).

    ``resources`` maps a type to its ``interactions`` and ``search_params`` ((name, type, documentation)
    triples); the routes pass exactly what they serve, so the statement cannot claim more.
    """
    rest_resources = []
    for resource_type, served in resources.items():
        entry: dict[str, Any] = {"type": resource_type, "interaction": [{"code": code} for code in served["interactions"]]}
        if served.get("search_params"):
            entry["searchParam"] = [{"name": n, "type": t, "documentation": d} for n, t, d in served["search_params"]]
        rest_resources.append(entry)
    summary = "; ".join(f"{t}: {', '.join(r['interactions'])}" for t, r in resources.items())
    return _dump(
        {
            "resourceType": "CapabilityStatement",
            "text": _narrative(f"Pain Gateway {software_version}, read-only FHIR R4 facade at {base_url}. {summary}.", SECURITY),
            "status": "active",
            "date": date or datetime.now(UTC).isoformat(),
            "kind": "instance",
            "software": {"name": "Pain Gateway", "version": software_version},
            "implementation": {"description": "Pain Gateway AI pain Observations (decision support)", "url": base_url},
            "fhirVersion": FHIR_VERSION,
            "format": [MEDIA_TYPE, "json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {"cors": False, "description": SECURITY},
                    "resource": rest_resources,
                }
            ],
        }
    )


def code_matches(mappings: PainMappings, token: str) -> bool:
    """FHIR token search on Observation.code: ``system|code``, ``|code`` (no system) or ``code``."""
    system, sep, code = token.rpartition("|")
    return mappings.observation.code.matches(system if sep else None, code)


class FhirObservationOutput:
    """Renders each assessment as a transaction Bundle, the form an EMR accepts at its base URL."""

    name = "fhir"
    media_type = MEDIA_TYPE

    def __init__(self, settings: FhirSettings) -> None:
        self.base_url = settings.base_url.rstrip("/")
        self.mappings = load_mappings(settings.mappings_path or None)

    def render(self, assessment: Assessment) -> OutputDocument:
        bundle = build_bundle(assessment, self.mappings, self.base_url, bundle_type="transaction")
        return OutputDocument.json(self.name, self.media_type, bundle, {"fhirVersion": FHIR_VERSION, "bundleType": bundle["type"]})
