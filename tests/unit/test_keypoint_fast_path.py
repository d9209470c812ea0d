"""The simdjson fast path for JSON frames gives exactly the strict path's arrays, and every frame it
cannot shape with certainty goes to the strict path, so refusals keep their words."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from gateway.contract.domain import InputError
from plugins.keypoint_upload.parsing import clip_from_json


def body(frames) -> bytes:
    raw = {"patient": {"reference": "Patient/p1"}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": frames}
    return msgspec.json.encode(raw)


def refusal(text: bytes) -> InputError:
    with pytest.raises(InputError) as error:
        clip_from_json(text)
    return error.value


def reference(frames) -> np.ndarray:
    """The old path: every coordinate a Python float, then one numpy array."""
    return np.array([np.full((468, len(frames[0][0])), np.nan) if f is None else f for f in frames], dtype=np.float64)


def test_fast_path_matches_python_floats_bit_for_bit():
    rng = np.random.default_rng(1)
    frames = rng.uniform(-0.49, 1.49, size=(40, 468, 3))
    frames[:, :, 2] = rng.normal(0, 1e-3, size=(40, 468))  # tiny z: exponents in the JSON text
    listed = frames.tolist()
    listed[5], listed[6] = None, None
    listed[7][0] = [0, 1, -0.0]  # integers and a negative zero
    text = json.dumps({"patient": {"reference": "Patient/p1"}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": listed}, indent=2)
    points = clip_from_json(text.encode()).points
    assert np.array_equal(points, reference(listed), equal_nan=True)
    assert np.signbit(points[7, 0, 2]) and np.isnan(points[5]).all()


def test_irregular_points_that_flatten_to_the_right_count_are_refused_not_shifted():
    frames = np.full((40, 468, 3), 0.5).tolist()
    frames[3][0], frames[3][1] = [0.5, 0.5, 0.5, 0.5], [0.5, 0.5]  # 1404 numbers, wrong shape
    with pytest.raises(InputError) as error:
        clip_from_json(body(frames))
    assert error.value.field == "frames" and "frame 3 has 468 points of [2, 3, 4] coordinates" in str(error.value)


def test_nested_point_that_flattens_is_refused_by_the_strict_path():
    text = body(np.full((40, 468, 3), 0.5).tolist()).replace(b"[0.5,0.5,0.5]", b"[0.5,[0.5],0.5]", 1)
    with pytest.raises(InputError) as error:
        clip_from_json(text)
    assert error.value.field == "frames" and "frames[0][0][1]" in str(error.value)


@pytest.mark.parametrize("literal", [b'"0.5"', b"true", b"null", b"{}"])
def test_non_numbers_in_a_later_frame_get_the_strict_message(literal):
    text = body(np.full((40, 468, 3), 0.5).tolist())
    at = text.index(b"[0.5,0.5,0.5]", len(text) // 2)
    text = text[:at] + b"[0.5," + literal + b",0.5]" + text[at + 13 :]
    with pytest.raises(InputError) as error:
        clip_from_json(text)
    assert error.value.field == "frames" and "frames[" in str(error.value)


def test_a_number_beyond_float64_takes_the_strict_path_and_its_refusal():
    text = body(np.full((40, 468, 3), 0.5).tolist()).replace(b"[0.5,0.5,0.5]", b"[0.5,0.5,1e400]", 1)
    error = refusal(text)
    assert error.field == "frames" and "Number out of range at frames[0][0][2]" in str(error)


def test_xy_then_xyz_frames_are_refused_as_unequal():
    frames = np.full((40, 468, 2), 0.5).tolist()
    frames[9] = np.full((468, 3), 0.5).tolist()
    with pytest.raises(InputError) as error:
        clip_from_json(body(frames))
    assert "frame 9 has 468 points of [3] coordinates, the first frame 468 of 2" in str(error.value)


def test_fast_frames_do_not_let_an_unknown_key_or_an_object_point_through():
    """The keys are checked before any frame is decoded, and a point written as an object never takes the fast path."""
    frames = np.random.default_rng(2).uniform(0.2, 0.8, size=(40, 468, 3)).tolist()
    typo = body(frames)[:-1] + b',"image_sise":[640,480]}'
    error = refusal(typo)
    assert error.field == "image_sise" and "did you mean 'image_size'?" in error.message
    frames[3][10] = {"x": 0.5, "y": 0.5}
    error = refusal(body(frames))
    assert error.field == "frames" and "frames[3][10]" in error.message
