"""One WebSocket connection of a live session: read frames, score closed windows, store them, send results.

Three loops that never wait on each other without a bound: the reader parses frames as they come;
each closed window is scored in a thread (the event loop only routes bytes), at most
``PENDING_WINDOWS`` waiting per session (older ones are dropped when the server is behind); results go
through an ``Outbox`` of ``send_queue`` messages, whose oldest window result is dropped when the client
reads slower than one message a second. ``error`` and ``assessment`` messages are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import msgspec
import structlog
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from gateway import AssessmentFlow, InputError
from plugins.live_stream import metrics
from plugins.live_stream.batch import BatchScorer, iso
from plugins.live_stream.protocol import (
    AssessmentMessage,
    End,
    ErrorMessage,
    Hello,
    ProtocolError,
    UnsupportedData,
    WindowMessage,
    encode,
    parse_frame,
    parse_text,
)
from plugins.live_stream.registry import LiveSessions
from plugins.live_stream.session import WINDOW_MS, ClosedWindow, LiveSession, SessionFull
from plugins.live_stream.store import StoredWindow
from plugins.live_stream.window_notices import with_notices
from plugins.live_stream.writer import WindowWriter

log = structlog.get_logger(__name__)

PENDING_WINDOWS = 8
YIELD_EVERY = 16
"""Frames one connection reads before it lets the event loop run others: a client sending as fast as it can
always has a frame waiting, and reading one does not wait, so without this other sessions' handshakes,
frames and timers wait behind it."""
UNSUPPORTED_DATA, POLICY_VIOLATION = 1003, 1008


def unscored(window: ClosedWindow, reason: str) -> WindowMessage:
    return WindowMessage(window.index, iso(window.start_ms), iso(window.start_ms + WINDOW_MS), window.frames, window.fps, False, reason=reason)


class Outbox:
    """A bounded queue of messages to one client and the task that sends them."""

    def __init__(self, socket: WebSocket, size: int) -> None:
        self.socket, self.size = socket, size
        self.queue: deque[tuple[bytes, bool]] = deque()
        self.ready = asyncio.Event()
        self.dropped = 0
        self.task = asyncio.get_running_loop().create_task(self._send())

    def put(self, message: WindowMessage | ErrorMessage | AssessmentMessage) -> None:
        droppable = isinstance(message, WindowMessage)
        if droppable and len(self.queue) >= self.size:
            for i, (_, may_drop) in enumerate(self.queue):
                if may_drop:
                    del self.queue[i]
                    self.dropped += 1
                    metrics.LIVE_DROPPED.inc()
                    break
            else:
                self.dropped += 1
                return
        self.queue.append((encode(message), droppable))
        self.ready.set()

    async def _send(self) -> None:
        try:
            while True:
                await self.ready.wait()
                while self.queue:
                    data, _ = self.queue.popleft()
                    await self.socket.send_text(data.decode())
                self.ready.clear()
        except (WebSocketDisconnect, RuntimeError, OSError):  # the client left; the reader sees it too
            self.queue.clear()

    async def flush(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.queue and time.monotonic() < deadline and not self.task.done():
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self.task.cancel()


def stored(window: ClosedWindow, session: LiveSession, message: WindowMessage) -> StoredWindow:
    """The window as the store keeps it: the result its client was sent and its grid (the assessment's input)."""
    grid = None if window.grid is None else window.grid.astype("<f4", copy=False).tobytes()
    result = msgspec.to_builtins(message)
    return StoredWindow(session.id, session.tenant, window.index, window.start_ms, window.frames, result, grid, session.taken, window.resume)


class WindowScorer:
    """Scores a session's closed windows one at a time, off the event loop, into the current outbox; each
    result goes to the store (``writer``) as it is sent."""

    def __init__(self, session: LiveSession, batch: BatchScorer, writer: WindowWriter) -> None:
        self.session, self.batch, self.writer = session, batch, writer
        self.pending: deque[ClosedWindow] = deque(maxlen=PENDING_WINDOWS)
        self.outbox: Outbox | None = None
        self.task: asyncio.Task | None = None
        self.publisher: AssessmentFlow | None = None  # set by the connection: live observers publish through it

    def submit(self, window: ClosedWindow) -> None:
        if len(self.pending) == PENDING_WINDOWS:  # behind: the oldest is reported, not scored (stored: the assessment scores it)
            skipped = self.pending.popleft()
            message = unscored(skipped, "not scored: the server was behind (frames arrived faster than it could score)")
            self.writer.put(stored(skipped, self.session, message), self.session.image_size)
            if self.outbox is not None:
                self.outbox.put(message)
        self.pending.append(window)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.pending:
            window = self.pending.popleft()
            try:
                message = await self.batch.score(window, self.session)
            except Exception:  # a scoring bug must not end the session; the window says so
                log.exception("live_window_failed", session=self.session.id, window=window.index)
                message = unscored(window, "the server could not score this window")
            if self.publisher is not None:  # the second feeds plugins' live observers (alerts); their notices ride on it
                message = await with_notices(message, self.session, self.publisher)
            await self.writer.write(stored(window, self.session, message), self.session.image_size)
            metrics.LIVE_WINDOW_SECONDS.observe(time.perf_counter() - window.closed_at)
            if self.outbox is not None:
                self.outbox.put(message)

    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    async def drain(self, timeout_s: float = 30.0) -> None:
        if self.task is not None:
            await asyncio.wait([self.task], timeout=timeout_s)


async def serve_connection(socket: WebSocket, session: LiveSession, live: LiveSessions, flow: AssessmentFlow, *, send_queue: int, max_errors: int) -> None:
    """Run one accepted connection until the client ends, leaves, misbehaves or is replaced by a reconnect."""
    previous: WebSocket | None = session.socket
    session.socket = socket
    if previous is not None:  # a reconnect takes the session over; the old socket is told why
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # already gone
            await previous.close(1000, "replaced by a new connection to this session")
    scorer: WindowScorer = session.scorer or WindowScorer(session, live.batch_for(flow.plugins), live.writer)
    session.scorer = scorer
    scorer.publisher = flow
    outbox = scorer.outbox = Outbox(socket, send_queue)
    errors = 0
    try:
        while True:
            try:
                async with asyncio.timeout(live.idle_timeout_s):
                    message = await socket.receive()
            except TimeoutError:  # connected but silent: the session ends as if the client had sent "end"
                if scorer.busy():  # not silent: waiting for results a loaded server is still scoring
                    continue
                log.info("live_session_silent", session=session.id, idle_s=live.idle_timeout_s)
                await end(socket, session, live, flow, outbox)
                return
            if session.socket is not socket:
                return
            if message["type"] == "websocket.disconnect":
                return
            try:
                if message.get("bytes") is not None:
                    for window in session.add(parse_frame(message["bytes"])):
                        scorer.submit(window)
                    if session.frames % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                    continue
                control = parse_text(message.get("text") or "")
                if isinstance(control, Hello):
                    session.image_size = control.image_size or session.image_size
                elif isinstance(control, End):
                    await end(socket, session, live, flow, outbox)
                    return
            except SessionFull as exc:
                outbox.put(ErrorMessage(str(exc)))
                await end(socket, session, live, flow, outbox)
                return
            except ProtocolError as exc:
                errors += 1
                fatal = errors >= max_errors
                outbox.put(ErrorMessage(str(exc), fatal=fatal))
                if fatal:
                    await outbox.flush(1.0)
                    code = UNSUPPORTED_DATA if isinstance(exc, UnsupportedData) else POLICY_VIOLATION
                    await socket.close(code, f"{errors} malformed messages; the last: {exc}"[:120])
                    return
    finally:
        if session.socket is socket:
            session.socket = None
            scorer.outbox = None
            session.last_activity = time.monotonic()  # the idle clock of a session without a client starts now
            with contextlib.suppress(Exception):  # resumable anywhere until its idle deadline (the sweep ends it otherwise)
                await live.left(session)
        outbox.close()


async def end(socket: WebSocket, session: LiveSession, live: LiveSessions, flow: AssessmentFlow, outbox: Outbox) -> None:
    """The last windows' results, then the session as one assessment (or why it has none), then close."""
    for window in session.flush():
        session.scorer.submit(window)
    await session.scorer.drain()
    await live.writer.flush()
    result = await live.finish(session.id, flow, taken=session.taken)
    assessment = None
    if isinstance(result, str):  # another replica ended it (its idle sweep): the same assessment
        assessment = await flow.assessments.get(result, session.tenant)
    elif result is not None and not isinstance(result, InputError):
        assessment = result.assessment
    if isinstance(result, InputError):
        outbox.put(ErrorMessage(f"the session was not assessed: {result}", fatal=True))
    elif assessment is None:
        outbox.put(ErrorMessage("the session was taken over by another connection; it goes on there", fatal=True))
    else:
        url = f"{flow.settings.base_url}/v1/assessments/{assessment.id}"
        outbox.put(AssessmentMessage(assessment.id, url, assessment.summary.level, len(assessment.windows)))
    await outbox.flush()
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the client may have left meanwhile
        await socket.close(1000, "session ended")
