"""One live session's state: the frames received so far and the 1-second windows they close.

Synchronous and bounded: at most ``max_session_frames`` frames (x, y float32, 3.7 KB each) and
``max_window_frames`` in any one second. Frames are kept in blocks of ``BLOCK_FRAMES`` (0.9 MB), each its own
anonymous memory map: when a session ends its blocks go back to the operating system, whatever the
allocator does with small blocks (one 3.7 KB array a frame stayed in the heap: 20 sessions of 9,000
frames left the server 580 MB larger after they ended). Windows follow capture time, not arrival: the first frame at
or after a window's end closes it, so a window's result depends only on what the client captured.
A jump forward of up to ``MAX_SKIPPED_WINDOWS`` seconds reports each empty second as unscorable;
a longer pause starts a new window at the next frame (as after any gap).
"""

from __future__ import annotations

import array
import bisect
import mmap
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from gateway import LANDMARK_COUNT, MODEL_FPS, WINDOW_FRAMES, LandmarkClip, PatientRef, to_grid
from plugins.live_stream.protocol import Frame, ProtocolError
from plugins.live_stream.store import Resume

WINDOW_MS = 1000.0
MAX_SKIPPED_WINDOWS = 10
BLOCK_FRAMES = 128
"""Frames a block of a session's landmarks holds (x, y float32: 468 x 2 x 4 x 128 = 0.9 MB, mapped from the OS)."""


def landmark_block() -> np.ndarray:
    """(BLOCK_FRAMES, 468, 2) float32 in its own anonymous memory map: pages are taken as frames fill them and
    given back (munmap) when the last array on the block is freed."""
    return np.frombuffer(mmap.mmap(-1, BLOCK_FRAMES * LANDMARK_COUNT * 2 * 4), dtype=np.float32).reshape(BLOCK_FRAMES, LANDMARK_COUNT, 2)


@dataclass(frozen=True)
class LiveLimits:
    """The ``live_stream`` settings this module needs (see ``plugins.live_stream.settings``)."""

    max_session_frames: int = 9000
    max_session_s: float = 600.0
    max_window_frames: int = 120
    min_window_frames: int = 15
    min_face_share: float = 0.8
    max_gap_frames: int = 5
    setting_prefix: str = "PAIN_GATEWAY_PLUGIN_LIVE_STREAM_"


@dataclass(frozen=True)
class ClosedWindow:
    """A second of capture time, ready to score (``grid``) or unscorable (``reason``)."""

    index: int
    start_ms: float
    frames: int
    faces: int
    grid: np.ndarray | None  # (30, 468, 2) float32, NaN where no face could be interpolated
    reason: str | None
    closed_at: float = field(default_factory=time.perf_counter)  # when the frame that closed it arrived
    resume: Resume | None = None  # the session's state once the frame that closed it is in (stored with it, to resume from)

    @property
    def fps(self) -> float:
        return float(self.frames)  # frames in one second


class SessionFull(ProtocolError):
    """The session holds ``max_session_frames``: it ends and becomes an assessment."""


