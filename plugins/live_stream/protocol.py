"""The live scoring wire protocol (docs/guides/telehealth.md, "Live scoring protocol"): parse client messages, encode ours.

Client → server binary frame, little-endian: byte 0 version (1), byte 1 flags (bit 0: a face is
present), bytes 2-3 zero, bytes 4-7 uint32 frame sequence, bytes 8-15 float64 capture time in ms since
the Unix epoch, then with a face 468 × 3 float32 normalised x, y, z: 5,632 bytes, else 16.
Client → server text: ``{"type": "hello", "image_size": [w, h], "fps": F}`` (optional, first) and
``{"type": "end"}``. Server → client text: ``window``, ``assessment`` and ``error`` messages below.
Every parse error is a ``ProtocolError`` whose message names the problem; nothing here allocates more
than one frame.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import msgspec
import numpy as np

from gateway import LANDMARK_COUNT, WEBSOCKET_MAX_MESSAGE_BYTES, XY_RANGE, Z_LIMIT, Probabilities, Quality

VERSION = 1
HEADER = struct.Struct("<BBHId")
HEADER_BYTES = HEADER.size  # 16
FACE_BYTES = HEADER_BYTES + LANDMARK_COUNT * 3 * 4  # 5,632
FLAG_FACE = 0x01
MAX_TEXT_BYTES = 1024
MAX_MESSAGE_BYTES = WEBSOCKET_MAX_MESSAGE_BYTES
"""What the server's WebSocket reads at most (``pain-gateway serve``): ten times the largest valid message."""


class ProtocolError(ValueError):
    """A message the client must fix; the text names what is wrong and is sent back as an ``error``."""


class UnsupportedData(ProtocolError):
    """Not this protocol at all (another version, or text that is not JSON): repeated, close code 1003."""


@dataclass(frozen=True)
class Frame:
    sequence: int
    captured_ms: float
    points: np.ndarray | None  # (468, 2) float32 x, y, a read-only view of the message; None without a face (z is checked, not kept)


def parse_frame(data: bytes) -> Frame:
    """One binary frame, checked: version, length for its flags, finite capture time and coordinates."""
    if len(data) < HEADER_BYTES:
        raise ProtocolError(f"binary frame is {len(data)} bytes; the header alone is {HEADER_BYTES}")
    version, flags, reserved, sequence, captured_ms = HEADER.unpack_from(data)
    if version != VERSION:
        raise UnsupportedData(f"protocol version {version} is not supported; byte 0 must be {VERSION}")
    if flags & ~FLAG_FACE or reserved:
        raise ProtocolError("unknown flags: only bit 0 of byte 1 (a face is present) may be set, and bytes 2-3 must be zero")
    face = bool(flags & FLAG_FACE)
    expected = FACE_BYTES if face else HEADER_BYTES
    if len(data) != expected:
        what = "with a face (468 x 3 float32 after the header)" if face else "without a face (header only)"
        raise ProtocolError(f"frame {sequence} is {len(data)} bytes; a frame {what} is {expected} bytes")
    if not math.isfinite(captured_ms) or captured_ms <= 0:
        raise ProtocolError(f"frame {sequence}: capture time must be a finite number of ms since the Unix epoch, got {captured_ms!r}")
    if not face:
        return Frame(sequence, captured_ms, None)
    # a view of the message's bytes, not a copy: the session copies x, y once, into its block of frames
    flat = np.frombuffer(data, dtype="<f4", offset=HEADER_BYTES)
    lo, hi = float(flat.min()), float(flat.max())  # NaN makes both NaN: every comparison below is then False
    if not (lo >= XY_RANGE[0] and hi <= XY_RANGE[1] and max(-lo, hi) <= Z_LIMIT):  # rare: say exactly what is wrong
        check_points(sequence, flat.reshape(LANDMARK_COUNT, 3))
    xyz = flat.reshape(LANDMARK_COUNT, 3)
    return Frame(sequence, captured_ms, xyz[:, :2])


def check_points(sequence: int, xyz: np.ndarray) -> None:
    """The frame's coordinates one rule at a time, for the message naming the first one broken."""
    if not np.isfinite(xyz).all():
        raise ProtocolError(f"frame {sequence}: coordinates must be finite numbers (NaN or infinity found); send a frame without a face instead")
    xy = xyz[:, :2]
    if xy.min() < XY_RANGE[0] or xy.max() > XY_RANGE[1]:
        raise ProtocolError(f"frame {sequence}: x and y must be normalised to 0..1 by the image size (within {XY_RANGE[0]:g}..{XY_RANGE[1]:g})")
    if np.abs(xyz[:, 2]).max() > Z_LIMIT:
        raise ProtocolError(f"frame {sequence}: z must lie within ±{Z_LIMIT:g} (MediaPipe's relative depth)")


def encode_frame(sequence: int, captured_ms: float, points: np.ndarray | None) -> bytes:
    """The client side of ``parse_frame`` (edge client, tests, benchmark): ``points`` (468, 2|3) or None."""
    if points is None:
        return HEADER.pack(VERSION, 0, 0, sequence, captured_ms)
    xyz = np.zeros((LANDMARK_COUNT, 3), dtype="<f4")
    xyz[:, : points.shape[1]] = points
    return HEADER.pack(VERSION, FLAG_FACE, 0, sequence, captured_ms) + xyz.tobytes()


class Hello(msgspec.Struct, forbid_unknown_fields=True, tag="hello", tag_field="type"):
    image_size: tuple[int, int] | None = None
    fps: float | None = None


class End(msgspec.Struct, forbid_unknown_fields=True, tag="end", tag_field="type"):
    pass


_control = msgspec.json.Decoder(Hello | End)


def parse_text(text: str) -> Hello | End:
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError(f"text message is {len(text)} characters; control messages are at most {MAX_TEXT_BYTES}")
    try:
        message = _control.decode(text)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f'control message: {exc}; send {{"type": "hello", "image_size": [w, h], "fps": F}} or {{"type": "end"}}') from None
    except msgspec.DecodeError:
        raise UnsupportedData('text messages must be JSON: {"type": "hello", ...} or {"type": "end"}; landmark frames go as binary') from None
    if isinstance(message, Hello):
        if message.image_size is not None and not all(0 < v <= 65_536 for v in message.image_size):
            raise ProtocolError("hello.image_size must be [width, height] in pixels, each 1..65536")
        if message.fps is not None and not (math.isfinite(message.fps) and 0 < message.fps <= 240):
            raise ProtocolError("hello.fps must be a number of frames per second, 0 < fps <= 240")
    return message


class WindowMessage(msgspec.Struct, omit_defaults=True, tag="window", tag_field="type"):
    """One second of capture time: ``level`` and ``probabilities`` when scorable, else ``reason``."""

    index: int
    start: str
    end: str
    frames: int
    fps: float
    scorable: bool
    level: str | None = None
    probabilities: Probabilities | None = None
    reason: str | None = None
    disclaimer: str | None = None
    quality: Quality | None = None  # the second's input quality, as in an uploaded clip's windows
    alert: str | None = None  # a plugin's alert that this second opened (AI-derived; shown on the live page)
    typicality: float | None = None  # as an uploaded clip's window: how like the model's calibration data it looks
    unfamiliar: bool = False  # typicality below PAIN_GATEWAY_TYPICALITY_BELOW: the probabilities may not apply


class AssessmentMessage(msgspec.Struct, tag="assessment", tag_field="type"):
    id: str
    url: str
    level: str | None
    windows: int


class ErrorMessage(msgspec.Struct, tag="error", tag_field="type"):
    message: str
    fatal: bool = False


encode = msgspec.json.encode
