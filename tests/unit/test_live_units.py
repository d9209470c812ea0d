"""Below the socket: frame parsing under any bytes, capture times to the 30 fps grid, window closing,
and the bounded outbox a slow reader cannot grow."""

from __future__ import annotations

import asyncio
import mmap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.live import recorded_points

from gateway.contract.domain import PatientRef
from gateway.pipeline.timeline import to_grid
from plugins.live_stream.connection import Outbox
from plugins.live_stream.protocol import FACE_BYTES, HEADER_BYTES, ErrorMessage, Frame, ProtocolError, WindowMessage, encode_frame, parse_frame
from plugins.live_stream.session import BLOCK_FRAMES, LiveLimits, LiveSession, SessionFull

FACE = recorded_points()[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=FACE_BYTES + 8))
def test_any_bytes_are_a_frame_or_a_protocol_error(data):
    try:
        frame = parse_frame(data)
    except ProtocolError as exc:
        assert str(exc)
    else:
        assert len(data) in (HEADER_BYTES, FACE_BYTES) and np.isfinite(frame.captured_ms)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1e12, 4e12), st.booleans())
def test_frames_round_trip(sequence, captured_ms, face):
    frame = parse_frame(encode_frame(sequence, captured_ms, FACE if face else None))
    assert (frame.sequence, frame.captured_ms) == (sequence, captured_ms)
    assert (frame.points is not None) == face
    if face:
        np.testing.assert_array_equal(frame.points, FACE[:, :2])


def test_the_grid_interpolates_by_capture_time_and_leaves_long_gaps_empty():
    times = np.array([0.0, 100.0, 200.0, 600.0])  # 10 fps, then a 400 ms gap
    points = np.stack([np.full((468, 2), v, np.float32) for v in (0.0, 0.3, 0.6, 0.9)])
    grid = to_grid(times, points, 0.0, 30, max_gap_frames=5)
    assert grid[0, 0, 0] == 0.0 and grid[3, 0, 0] == pytest.approx(0.3)  # slot 3 is at 100 ms
    assert grid[1, 0, 0] == pytest.approx(0.1, abs=1e-6)
    assert np.isnan(grid[7:18]).all()  # 200..600 ms: 12 model frames apart, more than 5 bridged
    assert grid[18, 0, 0] == pytest.approx(0.9) and np.isnan(grid[19:]).all()  # nothing after the last frame


def session(**limits) -> LiveSession:
    return LiveSession("s", "default", PatientRef(system="urn:x", value="1"), LiveLimits(**limits))


def test_windows_close_by_capture_time_not_arrival():
    live = session()
    closed = [w for i in range(95) for w in live.add(Frame(i, 1e12 + i * 1000 / 30, FACE[:, :2]))]
    assert [(w.index, w.frames) for w in closed] == [(0, 30), (1, 30), (2, 30)]
    assert all(w.grid is not None and not np.isnan(w.grid).any() for w in closed)
    assert [w.index for w in live.flush()] == [3]


def test_a_pause_reports_empty_seconds_and_a_long_one_restarts_the_windows():
    live = session()
    live.add(Frame(0, 1e12, None))
    empty = live.add(Frame(1, 1e12 + 3500, None))
    assert [(w.index, w.frames) for w in empty] == [(0, 1), (1, 0), (2, 0)] and all(w.reason for w in empty)
    later = live.add(Frame(2, 1e12 + 60_000, None))
    assert [w.index for w in later] == [3] and live.window_index == 4 and live.window_start_ms == 1e12 + 60_000


def test_two_frames_hours_apart_cannot_size_an_hours_long_grid():
    live = session(max_session_s=600)
    live.add(Frame(0, 1e12, FACE[:, :2]))
    live.add(Frame(1, 1e12 + 600_000, FACE[:, :2]))  # exactly the limit: kept
    with pytest.raises(SessionFull, match="MAX_SESSION_S"):
        live.add(Frame(2, 1e12 + 10 * 3_600_000, FACE[:, :2]))
    assert live.frames == 2 and len(live.clip().points) == 600 * 30 + 1