class LiveSession:
    def __init__(self, session_id: str, tenant: str, patient: PatientRef, limits: LiveLimits, baseline: np.ndarray | None = None) -> None:
        self.id, self.tenant, self.patient, self.limits, self.baseline = session_id, tenant, patient, limits, baseline
        self.image_size: tuple[int, int] | None = None
        self.times = array.array("d")  # capture ms of every frame
        self.faces = bytearray()  # 1 where the frame has a face
        self.blocks: list[np.ndarray] = []  # the frames' x, y: frame i at blocks[i // BLOCK_FRAMES][i % BLOCK_FRAMES]
        self.last_sequence: int | None = None
        self.window_index = 0
        self.window_start_ms: float | None = None
        self.window_frames = 0
        self.window_faces = 0
        self.last_activity = time.monotonic()
        self.socket: Any = None  # the connected WebSocket (plugins.live_stream.connection), if any
        self.scorer: Any = None  # its WindowScorer, kept across reconnects
        self.taken = 0  # the store's take count when this replica took the session (plugins.live_stream.store)
        self.frames_before = 0  # frames other connections' replicas received (resumed from the store)
        self.first_ms: float | None = None  # the session's first capture time, wherever it was received
        self.last_ms: float | None = None  # the last frame's capture time, wherever it was received

    def resume_from(self, state: Resume, image_size: tuple[int, int] | None) -> None:
        """Go on from a stored state: the next frame must follow its sequence and capture time; the open
        second starts again empty (its frames, at most a second, were on the replica that had them)."""
        self.last_sequence, self.last_ms, self.first_ms = state.last_sequence, state.last_capture_ms, state.first_capture_ms
        self.window_index, self.window_start_ms, self.frames_before = state.window_index, state.window_start_ms, state.frames
        self.image_size = image_size

    @property
    def frames(self) -> int:
        return len(self.times)

    def add(self, frame: Frame) -> list[ClosedWindow]:
        """Store one frame; returns the windows its capture time closes (usually none, once a second one)."""
        if self.last_sequence is not None and frame.sequence <= self.last_sequence:
            kind = "a duplicate" if frame.sequence == self.last_sequence else "out of order"
            raise ProtocolError(f"frame {frame.sequence} is {kind}: the last frame received was {self.last_sequence}; sequence numbers must increase")
        if self.last_ms is not None and frame.captured_ms <= self.last_ms:
            raise ProtocolError(f"frame {frame.sequence}: capture time {frame.captured_ms:.1f} ms is not after the previous frame's {self.last_ms:.1f} ms")
        if self.frames_before + self.frames >= self.limits.max_session_frames:
            raise SessionFull(
                f"the session holds {self.frames_before + self.frames} frames, the limit ({self.limits.setting_prefix}MAX_SESSION_FRAMES); "
                "it ends here: start a new session to go on"
            )
        if self.first_ms is not None and frame.captured_ms - self.first_ms > self.limits.max_session_s * 1000.0:
            # the assessment is resampled to 30 fps over the whole span: two frames hours apart must not size a grid of hours
            raise SessionFull(
                f"frame {frame.sequence}: the session would span more than {self.limits.max_session_s:g} s of capture time, the limit "
                f"({self.limits.setting_prefix}MAX_SESSION_S); it ends here: start a new session to go on"
            )
        closed: list[ClosedWindow] = []
        if self.window_start_ms is None:
            self.window_start_ms = frame.captured_ms
        offset = int((frame.captured_ms - self.window_start_ms) // WINDOW_MS)
        if offset == 0 and self.window_frames >= self.limits.max_window_frames:
            raise ProtocolError(
                f"frame {frame.sequence}: more than {self.limits.max_window_frames} frames in one second of capture time "
                f"({self.limits.setting_prefix}MAX_WINDOW_FRAMES); send at most 30 fps"
            )
        self.last_sequence = frame.sequence
        block, row = divmod(self.frames, BLOCK_FRAMES)
        if frame.points is not None:
            while len(self.blocks) <= block:  # a block of frames without a face is mapped, never touched
                self.blocks.append(landmark_block())
            self.blocks[block][row] = frame.points
        self.times.append(frame.captured_ms)
        self.faces.append(frame.points is not None)
        self.last_ms = frame.captured_ms
        if self.first_ms is None:
            self.first_ms = frame.captured_ms
        self.last_activity = time.monotonic()
        if offset >= 1:
            closed.append(self._close(self.window_index, self.window_start_ms, self.window_frames, self.window_faces))
            if offset - 1 <= MAX_SKIPPED_WINDOWS:
                closed += [self._close(self.window_index + k, self.window_start_ms + k * WINDOW_MS, 0, 0) for k in range(1, offset)]
                self.window_index += offset
                self.window_start_ms += offset * WINDOW_MS
            else:
                self.window_index += 1
                self.window_start_ms = frame.captured_ms
            self.window_frames = self.window_faces = 0
            resume = Resume(frame.sequence, frame.captured_ms, self.first_ms, self.window_index, self.window_start_ms, self.frames_before + self.frames)
            closed[-1] = replace(closed[-1], resume=resume)
        self.window_frames += 1
        self.window_faces += frame.points is not None
        return closed

    def flush(self) -> list[ClosedWindow]:
        """On ``end``: the open window, closed as it stands (a last, shorter second is reported unscorable)."""
        if self.window_start_ms is None or self.window_frames == 0:
            return []
        closed = self._close(self.window_index, self.window_start_ms, self.window_frames, self.window_faces)
        self.window_frames = self.window_faces = 0
        self.window_index += 1
        return [closed]

    def _close(self, index: int, start_ms: float, frames: int, faces: int) -> ClosedWindow:
        limits = self.limits
        if frames < limits.min_window_frames:
            reason = (
                f"{frames} frames in this second ({frames} fps); at least {limits.min_window_frames} are needed "
                f"({limits.setting_prefix}MIN_WINDOW_FRAMES): the capturing device is too slow or stalled"
            )
            return ClosedWindow(index, start_ms, frames, faces, None, reason)
        if faces < limits.min_face_share * frames:
            reason = (
                f"a face in {faces} of {frames} frames; at least {limits.min_face_share:.0%} are needed "
                f"({limits.setting_prefix}MIN_FACE_SHARE): keep the face in view of the camera"
            )
            return ClosedWindow(index, start_ms, frames, faces, None, reason)
        margin = (limits.max_gap_frames + 1) * 1000.0 / MODEL_FPS
        lo = bisect.bisect_left(self.times, start_ms - margin)
        hi = bisect.bisect_right(self.times, start_ms + WINDOW_MS + margin)
        times, points = self._faces(lo, hi)
        return ClosedWindow(index, start_ms, frames, faces, to_grid(times, points, start_ms, WINDOW_FRAMES, limits.max_gap_frames), None)

    def _faces(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Capture times and x, y (copies) of the frames ``lo`` to ``hi`` that have a face."""
        keep = lo + np.flatnonzero(np.frombuffer(bytes(self.faces[lo:hi]), dtype=np.uint8))
        points = np.empty((len(keep), LANDMARK_COUNT, 2), dtype=np.float32)
        blocks, rows = np.divmod(keep, BLOCK_FRAMES)
        for block in np.unique(blocks):
            held = blocks == block
            points[held] = self.blocks[block][rows[held]]
        return np.array(self.times[lo:hi])[keep - lo], points

    def release(self) -> None:
        """Drop the frames once the session has ended (its clip is built): their blocks are unmapped."""
        self.blocks, self.times, self.faces = [], array.array("d"), bytearray()

    def clip(self) -> LandmarkClip:
        """The whole session on the 30 fps grid, as one clip for ``AssessmentFlow``."""
        start = self.times[0] if self.times else time.time() * 1000
        count = int((self.times[-1] - start) * MODEL_FPS / 1000.0) + 1 if self.times else 0
        times, points = self._faces(0, self.frames)
        grid = to_grid(times, points, start, count, self.limits.max_gap_frames)
        return LandmarkClip(self.patient, datetime.fromtimestamp(start / 1000, UTC), MODEL_FPS, grid, self.image_size, source="live_stream")
