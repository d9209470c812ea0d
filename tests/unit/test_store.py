"""The store on both supported databases: atomic writes, idempotent retries, search, hashed tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, text
from support.assessments import make_assessment, make_window

from gateway.contract.domain import Assessment, PatientRef
from gateway.storage.assessments import AssessmentQuery, AssessmentStore
from gateway.storage.engine import create_engine
from gateway.storage.tables import Base
from gateway.storage.tokens import TokenStore, hash_token
from plugins.cds_hooks.tables import Base as CdsHooksBase
from plugins.live_stream.tables import Base as LiveBase
from plugins.pain_alerts.tables import Base as PainAlertsBase
from plugins.reference_scales.tables import Base as ReferenceScalesBase
from plugins.smart_launch.tables import Base as SmartLaunchBase
from plugins.vitals.tables import Base as VitalsBase
from plugins.webhooks.tables import Base as WebhooksBase


def scored(n: int, patient: PatientRef, start: datetime) -> Assessment:
    return make_assessment(id=f"00000000-0000-0000-0000-{n:012d}", patient=patient, start=start, created_at=start, windows=[make_window()])


def run(database_url, action):
    async def go():
        engine = create_engine(database_url)
        try:
            return await action(AssessmentStore(engine), TokenStore(engine), engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ALICE = PatientRef(system="urn:s", value="alice")
BOB = PatientRef(reference="Patient/bob")


def every_table() -> MetaData:
    """The core's tables and those the installed plugins own (each in its own MetaData), in one MetaData."""
    combined = MetaData()
    plugins = (WebhooksBase, LiveBase, ReferenceScalesBase, VitalsBase, SmartLaunchBase, CdsHooksBase, PainAlertsBase)
    for metadata in (Base.metadata, *(plugin.metadata for plugin in plugins)):
        for table in metadata.tables.values():
            assert table.name not in combined.tables, f"two owners declare the table {table.name}"
            table.to_metadata(combined)
    return combined


def test_migrations_match_the_table_definitions(database_url):
    """The database as the core's and every plugin's migrations leave it (``upgrade``) against every
    declared table: a drift in either (or a table no one declares) fails."""
    expected = every_table()

    async def check(_store, _tokens, engine):
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), expected))

    assert run(database_url, check) == []


def test_add_get_and_idempotent_retry(database_url):
    async def act(store, _tokens, _engine):
        first = await store.add(scored(1, ALICE, T0))
        again = await store.add(scored(1, ALICE, T0))
        return first, again, await store.get(scored(1, ALICE, T0).id), await store.get("missing")

    first, again, loaded, missing = run(database_url, act)
    assert (first, again, missing) == (True, False, None)
    assert isinstance(loaded, Assessment) and loaded.patient == ALICE
    assert loaded.effective_start == T0 and loaded.summary.level == "mild"


def test_what_the_caller_adds_commits_with_the_assessment(database_url):
    async def act(store, _tokens, engine):
        async def note(connection):
            await connection.execute(
                text("insert into events (id, type, assessment_id, occurred_at) values ('e1', 'assessment.completed', :a, :t)"),
                {"a": scored(2, ALICE, T0).id, "t": T0},
            )

        created = await store.add(scored(2, ALICE, T0), then=note)
        async with engine.connect() as conn:
            return created, await conn.scalar(text("select count(*) from events"))

    assert run(database_url, act) == (True, 1)


def test_a_failed_write_leaves_nothing(database_url):
    async def act(store, _tokens, engine):
        async def fail(connection):
            await connection.execute(text("insert into events (id, type, assessment_id, occurred_at) values ('e1', 'x', 'a', :t)"), {"t": T0})
            raise RuntimeError("the delivery ledger is unreachable")

        bad = scored(3, ALICE, T0)
        with pytest.raises(RuntimeError):
            await store.add(bad, then=fail)
        async with engine.connect() as conn:
            events = await conn.scalar(text("select count(*) from events"))
        return await store.get(bad.id), events

    loaded, events = run(database_url, act)
    assert loaded is None and events == 0


