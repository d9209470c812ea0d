"""The webhook body: a Standard Webhooks envelope around a small, self-describing result.

``data`` carries what a telehealth platform shows without calling back (job status, clinical status
with the AI's and any clinician's level, summary, model, disclaimer), links to the full result, and the FHIR Observation for platforms that store FHIR. Bodies
stay under the spec's ~20 kB advice: when the Observation would cross it, it is left out and the
``fhir`` link still leads to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway import SYNTHETIC_DISCLAIMER, Assessment, AssessmentEvent, OutputDocument

MAX_BYTES = 20_000
TEST_EVENT = "webhook.test"


def observation_from(document: OutputDocument | None) -> dict[str, Any] | None:
    """The Observation out of the rendered FHIR Bundle; None when there is none to give."""
    if document is None:
        return None
    try:
        bundle = document.decoded()
    except (msgspec.DecodeError, ValueError):
        return None
    if not isinstance(bundle, dict):
        return None
    if bundle.get("resourceType") == "Observation":
        return bundle
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Observation":
            return resource
    return None


def event_payload(event: AssessmentEvent, assessment: Assessment | None, document: OutputDocument | None, public_url: str) -> bytes:
    self_link = f"{public_url.rstrip('/')}/v1/assessments/{event.assessment_id}"
    failed = event.type == "assessment.failed"
    data: dict[str, Any] = {
        "assessment_id": event.assessment_id,
        "status": "failed" if failed or assessment is None else assessment.status,
    }
    if failed:
        data["error"] = event.error
    if assessment is not None:
        if not failed:
            data["summary"] = msgspec.to_builtins(assessment.summary)
        data["clinical"] = {
            "status": assessment.clinical_status,
            "version": assessment.clinical_version,
            "ai_level": assessment.summary.level,
            "clinician_level": assessment.clinician_level,
            "reviewed_by": assessment.reviewed_by,
            "reviewed_at": None if assessment.reviewed_at is None else _iso(assessment.reviewed_at),
        }
        data["model"] = {"id": assessment.model.model_id, "version": assessment.model.version}
        data["disclaimer"] = assessment.disclaimer
    else:
        data["disclaimer"] = SYNTHETIC_DISCLAIMER
    data["links"] = {"self": self_link, "fhir": f"{self_link}/fhir"}
    observation = None if failed else observation_from(document)
    envelope = {"type": event.type, "timestamp": _iso(event.occurred_at), "data": data}
    if observation is not None:
        data["observation"] = observation
        body = msgspec.json.encode(envelope)
        if len(body) <= MAX_BYTES:
            return body
        del data["observation"]
        data["observation_omitted"] = "larger than the webhook size limit; follow links.fhir"
    return msgspec.json.encode(envelope)


def plugin_event_payload(event: AssessmentEvent, document: OutputDocument | None) -> bytes:
    """A plugin's own event (``EventDocuments``, e.g. ``pain_alert.opened``): its summary (``document.meta``)
    in ``data``, with the FHIR resources it rendered while they fit the size limit. Always AI-derived
    decision support: ``ai_asserted`` and the disclaimer say so."""
    data: dict[str, Any] = {"subject_id": event.assessment_id, "event_id": event.id, **(document.meta if document else {})}
    data["ai_asserted"] = True
    data["disclaimer"] = SYNTHETIC_DISCLAIMER
    envelope = {"type": event.type, "timestamp": _iso(event.occurred_at), "data": data}
    bundle = _decoded(document)
    resources = [e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    if resources:
        data["resources"] = resources
        body = msgspec.json.encode(envelope)
        if len(body) <= MAX_BYTES:
            return body
        del data["resources"]
        data["resources_omitted"] = "larger than the webhook size limit"
    return msgspec.json.encode(envelope)


def _decoded(document: OutputDocument | None) -> dict[str, Any]:
    try:
        body = document.decoded() if document is not None else None
    except (msgspec.DecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def probe_payload(endpoint_id: str) -> bytes:
    """What ``pain-gateway outputs test webhooks`` sends: no patient data at all."""
    return msgspec.json.encode(
        {
            "type": TEST_EVENT,
            "timestamp": _iso(datetime.now(UTC)),
            "data": {"endpoint_id": endpoint_id, "message": "Pain Gateway webhook test; no action needed"},
        }
    )


def _iso(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
