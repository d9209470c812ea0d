"""ORU^R01 (HL7 v2.5.1) for one assessment, built and validated with hl7apy.

Layout: MSH, PATIENT_RESULT > PATIENT (PID), ORDER_OBSERVATION > OBR, then one OBSERVATION group per
result: a coded OBX (CWE) for the pain level with the AI/synthetic-data disclaimer as NTE, and one NM
OBX per class probability. Codes come from the same ``fhir_mappings`` as the FHIR output, so a site
overriding a code changes both. There is no v2 field for "AI asserted": OBX-17 (method), OBX-18
(model id and version) and the NTE say it.

Rendering is deterministic: every timestamp comes from the assessment and MSH-10 is a digest of the
assessment id, result status and message body, so resending the same content carries the same control
id (receivers deduplicate on it) while a changed result (a correction) gets a new one.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException

from fhir_mappings import Concept, PainMappings
from gateway import LEVELS, Assessment, ModelInfo, OutputDocument, PatientRef, Summary, reliability_notes
from plugins.hl7v2.settings import Hl7v2Settings

HL7_VERSION = "2.5.1"
MESSAGE_TYPE = "ORU^R01^ORU_R01"
MEDIA_TYPE = "x-application/hl7-v2+er7"
CHARSET = "UNICODE UTF-8"

RESULT_STATUS = {"preliminary": "P", "final": "F", "amended": "C", "corrected": "C"}
"""Clinical status -> OBR-25 / OBX-11. Anything else (scored, unreviewed) is ``P``: never claim a
review that did not happen."""

NO_VALUE_STATUS = "X"
"""OBX-11 for the level when no window could be scored: table 0085 "results cannot be obtained"; it
is the status under which HL7 allows an empty OBX-5."""

LOCAL = "L"
_CODING_SYSTEMS = {"http://loinc.org": "LN"}
"""FHIR code system -> HL7 table 0396. Only LOINC is carried as the CWE alternate; every other
coding of a concept stays in the FHIR output."""

REFERENCE_AUTHORITY = "FHIR"
"""PID-3 assigning authority namespace for a patient given as a FHIR reference: the id is the
logical id, the universal id (type URI) the FHIR base when the reference is absolute."""

_REFERENCE = re.compile(r"^(?:(?P<base>.+)/)?Patient/(?P<id>[^/]+)(?:/_history/[^/]+)?$")
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """Text as an ER7 value: delimiters escaped; line breaks would end the segment, so they become spaces."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return " ".join(text.split())


def timestamp(value: datetime, field: str) -> str:
    """DTM in UTC with an explicit offset; guessing the zone of a clinical time would be worse than failing."""
    if value.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def result_status(status: str) -> str:
    return RESULT_STATUS.get(status, "P")


def _coded(concept: Concept) -> str:
    """CWE/CE: the first coding as the identifier, a LOINC coding (if any other) as the alternate."""
    codings = list(concept.codings.values())
    first = codings[0]
    parts = [escape(first.code), escape(first.display or concept.text or ""), _CODING_SYSTEMS.get(first.system, LOCAL)]
    alternate = next((c for c in codings[1:] if c.system in _CODING_SYSTEMS), None)
    if alternate is not None and _CODING_SYSTEMS[alternate.system] != parts[2]:
        parts += [escape(alternate.code), escape(alternate.display or ""), _CODING_SYSTEMS[alternate.system]]
    return "^".join(parts)


def _authority(system: str | None) -> str:
    """HD for CX-4: an OID as ISO, a UUID as UUID, any other system as URI."""
    if not system:
        return ""
    for prefix, kind in (("urn:oid:", "ISO"), ("urn:uuid:", "UUID")):
        if system.startswith(prefix):
            return f"&{escape(system[len(prefix) :])}&{kind}"
    return f"&{escape(system)}&URI"


def patient_identifiers(patient: PatientRef) -> list[str]:
    """PID-3 repetitions: the business identifier (type MR), then the FHIR logical id (type PI)."""
    ids = []
    if patient.value and (value := escape(patient.value)):
        ids.append(f"{value}^^^{_authority(patient.system)}^MR")
    if patient.reference:
        match = _REFERENCE.match(patient.reference)
        base, logical = (match["base"] or "", match["id"]) if match else ("", patient.reference)
        authority = REFERENCE_AUTHORITY + (f"&{escape(base)}&URI" if base else "")
        ids.append(f"{escape(logical)}^^^{authority}^PI")
    if not ids:
        raise ValueError("patient: needs a reference or an identifier value")
    return ids


