"""``GET /cds-services``, ``POST /cds-services/pain-gateway-latest-pain`` and its ``/feedback``.

Thin handlers: the JWT is checked first (``auth.Verifier``; a refusal is a 401 problem naming the
claim, with an audit row), then the body, then the patient is resolved (prefetch, else the EMR's FHIR
server with ``fhirAuthorization``; neither: 412) and matched by the tenant's identifier systems.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from sqlalchemy import insert, select

from gateway import NO_TOKEN, PUBLIC, AssessmentQuery, AssessmentStore, AuditPrincipal, PatientRef, Plugins, audit_record, client_context, ok, problem, problems
from plugins.cds_hooks.auth import Caller, Refused, Verifier, bounded_get
from plugins.cds_hooks.cards import SERVICE, SERVICE_ID, Card, CardsResponse, Discovery, Link, Source, card
from plugins.cds_hooks.settings import CdsClient, CdsHooksSettings
from plugins.cds_hooks.tables import CardRow, FeedbackRow

TAGS = ["CDS Hooks"]
MAX_BODY = 1_000_000
MAX_FEEDBACK = 50
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""FHIR's id type: nothing else is put into a URL path on the EMR's FHIR server."""
CARD_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class FhirAuthorization(msgspec.Struct):
    """The EMR's access token for its FHIR server (CDS Hooks 2.0 ``fhirAuthorization``)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class CdsRequest(msgspec.Struct):
    """A ``patient-view`` call: ``context.patientId`` names the chart's patient."""

    hook: str
    hookInstance: str  # the wire names
    context: dict[str, Any]
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    prefetch: dict[str, Any] | None = None


class OverrideReason(msgspec.Struct):
    reason: dict[str, Any] | None = None
    userComment: str | None = None


class Feedback(msgspec.Struct):
    """What the clinician did with one card."""

    card: str
    outcome: str
    outcomeTimestamp: datetime
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReason | None = None


class FeedbackRequest(msgspec.Struct):
    feedback: list[Feedback]


def matched_patient(resource: dict[str, Any], systems: list[str]) -> PatientRef | None:
    """The EMR Patient's identifier in the first of the tenant's ``systems`` it has; None: no match."""
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict)]
    for system in systems:
        for identifier in identifiers:
            value = identifier.get("value")
            if identifier.get("system") == system and isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
                return PatientRef(system=system, value=value)
    return None


