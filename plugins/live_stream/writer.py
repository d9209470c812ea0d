"""Scored windows of every session this replica serves, written in batches.

Each second a window closes in every session; writing each alone would be one transaction per session per
second. The writer takes whatever has been scored since its last write and stores it in one transaction
(``LiveStore.save_windows``), so a busy replica writes less often, never more. ``flush`` waits until what
was put before it is written: a session's ``end`` builds its assessment from the store only after that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from plugins.live_stream.store import LiveStore, StoredWindow

log = structlog.get_logger(__name__)

MAX_BATCH = 256


class WindowWriter:
    def __init__(self, store: Callable[[], LiveStore | None]) -> None:
        self.store = store
        self.queue: list[tuple[StoredWindow, tuple[int, int] | None]] = []
        self.put_count = self.done_count = 0
        self.written = asyncio.Condition() if _loop_running() else None
        self.task: asyncio.Task | None = None

    def put(self, window: StoredWindow, image_size: tuple[int, int] | None) -> None:
        self.queue.append((window, image_size))
        self.put_count += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
            store = self.store()
            try:
                if store is not None:
                    await store.save_windows([w for w, _ in batch], {w.session_id: size for w, size in batch if size is not None})
            except Exception:  # the database is away: these seconds are not stored (their clients had them); the session goes on
                log.exception("live_windows_not_stored", windows=len(batch))
            self.done_count += len(batch)
            async with self._condition():
                self._condition().notify_all()

    def _condition(self) -> asyncio.Condition:
        if self.written is None:
            self.written = asyncio.Condition()
        return self.written

    async def write(self, window: StoredWindow, image_size: tuple[int, int] | None) -> None:
        """Put the window and wait for its batch: a result is sent to its client only once it is stored, so a
        replica that dies next has lost nothing its client was told."""
        self.put(window, image_size)
        await self.flush()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait (at most ``timeout_s``) until every window put before this call is written or given up on."""
        target = self.put_count
        condition = self._condition()
        async with condition:
            try:
                await asyncio.wait_for(condition.wait_for(lambda: self.done_count >= target), timeout_s)
            except TimeoutError:
                log.warning("live_windows_flush_slow", waiting=target - self.done_count)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
