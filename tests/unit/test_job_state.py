"""The submission job state machine on SQLite and PostgreSQL: what a worker may claim, when a job is
retried, released or failed, and what each tenant sees. Each test fails if one guard is dropped
(``make mutation`` runs them against gateway/storage/jobs.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from gateway.service.flow import RowsAreTheQueue
from gateway.storage.engine import create_engine
from gateway.storage.events import Events
from gateway.storage.jobs import Submission, SubmissionStore
from gateway.storage.tables import EventRow, SubmissionRow

CLAIM = {"stalled_after_s": 60, "max_attempts": 3, "max_running_per_tenant": 4}


async def nothing(connection, submission_id):
    return None


@pytest.fixture(autouse=True)
def away_from_utc(monkeypatch):
    """The process clock in another zone (UTC+05:30), so a timestamp taken without a zone shows."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def recent(moment: datetime) -> bool:
    return moment.tzinfo is not None and abs((moment - datetime.now(UTC)).total_seconds()) < 60


def run(database_url, action, events=None):
    async def go():
        engine = create_engine(database_url)
        try:
            return await action(SubmissionStore(engine, events), engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def age(engine, seconds: float, **where) -> None:
    """Make the heartbeat (and last update) of the matching rows ``seconds`` old: their worker went quiet."""
    then = datetime.now(UTC) - timedelta(seconds=seconds)
    conditions = [getattr(SubmissionRow, k) == v for k, v in where.items()]
    async with engine.begin() as connection:
        await connection.execute(update(SubmissionRow).where(*conditions).values(heartbeat_at=then, updated_at=then))


def test_a_new_submission_is_queued_and_enqueued_in_the_same_transaction(database_url):
    seen = []

    async def action(store, engine):
        async def enqueue(connection, submission_id):
            seen.append((submission_id, await connection.scalar(select(SubmissionRow.status).where(SubmissionRow.id == submission_id))))

        sub, created = await store.create("job-1", "video_upload", {"a": 1}, "key-1", enqueue, tenant="t1")
        again, created_again = await store.create("job-2", "video_upload", {"a": 2}, "key-1", enqueue, tenant="t1")
        return sub, created, again, created_again, await store.get("job-2")

    sub, created, again, created_again, second = run(database_url, action)
    assert created and (sub.id, sub.status, sub.progress, sub.attempts, sub.source, sub.request, sub.tenant) == (
        "job-1",
        "queued",
        0,
        0,
        "video_upload",
        {"a": 1},
        "t1",
    )
    assert sub.error is None and sub.started_at is None and recent(sub.created_at) and recent(sub.updated_at)
    assert not created_again and again.id == "job-1" and second is None  # the key's first submission, nothing new
    assert seen == [("job-1", "queued")]


def test_a_failing_enqueue_leaves_no_submission(database_url):
    async def action(store, engine):
        async def broken(connection, submission_id):
            raise ConnectionError("queue down")

        with pytest.raises(ConnectionError):
            await store.create("job-1", "video_upload", {}, None, broken)
        return await store.get("job-1")

    assert run(database_url, action) is None


def test_a_duplicate_id_without_a_key_is_an_error_not_a_silent_reuse(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            await store.create("job-1", "video_upload", {}, None, nothing)

    run(database_url, action)


def test_reads_are_scoped_to_the_tenant(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, "k", nothing, tenant="t1")
        return (
            await store.get("job-1", "t1"),
            await store.get("job-1", "t2"),
            await store.get("job-1"),
            await store.by_key("k"),
            await store.by_key("other"),
            await store.get("nope"),
        )

    mine, theirs, internal, by_key, no_key, missing = run(database_url, action)
    assert mine.id == internal.id == by_key.id == "job-1"
    assert theirs is None and no_key is None and missing is None


def test_claiming_counts_the_attempt_and_starts_the_clock(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        await store.advance("job-1", "queued", 0, "attempt 1 failed, will retry: boom")
        before = datetime.now(UTC)
        claimed = await store.claim("job-1", **CLAIM)
        return before, claimed, await store.claim("job-1", **CLAIM), await store.claim("missing", **CLAIM)

    before, claimed, again, missing = run(database_url, action)
    assert (claimed.status, claimed.progress, claimed.attempts, claimed.error) == ("extracting", 0, 1, None)
    assert claimed.started_at >= before - timedelta(seconds=1) and recent(claimed.started_at) and recent(claimed.updated_at)
    assert again is None and missing is None  # its worker is alive: nobody else takes it


def test_a_tenant_at_its_running_limit_waits_while_others_run(database_url):
    async def action(store, engine):
        for sid, tenant in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")):
            await store.create(sid, "video_upload", {}, None, nothing, tenant=tenant)
        limit = {**CLAIM, "max_running_per_tenant": 2}
        first, second = await store.claim("a1", **limit), await store.claim("a2", **limit)
        third, other = await store.claim("a3", **limit), await store.claim("b1", **limit)
        counts = await store.in_progress("a"), await store.in_progress("b"), await store.in_progress("c")
        await store.advance("a1", "scoring", 80)
        await store.advance("a2", "completed", 100)
        after = await store.in_progress("a"), await store.claim("a3", **limit)
        return first, second, third, other, counts, after

    first, second, third, other, counts, (after, retried) = run(database_url, action)
    assert first is not None and second is not None and other is not None
    assert third is None  # stays queued: one tenant's burst cannot take every worker
    assert counts == ((1, 2), (0, 1), (0, 0))
    assert after == (1, 1) and retried is not None and retried.status == "extracting"


def test_a_stalled_job_is_taken_over_and_a_live_one_is_not(database_url):
    async def action(store, engine):
        for sid in ("live", "quiet", "queued"):
            await store.create(sid, "video_upload", {}, None, nothing)
        await store.claim("live", **CLAIM)
        await store.claim("quiet", **CLAIM)
        await age(engine, 120, id="quiet")
        stalled = await store.stalled(60)
        recent = await store.stalled(300)
        return stalled, recent, await store.claim("live", **CLAIM), await store.claim("quiet", **CLAIM)

    stalled, recent, live, quiet = run(database_url, action)
    assert stalled == ["quiet"] and recent == []
    assert live is None and quiet.attempts == 2


def test_a_stalled_job_out_of_attempts_is_failed_with_its_event(database_url, plugins):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing, tenant="t1")
        for _ in range(3):
            assert await store.claim("job-1", **CLAIM) is not None
            await age(engine, 120)
        refused = await store.claim("job-1", **CLAIM)
        async with engine.connect() as connection:
            events = (await connection.execute(select(EventRow.type, EventRow.tenant, EventRow.error))).all()
        return refused, await store.get("job-1"), events

    refused, final, events = run(database_url, action, Events(plugins, RowsAreTheQueue()))
    assert refused is None and final.status == "failed" and final.attempts == 3
    assert final.error == "gave up after 3 attempts: the worker stopped responding"
    assert [tuple(e) for e in events] == [("assessment.failed", "t1", final.error)]


def test_a_stalled_job_with_attempts_left_is_not_failed(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        await store.claim("job-1", **CLAIM)
        await age(engine, 120)
        return await store.claim("job-1", **{**CLAIM, "max_attempts": 2})

    assert run(database_url, action).attempts == 2


def test_advance_moves_forward_only_as_expected_and_never_out_of_a_final_state(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        await store.claim("job-1", **CLAIM)
        await store.advance("job-1", "extracting", 40, expect="extracting")
        at_40 = await store.get("job-1")
        await store.advance("job-1", "scoring", 85, expect="extracting")
        await store.advance("job-1", "extracting", 50, expect="extracting")  # a late progress report: ignored
        scoring = await store.get("job-1")
        async with engine.begin() as connection:
            await store.advance("job-1", "completed", 100, connection=connection)
        await store.advance("job-1", "failed", 100, "late failure")
        return at_40, scoring, await store.get("job-1")

    at_40, scoring, final = run(database_url, action)
    assert (at_40.status, at_40.progress) == ("extracting", 40)
    assert (scoring.status, scoring.progress) == ("scoring", 85)
    assert (final.status, final.progress, final.error) == ("completed", 100, None) and recent(final.updated_at)


def test_failing_records_the_reason_and_one_event(database_url, plugins):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing, tenant="t1")
        await store.claim("job-1", **CLAIM)
        await store.advance("job-1", "failed", 30, "video: no face found")
        await store.advance("job-1", "failed", 30, "again")
        async with engine.connect() as connection:
            events = (await connection.execute(select(EventRow.type, EventRow.error))).all()
        return await store.get("job-1"), events

    final, events = run(database_url, action, Events(plugins, RowsAreTheQueue()))
    assert (final.status, final.error) == ("failed", "video: no face found") and recent(final.updated_at)
    assert [tuple(e) for e in events] == [("assessment.failed", "video: no face found")]


def test_failing_without_a_reason_says_failed(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        await store.claim("job-1", **CLAIM)
        await store.advance("job-1", "failed", 30)
        return await store.get("job-1")

    assert run(database_url, action).error == "failed"


def test_a_failed_attempt_is_retried_until_the_attempts_are_spent(database_url):
    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        statuses = []
        for _ in range(3):
            await store.claim("job-1", **CLAIM)
            await store.advance("job-1", "scoring", 85)
            statuses.append(await store.requeue_or_fail("job-1", "boom", 3))
            after = await store.get("job-1")
            statuses.append((after.progress, after.error))
        return statuses, await store.get("job-1"), await store.requeue_or_fail("job-1", "late", 3), await store.requeue_or_fail("nope", "x", 3)

    statuses, final, late, missing = run(database_url, action)
    assert statuses == [
        "queued",
        (0, "attempt 1 failed, will retry: boom"),
        "queued",
        (0, "attempt 2 failed, will retry: boom"),
        "failed",
        (85, "gave up after 3 attempts: boom"),
    ]

    assert (final.status, final.progress) == ("failed", 85)
    assert late == "failed" and missing == "missing"


def test_an_interruption_released_spends_no_attempt(database_url):
    """A gateway restart is not the job's doing: however often it happens, the job keeps its attempts."""

    async def action(store, engine):
        await store.create("job-1", "video_upload", {}, None, nothing)
        released = []
        for _ in range(5):
            await store.claim("job-1", **CLAIM)
            await store.advance("job-1", "extracting", 40)
            released.append(await store.release("job-1", "interrupted by a gateway restart"))
        queued = await store.get("job-1")
        again = await store.release("job-1", "not running")
        claimed = await store.claim("job-1", **CLAIM)
        await store.advance("job-1", "completed", 100)
        return released, queued, again, claimed, await store.release("job-1", "finished")

    released, queued, again, claimed, finished = run(database_url, action)
    assert released == [True] * 5
    assert (queued.status, queued.progress, queued.attempts) == ("queued", 0, 0) and recent(queued.updated_at)
    assert queued.error == "interrupted, will retry: interrupted by a gateway restart"
    assert again is False and finished is False  # only a running job can be released
    assert claimed.attempts == 1


def test_the_queue_is_first_come_first_served_and_bounded(database_url):
    async def action(store, engine):
        for n in range(4):
            await store.create(f"job-{n}", "video_upload", {}, None, nothing)
            await asyncio.sleep(0.01)
        await store.claim("job-1", **CLAIM)
        return await store.queued(), await store.queued(limit=2)

    everything, first_two = run(database_url, action)
    assert everything == ["job-0", "job-2", "job-3"] and first_two == ["job-0", "job-2"]


def test_waiting_finds_submissions_untouched_in_a_status(database_url):
    async def action(store, engine):
        for sid in ("old", "new"):
            await store.create(sid, "video_upload", {}, None, nothing)
        await age(engine, 120, id="old")
        return await store.waiting("queued", 60), await store.waiting("queued", 300), await store.waiting("extracting", 60)

    assert run(database_url, action) == (["old"], [], [])


def test_only_a_failed_submission_of_the_tenant_can_be_retried(database_url):
    enqueued = []

    async def action(store, engine):
        async def enqueue(connection, submission_id):
            enqueued.append((submission_id, await connection.scalar(select(SubmissionRow.status).where(SubmissionRow.id == submission_id))))

        for sid in ("job-1", "job-2"):
            await store.create(sid, "video_upload", {}, None, nothing, tenant="t1")
        running = await store.retry("job-1", enqueue, "t1")
        for sid in ("job-1", "job-2"):
            await store.claim(sid, **CLAIM)
            await store.advance(sid, "extracting", 40)
            await store.advance(sid, "failed", 40, "boom")
        await age(engine, 3600)
        other = await store.retry("job-1", enqueue, "t2")
        mine = await store.retry("job-1", enqueue, "t1")
        return running, other, mine, await store.get("job-2")

    running, other, mine, untouched = run(database_url, action)
    assert running is None and other is None
    assert (mine.status, mine.progress, mine.attempts, mine.error) == ("queued", 0, 0, None) and recent(mine.updated_at)
    assert enqueued == [("job-1", "queued")]  # enqueued inside the transaction that re-queued it
    assert (untouched.status, untouched.error) == ("failed", "boom")


def _submission(status="extracting", progress=25, started_s_ago=10.0) -> Submission:
    now = datetime.now(UTC)
    started = now - timedelta(seconds=started_s_ago)
    return Submission("s", status, progress, "video_upload", {}, 1, None, now, now, started, "t")


@pytest.mark.parametrize(
    ("sub", "eta"),
    [
        (_submission(progress=25, started_s_ago=10), 30.0),
        (_submission(progress=50, started_s_ago=10), 10.0),
        (_submission(progress=30, started_s_ago=10), 23.3),  # one decimal
        (_submission(progress=1, started_s_ago=10), 990.0),
        (_submission(progress=0), None),
        (_submission(status="completed", progress=100), None),
        (_submission(status="failed", progress=40), None),
    ],
)
def test_the_eta_extrapolates_this_attempts_progress(sub, eta):
    now = sub.started_at + timedelta(seconds=10)
    assert sub.eta_s(now) == eta


def test_no_eta_before_an_attempt_starts():
    sub = _submission()
    assert Submission(*[None if f == "started_at" else getattr(sub, f) for f in Submission.__dataclass_fields__]).eta_s() is None
    assert 5 < sub.eta_s() < 40  # without ``now``: the clock's current time