class CdsService:
    def __init__(self, config: CdsHooksSettings, public_url: str, launch_url: str) -> None:
        self.config, self.public_url, self.launch_url = config, public_url, launch_url
        self.url = f"{public_url}/cds-services/{SERVICE_ID}"
        self.verifiers: dict[int, Verifier] = {}

    def verifier(self, store: AssessmentStore) -> Verifier:
        return self.verifiers.setdefault(id(store.engine), Verifier(self.config, store.engine))

    async def refused(self, request: Request, store: AssessmentStore, refusal: Refused, tenant: str | None, action: str = "login_failed") -> Response:
        address = request.client.host if request.client else None
        principal = AuditPrincipal(token_id=None, role="cds_client", tenant=tenant, client_address=address)
        await audit_record(store.engine, action, "cds_service", f"{refusal.what}: {refusal.detail}"[:200], outcome="failure", principal=principal)
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if refusal.status == 401 else {}
        answer = problem(refusal.status, "CDS call refused", refusal.detail, field=refusal.what, instance=request.url.path)
        answer.headers.update(headers)
        return answer

    async def body(self, request: Request, kind: type) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise Refused(413, "body", f"must be at most {MAX_BODY} bytes")
        try:
            return msgspec.json.decode(raw, type=kind)
        except msgspec.ValidationError as exc:
            raise Refused(400, "body", f"{exc}; see the CDS Hooks 2.0 request format") from None
        except msgspec.DecodeError:
            raise Refused(400, "body", "is not JSON") from None

    async def patient_resource(self, client: CdsClient, call: CdsRequest, patient_id: str) -> dict[str, Any]:
        prefetched = (call.prefetch or {}).get("patient")
        if isinstance(prefetched, dict):
            if prefetched.get("resourceType") != "Patient" or prefetched.get("id") != patient_id:
                found = f"{prefetched.get('resourceType')}/{prefetched.get('id')}"[:100]
                raise Refused(400, "prefetch.patient", f"is {found}, not the context's patient Patient/{patient_id}")
            return prefetched
        if not (call.fhirServer and call.fhirAuthorization):
            raise Refused(412, "prefetch.patient", "the Patient was not prefetched and no fhirServer with fhirAuthorization was given to read it")
        server = call.fhirServer.rstrip("/")
        if server not in client.fhir_servers:
            raise Refused(400, "fhirServer", f"{server[:200]} is not a FHIR server of {client.iss} (fhir_servers in the settings file)")
        if call.fhirAuthorization.token_type.lower() != "bearer":
            raise Refused(400, "fhirAuthorization.token_type", "must be Bearer")
        try:
            async with httpx.AsyncClient(timeout=self.config.http_timeout_s, follow_redirects=False, verify=client_context()) as http:
                status, raw = await bounded_get(
                    http,
                    f"{server}/Patient/{patient_id}",
                    {"Authorization": f"Bearer {call.fhirAuthorization.access_token}", "Accept": "application/fhir+json"},
                    MAX_BODY,
                    2 * self.config.http_timeout_s,
                )
            resource = msgspec.json.decode(raw) if status == 200 else None
        except (httpx.HTTPError, ValueError, TimeoutError, msgspec.DecodeError):
            resource = None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient" or resource.get("id") != patient_id:
            raise Refused(412, "fhirServer", f"the Patient {patient_id} could not be read from {server}")
        return resource

    async def open_alert(self, plugins: Plugins, tenant: str, patient: PatientRef, store: AssessmentStore) -> bool:
        """Whether a plugin reports an open alert for the patient (``WorklistPriority``, reason ``open-alert``)."""
        for priority in getattr(plugins, "worklist_priorities", []):
            try:
                urgent = await priority.urgent(tenant, datetime.now(UTC), store.engine)
            except Exception:  # a failing plugin leaves the card without the alert, never without the card
                continue
            if any(u.reason == "open-alert" and u.patient.system == patient.system and u.patient.value == patient.value for u in urgent):
                return True
        return False

    async def call(self, request: Request, store: AssessmentStore, plugins: Plugins) -> Response:
        tenant = None
        try:
            caller: Caller = await self.verifier(store).verify(request.headers.get("authorization"), self.url)
            tenant = caller.client.tenant
            call: CdsRequest = await self.body(request, CdsRequest)
            if call.hook != "patient-view":
                raise Refused(400, "hook", f"this service answers patient-view, not {call.hook[:60]!r}")
            patient_id = call.context.get("patientId")
            if not isinstance(patient_id, str) or not FHIR_ID.fullmatch(patient_id):
                raise Refused(400, "context.patientId", "is required: the FHIR id (1 to 64 letters, digits, '-' or '.') of the patient whose chart is open")
            resource = await self.patient_resource(caller.client, call, patient_id)
        except Refused as refusal:
            return await self.refused(request, store, refusal, tenant)
        patient = matched_patient(resource, caller.client.identifier_systems)
        if patient is None:
            return Response(CardsResponse(cards=[]))
        since = datetime.now(UTC) - timedelta(hours=self.config.lookback_h)
        found, _ = await store.search(AssessmentQuery(tenant=caller.client.tenant, system=patient.system, value=patient.value, start_from=since, limit=1))
        principal = AuditPrincipal(
            token_id=None, role="cds_client", tenant=caller.client.tenant, client_address=request.client.host if request.client else None
        )
        if not found:
            await audit_record(store.engine, "search", "cds_card", None, patient=patient, principal=principal)
            return Response(CardsResponse(cards=[]))
        latest, card_uuid = found[0], str(uuid.uuid4())
        alert = await self.open_alert(plugins, caller.client.tenant, patient, store)
        async with store.engine.begin() as connection:
            await connection.execute(
                insert(CardRow).values(
                    uuid=card_uuid,
                    tenant=caller.client.tenant,
                    assessment_id=latest.id,
                    patient=f"{patient.system}|{patient.value}",
                    issued_at=datetime.now(UTC),
                )
            )
            await audit_record(connection, "read", "cds_card", latest.id, patient=patient, principal=principal)
        return Response(CardsResponse(cards=[card(latest, card_uuid=card_uuid, public_url=self.public_url, launch_url=self.launch_url, open_alert=alert)]))

    async def feedback(self, request: Request, store: AssessmentStore) -> Response:
        tenant = None
        try:
            caller: Caller = await self.verifier(store).verify(request.headers.get("authorization"), self.url + "/feedback")
            tenant = caller.client.tenant
            sent: FeedbackRequest = await self.body(request, FeedbackRequest)
            if not 0 < len(sent.feedback) <= MAX_FEEDBACK:
                raise Refused(400, "feedback", f"must hold 1 to {MAX_FEEDBACK} entries")
            async with store.engine.connect() as connection:
                cards = dict(
                    (
                        await connection.execute(
                            select(CardRow.uuid, CardRow.patient).where(
                                CardRow.tenant == tenant, CardRow.uuid.in_([f.card for f in sent.feedback if CARD_UUID.fullmatch(f.card)])
                            )
                        )
                    ).all()
                )
            for i, entry in enumerate(sent.feedback):
                if not CARD_UUID.fullmatch(entry.card) or entry.card not in cards:
                    raise Refused(400, f"feedback[{i}].card", f"{entry.card[:40]!r} is not a card this service gave you")
                if entry.outcome not in ("accepted", "overridden"):
                    raise Refused(400, f"feedback[{i}].outcome", f"must be accepted or overridden, got {entry.outcome[:20]!r}")
                if entry.overrideReason is not None and entry.outcome != "overridden":
                    raise Refused(400, f"feedback[{i}].overrideReason", "only an overridden card has an override reason")
        except Refused as refusal:
            return await self.refused(request, store, refusal, tenant)
        principal = AuditPrincipal(token_id=None, role="cds_client", tenant=tenant, client_address=request.client.host if request.client else None)
        async with store.engine.begin() as connection:
            for entry in sent.feedback:
                reason = entry.overrideReason.reason if entry.overrideReason else None
                await connection.execute(
                    insert(FeedbackRow).values(
                        id=str(uuid.uuid4()),
                        tenant=tenant,
                        card=entry.card,
                        outcome=entry.outcome,
                        override_reason=msgspec.json.encode(reason).decode()[:2000] if reason else None,
                        user_comment=(entry.overrideReason.userComment or "")[:2000] or None if entry.overrideReason else None,
                        outcome_at=entry.outcomeTimestamp,
                        recorded_at=datetime.now(UTC),
                    )
                )
                system, _, value = cards[entry.card].rpartition("|")
                await audit_record(
                    connection, "create", "cds_feedback", f"{entry.card} {entry.outcome}", patient=PatientRef(system=system, value=value), principal=principal
                )
        return Response(FeedbackRecorded(), status_code=200)


