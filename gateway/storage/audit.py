"""The audit trail: who (token, role, tenant, address) did what to which patient's data, and when.

Append-only by construction: this module offers ``record`` and queries, nothing that changes or
removes a row, and the database refuses UPDATE and DELETE on ``audit_events`` (migration 0006).

Who is acting is not passed around: ``BearerTokenMiddleware`` sets ``current_principal`` for the
request, so code anywhere below a route calls::

    await audit.record(connection_or_engine, "read", "assessment", assessment.id, patient=assessment.patient)

Pass the connection of the transaction that makes the change, so the audit row commits (or rolls
back) with it; pass the engine for reads. Outside a request (delivery jobs, the CLI) the actor is
``SYSTEM`` (no token, role ``system``). Rows hold patient identifiers by design: this table is how
access to them is accounted for; log lines never do.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from gateway.storage.tables import AuditEventRow

log = structlog.get_logger(__name__)

ACTIONS = frozenset(
    {
        "create",
        "read",
        "search",
        "update",
        "review",
        "deliver",
        "export",
        "delete",
        "login",
        "logout",
        "login_failed",
        "login_throttled",
        "token_create",
        "token_rotate",
        "token_revoke",
    }
)
"""What an audit row may say was done; anything else is a programming error, caught at once."""

OUTCOMES = ("success", "failure", "error")
"""success; failure: refused (bad token, denied, invalid input); error: the gateway or a receiver failed."""


@dataclass(frozen=True)
class Principal:
    """Who is acting: a token (id, role, tenant) from an address, in a request; or the gateway itself."""

    token_id: str | None
    role: str
    tenant: str | None
    client_address: str | None = None
    request_id: str | None = None


SYSTEM = Principal(token_id=None, role="system", tenant=None)
"""The gateway acting on its own (delivery jobs, retries, the CLI)."""

current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)
"""Set by the authentication middleware for the duration of one request."""


def acting_for(tenant: str) -> Principal:
    """The request's principal, or the gateway itself acting on ``tenant``'s data (jobs, the CLI)."""
    return current_principal.get() or Principal(token_id=None, role="system", tenant=tenant)


def principal_for(token: Any, client_address: str | None, request_id: str | None) -> Principal:
    """The principal of an authenticated token (``tenant`` once tokens carry one, else ``default``)."""
    return Principal(token.id, token.role, getattr(token, "tenant", "default"), client_address, request_id)


def patient_key(patient: Any) -> str | None:
    """``Patient/x`` or ``system|value``, from a ``PatientRef``-like object or a string."""
    if patient is None or isinstance(patient, str):
        return patient
    reference: str | None = getattr(patient, "reference", None)
    if reference:
        return reference
    system, value = getattr(patient, "system", None), getattr(patient, "value", None)
    return f"{system or ''}|{value}" if value else None


class AuditEntry(msgspec.Struct, kw_only=True):
    """One audit row. ``patient`` is ``Patient/<id>`` or ``system|value``; ``token_id`` is null for the
    gateway itself (role ``system``) and for unknown tokens; ``tenant`` is null when none is known."""

    id: int
    occurred_at: datetime
    tenant: str | None
    token_id: str | None
    role: str
    action: str
    resource_type: str
    resource_id: str | None
    patient: str | None
    outcome: str
    client_address: str | None
    request_id: str | None


@dataclass(frozen=True)
class AuditQuery:
    """Every given criterion must match; ``since`` inclusive, ``until`` exclusive."""

    tenant: str | None = None
    token_id: str | None = None
    action: str | None = None
    patient: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


def _cut(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


async def record(
    target: AsyncEngine | AsyncConnection | AsyncSession,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    *,
    patient: Any = None,
    outcome: str = "success",
    principal: Principal | None = None,
) -> None:
    """Append one audit row; the actor is ``principal``, else the request's, else ``SYSTEM``.

    ``target``: the connection or session of the transaction making the change (atomic with it) or
    the engine (own transaction, for reads and refusals). ``patient``: a ``PatientRef``, a
    ``Patient/<id>`` reference or ``system|value``.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of {', '.join(sorted(ACTIONS))}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    who = principal or current_principal.get() or SYSTEM
    statement = insert(AuditEventRow).values(
        occurred_at=datetime.now(UTC),
        tenant=_cut(who.tenant, 100),
        token_id=who.token_id,
        role=who.role,
        action=action,
        resource_type=resource_type[:50],
        resource_id=_cut(resource_id, 200),
        patient=_cut(patient_key(patient), 520),
        outcome=outcome,
        client_address=_cut(who.client_address, 100),
        request_id=_cut(who.request_id, 64),
    )
    if isinstance(target, AsyncEngine):
        async with target.begin() as connection:
            await connection.execute(statement)
    else:
        await target.execute(statement)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class AuditStore:
    """Appends and queries; deliberately nothing else."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, action: str, resource_type: str, resource_id: str | None = None, **kwargs: Any) -> None:
        await record(self.engine, action, resource_type, resource_id, **kwargs)

    async def search(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        """Matching rows, newest first, and their total before paging."""
        row = AuditEventRow
        columns = {row.tenant: query.tenant, row.token_id: query.token_id, row.action: query.action, row.patient: query.patient}
        conditions = [column == value for column, value in columns.items() if value is not None]
        if query.since is not None:  # compared in UTC: SQLite keeps no zone
            conditions.append(row.occurred_at >= _utc(query.since))
        if query.until is not None:
            conditions.append(row.occurred_at < _utc(query.until))
        async with self.engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(row).where(*conditions))
            rows = await connection.execute(select(row).where(*conditions).order_by(row.id.desc()).limit(query.limit).offset(query.offset))
            entries = [AuditEntry(**{**r._mapping, "occurred_at": _utc(r.occurred_at)}) for r in rows]
        return entries, int(total or 0)


# --- FHIR R4 AuditEvent ---------------------------------------------------------------------------

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE_IP = "2"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
GATEWAY_SYSTEM = "urn:pain-gateway"
TOKEN_SYSTEM = "urn:pain-gateway:token"
TENANT_SYSTEM = "urn:pain-gateway:tenant"

_REST = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "Restful Operation"}
_LOGIN = {"system": DICOM, "code": "110114", "display": "User Authentication"}
_EXPORT = {"system": DICOM, "code": "110106", "display": "Export"}
_SECURITY = {"system": DICOM, "code": "110113", "display": "Security Alert"}


def _interaction(code: str) -> dict[str, str]:
    return {"system": RESTFUL_INTERACTION, "code": code}


FHIR_MAPPING: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    # action: (type, subtype, AuditEvent.action C|R|U|D|E)
    "create": (_REST, _interaction("create"), "C"),
    "read": (_REST, _interaction("read"), "R"),
    "search": (_REST, _interaction("search-type"), "E"),  # FHIR's own convention: a search is an Execute
    "update": (_REST, _interaction("update"), "U"),
    "review": (_REST, _interaction("update"), "U"),
    "delete": (_REST, _interaction("delete"), "D"),
    "deliver": (_EXPORT, {"system": DICOM, "code": "110106", "display": "Export"}, "R"),  # DICOM: data read out
    "export": (_EXPORT, {"system": DICOM, "code": "110106", "display": "Export"}, "R"),
    "login": (_LOGIN, {"system": DICOM, "code": "110122", "display": "Login"}, "E"),
    "logout": (_LOGIN, {"system": DICOM, "code": "110123", "display": "Logout"}, "E"),
    "login_failed": (_LOGIN, {"system": DICOM, "code": "110122", "display": "Login"}, "E"),
    "login_throttled": (_SECURITY, {"system": DICOM, "code": "110122", "display": "Login"}, "E"),
    "token_create": (_SECURITY, {"system": DICOM, "code": "110136", "display": "Security Roles Changed"}, "C"),
    "token_rotate": (_SECURITY, {"system": DICOM, "code": "110136", "display": "Security Roles Changed"}, "U"),
    "token_revoke": (_SECURITY, {"system": DICOM, "code": "110136", "display": "Security Roles Changed"}, "D"),
}
FHIR_OUTCOME = {"success": "0", "failure": "4", "error": "8"}


def _instant(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _patient_entity(patient: str) -> dict[str, Any]:
    if "|" in patient:
        system, _, value = patient.partition("|")
        what: dict[str, Any] = {"identifier": {"system": system, "value": value} if system else {"value": value}}
    else:
        what = {"reference": patient}
    return {"what": what, "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"}, "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}}


def _resource_entity(resource_type: str, resource_id: str) -> dict[str, Any]:
    """FHIR resources (``Observation``) by reference; the gateway's own (``assessment``) by identifier."""
    if resource_type[:1].isupper():
        what: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}"}
    else:
        what = {"identifier": {"system": f"{GATEWAY_SYSTEM}:{resource_type}", "value": resource_id}}
    return {
        "what": what,
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
        "name": resource_type,
    }


