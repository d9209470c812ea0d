"""The compact binary keypoint form: round trip, and hostile headers refused before allocation."""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.contract.domain import InputError, PatientRef
from plugins.keypoint_upload.binary import HEADER, MEDIA_TYPE, clip_from_binary, encode_clip

PATIENT = {"identifier": {"system": "urn:s", "value": "v"}}
WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def points(n=40, dims=3) -> np.ndarray:
    out = np.random.default_rng(0).uniform(0.2, 0.8, size=(n, 468, dims))
    out[[2, 11]] = np.nan
    return out


def forged(**fields) -> bytes:
    values = {
        "magic": b"PKPT",
        "version": 1,
        "coords": 3,
        "reserved": 0,
        "frames": 40,
        "fps": 30.0,
        "micros": int(WHEN.timestamp() * 1e6),
        "width": 0,
        "height": 0,
        "patient_len": 2,
    }
    values.update(fields)
    return HEADER.pack(*values.values()) + b"{}"


def refusal(data: bytes) -> InputError:
    with pytest.raises(InputError) as error:
        clip_from_binary(data)
    return error.value


def test_round_trip_keeps_float32_points_nan_frames_and_metadata():
    data = encode_clip(points(), 30, WHEN, PATIENT, (640, 480))
    clip = clip_from_binary(data)
    assert clip.points.shape == (40, 468, 3) and clip.points.dtype == np.float64
    assert np.array_equal(clip.points, points().astype(np.float32).astype(np.float64), equal_nan=True)
    assert clip.captured_at == WHEN and clip.fps == 30 and clip.image_size == (640, 480)
    assert clip.patient == PatientRef(system="urn:s", value="v") and clip.source == "keypoints/binary"
    assert len(data) == HEADER.size + len(b'{"identifier":{"system":"urn:s","value":"v"}}') + 5 + 38 * 468 * 3 * 4


def test_xy_clip_and_reference_patient():
    clip = clip_from_binary(encode_clip(points(dims=2), 25, WHEN, {"reference": "Patient/p1"}))
    assert clip.points.shape == (40, 468, 2) and clip.image_size is None and clip.patient == PatientRef(reference="Patient/p1")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"PKPT\x01", "body", "shorter than the 38-byte header"),
        (forged(magic=b"\x93NUM"), "body", "magic"),
        (forged(version=2), "body", "version 2 is not supported"),
        (forged(coords=4), "body", "coords per point must be 2 or 3"),
        (forged(reserved=1), "body", "reserved byte 0"),
        (forged(frames=0), "frames", "declares 0 frames"),
        (forged(frames=2**32 - 1), "frames", "MAX_FRAMES"),
        (forged(frames=17_000, fps=5.0), "frames", "MAX_DURATION_S"),
        (forged(fps=float("nan")), "fps", "finite"),
        (forged(patient_len=65_535), "patient", "at most 4096"),
        (forged(patient_len=4000), "body", "is truncated"),
        (forged() + b"\xff" * 5 + b"\x00" * 100, "body", "the header and bitmap declare"),
        (forged(frames=36) + b"\x00" * 4 + b"\x80", "body", "bits set past the last frame"),
        (forged() + b"\x00" * 5, "frames", "every frame is null"),
    ],
)
def test_hostile_headers_are_refused_naming_the_field(data, field, words):
    started = time.perf_counter()
    error = refusal(data)
    assert error.field == field and words in str(error), str(error)
    assert time.perf_counter() - started < 0.05  # nothing the header declares was allocated


def test_bad_patient_and_time_are_refused_by_the_shared_checks():
    data = encode_clip(points(), 30, WHEN, PATIENT)
    assert refusal(data.replace(b'{"identifier"', b'["identifier"', 1)).field == "patient"
    late = bytearray(data)
    struct.pack_into("<q", late, 20, 2**62)
    assert refusal(bytes(late)).field == "captured_at"


def test_the_api_scores_the_binary_form(api, face_points):
    data = encode_clip(face_points, 30, WHEN, PATIENT, (640, 480))
    headers = {**api.headers("integrator"), "content-type": MEDIA_TYPE}
    response = api.client.post("/v1/assessments", content=data, headers=headers)
    assert response.status_code == 201, response.text
    assert api.client.post("/v1/assessments", content=data[:-4], headers=headers).json()["field"] == "body"