DISCOVERY_EXAMPLE = Discovery(services=[SERVICE])
CARDS_EXAMPLE = CardsResponse(
    cards=[
        Card(
            uuid="0f3b8c2e-1d7a-4c55-9e0b-6a1f2d3c4b5a",
            summary="AI pain estimate: significant (preliminary) 10:42 UTC",
            indicator="warning",
            source=Source(label="Pain Gateway (AI: sta-lstm-synthetic 1.0.0, synthetic-trained)", url="https://gateway.example.org/ui/assessments/0f3b8c2e"),
            detail="AI pain estimate **significant** ... > Decision support only.",
            links=[Link(label="Review in Pain Gateway", url="https://gateway.example.org/ui/smart/launch", type="smart")],
        )
    ]
)


class FeedbackRecorded(msgspec.Struct):
    """Feedback recorded (an empty object)."""


def handlers(config: CdsHooksSettings, public_url: str, launch_url: str) -> list[Any]:
    service = CdsService(config, public_url, launch_url)

    @get("/cds-services", opt=PUBLIC, tags=TAGS, security=NO_TOKEN, responses=ok(Discovery, DISCOVERY_EXAMPLE))
    async def cds_discovery() -> Discovery:
        """CDS Hooks 2.0 discovery: the ``patient-view`` service ``pain-gateway-latest-pain``."""
        return DISCOVERY_EXAMPLE

    @post(
        f"/cds-services/{SERVICE_ID}",
        opt=PUBLIC,
        tags=TAGS,
        status_code=200,
        security=NO_TOKEN,  # no gateway token: the EMR's own signed JWT (below)
        responses={**ok(CardsResponse, CARDS_EXAMPLE), **problems(400, 401, 412, 413, public=True)},
    )
    async def cds_latest_pain(request: Request, store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]) -> Response:
        """A card with the patient's latest AI pain assessment within the look-back (default 24 h), or no card.

        Authenticated by the EMR's signed JWT (ES384/RS384, ``aud`` this URL, ``jti`` once); the Patient comes from
        ``prefetch.patient`` or is read from ``fhirServer`` with ``fhirAuthorization`` (neither: 412)."""
        return await service.call(request, store, plugins)

    @post(
        f"/cds-services/{SERVICE_ID}/feedback",
        opt=PUBLIC,
        tags=TAGS,
        status_code=200,
        security=NO_TOKEN,
        responses={**ok(FeedbackRecorded, FeedbackRecorded()), **problems(400, 401, 413, public=True)},
    )
    async def cds_feedback(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """Record what the clinician did with a card: ``accepted``, or ``overridden`` with the reason (audited)."""
        return await service.feedback(request, store)

    return [cds_discovery, cds_latest_pain, cds_feedback]
