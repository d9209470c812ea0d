"""Embedded job engine: no extra service, any database, CPU work in a process pool.

The database is the queue: queued submissions and due delivery ledger rows are the pending jobs, so
a crash or restart loses nothing — on start every interrupted submission goes back to the queue.
Processing runs in ``workers`` spawned processes, started with the engine; each builds its own plugins
and warms the model and capture sources before its first job, as a distributed worker does; deliveries are I/O and run on the gateway's event loop, at most
``delivery_concurrency`` at once.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.contract.plugin_manager import Plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.service.jobs.pipeline import deliver, process, warm_up
from gateway.service.processes import WorkerPool, process_plugins
from gateway.service.retention import RETENTION_EVERY_S, run_retention
from gateway.service.scoring_pool import Scoring
from gateway.storage.engine import create_engine

log = structlog.get_logger(__name__)

POLL_S = 1.0


def _process_in_worker(settings: Settings, submission_id: str) -> str:
    """Entry point in a worker process, with the plugins it built at start (``gateway.service.processes``)."""

    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            return await process(AssessmentFlow(process_plugins(settings), engine, RowsAreTheQueue()), submission_id)
        finally:
            await engine.dispose()

    return asyncio.run(run())


class EmbeddedJobs:
    def __init__(self, plugins: Plugins, engine, warm: bool = False, scoring: Scoring | None = None) -> None:
        """``warm``: spawn and warm the workers at start (``pain-gateway serve`` does), instead of on
        the first job — seconds of CPU an embedding application may not want to spend up front.
        ``scoring``: where the gateway's own flow parses and scores (``gateway.service.scoring_pool``)."""
        self.plugins = plugins
        self.settings = plugins.settings
        self.warm = warm
        self.flow = AssessmentFlow(plugins, engine, self, scoring)
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Future] = {}
        # which submissions each pool is running: when a worker dies, the whole pool breaks, and only
        # a job that was running alone in it can be the one that killed it
        self._in_pool: weakref.WeakKeyDictionary[ProcessPoolExecutor, set[str]] = weakref.WeakKeyDictionary()
        self._suspects: set[str] = set()  # were in a pool that broke with others: each runs alone next
        self._delivering: set[str] = set()
        self.workers = WorkerPool(self.settings, self.settings.workers, warm_up, spawn_now=warm)
        self._task: asyncio.Task | None = None
        self._retention: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()  # keep references: the loop holds tasks only weakly

    async def enqueue_processing(self, connection: AsyncConnection | None, submission_id: str) -> None:
        self._wake.set()

    async def enqueue_delivery(self, connection: AsyncConnection | None, delivery_ids: list[str]) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.workers.start()
        self._task = asyncio.create_task(self._run(), name="pain-gateway-embedded-jobs")
        self._retention = asyncio.create_task(self._retain(), name="pain-gateway-retention")

    async def _retain(self) -> None:
        """The retention policy (``gateway.service.retention``) now and every ``RETENTION_EVERY_S``."""
        while True:
            try:
                removed = await run_retention(self.flow.engine, self.settings.data_dir, self.settings.retention_days)
            except Exception:  # the database or the disk briefly unavailable: try again next time, never stop the engine
                if asyncio.current_task().cancelling():
                    raise
                log.exception("retention_error")
            else:
                if removed:
                    log.info("retention_removed", files=len(removed), bytes=sum(r.bytes for r in removed))
            await asyncio.sleep(RETENTION_EVERY_S)

    async def stop(self) -> None:
        for task in (self._task, self._retention):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(self.workers.stop)

    def warming(self) -> str | None:
        """Job workers still loading MediaPipe and the model (``/ready`` is 503 until none is)."""
        return self.workers.warming("job workers")

    async def problem(self) -> str | None:
        """Why this engine cannot run work (its scheduler task is not running), else None; ``/ready`` reports it."""
        if self._task is None:
            return "not started"
        if self._task.done():
            error = None if self._task.cancelled() else self._task.exception()
            return f"scheduler stopped: {type(error).__name__ if error else 'cancelled'}"
        return None

    async def _run(self) -> None:
        submissions = self.flow.submissions
        for submission_id in await submissions.stalled(0):  # nothing of ours runs yet: these were interrupted
            # jobs run in our child workers, which cannot take the gateway down: a restart is not their doing
            await submissions.release(submission_id, "interrupted by a gateway restart")
        while True:
            try:
                await self._schedule()
            except Exception:
                if asyncio.current_task().cancelling():  # stopped mid-query: a cleanup error must not swallow the stop
                    raise
                log.exception("job_scheduler_error")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except TimeoutError:
                pass
            self._wake.clear()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _schedule(self) -> None:
        submissions = self.flow.submissions
        for submission_id in await submissions.stalled(self.settings.stalled_after_s):
            if submission_id not in self._running:  # held by a process of another gateway that died
                await submissions.requeue_or_fail(submission_id, "its worker stopped responding", self.settings.max_attempts)
        free = self.settings.workers - len(self._running)
        for submission_id in await self.flow.submissions.queued(limit=self.settings.workers * 2):
            if free <= 0:
                break
            if submission_id in self._running:
                continue
            if self._running and (submission_id in self._suspects or not self._suspects.isdisjoint(self._running)):
                break  # a suspect runs alone: let the pool drain, start nothing beside it
            future, pool = self.workers.run(_process_in_worker, self.settings, submission_id)
            self._running[submission_id] = future
            self._in_pool.setdefault(pool, set()).add(submission_id)
            future.add_done_callback(lambda f, sid=submission_id, pool=pool: self._finished(sid, f, pool))
            free -= 1
        room = self.settings.delivery_concurrency - len(self._delivering)
        for delivery_id in await self.flow.deliveries.due(limit=self.settings.delivery_concurrency * 2) if room > 0 else []:
            if delivery_id not in self._delivering and room > 0:
                self._delivering.add(delivery_id)
                self._spawn(self._deliver(delivery_id))
                room -= 1

    def _finished(self, submission_id: str, future: asyncio.Future, pool: ProcessPoolExecutor) -> None:
        self._running.pop(submission_id, None)
        self._wake.set()
        error = future.exception() if not future.cancelled() else None
        if isinstance(error, BrokenProcessPool):  # a worker died (OOM killer, SIGKILL): replace the pool once
            alone = self._in_pool.get(pool, set()) == {submission_id}  # the set stays as it was when the pool broke
            log.error("job_worker_died", submission_id=submission_id, alone=alone)
            self.workers.replace(pool)
            if alone:  # its own worker died under it: that spends an attempt, so a poison job ends failed
                self._spawn(self.flow.submissions.requeue_or_fail(submission_id, "worker process died", self.settings.max_attempts))
            else:  # any of the pool's jobs may have killed it: none is charged, each runs alone next to find out
                self._suspects.add(submission_id)
                self._spawn(self.flow.submissions.release(submission_id, "a worker process died"))
            return
        self._in_pool.get(pool, set()).discard(submission_id)
        self._suspects.discard(submission_id)
        if error is not None:
            log.error("job_crashed", submission_id=submission_id, error=f"{type(error).__name__}: {error}")

    async def _deliver(self, delivery_id: str) -> None:
        try:
            await deliver(self.flow, delivery_id)
        except Exception:  # the database failed us: the row stays due (or its lease expires) and is picked again
            log.exception("delivery_job_error", delivery_id=delivery_id)
            await asyncio.sleep(POLL_S)
        finally:
            self._delivering.discard(delivery_id)
            self._wake.set()  # a slot is free: pick the next due delivery now, not at the next poll
