"""The seconds of every live session this replica serves, scored together.

At 30 fps every session closes a window once a second; with many sessions several close within the time one
model call takes. Each is queued here, and one thread takes whatever is queued (up to ``MAX_BATCH``) through
one model call (``score_window_batch``): the model's fixed cost is paid once per batch, not once per
session, and the event loop only routes bytes. A session still gets its results in order (its
``WindowScorer`` awaits one window at a time).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway import LandmarkClip, Plugins, score_window_batch
from plugins.live_stream.protocol import WindowMessage
from plugins.live_stream.session import WINDOW_MS, ClosedWindow, LiveSession

MAX_BATCH = 64


def iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score_batch(items: list[tuple[ClosedWindow, LiveSession]], plugins: Plugins) -> list[WindowMessage]:
    """CPU work (a thread): each window's 30 frames through the uploads' window scorer, one model call for all."""
    model = plugins.model()
    scorable = [(i, window, session) for i, (window, session) in enumerate(items) if window.grid is not None]
    clips = [
        LandmarkClip(session.patient, datetime.fromtimestamp(window.start_ms / 1000, UTC), 30.0, window.grid, session.image_size)
        for _, window, session in scorable
    ]
    max_gap = items[0][1].limits.max_gap_frames if items else 0
    results = score_window_batch(clips, model, max_gap_frames=max_gap, baselines=[session.baseline for _, _, session in scorable]) if clips else []
    by_item = {i: result for (i, _, _), result in zip(scorable, results, strict=True)}
    messages = []
    for i, (window, _) in enumerate(items):
        base = dict(
            index=window.index,
            start=iso(window.start_ms),
            end=iso(window.start_ms + WINDOW_MS),
            frames=window.frames,
            fps=window.fps,
            disclaimer=model.info.disclaimer,
        )
        result = by_item.get(i)
        if result is None:
            messages.append(WindowMessage(**base, scorable=False, reason=window.reason))
        else:
            messages.append(
                WindowMessage(
                    **base,
                    scorable=result.scorable,
                    level=result.level,
                    probabilities=result.probabilities,
                    reason=result.reason,
                    quality=result.quality,
                    typicality=result.typicality,
                    unfamiliar=result.typicality is not None and result.typicality < plugins.settings.typicality_below,
                )
            )
    return messages


class BatchScorer:
    """One queue of closed windows for the whole replica and the task that scores them in batches."""

    def __init__(self, plugins: Plugins, max_batch: int = MAX_BATCH) -> None:
        self.plugins, self.max_batch = plugins, max_batch
        self.queue: list[tuple[ClosedWindow, LiveSession, asyncio.Future[WindowMessage]]] = []
        self.task: asyncio.Task[None] | None = None
        self.batches = self.windows = 0  # for the benchmark: windows per model call

    async def score(self, window: ClosedWindow, session: LiveSession) -> WindowMessage:
        future: asyncio.Future[WindowMessage] = asyncio.get_running_loop().create_future()
        self.queue.append((window, session, future))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch :]
            try:
                messages = await asyncio.to_thread(score_batch, [(w, s) for w, s, _ in batch], self.plugins)
            except Exception as exc:  # each session's scorer reports its window unscored and goes on
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.windows += len(batch)
            for (_, _, future), message in zip(batch, messages, strict=True):
                if not future.done():
                    future.set_result(message)
