"""POST the transaction Bundle to an EMR's FHIR server and judge its answer.

2xx with every entry 2xx → delivered; 408, 429, 5xx, timeouts and connection errors → retry later
(honouring ``Retry-After``); other 4xx → failed for good with the server's OperationOutcome text,
because resending the same Bundle cannot fix it. 401 with OAuth2 drops the cached token and retries.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import AssessmentEvent, DeliveryRequest, DeliveryResult, PatientRef, client_context
from plugins.fhir_delivery import FhirServer
from plugins.fhir_delivery.auth import Credentials

FHIR_JSON = "application/fhir+json"
EXCERPT = 500
RETRYABLE = {408, 425, 429}


def operation_outcome_text(body: Any) -> str:
    """The human part of an OperationOutcome (diagnostics or details), for the ledger and operators."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    texts = [i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code", "") for i in body.get("issue", [])]
    return "; ".join(t for t in texts if t)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def judge(response: httpx.Response) -> DeliveryResult:
    """A transaction answer: every entry must have succeeded (servers report per entry)."""
    body = _json(response)
    excerpt = response.text[:EXCERPT]
    code = response.status_code
    if code in RETRYABLE or code >= 500:
        reason = operation_outcome_text(body) or f"the FHIR server answered {code}"
        return DeliveryResult.retry_later(reason, code, excerpt, _retry_after(response))
    if code >= 400:
        return DeliveryResult.failed(operation_outcome_text(body) or f"the FHIR server refused the Bundle with {code}", code, excerpt)
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return DeliveryResult.retry_later(f"expected a transaction-response Bundle, got {code} without one", code, excerpt)
    statuses = [(e.get("response") or {}).get("status", "") for e in body.get("entry", [])]
    bad = [s for s in statuses if not s.startswith("2")]
    if bad:
        return DeliveryResult.failed(f"entries not accepted: {', '.join(bad)}", code, excerpt)
    return DeliveryResult.delivered(code, ", ".join(statuses))


def client(timeout_s: float) -> httpx.AsyncClient:
    """A client per attempt (attempts run on whichever event loop the engine has), sharing the TLS setup."""
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, verify=client_context())


class FhirPush:
    """A ``Destination`` for one FHIR server; ``output`` is the transaction Bundle of ``fhir_observation``."""

    output = "fhir"

    def __init__(self, server: FhirServer) -> None:
        self.server = server
        self.name = server.name
        self.base = server.base_url.rstrip("/")
        self.credentials = Credentials(server)

    async def targets(self, event: AssessmentEvent, connection: AsyncConnection) -> list[str]:
        wanted = event.type in self.server.events or (self.server.plugin_documents and self.output in event.documents)
        return [""] if wanted else []

    async def send(self, request: DeliveryRequest) -> DeliveryResult:
        if request.document is None:
            return DeliveryResult.failed(f"nothing to send for {request.event.type}: there is no assessment")
        try:
            async with client(self.server.timeout_s) as http:
                headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **await self.credentials.headers(http)}
                content = request.document.content
                if self.server.resolve_patient and request.assessment is not None:
                    resolved = await self._resolve_patient(http, headers, request.assessment.patient)
                    if isinstance(resolved, DeliveryResult):
                        return resolved
                    content = msgspec.json.encode(_with_subject(request.document.decoded(), resolved))
                response = await http.post(self.base, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult.retry_later(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if response.status_code in (401, 403) and self.server.auth == "oauth2":
            self.credentials.forget()
        return judge(response)

    async def _resolve_patient(self, client: httpx.AsyncClient, headers: dict[str, str], patient: PatientRef) -> str | DeliveryResult:
        """``Patient/<id>`` for the assessment's patient identifier; a dead letter when it is not exactly one."""
        if patient.reference:
            return patient.reference
        response = await client.get(f"{self.base}/Patient", params={"identifier": f"{patient.system or ''}|{patient.value}"}, headers=headers)
        if response.status_code != 200:
            return judge(response) if response.status_code >= 400 else DeliveryResult.retry_later(f"Patient search answered {response.status_code}")
        body = _json(response) or {}
        matches = [e["resource"]["id"] for e in body.get("entry", []) if (e.get("search") or {}).get("mode", "match") == "match"]
        if len(matches) != 1:
            found = "no Patient" if not matches else f"{len(matches)} Patients"
            return DeliveryResult.failed(
                f"resolve_patient: {found} in the EMR match the assessment's patient identifier; the gateway never creates or guesses patients",
                response.status_code,
            )
        return f"Patient/{matches[0]}"

    async def probe(self, engine: AsyncEngine) -> DeliveryResult:
        """``GET [base]/metadata`` with our credentials: reachable, authorised, and FHIR R4."""
        try:
            async with client(self.server.timeout_s) as http:
                headers = {"Accept": FHIR_JSON, **await self.credentials.headers(http)}
                response = await http.get(f"{self.base}/metadata", headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult.retry_later(f"{type(exc).__name__}: {exc}")
        body = _json(response) or {}
        if response.status_code == 200 and body.get("resourceType") == "CapabilityStatement":
            return DeliveryResult.delivered(200, f"CapabilityStatement fhirVersion {body.get('fhirVersion', '?')}")
        return judge(response) if response.status_code != 200 else DeliveryResult.failed("no CapabilityStatement at [base]/metadata", 200)


def _with_subject(bundle: dict, reference: str) -> dict:
    """The Bundle with the Observation's subject pointing at the resolved Patient (identifier kept)."""
    bundle = copy.deepcopy(bundle)
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Observation":
            resource["subject"] = {**resource.get("subject", {}), "reference": reference}
    return bundle
