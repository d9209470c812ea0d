"""Submission metadata every capture source shares: who the clip belongs to and when it was taken."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from gateway.contract.domain import InputError, PatientRef
from gateway.contract.strict import refuse_unknown
from gateway.pipeline.clip_checks import DEFAULT_CLOCK_SKEW_S, check_captured_at, check_identifier

_REFERENCE = re.compile(r"^Patient/[A-Za-z0-9\-.]{1,64}$")
PATIENT_FORMS = 'use {"identifier": {"system": "<uri>", "value": "<id>"}} or {"reference": "Patient/<id>"}'


def parse_patient(raw: Any) -> PatientRef:
    """A submission's ``patient`` (FHIR-style reference or identifier) as a ``PatientRef``; ``InputError`` naming the fix."""
    if not isinstance(raw, dict) or not raw:
        raise InputError("patient", f"is required; {PATIENT_FORMS}")
    refuse_unknown("patient", raw, ("identifier", "reference"), PATIENT_FORMS)
    if set(raw) == {"reference"}:
        reference = raw["reference"]
        if not isinstance(reference, str) or len(reference) > 128 or not _REFERENCE.match(reference):
            raise InputError("patient.reference", "must look like 'Patient/<id>' (id: letters, digits, '-', '.'; up to 64)")
        return PatientRef(reference=reference)
    if set(raw) == {"identifier"} and isinstance(raw["identifier"], dict):
        ident = raw["identifier"]
        refuse_unknown("patient.identifier", ident, ("system", "value"))
        system, value = ident.get("system"), ident.get("value")
        for key, item in (("system", system), ("value", value)):
            if not isinstance(item, str) or not item.strip():
                raise InputError(f"patient.identifier.{key}", "must be a non-empty string")
        assert isinstance(system, str) and isinstance(value, str)  # the loop above raised otherwise
        for key, item in (("system", system), ("value", value)):
            check_identifier(f"patient.identifier.{key}", item.strip())
        return PatientRef(system=system.strip(), value=value.strip())
    raise InputError("patient", f"takes one of 'identifier' (an object) or 'reference', not {sorted(raw)}; {PATIENT_FORMS}")


def parse_captured_at(raw: Any, max_skew_s: float = DEFAULT_CLOCK_SKEW_S) -> datetime:
    """An aware date-time within the accepted range (``clip_checks.check_captured_at``)."""
    if not isinstance(raw, str) or len(raw) > 64:
        raise InputError("captured_at", "is required: an ISO-8601 date-time with a time zone, e.g. 2026-11-23T10:00:00Z")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError("captured_at", f"{raw!r} is not an ISO-8601 date-time, e.g. 2026-11-23T10:00:00Z") from None
    if moment.tzinfo is None:
        raise InputError("captured_at", "needs a time zone (e.g. 'Z' or '+01:00') so the Observation time is unambiguous")
    check_captured_at(moment, max_skew_s)
    return moment