def test_search_by_patient_and_date(database_url):
    async def act(store, _tokens, _engine):
        for n, (patient, hours) in enumerate([(ALICE, 0), (ALICE, 30), (BOB, 1)]):
            await store.add(scored(10 + n, patient, T0 + timedelta(hours=hours)))
        by_identifier = await store.search(AssessmentQuery(tenant="default", system="urn:s", value="alice"))
        by_reference = await store.search(AssessmentQuery(tenant="default", reference="Patient/bob"))
        by_day = await store.search(AssessmentQuery(tenant="default", system="urn:s", value="alice", start_from=T0, start_before=T0 + timedelta(days=1)))
        paged = await store.search(AssessmentQuery(tenant="default", system="urn:s", value="alice", limit=1, offset=1))
        by_id = await store.search(AssessmentQuery(tenant="default", assessment_id=scored(12, BOB, T0).id))
        return by_identifier, by_reference, by_day, paged, by_id

    by_identifier, by_reference, by_day, paged, by_id = run(database_url, act)
    assert by_identifier[1] == 2 and [a.effective_start for a in by_identifier[0]] == [T0 + timedelta(hours=30), T0]
    assert by_reference[1] == 1 and by_reference[0][0].patient == BOB
    assert by_day[1] == 1
    assert paged[1] == 2 and len(paged[0]) == 1 and paged[0][0].effective_start == T0
    assert by_id[1] == 1


def test_tokens_are_stored_hashed_and_can_be_revoked(database_url):
    async def act(_store, tokens, engine):
        info, secret = await tokens.create("epic-interface", "integrator")
        async with engine.connect() as conn:
            stored = (await conn.execute(text("select token_hash from api_tokens"))).scalars().all()
        verified = await tokens.verify(secret)
        revoked = await tokens.revoke(info.id)
        return secret, stored, verified, revoked, await tokens.verify(secret), await tokens.list()

    secret, stored, verified, revoked, after, listed = run(database_url, act)
    assert secret not in stored and stored == [hash_token(secret)]
    assert verified.role == "integrator" and revoked and after is None
    assert listed[0].revoked_at is not None


def test_token_roles_are_checked(sqlite_url):
    from gateway.contract.domain import InputError

    with pytest.raises(InputError, match="role"):
        run(sqlite_url, lambda _s, tokens, _e: tokens.create("x", "superuser"))


def test_aliases_resolve_within_the_tenant_and_period_clauses_filter(database_url):
    """The alias index the FHIR reads use: tenant-scoped, first assessment kept, unaliased rows found by anti-join."""

    async def act(store, _tokens, _engine):
        first, second = scored(21, ALICE, T0), scored(22, ALICE, T0 + timedelta(hours=1))
        other = msgspec.structs.replace(scored(23, ALICE, T0), tenant="other")
        for a in (first, second, other):
            await store.add(a)
        before = {a.id for a in await store.unaliased("default", "urn:x", "obs")}
        await store.add_aliases("urn:x", [(first, "obs", "o1"), (second, "obs", "o2"), (first, "dev", "d"), (second, "dev", "d")])
        await store.add_aliases("urn:x", [(second, "dev", "d")])  # again: nothing changes, no error
        after = await store.unaliased("default", "urn:x", "obs")
        found = [await store.by_alias("default", "urn:x", kind, alias) for kind, alias in (("obs", "o2"), ("dev", "d"))]
        hidden = await store.by_alias("other", "urn:x", "obs", "o1")
        spanning = await store.search(AssessmentQuery(tenant="default", period=((("end", ">=", T0 + timedelta(hours=1, seconds=3)),),)))
        return before, after, found, hidden, spanning

    before, after, found, hidden, (spanning, total) = run(database_url, act)
    assert before == {scored(21, ALICE, T0).id, scored(22, ALICE, T0).id} and after == []
    assert [a.id for a in found] == [scored(22, ALICE, T0).id, scored(21, ALICE, T0).id] and hidden is None
    assert total == 1 and spanning[0].id == scored(22, ALICE, T0).id
