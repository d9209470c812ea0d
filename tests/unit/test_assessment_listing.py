"""``GET /v1/assessments``: a tenant's assessments (and video jobs without a result yet), newest received
first, a page at a time from ``links.next``; nothing of another tenant, bad parameters named, audited."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from support.assessments import make_assessment

from gateway.contract.domain import PatientRef
from gateway.ops.settings import Settings
from gateway.storage.assessments import AssessmentStore
from gateway.storage.engine import create_engine
from gateway.storage.jobs import SubmissionStore
from gateway.storage.tables import AuditEventRow
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NORTH = PatientRef(system="urn:oid:1.2.3", value="MRN-N")
OTHER = PatientRef(system="urn:oid:1.2.3", value="MRN-O")
CLI = Path(sys.executable).parent / "pain-gateway"
ROOT = Path(__file__).resolve().parents[2]


async def _nothing(_connection, _id) -> None:
    return None


def _seed(database_url: str) -> dict:
    """250 assessments of tenant ``north`` (every 7th for another patient, every 5th significant, ten
    sharing one received time so the cursor must break ties by id), 30 of ``south``, a failed and a
    queued video job of ``north``; a clinician and an integrator token per tenant."""

    async def go():
        engine = create_engine(database_url)
        try:
            store, jobs, tokens = AssessmentStore(engine), SubmissionStore(engine), TokenStore(engine)
            north = []
            for n in range(250):
                created = T0 + timedelta(minutes=n if n >= 10 else 0)
                a = make_assessment(
                    id=f"00000000-0000-0000-0001-{n:012d}",
                    tenant="north",
                    patient=OTHER if n % 7 == 0 else NORTH,
                    start=created - timedelta(seconds=10),
                    created_at=created,
                    level="significant" if n % 5 == 0 else "mild",
                )
                assert await store.add(a)
                north.append(a.id)
            for n in range(30):
                a = make_assessment(id=f"00000000-0000-0000-0002-{n:012d}", tenant="south", patient=NORTH, start=T0, created_at=T0 + timedelta(minutes=n))
                assert await store.add(a)
            failed, _ = await jobs.create("00000000-0000-0000-0003-000000000001", "video", {}, None, _nothing, tenant="north")
            await jobs.advance(failed.id, "failed", 20, "the file holds no decodable video frames (truncated or corrupt)")
            queued, _ = await jobs.create("00000000-0000-0000-0003-000000000002", "video", {}, None, _nothing, tenant="north")
            await jobs.create("00000000-0000-0000-0004-000000000001", "video", {}, None, _nothing, tenant="south")
            made = {
                f"{tenant}-{role}": (await tokens.create(f"{tenant}-{role}", role, tenant))[1]
                for tenant in ("north", "south")
                for role in ("clinician", "integrator")
            }
            return {"north": north, "jobs": [failed.id, queued.id], "tokens": made}
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture
def listing(database_url, plugins):
    seeded = _seed(database_url)
    settings = Settings(database_url=database_url, data_dir=plugins.settings.data_dir)
    with TestClient(create_app(settings, plugins)) as client:
        yield client, seeded | {"url": database_url}


@pytest.fixture
def bare(sqlite_url, plugins):
    """The app on an empty database and one integrator token, for what needs no assessments."""

    async def token() -> str:
        engine = create_engine(sqlite_url)
        try:
            return (await TokenStore(engine).create("north-integrator", "integrator", "north"))[1]
        finally:
            await engine.dispose()

    made = asyncio.run(token())
    with TestClient(create_app(Settings(database_url=sqlite_url, data_dir=plugins.settings.data_dir), plugins)) as client:
        yield client, made, sqlite_url


def _get(client, url: str, token: str, **params):
    return client.get(url, params=params or None, headers={"Authorization": f"Bearer {token}"})


def _all_pages(client, token: str, first: str, between=None) -> tuple[list[dict], int]:
    """Follow ``links.next`` to the end; ``between()`` runs after the first page (new arrivals)."""
    items, url, pages = [], first, 0
    while url:
        response = _get(client, url, token)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages += 1
        url = body["links"].get("next")
        if pages == 1 and between is not None:
            between()
    return items, pages


def _arrives(database_url: str, n: int) -> None:
    """An assessment of north received now, while a client pages."""

    async def go():
        engine = create_engine(database_url)
        try:
            late = make_assessment(id=f"00000000-0000-0000-0005-{n:012d}", tenant="north", created_at=datetime.now(UTC))
            assert await AssessmentStore(engine).add(late)
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_the_listing_pages_through_250_assessments_of_one_tenant_and_none_of_another(listing):
    client, seeded = listing
    token = seeded["tokens"]["north-integrator"]
    items, pages = _all_pages(client, token, "/v1/assessments?limit=60", between=lambda: _arrives(seeded["url"], 1))
    ids = [item["id"] for item in items]  # an assessment arriving mid-way neither shifts nor repeats the pages
    assert len(ids) == len(set(ids)) == 252 and pages == 5
    assert set(ids) == set(seeded["north"]) | set(seeded["jobs"])  # none of south's, every one of north's
    keys = [(item["created_at"], item["id"]) for item in items]
    assert keys == sorted(keys, reverse=True)  # newest received first, ties broken by id, across pages
    first = _get(client, "/v1/assessments", token, limit=2).json()
    assert first["links"]["self"] == "http://127.0.0.1:8000/v1/assessments?limit=2"
    assert first["links"]["next"].startswith("http://127.0.0.1:8000/v1/assessments?limit=2&cursor=")
    completed = next(item for item in items if item["status"] == "completed")
    assert completed["ai_asserted"] is True and completed["model"].startswith("sta-lstm")
    assert completed["links"]["self"] == f"http://127.0.0.1:8000/v1/assessments/{completed['id']}"
    assert "synthetic" in first["note"]
    failed = next(item for item in items if item["id"] == seeded["jobs"][0])
    assert (failed["status"], failed["level"], failed["ai_asserted"], failed["error"][:8]) == ("failed", None, False, "the file")
    again, _ = _all_pages(client, token, "/v1/assessments?limit=200")
    assert [item["id"] for item in again][0] == "00000000-0000-0000-0005-000000000001" and len(again) == 253  # a new listing has it first
    south, _ = _all_pages(client, seeded["tokens"]["south-clinician"], "/v1/assessments?limit=200")
    assert len(south) == 31 and not {item["id"] for item in south} & set(ids)


def test_the_listing_filters_by_patient_level_status_and_time(listing):
    client, seeded = listing
    token = seeded["tokens"]["north-clinician"]

    def ids(**params) -> list[str]:
        items, _ = _all_pages(client, token, "/v1/assessments?" + "&".join(f"{k}={v}" for k, v in params.items()))
        return [item["id"] for item in items]

    by_patient = ids(patient="urn:oid:1.2.3%7CMRN-O", limit=200)
    assert sorted(by_patient) == sorted(seeded["north"][n] for n in range(250) if n % 7 == 0)
    assert sorted(ids(level="significant", limit=200)) == sorted(seeded["north"][n] for n in range(250) if n % 5 == 0)
    assert ids(status="failed") == [seeded["jobs"][0]] and ids(status="queued") == [seeded["jobs"][1]]
    assert len(ids(status="completed", limit=200)) == 250 and ids(clinical_status="final") == []
    window = ids(since="2026-11-23T09:00:00Z", until="2026-11-23T09:10:00%2B00:00")  # received 09:00 <= t < 09:10
    assert sorted(window) == sorted(seeded["north"][60:70])


@pytest.mark.parametrize(
    ("params", "field", "status"),
    [
        ({"patient": "MRN-1234"}, "patient", 422),
        ({"cursor": "not-a-cursor"}, "cursor", 422),
        ({"status": "done"}, "status", 422),
        ({"level": "severe"}, "level", 422),
        ({"clinical_status": "draft"}, "clinical_status", 422),
        ({"since": "2026-11-23T09:00:00"}, "since", 422),
    ],
)
def test_bad_listing_parameters_are_named(bare, params, field, status):
    client, token, _ = bare
    response = _get(client, "/v1/assessments", token, **params)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_a_limit_over_200_is_refused_naming_it(bare):
    client, token, _ = bare
    response = _get(client, "/v1/assessments", token, limit=201)
    assert response.status_code == 400 and "limit" in response.text


def test_listing_is_audited_as_a_search(bare):
    client, token, database_url = bare
    assert _get(client, "/v1/assessments", token, patient="urn:oid:1.2.3|MRN-N").status_code == 200

    async def rows():
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                found = await connection.execute(select(AuditEventRow.action, AuditEventRow.resource_type, AuditEventRow.patient, AuditEventRow.tenant))
                return [tuple(r) for r in found]
        finally:
            await engine.dispose()

    assert ("search", "assessment", "urn:oid:1.2.3|MRN-N", "north") in asyncio.run(rows())


def test_the_cli_lists_a_tenants_assessments_page_by_page(sqlite_url, tmp_path):
    database_url = sqlite_url  # the command line reads the same store as the API: one database is enough
    seeded = _seed(database_url)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}, "PAIN_GATEWAY_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), "assessments", "list", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    first = cli("--tenant", "north", "--limit", "200")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 200 and seeded["jobs"][1] in lines[0] and " queued " in lines[0]  # the jobs were received last
    assert seeded["north"][-1] in lines[2] and "AI mild, preliminary" in lines[2]
    cursor = first.stderr.split("--cursor ", 1)[1].split()[0]
    rest = cli("--tenant", "north", "--limit", "200", "--cursor", cursor)
    assert rest.returncode == 0 and len(rest.stdout.splitlines()) == 52 and "more:" not in rest.stderr
    assert not {line.split()[1] for line in lines + rest.stdout.splitlines()} - set(seeded["north"]) - set(seeded["jobs"])
    bad = cli("--patient", "MRN-1")
    assert bad.returncode == 2 and "--patient" in bad.stderr


@pytest.mark.parametrize(
    ("path", "field", "value"), [("/v1/assessments", "until", "0"), ("/v1/assessments", "since", "1700000000.5"), ("/v1/audit/fhir", "until", "0.5")]
)
def test_a_number_is_not_a_date_time(api, path, field, value):
    """The probe found a bare number taken as a Unix time (``until=0`` answered an empty 200): the document
    says date-time, so the route says what it wants."""
    response = api.get(path, role="admin" if "audit" in path else "integrator", params={field: value})
    assert response.status_code == 422 and response.json()["field"] == field and "ISO 8601" in response.json()["detail"], response.text


def test_an_rfc_3339_date_time_with_a_lower_case_t_and_z_is_read(api):
    response = api.get("/v1/assessments", role="integrator", params={"since": "2026-11-23t09:00:00z"})
    assert response.status_code == 200, response.text