def to_fhir(entry: AuditEntry, gateway_url: str) -> dict[str, Any]:
    """One row as a FHIR R4 ``AuditEvent`` (structure after IHE Basic Audit Log Patterns)."""
    event_type, subtype, action = FHIR_MAPPING.get(entry.action, (_REST, _interaction("operation"), "E"))
    agent: dict[str, Any] = {"requestor": True, "role": [{"text": entry.role}]}
    if entry.token_id is not None:
        agent["who"] = {"identifier": {"system": TOKEN_SYSTEM, "value": entry.token_id}, "display": f"token {entry.token_id} ({entry.role})"}
    elif entry.role == "system":
        agent["who"] = {"identifier": {"system": GATEWAY_SYSTEM, "value": "gateway"}, "display": "Pain Gateway"}
    else:
        agent["who"] = {"display": "unauthenticated client"}
    if entry.client_address:
        agent["network"] = {"address": entry.client_address, "type": NETWORK_TYPE_IP}
    entities = []
    if entry.patient:
        entities.append(_patient_entity(entry.patient))
    if entry.resource_id:
        entities.append(_resource_entity(entry.resource_type, entry.resource_id))
    if entry.request_id:
        entities.append(
            {"what": {"identifier": {"value": entry.request_id}}, "type": {"system": BALP_ENTITY_TYPE, "code": "XrequestId", "display": "X-Request-Id"}}
        )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.id),
        "type": event_type,
        "subtype": [subtype],
        "action": action,
        "recorded": _instant(entry.occurred_at),
        "outcome": FHIR_OUTCOME.get(entry.outcome, "8"),
        "agent": [agent],
        "source": {
            "site": gateway_url,
            "observer": {"identifier": {"system": GATEWAY_SYSTEM, "value": "gateway"}, "display": "Pain Gateway"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    if entry.outcome != "success":
        resource["outcomeDesc"] = f"{entry.action}: {entry.outcome}"
    if entities:
        resource["entity"] = entities
    if entry.tenant:
        resource["meta"] = {"tag": [{"system": TENANT_SYSTEM, "code": entry.tenant}]}
    return resource


_BUNDLE_NAMESPACE = uuid.UUID("5b3f0c52-2f7e-4f65-9a8a-6f0d8c0e7a31")


def to_fhir_bundle(entries: list[AuditEntry], total: int, gateway_url: str, self_url: str) -> dict[str, Any]:
    """A ``searchset`` Bundle of AuditEvents (stable ``urn:uuid`` full URLs derived from the row ids)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": _instant(datetime.now(UTC)),
        "total": total,
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(_BUNDLE_NAMESPACE, f'{gateway_url}/audit/{e.id}')}",
                "resource": to_fhir(e, gateway_url),
                "search": {"mode": "match"},
            }
            for e in entries
        ],
    }
