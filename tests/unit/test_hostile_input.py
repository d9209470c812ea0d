"""Hostile and implausible inputs are refused quickly, cheaply and by name (issue: bounded, plausible input).

Each of these once took gigabytes or answered 500: a JSON of 10^5 mostly-null frames, a ``.npy``
header claiming 10^8 frames, a 3 MB ``.npz`` inflating to a gigabyte, JSON nested 100k deep, a
capture time in year 9999, coordinates of 1e300, in pixels or as strings, identifiers of megabytes with
NUL and right-to-left overrides.
"""

from __future__ import annotations

import io
import struct
import tempfile
import time
import tracemalloc
import unicodedata
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.contract.domain import InputError, LandmarkClip, PatientRef
from gateway.contract.protocols import UploadedFile
from gateway.ops.settings import Settings, SettingsError, load_settings
from gateway.pipeline.clip_checks import check_captured_at, check_clip, check_identifier
from plugins.keypoint_upload.limits import KeypointLimits
from plugins.keypoint_upload.parsing import clip_from_arrays_form, clip_from_json

FORM = {"patient_system": "urn:s", "patient_value": "v", "fps": "30", "captured_at": "2026-11-23T10:00:00Z"}
MB = 1024 * 1024


def frames(n=40, dims=2):
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(n, 468, dims))