def _number(value: float, field: str) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{field}: not a finite number")
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _unit(mappings: PainMappings) -> str:
    unit = mappings.probability_unit
    return f"{escape(unit.code)}^^{'UCUM' if unit.system == 'http://unitsofmeasure.org' else LOCAL}"


def _disclaimer(assessment: Assessment, status: str) -> str:
    who = "AI-asserted result" if assessment.ai_asserted and assessment.clinical_status != "amended" else "Result"
    if status == "P":
        review = "; not reviewed by a clinician"
    elif assessment.clinical_status == "amended":
        review = f"; overridden by clinician {assessment.reviewed_by or ''} (the AI-asserted level is in the last OBX)"
    else:
        review = f"; confirmed by clinician {assessment.reviewed_by or ''}".rstrip()
    return escape(f"{who}{review}. {assessment.disclaimer}")


@dataclass(frozen=True)
class Oru:
    er7: str
    control_id: str
    result_status: str


def build_oru(assessment: Assessment, mappings: PainMappings, settings: Hl7v2Settings, processing_id: str | None = None) -> Oru:
    """The ORU^R01 for ``assessment``; raises ``ValueError`` when it cannot be made valid."""
    status = result_status(assessment.clinical_status)
    level = assessment.clinician_level or assessment.summary.level  # after a review, the clinician's level
    if level is not None and level not in LEVELS:
        raise ValueError(f"summary.level: unknown pain level {level!r}, expected one of {LEVELS}")
    processing = processing_id or settings.processing_id
    code = _coded(mappings.observation.code)
    try:
        msg = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
        result = msg.add_group("ORU_R01_PATIENT_RESULT")
        pid = result.add_group("ORU_R01_PATIENT").pid
        pid.pid_1 = "1"
        for i, cx in enumerate(patient_identifiers(assessment.patient)):
            (pid.pid_3 if i == 0 else pid.add_field("PID_3")).value = cx
        pid.pid_5 = "^^^^^^U"  # required; we never hold names: name type U (unspecified)

        order = result.add_group("ORU_R01_ORDER_OBSERVATION")
        obr = order.obr
        obr.obr_1 = "1"
        obr.obr_3 = f"{escape(assessment.id)}^{settings.sending_application}"
        obr.obr_4 = code
        obr.obr_7 = timestamp(assessment.effective_start, "effective_start")
        obr.obr_8 = timestamp(assessment.effective_end, "effective_end")
        obr.obr_22 = timestamp(assessment.created_at, "created_at")
        obr.obr_25 = status

        observation = order.add_group("ORU_R01_OBSERVATION")
        obx = observation.obx
        obx.obx_1 = "1"
        obx.obx_2 = "CWE"
        obx.obx_3 = code
        if level is not None:
            obx.obx_5 = _coded(mappings.values[level])
        obx.obx_11 = status if level is not None else NO_VALUE_STATUS
        obx.obx_14 = timestamp(assessment.effective_start, "effective_start")
        obx.obx_17 = _coded(mappings.observation.method)
        obx.obx_18 = f"{_model_instance(assessment.model)}^{settings.sending_application}"
        notes = [_disclaimer(assessment, status), *(escape(note) for note in reliability_notes(assessment.reliability, assessment.summary.scored_windows))]
        if level is None:
            absent = mappings.observation.data_absent_reason
            notes.append(escape(absent.text or next(iter(absent.codings.values())).display or "No value"))
        for n, text in enumerate(notes, start=1):
            nte = observation.add_segment("NTE")
            nte.nte_1 = str(n)
            nte.nte_2 = "L"  # table 0105: the filler (us) is the source of the comment
            nte.nte_3 = text

        set_id = 1
        for lvl in LEVELS:
            peak = assessment.summary.peak_probability.get(lvl)
            if peak is None:
                continue
            set_id += 1
            obx = order.add_group("ORU_R01_OBSERVATION").obx
            obx.obx_1 = str(set_id)
            obx.obx_2 = "NM"
            obx.obx_3 = _coded(mappings.probability_components[lvl])
            obx.obx_5 = _number(peak, f"summary.peak_probability.{lvl}")
            obx.obx_6 = _unit(mappings)
            obx.obx_11 = status
            obx.obx_14 = timestamp(assessment.effective_start, "effective_start")

        ai_level = assessment.summary.level
        if assessment.clinician_level is not None and ai_level is not None:  # the AI's original stays next to the clinician's
            set_id += 1
            obx = order.add_group("ORU_R01_OBSERVATION").obx
            obx.obx_1 = str(set_id)
            obx.obx_2 = "CWE"
            obx.obx_3 = _coded(mappings.observation.ai_original)
            obx.obx_5 = _coded(mappings.values[ai_level])
            obx.obx_11 = status
            obx.obx_14 = timestamp(assessment.effective_start, "effective_start")

        control_id = _control_id(assessment.id, status, processing, result.to_er7())
        msh = msg.msh
        msh.msh_3 = settings.sending_application
        msh.msh_4 = settings.sending_facility
        msh.msh_5 = settings.receiving_application
        msh.msh_6 = settings.receiving_facility
        msh.msh_7 = timestamp(assessment.created_at, "created_at")
        msh.msh_9 = MESSAGE_TYPE
        msh.msh_10 = control_id
        msh.msh_11 = processing
        msh.msh_12 = HL7_VERSION
        msh.msh_18 = CHARSET
        msg.validate()
    except HL7apyException as exc:
        raise ValueError(f"HL7 v2 message for assessment {assessment.id} is not valid: {exc}") from exc
    return Oru(msg.to_er7() + "\r", control_id, status)


