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