def body(**overrides) -> bytes:
    raw = {"patient": {"reference": "Patient/p1"}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": frames().tolist()}
    raw.update(overrides)
    return msgspec.json.encode(raw)


def stored(name: str, data: bytes) -> UploadedFile:
    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return UploadedFile(name, "application/octet-stream", path)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def forged_npy(shape: tuple, dtype: str = "<f8", data: bytes = b"") -> bytes:
    """A .npy header declaring ``shape`` followed by ``data``: what a hostile client can send in 128 bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def refused(call, field: str, *words: str, max_s: float = 1.0, max_mb: float = 50) -> InputError:
    """``call`` raises InputError naming ``field`` with ``words``, within ``max_s`` and ``max_mb`` of Python allocations."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InputError) as err:
            call()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert err.value.field == field, err.value
    for word in words:
        assert word in err.value.message, err.value.message
    assert elapsed < max_s, f"took {elapsed:.2f} s"
    assert peak < max_mb, f"peak {peak:.0f} MB"
    return err.value


# --- bounded resources: keypoints ---------------------------------------------------------------------


def test_json_of_a_hundred_thousand_null_frames_is_refused_before_any_array():
    hostile = b'{"patient": {"reference": "Patient/p1"}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": [' + b"null," * 100_000 + b"null]}"
    refused(lambda: clip_from_json(hostile), "frames", "100001 frames", "18000", "PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_FRAMES")


def test_json_costs_little_more_than_its_array():
    """Frames are decoded one at a time: 2 MB of [0,0,0] points would be ~40 MB of Python objects at once."""
    zeros = b"[" + b",".join([b"[" + b",".join([b"[0,0,0]"] * 468) + b"]"] * 500) + b"]"
    hostile = body(frames=[])[: -len(b"[]}")] + zeros + b"}"
    clip = clip_from_json(hostile)
    assert clip.points.shape == (500, 468, 3)
    tracemalloc.start()
    clip_from_json(hostile)
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    assert peak < 1.5 * clip.points.nbytes / MB, f"peak {peak:.0f} MB for a {clip.points.nbytes / MB:.0f} MB array"


def test_duration_limit_applies_at_low_frame_rates():
    err = refused(lambda: clip_from_json(body(fps=5), KeypointLimits(max_duration_s=5)), "frames", "MAX_DURATION_S")
    assert "8.0 s" in err.message


def test_json_body_over_the_json_limit_is_refused_before_decoding():
    big = body() + b" " * (2 * MB)
    refused(lambda: clip_from_json(big, KeypointLimits(max_json_mb=1)), "body", "1 MB", "PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_JSON_MB", max_mb=5)


@pytest.mark.parametrize("where", ["patient", "frames", "image_size", "root"])
def test_json_nested_a_hundred_thousand_deep_is_a_named_input_error(where):
    deep = b"[" * 100_000 + b"]" * 100_000
    hostile = deep if where == "root" else msgspec.json.encode({"patient": {"reference": "Patient/p1"}})[:-1] + f', "{where}": '.encode() + deep + b"}"
    refused(lambda: clip_from_json(hostile), "body", "Expected `object`" if where == "root" else "nested too deeply")


def test_npy_header_claiming_a_hundred_million_frames_allocates_nothing():
    hostile = stored("k.npy", forged_npy((100_000_000, 468, 3)))
    refused(lambda: clip_from_arrays_form(FORM, hostile), "keypoints", "100000000 frames", "MAX_FRAMES", max_mb=1)


@pytest.mark.parametrize(
    ("shape", "dtype", "words"),
    [
        ((40, 468, 2), "|O", "object arrays"),
        ((40, 468, 2), "<U8", "numeric"),
        ((40, 468, 2), "<c16", "numeric"),
        ((1, 10**9, 2), "<f8", "expected shape"),
        ((40, 468, 2), "<f8", "truncated"),
    ],
)
def test_forged_npy_headers_are_refused_from_the_header(shape, dtype, words):
    refused(lambda: clip_from_arrays_form(FORM, stored("k.npy", forged_npy(shape, dtype, b"\0" * 64))), "keypoints", words, max_mb=1)


def test_npz_bomb_is_refused_by_its_declared_size_without_inflating():
    """1.1 GB of zeros deflates to ~5 MB: the member's declared size gives it away before inflation."""
    path = Path(tempfile.mkdtemp()) / "bomb.npz"
    header = forged_npy((100_000, 468, 3))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive, archive.open("points.npy", "w", force_zip64=True) as member:
        member.write(header)
        chunk = bytes(64 * MB)
        for _ in range(100_000 * 468 * 3 * 8 // len(chunk)):
            member.write(chunk)
    assert path.stat().st_size < 8 * MB
    upload = UploadedFile("bomb.npz", "application/octet-stream", path)
    refused(lambda: clip_from_arrays_form(FORM, upload), "keypoints", "declares 1024 MB", "MAX_FRAMES", max_mb=1)


def test_npz_with_thousands_of_members_is_refused_before_reading_its_directory():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(5000):
            archive.writestr(f"a{i}.npy", b"")
    refused(lambda: clip_from_arrays_form(FORM, stored("k.npz", buffer.getvalue())), "keypoints", "5000 arrays", max_mb=1)


def test_npz_member_whose_header_lies_under_its_declared_size_is_refused_by_the_header():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("points.npy", forged_npy((50_000, 468, 2), data=bytes(1024)))
    refused(lambda: clip_from_arrays_form(FORM, stored("k.npz", buffer.getvalue())), "keypoints", "50000 frames", "MAX_FRAMES", max_mb=1)


def test_json_sent_as_the_array_part_gets_a_clear_message():
    error = refused(lambda: clip_from_arrays_form(FORM, stored("k.npy", body())), "keypoints", "is JSON", "application/json")
    assert "pickle" not in error.message


@pytest.mark.parametrize("npz", [False, True])
def test_float32_and_fortran_arrays_within_the_limits_still_load(npz):
    points = np.asfortranarray(frames(dims=3).astype(np.float32))
    buffer = io.BytesIO()
    (np.savez_compressed(buffer, points=points) if npz else np.save(buffer, points))
    clip = clip_from_arrays_form(FORM, stored("k.npz" if npz else "k.npy", buffer.getvalue()))
    assert clip.points.dtype == np.float64 and np.array_equal(clip.points, points.astype(np.float64))


# --- plausible input ----------------------------------------------------------------------------------


def clip(points: np.ndarray, **overrides) -> LandmarkClip:
    fields = {"patient": PatientRef(reference="Patient/p1"), "captured_at": datetime(2026, 11, 23, tzinfo=UTC), "fps": 30.0, "points": points}
    return LandmarkClip(**{**fields, **overrides})


def test_pixel_coordinates_are_refused_with_a_hint_to_normalise():
    pixels = frames() * np.array([640, 480])
    with pytest.raises(InputError) as err:
        check_clip(clip(pixels))
    assert err.value.field == "frames" and "pixel coordinates" in err.value.message and "image width" in err.value.message


@pytest.mark.parametrize("value", [1e300, -1e300, 1.6, -0.6])
def test_coordinates_outside_the_image_margin_are_refused(value):
    points = frames()
    points[3, 10, 1] = value
    with pytest.raises(InputError, match="frame 3, landmark 10: y") as err:
        check_clip(clip(points))
    assert "-0.5..1.5" in err.value.message


def test_implausible_depth_is_refused():
    points = frames(dims=3)
    points[..., 2] = 0.01
    points[5, 0, 2] = 1e300
    with pytest.raises(InputError, match="z = 1e"):
        check_clip(clip(points))


@given(st.floats(-0.5, 1.5), st.floats(-0.5, 1.5), st.integers(0, 39))
@settings(max_examples=50, deadline=None)
def test_any_coordinate_within_the_margin_is_accepted(x, y, frame):
    points = frames()
    points[frame, 0] = (x, y)
    check_clip(clip(points))


def test_coordinates_as_strings_are_refused():
    raw = frames().tolist()
    raw[2][5] = ["0.5", "0.5"]
    with pytest.raises(InputError) as err:
        clip_from_json(body(frames=raw))
    assert err.value.field == "frames" and "JSON numbers" in err.value.message and "[2][5]" in err.value.message


@pytest.mark.parametrize("image_size", [["640", "480"], [True, 480], [10**6, 480]])
def test_image_size_must_be_numbers_of_sane_size(image_size):
    with pytest.raises(InputError) as err:
        clip_from_json(body(image_size=image_size))
    assert err.value.field == "image_size"


@pytest.mark.parametrize(
    ("captured_at", "words"),
    [
        ("9999-12-31T23:59:59Z", "in the future"),
        ("9999-12-31T23:59:59-14:00", "representable"),
        ("0001-01-01T00:00:00+14:00", "representable"),
        ("2999-01-01T00:00:00Z", "PAIN_GATEWAY_MAX_CLOCK_SKEW_S"),
        ("1970-01-01T00:00:00Z", "before 2000-01-01"),
    ],
)
def test_capture_times_out_of_range_are_named(captured_at, words):
    array = stored("k.npy", npy_bytes(frames()))
    for parse in (lambda: clip_from_json(body(captured_at=captured_at)), lambda: clip_from_arrays_form({**FORM, "captured_at": captured_at}, array)):
        with pytest.raises(InputError) as err:
            parse()
        assert err.value.field == "captured_at" and words in err.value.message


def test_clock_skew_is_configurable_and_checked_for_every_clip():
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    check_captured_at(now + timedelta(seconds=299), 300, now)
    with pytest.raises(InputError, match="skew 300 s"):
        check_captured_at(now + timedelta(seconds=301), 300, now)
    with pytest.raises(InputError, match="in the future"):
        check_clip(clip(frames(), captured_at=datetime.now(UTC) + timedelta(hours=1)), Settings(max_clock_skew_s=60))
    check_clip(clip(frames(), captured_at=datetime.now(UTC) + timedelta(seconds=30)), Settings(max_clock_skew_s=60))
    assert load_settings({"PAIN_GATEWAY_MAX_CLOCK_SKEW_S": "600"}).max_clock_skew_s == 600
    with pytest.raises(SettingsError, match="MAX_CLOCK_SKEW_S"):
        load_settings({"PAIN_GATEWAY_MAX_CLOCK_SKEW_S": "-1"})


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ({"system": "urn:s", "value": "A" * 5 * MB}, "at most 256"),
        ({"system": "urn:s", "value": "MRN\x001"}, "U+0000"),
        ({"system": "urn:s", "value": "MRN\u202e1"}, "U+202E"),
        ({"system": "urn:\u2066s", "value": "1"}, "U+2066"),
        ({"system": "urn:s", "value": "12\n34"}, "U+000A"),
        ({"system": "urn:s", "value": "12\u202834"}, "U+2028"),  # line separator
        ({"system": "urn:s", "value": "12\u202934"}, "U+2029"),  # paragraph separator
        ({"system": "urn:s", "value": "12\u200b34"}, "U+200B"),  # zero-width space: "1234" on screen
        ({"system": "urn:s", "value": "12\u200d34"}, "U+200D"),  # zero-width joiner
        ({"system": "urn:s", "value": "12\u00ad34"}, "U+00AD"),  # soft hyphen
        ({"system": "urn:s", "value": "12\ue00034"}, "U+E000"),  # private use
    ],
)
def test_identifiers_are_bounded_and_printable(identifier, words):
    with pytest.raises(InputError) as err:
        clip_from_json(body(patient={"identifier": identifier}))
    assert err.value.field.startswith("patient.identifier.") and words in err.value.message
    assert "MRN" not in err.value.message, "the identifier itself is never echoed"


