"""Keypoint submissions are parsed strictly; each problem names the field to fix."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import msgspec
import numpy as np
import pytest

from gateway.contract.domain import InputError, PatientRef
from gateway.contract.protocols import UploadedFile
from gateway.pipeline.clip_checks import check_clip
from plugins.keypoint_upload.parsing import clip_from_arrays_form, clip_from_json


def frames(n=40, points=468, dims=2):
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 0.8, size=(n, points, dims)).tolist()


def body(**overrides):
    raw = {"patient": {"reference": "Patient/p1"}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": frames()}
    raw.update(overrides)
    return msgspec.json.encode(raw)


def test_json_with_null_frames_becomes_nan_rows():
    raw = frames()
    raw[3] = None
    clip = clip_from_json(body(frames=raw, image_size=[640, 480]))
    assert clip.points.shape == (40, 468, 2) and np.isnan(clip.points[3]).all()
    assert clip.patient == PatientRef(reference="Patient/p1") and clip.image_size == (640, 480)
    check_clip(clip)


def test_identifier_patient_and_xyz_points():
    clip = clip_from_json(body(patient={"identifier": {"system": "urn:s", "value": "v"}}, frames=frames(dims=3)))
    assert clip.patient == PatientRef(system="urn:s", value="v") and clip.points.shape[2] == 3


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"patient": {"name": "Jane"}}, "patient.name", "unknown key 'name' in patient"),
        ({"patient": {"reference": "Jane Doe"}}, "patient.reference", "Patient/<id>"),
        ({"patient": {"identifier": {"system": "urn:s"}}}, "patient.identifier.value", "non-empty"),
        ({"patient": None}, "patient", "required"),
        ({"captured_at": "yesterday"}, "captured_at", "ISO-8601"),
        ({"captured_at": "2026-11-23T10:00:00"}, "captured_at", "time zone"),
        ({"fps": "fast"}, "fps", "number"),
        ({"frames": []}, "frames", "non-empty"),
        ({"frames": [None, None]}, "frames", "no face"),
        ({"image_size": [640]}, "image_size", "width, height"),
    ],
)
def test_bad_json_fields_are_named(overrides, field, words):
    with pytest.raises(InputError) as err:
        clip_from_json(body(**overrides))
    assert err.value.field == field and words in err.value.message


def test_ragged_frames_are_named():
    raw = frames()
    raw[5] = raw[5][:400]
    with pytest.raises(InputError) as err:
        clip_from_json(body(frames=raw))
    assert err.value.field == "frames" and "400" in err.value.message


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"frames": frames(points=467)}, "468"),
        ({"frames": frames(n=29)}, "at least 30"),
        ({"fps": 2}, "between 5 and 120"),
        ({"fps": 500}, "between 5 and 120"),
    ],
)
def test_clip_checks_name_the_field(overrides, words):
    with pytest.raises(InputError) as err:
        check_clip(clip_from_json(body(**overrides)))
    assert words in err.value.message


def test_nan_and_inf_inside_a_face_frame_are_rejected():
    for bad, words in ((float("nan"), "missing coordinates"), (float("inf"), "infinite")):
        points = np.array(frames())
        points[7, 100, 0] = bad
        clip = clip_from_arrays_form(FORM, upload(points))
        with pytest.raises(InputError, match="frame 7") as err:
            check_clip(clip)
        assert words in err.value.message


FORM = {"patient_system": "urn:s", "patient_value": "v", "fps": "30", "captured_at": "2026-11-23T10:00:00+01:00"}


def stored(name: str, data: bytes) -> UploadedFile:
    """An upload as the transport leaves it: streamed to a file."""
    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return UploadedFile(name, "application/octet-stream", path)


def upload(points, npz=False):
    buffer = io.BytesIO()
    (np.savez_compressed(buffer, points=points) if npz else np.save(buffer, points))
    return stored("k.npz" if npz else "k.npy", buffer.getvalue())


@pytest.mark.parametrize("npz", [False, True])
def test_npy_and_npz_uploads(npz):
    clip = clip_from_arrays_form({**FORM, "image_size": "640,480"}, upload(np.array(frames()), npz))
    assert clip.points.shape == (40, 468, 2) and clip.image_size == (640, 480)
    assert clip.captured_at.utcoffset().total_seconds() == 3600


@pytest.mark.parametrize(
    ("fields", "data", "field"),
    [
        ({k: v for k, v in FORM.items() if not k.startswith("patient")}, None, "patient"),
        (FORM, b"not numpy", "keypoints"),
        ({**FORM, "fps": ""}, None, "fps"),
    ],
)
def test_bad_form_uploads_are_named(fields, data, field):
    file = upload(np.array(frames())) if data is None else stored("k.npy", data)
    with pytest.raises(InputError) as err:
        clip_from_arrays_form(fields, file)
    assert err.value.field == field


def test_npz_without_points_array():
    buffer = io.BytesIO()
    np.savez(buffer, landmarks=np.zeros((40, 468, 2)))
    with pytest.raises(InputError, match="'points'"):
        clip_from_arrays_form(FORM, stored("k.npz", buffer.getvalue()))


@pytest.mark.parametrize("frames_declared", [-1, 0, -(2**40)])
def test_an_npy_header_declaring_no_or_negative_frames_is_refused_by_name(frames_declared):
    """The header is written by hand, as a hostile client would: numpy itself never saves such a shape."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (frames_declared, 468, 3)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with pytest.raises(InputError) as err:
        clip_from_arrays_form(FORM, stored("k.npy", buffer.getvalue() + b"\0" * 64))
    assert err.value.field == "keypoints" and "at least one frame" in err.value.message
