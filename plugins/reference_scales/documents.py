"""A recorded score's documents, sent through the delivery ledger like an AI result: a FHIR transaction
Bundle holding one Observation, and an HL7 v2.5.1 ORU^R01 where that destination is on.

The Observation carries the scale's code (LOINC 72514-3 for NRS, else the local code system of
``fhir_mappings/scales``), the total as ``valueInteger``, one component per item, the clinician as
``performer`` and the band as interpretation text. It is **not** labelled AI-asserted: a clinician
observed it. It is a conditional update on the score's identifier, so a resend never creates a second.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from html import escape as html_escape
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncEngine

from fhir_mappings.scales import Scale
from gateway import AssessmentEvent, OutputDocument
from plugins.reference_scales.scores import Score, ScoreStore

EVENT = "reference_scale.recorded"
FHIR_JSON = "application/fhir+json"
HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"
CATEGORY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey", "display": "Survey"}
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _subject(score: Score) -> dict[str, Any]:
    if score.patient.reference:
        return {"reference": score.patient.reference}
    return {"identifier": {"system": score.patient.system, "value": score.patient.value}}


def performer(assessor: str) -> dict[str, str]:
    """``Practitioner/<id>`` becomes a reference, anything else the display of the clinician who scored."""
    if assessor.startswith("Practitioner/") and " " not in assessor:
        return {"reference": assessor}
    return {"display": assessor}


def observation(score: Score, scale: Scale, base: str) -> dict[str, Any]:
    code = {"coding": [{"system": scale.code.system, "code": scale.code.code, "display": scale.code.display}], "text": scale.name}
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": f"{base}/reference-scale-score", "value": score.id}],
        "status": "final",
        "category": [{"coding": [CATEGORY]}],
        "code": code,
        "subject": _subject(score),
        "effectiveDateTime": _instant(score.observed_at),
        "issued": _instant(score.created_at),
        "performer": [performer(score.assessor)],
        "valueInteger": score.total,
        "interpretation": [{"text": f"{score.band} ({scale.bands.source})"}],
        "note": [{"text": f"Observed by a clinician, not AI-derived. Level mapping {score.mapping_version}: {score.level}."}],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html_escape(scale.name)}: {score.total} '
            f"({html_escape(score.band)}), observed by {html_escape(score.assessor)}.</p></div>",
        },
    }
    if score.items:
        resource["component"] = [
            {"code": {"coding": [{"system": c.system, "code": c.code, "display": c.display}]}, "valueInteger": score.items[item.key]}
            for item in scale.items
            if item.key in score.items
            for c in (scale.item_code(item.key),)
        ]
    return resource


def bundle(score: Score, scale: Scale, base: str) -> dict[str, Any]:
    resource = observation(score, scale, base)
    search = urlencode({"identifier": f"{base}/reference-scale-score|{score.id}"})
    full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base}/reference-scale-score/{score.id}')}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"fullUrl": full_url, "resource": resource, "request": {"method": "PUT", "url": f"Observation?{search}"}}],
    }


def _er7(text: str) -> str:
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return " ".join(text.split())


def _dtm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def oru(score: Score, scale: Scale, hl7: Any) -> bytes:
    """ORU^R01 v2.5.1: OBX 1 the total (NM, the scale's code; LN for LOINC, else L), one NM OBX per item,
    OBX-16 the clinician; result status F. MSH-10 is a digest of the score, so a resend has the same id."""
    system = "LN" if scale.code.system == "http://loinc.org" else "L"
    patient = (
        f"{_er7(score.patient.reference.removeprefix('Patient/'))}^^^FHIR"
        if score.patient.reference
        else f"{_er7(score.patient.value or '')}^^^&{_er7(score.patient.system or '')}&URI"
    )
    control = hashlib.sha256(f"{score.id}|{score.total}|{score.items}".encode()).hexdigest()[:20]
    observed = _dtm(score.observed_at)
    who = _er7(score.assessor)
    get = lambda name, default: _er7(str(getattr(hl7, name, default) or default))  # noqa: E731
    units = "{score}"

    def segment(name: str, fields: dict[int, str]) -> str:
        return "|".join([name] + [fields.get(i, "") for i in range(1, max(fields) + 1)])

    def obx(n: int, code: str, display: str, coding_system: str, value: int, low: int, high: int) -> str:
        return segment(
            "OBX",
            {
                1: str(n),
                2: "NM",
                3: f"{_er7(code)}^{_er7(display)}^{coding_system}",
                5: str(value),
                6: units,
                7: f"{low}-{high}",
                11: "F",
                14: observed,
                16: who,
            },
        )

    header = (
        f"MSH|^~\\&|{get('sending_application', 'PAIN_GATEWAY')}|{get('sending_facility', 'PAIN_GATEWAY')}|{get('receiving_application', 'EMR')}|"
        f"{get('receiving_facility', 'EMR')}|{_dtm(score.created_at)}||ORU^R01^ORU_R01|{control}|{get('processing_id', 'P')}|2.5.1|||||||UNICODE UTF-8"
    )
    service = f"{_er7(scale.code.code)}^{_er7(scale.code.display)}^{system}"
    segments = [
        header,
        segment("PID", {1: "1", 3: patient, 5: "UNKNOWN"}),
        segment("OBR", {1: "1", 3: _er7(score.id), 4: service, 7: observed, 22: _dtm(score.created_at), 25: "F"}),
        obx(1, scale.code.code, scale.code.display, system, score.total, scale.total.min, scale.total.max),
    ]
    for n, item in enumerate(scale.items, start=2):
        if score.items and item.key in score.items:
            code = scale.item_code(item.key)
            segments.append(obx(n, code.code, code.display, "L", score.items[item.key], item.min, item.max))
    segments.append(f"NTE|1||Observed by a clinician, not AI-derived. {_er7(scale.name)} band: {_er7(score.band)}.")
    return ("\r".join(segments) + "\r").encode("utf-8")


class ScoreDocuments:
    """``EventDocuments`` for ``reference_scale.recorded``: the event's subject is the score id."""

    name = "reference_scales"
    event_types = (EVENT,)
    outputs = ("fhir", "hl7v2")

    def __init__(self, scales: dict[str, Scale], base: str, hl7: Any = None) -> None:
        self.scales = scales
        self.base = base
        self.hl7 = hl7

    async def render(self, event: AssessmentEvent, output: str, engine: AsyncEngine) -> OutputDocument | None:
        score = await ScoreStore(engine, event.tenant).get(event.assessment_id)
        if score is None or score.scale not in self.scales:
            return None
        scale = self.scales[score.scale]
        meta = {"score_id": score.id, "scale": score.scale, "total": str(score.total), "band": score.band, "observed_by": "clinician"}
        if output == "fhir":
            return OutputDocument.json("fhir", FHIR_JSON, bundle(score, scale, self.base), meta)
        if output == "hl7v2":
            return OutputDocument("hl7v2", HL7_MEDIA_TYPE, oru(score, scale, self.hl7), meta)
        return None