def test_numbers_no_parser_reads_are_refused_as_input_not_a_crash():
    """Found by the probe: a big integer that simdjson refuses (and 5,000 digits, past Python's int limit)."""
    for number in (b"-9755430432862493757477931604835827712", b"9" * 5000):
        raw = b'{"patient":{"reference":"Patient/p1"},"fps":30,"captured_at":"2026-11-23T10:00:00Z","frames":[' + number + b"]}"
        with pytest.raises(InputError):
            clip_from_json(raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"patient":{"reference":"Patient/p1"},"fps":30,"fps":5,"captured_at":"2026-11-23T10:00:00Z","frames":[null]}', "fps"),
        (
            b'{"patient":{"identifier":{"system":"urn:s","value":"A","value":"B"}},"fps":30,"captured_at":"2026-11-23T10:00:00Z","frames":[null]}',
            "patient.identifier.value",
        ),
    ],
)
def test_a_key_given_twice_is_refused_by_name(raw, field):
    with pytest.raises(InputError) as err:
        clip_from_json(raw)
    assert err.value.field == field and "twice" in err.value.message


def test_form_identifiers_are_checked_too():
    with pytest.raises(InputError, match=r"U\+202E"):
        clip_from_arrays_form({**FORM, "patient_value": "x\u202ey"}, stored("k.npy", npy_bytes(frames())))
    with pytest.raises(InputError, match="Patient/<id>"):
        clip_from_arrays_form({**FORM, "patient_reference": "Patient/" + "a" * 5000}, stored("k.npy", npy_bytes(frames())))


