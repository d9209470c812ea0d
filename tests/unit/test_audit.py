"""The audit trail: failed logins and reads are recorded, admin-only queries with filters and paging,
a FHIR AuditEvent export that validates, and rows that neither the code nor the database will change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.contract.domain import PatientRef
from gateway.storage import audit
from gateway.storage.audit import ACTIONS, OUTCOMES, AuditEntry, AuditQuery, AuditStore, Principal
from gateway.storage.engine import create_engine
from plugins.fhir_observation.validation import validate_bundle, validate_resource

ALICE = PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-1234")
BOB = PatientRef(reference="Patient/bob")


def run(database_url, action):
    async def go():
        engine = create_engine(database_url)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def rows(database_url, where: str = "1=1") -> list[dict]:
    async def read(engine):
        async with engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(text(f"select * from audit_events where {where} order by id"))]

    return run(database_url, read)


def test_a_failed_login_is_audited_and_logged_without_the_token(api, sqlite_url):
    wrong = "pgw_this-is-not-a-real-token-xyz"
    with structlog.testing.capture_logs() as logs:
        response = api.client.get("/v1/deliveries", headers={"Authorization": f"Bearer {wrong}", "X-Request-ID": "req-42"})
    assert response.status_code == 401
    [row] = rows(sqlite_url, "action = 'login_failed'")
    assert row["outcome"] == "failure" and row["role"] == "anonymous" and row["token_id"] is None and row["tenant"] is None
    assert row["client_address"] == "testclient" and row["request_id"] == "req-42"
    assert wrong not in str(row) and wrong not in str(logs)
    [event] = [e for e in logs if e["event"] == "auth_failed"]
    assert event["client"] == "testclient" and event["reason"] == "unknown"


def test_a_revoked_token_is_audited_with_its_id(api, sqlite_url):
    async def revoke(engine):
        from gateway.storage.tokens import TokenStore

        store = TokenStore(engine)
        info = await store.verify(api.tokens["clinician"])
        await store.revoke(info.id)
        return info

    info = run(sqlite_url, revoke)
    assert api.get("/v1/models/sta-lstm-synthetic/card", role="clinician").status_code == 401
    [row] = rows(sqlite_url, "action = 'login_failed'")
    assert (row["token_id"], row["role"], row["resource_id"]) == (info.id, "clinician", info.id)


def test_a_missing_header_is_not_a_failed_login(api, sqlite_url):
    assert api.client.get("/v1/deliveries").status_code == 401
    assert rows(sqlite_url) == []


@pytest.mark.parametrize("role", ["integrator", "telehealth", "clinician"])
def test_only_admin_reads_the_trail(api, role):
    for path in ("/v1/audit", "/v1/audit/fhir"):
        response = api.get(path, role=role)
        assert response.status_code == 403 and "admin" in response.json()["detail"]
    assert api.get("/v1/audit", role="admin").status_code == 200


def test_reading_the_trail_is_itself_recorded_with_the_callers_identity(api, sqlite_url):
    response = api.get("/v1/audit", role="admin", headers={"X-Request-ID": "audit-read-1"})
    assert response.status_code == 200 and response.json()["total"] == 0  # the read is recorded after the query
    [row] = rows(sqlite_url)
    admin = run(sqlite_url, lambda engine: _token_id(engine, api.tokens["admin"]))
    assert (row["action"], row["resource_type"], row["role"], row["token_id"]) == ("read", "audit_log", "admin", admin)
    assert (row["tenant"], row["client_address"], row["request_id"]) == ("default", "testclient", "audit-read-1")


async def _token_id(engine, secret):
    from gateway.storage.tokens import TokenStore

    return (await TokenStore(engine).verify(secret)).id


T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def _seed(engine):
    """Twelve rows: two tenants, two tokens, two patients, an hour apart, plus a system delivery."""
    for i in range(12):
        who = Principal(f"tok{i % 2}", "integrator", f"tenant-{i % 2}", "10.0.0.1", f"r{i}")
        await audit.record(engine, "read" if i % 3 else "create", "assessment", f"a-{i}", patient=ALICE if i < 6 else BOB, principal=who)
    async with engine.begin() as conn:  # the caller's transaction: committed with it
        await audit.record(conn, "deliver", "delivery", "d-1", patient=BOB, outcome="error")


def test_store_filters_and_pages_on_both_databases(database_url):
    async def act(engine):
        await _seed(engine)
        store = AuditStore(engine)
        now = datetime.now(UTC)
        return {
            "all": await store.search(AuditQuery(limit=5)),
            "page2": await store.search(AuditQuery(limit=5, offset=5)),
            "tenant": await store.search(AuditQuery(tenant="tenant-1")),
            "token": await store.search(AuditQuery(token_id="tok0", action="create")),
            "alice": await store.search(AuditQuery(patient="urn:oid:1.2.36.146.595.217.0.1|MRN-1234")),
            "bob": await store.search(AuditQuery(patient="Patient/bob", action="deliver")),
            "past": await store.search(AuditQuery(until=now - timedelta(hours=1))),
            "recent": await store.search(AuditQuery(since=now - timedelta(hours=1), until=now + timedelta(hours=1))),
            "offset_zone": await store.search(AuditQuery(since=(now - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=5))))),
        }

    r = run(database_url, act)
    items, total = r["all"]
    assert total == 13 and len(items) == 5 and items[0].action == "deliver"  # newest first
    assert [e.id for e in items] == sorted((e.id for e in items), reverse=True)
    assert r["page2"][1] == 13 and {e.id for e in r["page2"][0]}.isdisjoint(e.id for e in items)
    assert r["tenant"][1] == 6 and all(e.tenant == "tenant-1" for e in r["tenant"][0])
    assert r["token"][1] == 2 and {e.resource_id for e in r["token"][0]} == {"a-0", "a-6"}
    assert r["alice"][1] == 6
    [delivery] = r["bob"][0]
    assert (delivery.role, delivery.token_id, delivery.outcome, delivery.tenant) == ("system", None, "error", None)
    assert r["past"][1] == 0 and r["recent"][1] == 13 and r["offset_zone"][1] == 13
    assert all(e.occurred_at.tzinfo is not None for e in items)


def test_the_api_filters_pages_and_documents_its_response(api, sqlite_url):
    run(sqlite_url, _seed)
    page = api.get("/v1/audit", role="admin", params={"limit": 4, "offset": 4}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (13, 4, 4, 4)
    by_patient = api.get("/v1/audit", role="admin", params={"patient": "Patient/bob", "tenant": "tenant-0"}).json()
    assert by_patient["total"] == 3 and {i["patient"] for i in by_patient["items"]} == {"Patient/bob"}
    by_action = api.get("/v1/audit", role="admin", params={"action": "deliver"}).json()
    assert by_action["total"] == 1 and by_action["items"][0]["role"] == "system"
    since = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert api.get("/v1/audit", role="admin", params={"since": since}).json()["total"] == 0
    for bad in ({"limit": 201}, {"limit": 0}, {"offset": -1}, {"action": "steal"}, {"since": "2026-11-23T10:00:00"}):
        response = api.get("/v1/audit", role="admin", params=bad)
        assert response.status_code in (400, 422), (bad, response.text)
    schema = api.get("/schema/openapi.json", role="admin").json()
    assert "/v1/audit" in schema["paths"] and "/v1/audit/fhir" in schema["paths"]
    assert set(schema["paths"]["/v1/audit"]) == {"get"} and set(schema["paths"]["/v1/audit/fhir"]) == {"get"}
    properties = schema["components"]["schemas"]["AuditPage"]["properties"]
    assert {"total", "limit", "offset", "items"} <= set(properties)
    entry = schema["components"]["schemas"]["AuditEntry"]["properties"]
    assert {"occurred_at", "tenant", "token_id", "role", "action", "patient", "outcome", "client_address", "request_id"} <= set(entry)


def test_the_fhir_export_is_a_valid_bundle_of_audit_events(api, sqlite_url):
    run(sqlite_url, _seed)
    api.client.get("/v1/deliveries", headers={"Authorization": "Bearer pgw_wrong"})
    response = api.get("/v1/audit/fhir", role="admin", params={"limit": 50})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert validate_bundle(bundle) == []
    assert bundle["type"] == "searchset" and bundle["total"] == 14 and len(bundle["entry"]) == 14
    events = [e["resource"] for e in bundle["entry"]]
    assert {e["resourceType"] for e in events} == {"AuditEvent"}
    failed = next(e for e in events if e["subtype"][0]["code"] == "110122")
    assert failed["outcome"] == "4" and failed["agent"][0]["network"]["address"] == "testclient"
    create = next(e for e in events if e["action"] == "C" and any(x["what"].get("identifier", {}).get("value") == "a-0" for x in e["entity"]))
    assert create["type"]["code"] == "rest" and create["subtype"][0] == {"system": "http://hl7.org/fhir/restful-interaction", "code": "create"}
    assert create["agent"][0]["requestor"] is True and create["agent"][0]["who"]["identifier"]["value"] == "tok0"
    patient = next(x for x in create["entity"] if x["role"]["code"] == "1")
    assert patient["what"]["identifier"] == {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}
    delivery = next(e for e in events if e["outcome"] == "8")
    assert delivery["entity"][0]["what"] == {"reference": "Patient/bob"} and delivery["agent"][0]["who"]["display"] == "Pain Gateway"
    assert create["source"]["site"] == "http://127.0.0.1:8000" and create["meta"]["tag"][0]["code"].startswith("tenant-")
    assert api.get("/v1/audit/fhir", role="admin", params={"action": "create"}).json()["total"] == 4


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_action_and_outcome_maps_to_a_valid_audit_event(action, outcome):
    for who, patient in (
        (Principal("t1", "clinician", "default", "2001:db8::1", "r1"), "Patient/p-1"),
        (audit.SYSTEM, "urn:s|v"),
        (Principal(None, "anonymous", None), None),
    ):
        entry = AuditEntry(
            id=7,
            occurred_at=T0,
            tenant=who.tenant,
            token_id=who.token_id,
            role=who.role,
            action=action,
            resource_type="Observation" if patient else "assessment",
            resource_id="x-1",
            patient=patient,
            outcome=outcome,
            client_address=who.client_address,
            request_id=who.request_id,
        )
        resource = audit.to_fhir(entry, "https://pain.example.org")
        assert validate_resource(resource) == [], resource
        assert resource["action"] in {"C", "R", "U", "D", "E"} and resource["outcome"] in {"0", "4", "8"}


def test_the_trail_is_append_only(database_url):
    public = {name for name in dir(AuditStore) if not name.startswith("_")}
    assert public == {"record", "search"}
    assert not [name for name in dir(audit) if any(w in name.lower() for w in ("delete", "update", "purge", "remove"))]

    async def tamper(engine):
        await audit.record(engine, "read", "assessment", "a-1", patient=BOB)
        refused = []
        for statement in ("update audit_events set action = 'create'", "delete from audit_events"):
            try:
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
            except DBAPIError as exc:
                refused.append("append-only" in str(exc.orig))
        return refused, await AuditStore(engine).search(AuditQuery())

    refused, (items, total) = run(database_url, tamper)
    assert refused == [True, True]
    assert total == 1 and items[0].action == "read"


def test_record_refuses_unknown_actions_and_outcomes(sqlite_url):
    with pytest.raises(ValueError, match="unknown audit action"):
        run(sqlite_url, lambda engine: audit.record(engine, "peek", "assessment"))
    with pytest.raises(ValueError, match="unknown audit outcome"):
        run(sqlite_url, lambda engine: audit.record(engine, "read", "assessment", outcome="meh"))


def test_outside_a_request_the_actor_is_the_system(sqlite_url):
    run(sqlite_url, lambda engine: audit.record(engine, "deliver", "delivery", "d-9", patient=ALICE))
    [row] = rows(sqlite_url)
    assert (row["role"], row["token_id"], row["patient"]) == ("system", None, "urn:oid:1.2.36.146.595.217.0.1|MRN-1234")


def test_patient_keys():
    assert audit.patient_key(BOB) == "Patient/bob"
    assert audit.patient_key(ALICE) == "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"
    assert audit.patient_key(None) is None and audit.patient_key("Patient/x") == "Patient/x"


def test_who_created_read_searched_and_exported_a_patients_assessment_is_on_the_trail(api, sqlite_url, keypoints_json):
    created = api.post("/v1/assessments", json=keypoints_json())
    assert created.status_code == 201
    assessment_id = created.json()["id"]
    assert api.get(f"/v1/assessments/{assessment_id}", role="clinician").status_code == 200
    assert api.get(f"/v1/assessments/{assessment_id}/fhir").status_code == 200
    assert api.get("/fhir/Observation", role="clinician").status_code == 200
    trail = api.get("/v1/audit", role="admin", params={"patient": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234", "limit": 50}).json()["items"]
    seen = {(r["action"], r["role"], r["resource_type"]) for r in trail}
    assert {
        ("create", "integrator", "assessment"),
        ("read", "clinician", "assessment"),
        ("export", "integrator", "fhir"),
        ("search", "clinician", "Observation"),
    } <= seen
    assert all(r["tenant"] == "default" and r["token_id"] for r in trail)