def test_a_session_and_a_second_hold_bounded_frames():
    live = session(max_window_frames=30, max_session_frames=40)
    for i in range(30):
        live.add(Frame(i, 1e12 + i, None))
    with pytest.raises(ProtocolError, match="more than 30 frames in one second"):
        live.add(Frame(30, 1e12 + 30, None))
    for i in range(31, 41):
        live.add(Frame(i, 1e12 + 1000 * i, None))
    with pytest.raises(SessionFull, match="MAX_SESSION_FRAMES"):
        live.add(Frame(41, 1e12 + 1000 * 41, None))
    assert live.frames == 40


class SlowReader:
    """A client that reads one message and then stops reading (its TCP window is full)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.blocked = asyncio.Event()

    async def send_text(self, data: str) -> None:
        self.sent.append(data)
        if len(self.sent) > 1:
            await self.blocked.wait()


def test_a_slow_reader_never_grows_the_queue_and_keeps_errors_and_the_assessment():
    async def run():
        reader = SlowReader()
        outbox = Outbox(reader, size=4)
        for i in range(1000):
            outbox.put(WindowMessage(i, "s", "e", 30, 30.0, True))
            await asyncio.sleep(0)
            assert len(outbox.queue) <= 4
        outbox.put(ErrorMessage("last"))
        assert outbox.dropped >= 990 and any(b"last" in data for data, _ in outbox.queue)
        reader.blocked.set()
        await outbox.flush(2.0)
        outbox.close()
        return reader.sent

    sent = asyncio.run(run())
    assert len(sent) <= 7 and '"index":999' in sent[-2] and "last" in sent[-1]


def test_frames_are_kept_in_blocks_mapped_from_the_os_and_released_at_the_end():
    live = session()
    face = np.asarray(FACE[:, :2], dtype=np.float32)
    count = 3 * BLOCK_FRAMES + 7
    for i in range(count):  # the first block's frames have no face: its block is never written
        live.add(Frame(i, 1e12 + i * 1000 / 30, None if i < BLOCK_FRAMES else face + i * 1e-6))
    assert len(live.blocks) == 4 and all(isinstance(block.base.base.obj, mmap.mmap) for block in live.blocks)
    times, points = live._faces(BLOCK_FRAMES - 2, BLOCK_FRAMES + 3)
    assert len(times) == len(points) == 3 and times[0] == 1e12 + BLOCK_FRAMES * 1000 / 30
    np.testing.assert_allclose(points[2], face + (BLOCK_FRAMES + 2) * 1e-6)
    clip = live.clip()
    assert clip.frames == count and np.isnan(clip.points[: BLOCK_FRAMES - 6]).all()  # no face, beyond the gap bridged
    np.testing.assert_allclose(clip.points[-1], face + (count - 1) * 1e-6)
    live.release()
    assert live.frames == 0 and not live.blocks


@pytest.mark.parametrize(
    ("point", "value", "problem"),
    [(0, 2.0, "x and y must be normalised"), (1, -0.6, "x and y must be normalised"), (2, 3.0, "z must lie within"), (2, -2.5, "z must lie within"),
     (0, np.inf, "finite numbers"), (1, np.nan, "finite numbers")],
)  # fmt: skip
def test_a_frame_is_read_in_place_and_every_rule_is_still_named(point, value, problem):
    """Frames are checked with two reductions and kept as a view of the message (the session copies them once);
    a frame breaking a rule is still told which."""
    data = encode_frame(7, 1.7e12, FACE)
    frame = parse_frame(data)
    assert np.shares_memory(frame.points, np.frombuffer(data, dtype=np.uint8)) and frame.points.shape == (468, 2)
    np.testing.assert_array_equal(frame.points, FACE[:, :2])
    xyz = np.frombuffer(data, dtype="<f4", offset=HEADER_BYTES).reshape(468, 3).copy()
    xyz[100, point] = value
    with pytest.raises(ProtocolError, match=problem):
        parse_frame(data[:HEADER_BYTES] + xyz.tobytes())
