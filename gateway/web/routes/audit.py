"""The audit trail over HTTP (admin only): as JSON pages and as FHIR R4 ``AuditEvent`` Bundles.

Reading the trail is itself audited, so who looked at whose access history is on record too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from gateway.contract.domain import DEFAULT_TENANT, InputError
from gateway.contract.plugin_manager import Plugins
from gateway.storage import audit
from gateway.storage.assessments import AssessmentStore
from gateway.storage.audit import ACTIONS, AuditEntry, AuditQuery, AuditStore
from gateway.web.openapi import ok, problems
from gateway.web.routes.listing import MOMENT, query_moment

ADMIN_ONLY: dict = {"roles": set()}  # role_guard always adds admin; no other role may read the trail
MAX_PAGE = 200
MAX_OFFSET = 1_000_000


class AuditPage(msgspec.Struct):
    """Audit rows, newest first; ``total`` counts every match before paging."""

    total: int
    limit: int
    offset: int
    items: list[AuditEntry]


def _scope(request: Request, tenant: str | None) -> str | None:
    """An admin reads its own tenant's trail; the ``default`` tenant's admins operate the installation
    and may read every tenant's (and the rows of unknown tokens, which have none)."""
    caller = request.user.tenant
    return tenant if caller == DEFAULT_TENANT else caller


def audit_query(
    request: Request,
    tenant: str | None = Parameter(default=None, max_length=100, description="Only this tenant"),
    token_id: str | None = Parameter(default=None, max_length=32, description="Only this token id"),
    action: str | None = Parameter(default=None, max_length=30, description=f"One of {', '.join(sorted(ACTIONS))}"),
    patient: str | None = Parameter(default=None, max_length=520, description="'Patient/<id>' or 'system|value'"),
    since: str | None = Parameter(default=None, max_length=64, schema_extra=MOMENT, description="Inclusive lower bound on occurred_at (with a time zone)"),
    until: str | None = Parameter(default=None, max_length=64, schema_extra=MOMENT, description="Exclusive upper bound on occurred_at (with a time zone)"),
    limit: int = Parameter(default=50, ge=1, le=MAX_PAGE),
    offset: int = Parameter(default=0, ge=0, le=MAX_OFFSET),
) -> AuditQuery:
    """The trail's filters (one dependency for both representations), scoped to the caller's tenant."""
    if action is not None and action not in ACTIONS:
        raise InputError("action", f"must be one of {', '.join(sorted(ACTIONS))}, got {action!r}")
    moments = query_moment("since", since), query_moment("until", until)
    return AuditQuery(_scope(request, tenant), token_id, action, patient, *moments, limit, offset)


FILTERS = {"filters": Provide(audit_query, sync_to_thread=False)}
EXAMPLE = AuditEntry(
    id=42,
    occurred_at=datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC),
    tenant="default",
    token_id="a1b2c3d4",
    role="clinician",
    action="read",
    resource_type="assessment",
    resource_id="5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11",
    patient="urn:oid:1.2.36.146.595.217.0.1|MRN-1234",
    outcome="success",
    client_address="10.0.0.7",
    request_id="9c1e5d0b7a2f4e33",
)


@get("/v1/audit", opt=ADMIN_ONLY, tags=["audit"], dependencies=FILTERS, responses=ok(AuditPage, AuditPage(1, 50, 0, [EXAMPLE])) | problems(400, 422))
async def list_audit(store: NamedDependency[AssessmentStore], filters: AuditQuery) -> AuditPage:
    """Who did what to which patient's data, newest first (admin only; within the admin's tenant)."""
    items, total = await AuditStore(store.engine).search(filters)
    await audit.record(store.engine, "read", "audit_log", patient=filters.patient)
    return AuditPage(total, filters.limit, filters.offset, items)


@get(
    "/v1/audit/fhir",
    opt=ADMIN_ONLY,
    tags=["audit"],
    media_type="application/fhir+json",
    dependencies=FILTERS,
    responses=ok(
        dict[str, Any],
        audit.to_fhir_bundle([EXAMPLE], 1, "https://gateway.example.org", "https://gateway.example.org/v1/audit/fhir"),
        media_type="application/fhir+json",
        description="A searchset Bundle of AuditEvent resources",
    )
    | problems(400, 422),
)
async def export_audit_fhir(
    request: Request,
    store: NamedDependency[AssessmentStore],
    plugins: NamedDependency[Plugins],
    filters: AuditQuery,
) -> Response[dict]:
    """The same rows as a FHIR R4 ``searchset`` Bundle of ``AuditEvent`` resources (admin only)."""
    items, total = await AuditStore(store.engine).search(filters)
    await audit.record(store.engine, "export", "audit_log", patient=filters.patient)
    base = plugins.settings.base_url  # never the request's Host header
    params = f"?{request.url.query}" if request.url.query else ""
    bundle = audit.to_fhir_bundle(items, total, base, f"{base}/v1/audit/fhir{params}")
    return Response(bundle, media_type="application/fhir+json")


ROUTES = [list_audit, export_audit_fhir]
