"""Engine creation shared by the app, the CLI and migrations."""

from __future__ import annotations

import asyncio
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_only, in_greenlet

SQLITE_BUSY_TIMEOUT_S = 5.0
"""How long a SQLite transaction waits for the write lock before "database is locked" (a 503)."""


READ_ONLY_OPTION = "pain_gateway_read_only"


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool) for transactions that only read. On SQLite they begin deferred, beside
    the writer (WAL lets readers run while one connection writes), instead of queueing for the write
    lock: a token lookup on every request must not wait behind other requests' writes."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: database errors must never carry patient identifiers into logs
    engine = create_async_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite", hide_parameters=True)
    if url.get_backend_name() == "sqlite":
        writes = _SqliteWriteLock()
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", writes.begin)
        for name in ("commit", "rollback"):
            event.listen(engine.sync_engine, name, writes.end)
        for name in ("checkin", "invalidate", "close"):  # a backstop: a cancelled task's connection comes back here
            event.listen(engine.sync_engine.pool, name, writes.release_record)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:  # the driver's (adapted) connection
    """Busy timeout first (the WAL switch may itself wait), WAL for readers beside the writer, foreign
    keys, and ``isolation_level = None`` so the sqlite3 driver leaves ``BEGIN`` to us."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.isolation_level = None


class _SqliteWriteLock:
    """One SQLite transaction at a time per process and event loop, in arrival order, each begun
    ``IMMEDIATE``.

    Why: a deferred transaction that reads and then writes must upgrade its lock, and SQLite refuses
    that at once with "database is locked" when another connection wrote meanwhile (waiting could
    deadlock, so the busy timeout does not apply). ``BEGIN IMMEDIATE`` takes the write lock up front,
    so the busy timeout covers it — enough against the embedded worker processes. Within the gateway,
    16 concurrent requests polling SQLite's busy handler (sleeps of up to 100 ms, no queue) starved
    some past the timeout; an asyncio lock queues them fairly without holding pool connections.
    Transactions here are short and never nest, so serialising them costs little; PostgreSQL is the
    database for heavy load. Reads through ``read_only(engine)`` skip the queue (a plain deferred
    ``BEGIN``): they never upgrade to a write. Past ``SQLITE_BUSY_TIMEOUT_S`` the wait ends in "database is locked",
    which the API answers with 503 and ``Retry-After``.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._owners: dict[asyncio.Lock, tuple[asyncio.Task[Any] | None, ConnectionPoolEntry]] = {}  # lock -> (task, connection record)

    def begin(self, connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        record = connection.connection._connection_record
        if in_greenlet():  # async use (the app, workers, migrations); a plain sync engine has no loop to queue on
            loop = asyncio.get_running_loop()
            lock = self._locks.setdefault(loop, asyncio.Lock())
            await_only(self._acquire(lock, asyncio.current_task(), record))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.release_record(None, record)
            raise

    async def _acquire(self, lock: asyncio.Lock, task: asyncio.Task[Any] | None, record: ConnectionPoolEntry) -> None:
        owner_task, owner_record = self._owners.get(lock, (None, None))
        if owner_record is not None and owner_task is not None and owner_task.done():  # its task died mid-transaction
            self.release_record(None, owner_record)
        try:  # asyncio.timeout, not wait_for: a lock acquired just as the wait is cancelled must not leak
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_S):
                await lock.acquire()
        except TimeoutError:
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked")) from None
        self._owners[lock] = (task, record)
        record.info["sqlite_write_lock"] = lock

    def end(self, connection: Connection) -> None:
        self.release_record(None, connection.connection._connection_record)

    def release_record(self, _dbapi_connection: Any, record: ConnectionPoolEntry | None, *_args: Any) -> None:
        lock = record.info.pop("sqlite_write_lock", None) if record is not None else None
        if lock is not None and self._owners.get(lock, (None, None))[1] is record:
            del self._owners[lock]
            lock.release()


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: datetime | None) -> datetime | None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
