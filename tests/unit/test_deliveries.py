"""The delivery ledger on both databases: one budget, backoff with jitter, leases, dead letters, redelivery."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text, update

from gateway.contract.domain import DeliveryResult
from gateway.ops.settings import DELIVERY_RETRY_SCHEDULE_S
from gateway.storage.deliveries import DeliveryQuery, DeliveryStore, delivery_id, next_wait_s
from gateway.storage.engine import create_engine
from gateway.storage.events import new_event
from gateway.storage.tables import DeliveryRow

SCHEDULE = list(DELIVERY_RETRY_SCHEDULE_S)


@given(st.integers(1, len(SCHEDULE)), st.one_of(st.none(), st.floats(0, 10**6)), st.integers(0, 2**32))
def test_every_wait_is_the_schedule_within_jitter_or_a_longer_retry_after(attempts, retry_after, seed):
    wait = next_wait_s(attempts, SCHEDULE, retry_after, random.Random(seed))
    base = SCHEDULE[attempts - 1]
    assert wait >= base * 0.8
    assert wait <= max(base * 1.2, min(retry_after or 0, 86400))


def test_the_budget_ends_after_the_last_scheduled_retry():
    assert next_wait_s(len(SCHEDULE), SCHEDULE, None) is not None
    assert next_wait_s(len(SCHEDULE) + 1, SCHEDULE, None) is None


def test_shipped_schedule_spans_about_three_days():
    assert 70 * 3600 <= sum(SCHEDULE) <= 80 * 3600 and SCHEDULE[0] == 5


def test_delivery_ids_are_stable_per_event_destination_and_target():
    assert delivery_id("e", "webhooks", "a") == delivery_id("e", "webhooks", "a") != delivery_id("e", "webhooks", "b")


def run(database_url, action):
    async def go():
        engine = create_engine(database_url)
        try:
            return await action(DeliveryStore(engine), engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def planned(store, engine, recipients=(("fhir", ""),), assessment_id="a1"):
    event = new_event("assessment.completed", assessment_id, "default")
    async with engine.begin() as connection:
        ids = await DeliveryStore.record_event(connection, event, list(recipients))
    return event, ids


def test_an_event_and_its_deliveries_are_written_together_and_due_at_once(database_url):
    async def act(store, engine):
        event, ids = await planned(store, engine, [("fhir", ""), ("webhooks", "ep1")])
        return event, ids, await store.due(), await store.event(event.id), await store.get(ids[1])

    event, ids, due, loaded, webhook = run(database_url, act)
    assert sorted(due) == sorted(ids) and loaded == event
    assert (webhook.destination, webhook.target, webhook.status, webhook.attempts) == ("webhooks", "ep1", "pending", 0)


def test_one_claim_per_attempt_and_a_delivered_row_is_never_sent_again(database_url):
    async def act(store, engine):
        _, [did] = await planned(store, engine)
        claimed = await store.claim(did, lease_s=60)
        twice = await store.claim(did, lease_s=60)  # another worker, same moment
        done = await store.record(claimed, datetime.now(UTC), 12.5, DeliveryResult.delivered(201, "201 Created"), SCHEDULE)
        return twice, done, await store.claim(did, lease_s=60), await store.attempts(did), await store.due()

    twice, done, after, attempts, due = run(database_url, act)
    assert twice is None and after is None and due == []
    assert done.status == "delivered" and done.delivered_at is not None and done.attempts == 1
    assert [(a.attempt, a.outcome, a.status_code, a.response_excerpt) for a in attempts] == [(1, "delivered", "201", "201 Created")]


def test_retry_later_schedules_the_next_attempt_and_the_budget_ends_in_a_dead_letter(database_url):
    schedule = [5.0, 300.0]

    async def act(store, engine):
        _, [did] = await planned(store, engine)
        seen = []
        for _ in range(3):
            await engine_make_due(engine, did)
            claimed = await store.claim(did, lease_s=60)
            seen.append(await store.record(claimed, datetime.now(UTC), 1.0, DeliveryResult.retry_later("connection refused", retry_after_s=None), schedule))
        return seen, await store.attempts(did), await store.search(DeliveryQuery(status="dead"))

    seen, attempts, (dead, total) = run(database_url, act)
    first, second, last = seen
    assert first.status == "retrying" and 4 <= (first.next_attempt_at - first.updated_at).total_seconds() <= 6
    assert second.status == "retrying" and 240 <= (second.next_attempt_at - second.updated_at).total_seconds() <= 360
    assert last.status == "dead" and "gave up after 3 attempts: connection refused" == last.last_error
    assert [a.outcome for a in attempts] == ["retry"] * 3 and total == 1 and dead[0].id == last.id


async def engine_make_due(engine, did):
    async with engine.begin() as connection:
        await connection.execute(update(DeliveryRow).where(DeliveryRow.id == did).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def test_failed_for_good_is_a_dead_letter_with_the_reason_and_redelivery_starts_a_fresh_budget(database_url):
    async def act(store, engine):
        _, [did] = await planned(store, engine)
        claimed = await store.claim(did, lease_s=60)
        dead = await store.record(claimed, datetime.now(UTC), 3.0, DeliveryResult.failed("Observation.code: required", 400, "{...}"), SCHEDULE)
        again = await store.redeliver(did)
        return dead, again, await store.due(), await store.redeliver("no-such-delivery")

    dead, again, due, missing = run(database_url, act)
    assert dead.status == "dead" and dead.last_error == "Observation.code: required"
    assert again.status == "pending" and again.attempts == 0 and due == [again.id] and missing is None


def test_a_worker_that_dies_mid_send_leaves_the_delivery_to_be_taken_again_after_its_lease(database_url):
    async def act(store, engine):
        _, [did] = await planned(store, engine)
        await store.claim(did, lease_s=60)
        held = await store.due()
        async with engine.begin() as connection:
            await connection.execute(update(DeliveryRow).where(DeliveryRow.id == did).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
        return held, await store.due(), await store.claim(did, lease_s=60), await store.redeliver(did)

    held, due, retaken, redeliver_while_sending = run(database_url, act)
    assert held == [] and due == [retaken.id] and retaken.attempts == 2
    assert redeliver_while_sending is None


def test_search_filters_and_failing_destinations(database_url):
    async def act(store, engine):
        _, [ok_id] = await planned(store, engine, [("fhir", "")], "a1")
        _, [bad_id] = await planned(store, engine, [("hl7v2", "")], "a2")
        for did, result in ((ok_id, DeliveryResult.delivered(200)), (bad_id, DeliveryResult.retry_later("down"))):
            await store.record(await store.claim(did, 60), datetime.now(UTC), 1.0, result, SCHEDULE)
        by_destination = await store.search(DeliveryQuery(destination="hl7v2"))
        by_assessment = await store.search(DeliveryQuery(assessment_id="a1"))
        async with engine.connect() as connection:
            attempts = await connection.scalar(text("select count(*) from delivery_attempts"))
        return by_destination, by_assessment, await store.failing_since(), attempts

    by_destination, by_assessment, failing, attempts = run(database_url, act)
    assert [d.destination for d in by_destination[0]] == ["hl7v2"] and by_destination[0][0].status == "retrying"
    assert by_assessment[1] == 1 and by_assessment[0][0].status == "delivered"
    assert set(failing) == {"hl7v2"} and attempts == 2