@given(st.text(min_size=1, max_size=300))
@settings(max_examples=200, deadline=None)
def test_identifier_check_accepts_exactly_short_printable_text(text):
    invisible = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, format, surrogates, private, unassigned, separators
    bad = len(text) > 256 or any(unicodedata.category(c) in invisible for c in text)
    if bad:
        with pytest.raises(InputError):
            check_identifier("patient.identifier.value", text)
    else:
        check_identifier("patient.identifier.value", text)


def test_keypoint_limits_are_settings_with_names():
    from gateway.contract.plugin_manager import build_plugins

    settings = Settings()
    build_plugins(settings, environ={"PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_FRAMES": "100", "PAIN_GATEWAY_PLUGIN_VIDEO_UPLOAD_MAX_SIDE_PX": "1080"})
    assert settings.plugin_config("keypoint_upload") == KeypointLimits(max_frames=100)
    assert settings.plugin_config("video_upload").max_side_px == 1080
    with pytest.raises(SettingsError, match="max_frames"):
        build_plugins(Settings(), environ={"PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_MAX_FRAMES": "0"})


def test_zip_entry_count_reader_matches_zipfile():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"a{i}.npy", b"x")
    data = buffer.getvalue()
    at = data.rfind(b"PK\x05\x06")
    assert struct.unpack("<H", data[at + 10 : at + 12])[0] == 3


@given(
    st.integers(30, 50),
    st.sampled_from([2, 3]),
    st.sets(st.integers(0, 49), max_size=10),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=25, deadline=None)
def test_json_and_npy_forms_parse_to_the_same_array(n, dims, nulls, seed):
    """Bounded parsing changes nothing for valid input: JSON (frame by frame) and .npy (from the header) agree."""
    points = np.random.default_rng(seed).uniform(-0.5, 1.5, size=(n, 468, dims))
    raw = [None if i in nulls else frame.tolist() for i, frame in enumerate(points)]
    if all(f is None for f in raw):
        return
    points[[i for i in nulls if i < n]] = np.nan
    from_json = clip_from_json(body(frames=raw)).points
    from_npy = clip_from_arrays_form(FORM, stored("k.npy", npy_bytes(points))).points
    np.testing.assert_array_equal(from_json, points)
    np.testing.assert_array_equal(from_npy, points)
