"""Reading vital-sign Observations from the EMR's FHIR server (one R4 search per assessment).

``GET Observation?subject:identifier=system|value`` (or ``patient=<id>`` for a ``Patient/<id>``
reference) ``&category=vital-signs&code=<the LOINC codes>&date=ge<start - window>&date=le<end + window>``
(shared/research/clinical-integration.md §5). Blood pressure arrives as one 85354-9 Observation with
systolic (8480-6) and diastolic (8462-4) components; SpO2 as 2708-6 or 59408-5 (US Core sends both).
Anything but a 200 searchset, or no answer within the timeout, is ``VitalsUnavailable`` with a reason
that names no patient.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec

from gateway import PatientRef
from plugins.vitals import VitalsSettings

LOINC = "http://loinc.org"
KINDS = {
    "8867-4": "heart rate",
    "9279-1": "respiratory rate",
    "2708-6": "SpO2",
    "59408-5": "SpO2",
    "85354-9": "blood pressure",
}
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
MAX_READINGS = 100
EARLY_S = 30.0


class VitalsUnavailable(Exception):
    """The server could not be read; the message says why, without patient data."""


class Reading(msgspec.Struct, frozen=True, omit_defaults=True):
    """One vital sign: ``value`` (``systolic``/``diastolic`` for blood pressure) with its unit and time."""

    kind: str
    code: str
    effective: str
    unit: str = ""
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None

    def text(self) -> str:
        if self.code == "85354-9":
            return f"{_number(self.systolic)}/{_number(self.diastolic)} {self.unit}".strip()
        return f"{_number(self.value)} {self.unit}".strip()


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


class Credentials:
    """None, a static bearer token, or an OAuth2 client-credentials token cached until shortly before expiry."""

    def __init__(self, config: VitalsSettings) -> None:
        self.config = config
        self._token: str | None = None
        self._expires_at = 0.0

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        if self.config.auth == "bearer":
            return {"Authorization": f"Bearer {self.config.token}"}
        if self.config.auth != "oauth2":
            return {}
        if self._token is None or time.monotonic() >= self._expires_at:
            form = {"grant_type": "client_credentials"} | ({"scope": self.config.scope} if self.config.scope else {})
            response = await client.post(self.config.token_url, data=form, auth=(self.config.client_id, self.config.client_secret))
            try:
                body = response.json()
                self._token = str(body["access_token"])
            except (ValueError, KeyError, TypeError):
                raise VitalsUnavailable(f"the token endpoint answered {response.status_code} without an access_token") from None
            self._expires_at = time.monotonic() + max(float(body.get("expires_in", 300)) - EARLY_S, 0.0)
        return {"Authorization": f"Bearer {self._token}"}


def search_params(patient: PatientRef, start: datetime, end: datetime, window: timedelta) -> list[tuple[str, str]]:
    if patient.reference:
        who = ("patient", patient.reference.removeprefix("Patient/"))
    else:
        who = ("subject:identifier", f"{patient.system}|{patient.value}")
    codes = ",".join(f"{LOINC}|{code}" for code in KINDS)
    return [
        who,
        ("category", "vital-signs"),
        ("code", codes),
        ("date", "ge" + (start - window).isoformat().replace("+00:00", "Z")),
        ("date", "le" + (end + window).isoformat().replace("+00:00", "Z")),
        ("_count", str(MAX_READINGS)),
    ]


def _loinc(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding", []) if isinstance(concept, dict) else []:
        if isinstance(coding, dict) and coding.get("system") == LOINC and coding.get("code") in (*KINDS, SYSTOLIC, DIASTOLIC):
            return str(coding["code"])
    return None


def _quantity(holder: Any) -> tuple[float | None, str]:
    q = holder.get("valueQuantity") if isinstance(holder, dict) else None
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return None, ""
    return float(q["value"]), str(q.get("unit") or q.get("code") or "")


def parse(resource: Any) -> Reading | None:
    """One Observation as a ``Reading`` (None when it is not one of the vital signs shown)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation" or resource.get("status") == "entered-in-error":
        return None
    code = _loinc(resource.get("code"))
    if code is None or code not in KINDS:
        return None
    effective = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start") or ""
    if code == "85354-9":
        parts: dict[str, tuple[float | None, str]] = {}
        for component in resource.get("component") or []:
            part = _loinc(component.get("code")) if isinstance(component, dict) else None
            if part in (SYSTOLIC, DIASTOLIC):
                parts[part] = _quantity(component)
        systolic, unit = parts.get(SYSTOLIC, (None, ""))
        diastolic, unit2 = parts.get(DIASTOLIC, (None, ""))
        return Reading(KINDS[code], code, str(effective), unit or unit2 or "mm[Hg]", systolic=systolic, diastolic=diastolic)
    value, unit = _quantity(resource)
    return Reading(KINDS[code], code, str(effective), unit, value=value)


async def read_vitals(config: VitalsSettings, credentials: Credentials, patient: PatientRef, start: datetime, end: datetime) -> list[Reading]:
    """The vital signs around [start, end], oldest first; ``VitalsUnavailable`` when they cannot be read."""
    params = search_params(patient, start, end, timedelta(minutes=config.window_minutes))
    url = config.fhir_base_url.rstrip("/") + "/Observation"
    try:
        async with httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False) as client:
            headers = {"Accept": "application/fhir+json"} | await credentials.headers(client)
            response = await client.get(url, params=params, headers=headers)
    except httpx.TimeoutException:
        raise VitalsUnavailable(f"the FHIR server did not answer within {config.timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise VitalsUnavailable(f"the FHIR server could not be reached ({type(exc).__name__})") from None
    if response.status_code == 401:
        credentials._token = None
    if response.status_code != 200:
        raise VitalsUnavailable(f"the FHIR server answered {response.status_code} to the vital-signs search")
    try:
        bundle = response.json()
    except ValueError:
        raise VitalsUnavailable("the FHIR server's answer is not JSON") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise VitalsUnavailable("the FHIR server's answer is not a Bundle")
    readings = [r for e in bundle.get("entry") or [] if isinstance(e, dict) and (r := parse(e.get("resource"))) is not None]
    return sorted(readings, key=lambda r: r.effective)[:MAX_READINGS]