def _model_instance(model: ModelInfo) -> str:
    return escape(f"{model.model_id}:{model.version}")


def _control_id(assessment_id: str, status: str, processing_id: str, body: str) -> str:
    """20 hex digits (MSH-10 is ST 20 in 2.5.1) of what the message says, so equal content = equal id."""
    digest = hashlib.sha256("\x00".join((assessment_id, status, processing_id, body)).encode("utf-8"))
    return digest.hexdigest()[:20].upper()


def control_id_of(er7: bytes) -> str:
    """MSH-10 of an ER7 message (the field separator is whatever follows ``MSH``)."""
    text = er7.decode("utf-8", "replace").lstrip("\x0b")
    if not text.startswith("MSH") or len(text) < 4:
        raise ValueError("not an HL7 v2 message: does not start with MSH")
    fields = text.split("\r", 1)[0].split(text[3])
    if len(fields) < 10 or not fields[9]:
        raise ValueError("HL7 v2 message has no MSH-10 control id")
    return fields[9]


def probe_assessment(now: datetime) -> Assessment:
    """A synthetic, patient-free assessment for connectivity tests (sent with MSH-11 ``T``)."""
    return Assessment(
        id=f"probe-{now.astimezone(UTC):%Y%m%dT%H%M%S%f}",
        status="preliminary",
        patient=PatientRef(value="PAIN-GATEWAY-PROBE"),
        captured_at=now,
        created_at=now,
        source="probe",
        fps=30.0,
        frames=0,
        effective_start=now,
        effective_end=now,
        model=ModelInfo(model_id="connectivity-probe", version="0", sha256="0" * 64, name="Connectivity probe", training_data="none"),
        windows=[],
        summary=Summary(level=None, rule="probe", time_share={}, peak_probability={}, scored_windows=0, unscorable_windows=0),
        ai_asserted=False,
        disclaimer="Connectivity test from Pain Gateway; not a patient result.",
    )


class Hl7v2Output:
    """The ``hl7v2`` output: the ORU^R01 as ER7 bytes (UTF-8, segments ended by CR)."""

    name = "hl7v2"
    media_type = MEDIA_TYPE

    def __init__(self, settings: Hl7v2Settings, mappings: PainMappings) -> None:
        self.settings = settings
        self.mappings = mappings

    def render(self, assessment: Assessment) -> OutputDocument:
        oru = build_oru(assessment, self.mappings, self.settings)
        meta = {"control_id": oru.control_id, "result_status": oru.result_status, "message_type": MESSAGE_TYPE, "hl7_version": HL7_VERSION}
        return OutputDocument(self.name, self.media_type, oru.er7.encode("utf-8"), meta)
