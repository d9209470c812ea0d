"""``application/x-pain-keypoints``: a compact little-endian keypoint clip for edge devices.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"PKPT"
    4       2     version, uint16 = 1
    6       1     coords per point, uint8: 2 (x, y) or 3 (x, y, z)
    7       1     reserved, uint8 = 0
    8       4     frames, uint32
    12      8     fps, float64
    20      8     captured_at, int64 microseconds since 1970-01-01T00:00:00Z
    28      4     image width, uint32 (0 with height 0: unknown)
    32      4     image height, uint32
    36      2     patient length P, uint16 (at most 4096)
    38      P     patient, UTF-8 JSON as in the JSON form: {"identifier": {...}} or {"reference": ...}
    38+P    B     presence bitmap, B = ceil(frames / 8): bit i%8 of byte i//8 set when frame i has a face
    38+P+B  ...   float32 coordinates, 468 x coords per present frame, frames in order

A clip of 150 frames of x, y, z is 843 kB (JSON: ~4.5 MB). The header, the patient and the exact
total size are checked before anything the header declares is allocated.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np

from gateway import DEFAULT_CLOCK_SKEW_S, LANDMARK_COUNT, InputError, LandmarkClip, parse_captured_at, parse_patient
from plugins.keypoint_upload.limits import KeypointLimits
from plugins.keypoint_upload.parsing import parse_fps, parse_image_size

MEDIA_TYPE = "application/x-pain-keypoints"
MAGIC = b"PKPT"
VERSION = 1
HEADER = struct.Struct("<4sHBBIdqIIH")
MAX_PATIENT_BYTES = 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _header_error(text: str) -> InputError:
    return InputError("body", f"{MEDIA_TYPE}: {text}")


def encode_clip(points: np.ndarray, fps: float, captured_at: datetime, patient: dict, image_size: tuple[int, int] | None = None) -> bytes:
    """The binary form of a (frames, 468, 2|3) array with NaN rows for frames without a face."""
    points = np.asarray(points)
    present = ~np.isnan(points).all(axis=(1, 2))
    patient_bytes = msgspec.json.encode(patient)
    micros = (captured_at - _EPOCH) // timedelta(microseconds=1)
    width, height = image_size or (0, 0)
    header = HEADER.pack(MAGIC, VERSION, points.shape[2], 0, points.shape[0], fps, micros, width, height, len(patient_bytes))
    bitmap = np.packbits(present, bitorder="little").tobytes()
    return header + patient_bytes + bitmap + points[present].astype("<f4").tobytes()


def clip_from_binary(body: bytes, limits: KeypointLimits | None = None, max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S) -> LandmarkClip:
    limits = limits or KeypointLimits()
    if len(body) < HEADER.size:
        raise _header_error(f"body of {len(body)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, coords, reserved, frames, fps_raw, micros, width, height, patient_len = HEADER.unpack_from(body)
    if magic != MAGIC:
        raise _header_error(f"does not start with the magic {MAGIC!r}")
    if version != VERSION:
        raise _header_error(f"version {version} is not supported (this gateway reads version {VERSION})")
    if coords not in (2, 3) or reserved:
        raise _header_error(f"coords per point must be 2 or 3 and the reserved byte 0; got {coords} and {reserved}")
    if frames == 0:
        raise InputError("frames", "the clip declares 0 frames")
    fps = parse_fps(fps_raw)
    limits.check_frames(frames, fps, "frames")
    if patient_len > MAX_PATIENT_BYTES:
        raise InputError("patient", f"declares {patient_len} bytes; at most {MAX_PATIENT_BYTES} are read")
    bitmap_at = HEADER.size + patient_len
    data_at = bitmap_at + (frames + 7) // 8
    if len(body) < data_at:
        raise _header_error(f"is truncated: the header declares a patient and a bitmap ending at byte {data_at}, the body has {len(body)}")
    present = np.unpackbits(np.frombuffer(body, np.uint8, data_at - bitmap_at, bitmap_at), bitorder="little")
    if present[frames:].any():
        raise _header_error("presence bitmap has bits set past the last frame")
    present = present[:frames].astype(bool)
    expected = data_at + int(present.sum()) * LANDMARK_COUNT * coords * 4
    if len(body) != expected:
        raise _header_error(f"body is {len(body)} bytes; the header and bitmap declare {expected} ({int(present.sum())} present frames)")
    if not present.any():
        raise InputError("frames", "every frame is null: no face was found in the clip")
    try:
        patient = msgspec.json.decode(body[HEADER.size : bitmap_at])
    except (msgspec.DecodeError, RecursionError):
        raise InputError("patient", "is not UTF-8 JSON of the patient form") from None
    try:
        captured = (_EPOCH + timedelta(microseconds=micros)).isoformat()
    except OverflowError:
        raise InputError("captured_at", f"{micros} microseconds since 1970 is out of range") from None
    points = np.full((frames, LANDMARK_COUNT, coords), np.nan)
    points[present] = np.frombuffer(body, "<f4", offset=data_at).reshape(-1, LANDMARK_COUNT, coords)
    return LandmarkClip(
        patient=parse_patient(patient),
        captured_at=parse_captured_at(captured, max_clock_skew_s),
        fps=fps,
        points=points,
        image_size=None if (width, height) == (0, 0) else parse_image_size([width, height]),
        source="keypoints/binary",
    )
