"""Distributed job engine: procrastinate on PostgreSQL, ``pain-gateway worker`` processes anywhere.

Jobs are deferred on the caller's own connection, inside the transaction that writes the submission
(or the assessment), so either both exist or neither does. CPU-bound processing goes to the ``cpu``
queue, delivery to ``io``; run one worker per core for ``cpu``. The delivery ledger owns the retry
budget: a delivery job that gets "retry later" defers its next attempt at the ledger's time, and
procrastinate itself never retries it. A periodic task retries jobs whose worker stopped sending
heartbeats (killed, crashed, lost its machine) and re-triggers anything due that has no job.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import procrastinate
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.contract.plugin_manager import Plugins
from gateway.service.flow import AssessmentFlow
from gateway.service.jobs.pipeline import deliver, process
from gateway.storage.engine import create_engine

log = structlog.get_logger(__name__)

CPU_QUEUE, IO_QUEUE = "cpu", "io"
HEARTBEAT_S = 2.0
READY_TIMEOUT_S = 3.0


def conninfo(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _driver_connection(connection: AsyncConnection):
    """The psycopg connection under SQLAlchemy's, so procrastinate writes in our transaction."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection


class StillRunning(Exception):
    """The submission is held by a worker whose heartbeat is still fresh."""


class DistributedJobs:
    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins
        settings = plugins.settings
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings.database_url)))
        self._flow: AssessmentFlow | None = None
        # a duplicate trigger while another worker still holds the submission: look again later
        recheck = procrastinate.RetryStrategy(max_attempts=100, wait=int(settings.stalled_after_s), retry_exceptions={StillRunning})

        @self.app.task(name="pain_gateway.process", queue=CPU_QUEUE, retry=recheck)
        async def process_task(submission_id: str) -> str:
            status = await process(await self.flow(), submission_id)
            if status == "running":
                raise StillRunning(submission_id)
            return status

        @self.app.task(name="pain_gateway.deliver", queue=IO_QUEUE)
        async def deliver_task(delivery_id: str) -> None:
            recorded = await deliver(await self.flow(), delivery_id)
            if recorded is not None and recorded.status == "retrying":
                await self._defer_delivery(None, delivery_id, recorded.next_attempt_at)

        @self.app.periodic(cron="* * * * * */5", periodic_id="retry_stalled")  # croniter: seconds come last
        @self.app.task(name="pain_gateway.retry_stalled", queue=IO_QUEUE, queueing_lock="retry_stalled")
        async def retry_stalled(timestamp: int) -> None:
            await self.retry_stalled()

        self.process_task, self.deliver_task = process_task, deliver_task

    async def flow(self) -> AssessmentFlow:
        if self._flow is None:
            self._flow = AssessmentFlow(self.plugins, create_engine(self.plugins.settings.database_url), self)
        return self._flow

    async def enqueue_processing(self, connection: AsyncConnection | None, submission_id: str) -> None:
        driver = None if connection is None else await _driver_connection(connection)
        await _defer_once(self.process_task.configure(connection=driver, queueing_lock=submission_id), submission_id=submission_id)

    async def enqueue_delivery(self, connection: AsyncConnection | None, delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            await self._defer_delivery(connection, delivery_id)

    async def _defer_delivery(self, connection: AsyncConnection | None, delivery_id: str, at: datetime | None = None) -> None:
        driver = None if connection is None else await _driver_connection(connection)
        task = self.deliver_task.configure(connection=driver, lock=delivery_id, queueing_lock=delivery_id, schedule_at=at)
        await _defer_once(task, delivery_id=delivery_id)

    async def retry_stalled(self) -> None:
        """Retry jobs of workers that went silent, and re-trigger submissions left without a job (a crash
        between a state change and its enqueue). Claims and queueing locks make both safe to repeat."""
        flow = await self.flow()
        stalled_after = flow.settings.stalled_after_s
        for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            log.warning("job_stalled_retry", job_id=job.id, task=job.task_name)
            await self.app.job_manager.retry_job(job)
        for submission_id in await flow.submissions.waiting("queued", stalled_after):
            await self.enqueue_processing(None, submission_id)
        await self.enqueue_delivery(None, await flow.deliveries.due())

    async def problem(self) -> str | None:
        """Why procrastinate cannot reach PostgreSQL through its own connector, else None; ``/ready`` reports it."""
        try:
            await asyncio.wait_for(self.app.connector.execute_query_one_async("SELECT 1 AS ok"), READY_TIMEOUT_S)
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        return None

    async def start(self) -> None:
        await self.app.open_async()

    async def stop(self) -> None:
        await self.app.close_async()
        if self._flow is not None:
            await self._flow.engine.dispose()

    async def run_worker(self, concurrency: int, queues: list[str] | None = None) -> None:
        await self.app.run_worker_async(
            queues=queues,
            concurrency=concurrency,
            update_heartbeat_interval=HEARTBEAT_S,
            stalled_worker_timeout=self.plugins.settings.stalled_after_s,
            install_signal_handlers=True,
        )


async def _defer_once(task, **kwargs) -> None:
    """Defer unless the same job is already waiting (its queueing lock is taken)."""
    try:
        await task.defer_async(**kwargs)
    except procrastinate.exceptions.AlreadyEnqueued:
        pass


async def apply_schema(database_url: str) -> bool:
    """Create procrastinate's tables once (``pain-gateway db upgrade``); False if they exist."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(conninfo(database_url), autocommit=True) as conn:
        exists = await (await conn.execute("select to_regclass('procrastinate_jobs') is not null")).fetchone()
        if exists[0]:
            return False
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
    return True
