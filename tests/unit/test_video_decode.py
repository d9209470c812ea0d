"""Decoding real encoded files: every container/codec we can write here, timing, rotation, bad input."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from support.videos import (
    face_frames,
    face_video,
    not_a_video,
    set_rotation,
    truncated_copy,
    vfr_face_video,
    vfr_mark,
    write_video,
)

from gateway.contract.domain import InputError, UnsupportedMediaError
from plugins.video_upload.decode import iter_frames, probe, sniff_container
from plugins.video_upload.limits import VideoLimits

SMALL = (160, 120)

FORMATS = [  # suffix, fourcc as written, container and codec as probed
    ("mp4", "mp4v", "mp4", "mpeg4"),
    ("mp4", "avc1", "mp4", "h264"),
    ("mov", "mp4v", "mov", "mpeg4"),
    ("mov", "avc1", "mov", "h264"),
    ("webm", "VP80", "webm", "vp8"),
    ("webm", "VP90", "webm", "vp9"),
    ("avi", "MJPG", "avi", "mjpeg"),
]


@pytest.mark.parametrize(("suffix", "fourcc", "container", "codec"), FORMATS)
def test_each_container_and_codec_decodes_to_rgb_on_the_30_fps_timeline(tmp_path, suffix, fourcc, container, codec):
    path = face_video(tmp_path / f"face.{suffix}", seconds=1.0, size=SMALL, fourcc=fourcc)
    info = probe(path)
    assert (info.container, info.codec, info.width, info.height) == (container, codec, *SMALL)
    assert info.frame_count == 30 and info.duration_s == pytest.approx(1.0, abs=0.01)
    assert info.rotation_deg == 0
    decoded = list(iter_frames(path))
    assert [k for k, _ in decoded] == list(range(30))
    source = list(face_frames(30, 30, SMALL))
    frame = decoded[15][1]
    assert frame.dtype == np.uint8 and frame.shape == (SMALL[1], SMALL[0], 3)
    # RGB in source order (a BGR mix-up would differ by far more than compression does).
    error, swapped = (np.abs(f.astype(int) - source[15]).mean() for f in (frame, frame[..., ::-1]))
    assert error < 10 and swapped > 2 * error


@pytest.mark.parametrize(("fps", "distinct"), [(15, 15), (25, 25), (60, 30)])
def test_constant_rates_map_onto_30_fps_by_repeating_or_dropping_frames(tmp_path, fps, distinct):
    path = face_video(tmp_path / "clip.mp4", seconds=1.0, fps=fps, size=SMALL)
    decoded = list(iter_frames(path))
    assert [k for k, _ in decoded] == list(range(30))
    # Repeats are the same object, so downstream can skip them.
    assert len({id(frame) for _, frame in decoded}) == distinct


def test_variable_frame_rate_follows_presentation_times(tmp_path):
    # 10 frames at 30 fps, 10 at 15 fps (a phone in low light), 20 at 60 fps.
    times = [i / 30 for i in range(10)] + [(10 + 2 * i) / 30 for i in range(10)] + [1 + i / 60 for i in range(20)]
    path = vfr_face_video(tmp_path / "vfr.mp4", times)
    marks = [vfr_mark(frame) for _, frame in iter_frames(path)]
    held = [m for i in range(10, 20) for m in (i, i)]  # each 15 fps frame twice
    on_slot = list(range(20, 40, 2))  # 60 fps: the frame on each slot; those on half slots are dropped
    assert marks == [*range(10), *held, *on_slot]


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_tag_is_applied_so_frames_come_out_upright(tmp_path, degrees):
    w, h = SMALL
    upright = np.zeros((h, w, 3), np.uint8)
    upright[:30, :40] = 255  # a white block at the top left, as the viewer should see it
    stored = np.ascontiguousarray(np.rot90(upright, k=degrees // 90))  # what the camera wrote
    path = write_video(tmp_path / "phone.mp4", [stored] * 5, 30)
    set_rotation(path, degrees)
    info = probe(path)
    assert info.rotation_deg == degrees and (info.width, info.height) == (w, h)
    frame = next(iter_frames(path))[1]
    assert frame.shape == (h, w, 3)
    assert frame[:30, :40].mean() > 200 and frame[30:, 40:].mean() < 30


def test_sniffing_tells_containers_from_other_files(tmp_path):
    assert sniff_container(b"\0\0\0\x18ftypisom\0\0\0\0") == "mp4"
    assert sniff_container(b"\0\0\0\x14ftypqt  \0\0\0\0") == "mov"
    assert sniff_container(b"\0\0\0\x08wide\0\0\0\0mdat") == "mov"
    assert sniff_container(b"RIFF\0\0\0\0AVI LIST") == "avi"
    assert sniff_container(b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\x82\x88matroska") == "matroska"
    assert sniff_container(b"%PDF-1.7\n") is None
    assert sniff_container(b"") is None


@pytest.mark.parametrize("make", [not_a_video, lambda p: p.write_bytes(b"") or p])
def test_a_file_that_is_no_video_is_unsupported_media(tmp_path, make):
    path = make(tmp_path / "notes.mp4")
    for read in (probe, lambda p: list(iter_frames(p))):
        with pytest.raises(UnsupportedMediaError) as err:
            read(path)
        assert err.value.field == "video" and "not a video" in err.value.message


def test_an_mp4_cut_short_loses_its_index_and_is_a_clear_input_error(tmp_path):
    cut = truncated_copy(face_video(tmp_path / "face.mp4", seconds=1.0, size=SMALL), tmp_path / "cut.mp4")
    with pytest.raises(InputError) as err:
        probe(cut)
    assert type(err.value) is InputError and err.value.field == "video"
    assert "truncated or corrupt" in err.value.message and "moov" in err.value.message


def test_a_stream_cut_in_the_middle_fails_after_the_frames_it_has(tmp_path):
    webm = face_video(tmp_path / "face.webm", seconds=2.0, size=SMALL, fourcc="VP80")
    cut = truncated_copy(webm, tmp_path / "cut.webm")
    assert probe(cut).duration_s == pytest.approx(2.0, abs=0.05)  # the header still claims 2 s
    frames = []
    with pytest.raises(InputError) as err:
        frames.extend(k for k, _ in iter_frames(cut))
    assert type(err.value) is InputError and "truncated or corrupt" in err.value.message
    assert 10 < len(frames) < 55


def test_a_header_without_frames_has_no_decodable_frames(tmp_path):
    webm = face_video(tmp_path / "face.webm", seconds=1.0, size=SMALL, fourcc="VP80")
    header_only = truncated_copy(webm, tmp_path / "head.webm", fraction=0.02)
    for read in (probe, lambda p: list(iter_frames(p))):
        with pytest.raises(InputError, match="no decodable video frames"):
            read(header_only)


# --- limits: what the container declares is checked before decoding, what decoding finds as it goes ---


def test_two_frames_an_hour_apart_are_refused_from_the_container_before_decoding(tmp_path):
    path = vfr_face_video(tmp_path / "hour.mp4", [0, 3600])
    assert path.stat().st_size < 100_000
    for read in (probe, lambda p: list(iter_frames(p))):
        started = time.perf_counter()
        with pytest.raises(InputError) as err:
            read(path)
        assert time.perf_counter() - started < 1
        assert "3600.0 s" in err.value.message and "600 s" in err.value.message
        assert "PAIN_GATEWAY_PLUGIN_VIDEO_UPLOAD_MAX_DURATION_S" in err.value.message


def test_a_container_that_understates_its_length_is_stopped_by_the_frames_themselves(tmp_path):
    """An AVI whose headers claim 1 s holds 3 s of frames: decoding stops at the limit, not at the end."""
    path = face_video(tmp_path / "long.avi", seconds=3.0, size=(64, 48), fourcc="MJPG")
    blob = bytearray(path.read_bytes())
    for box, offset in ((b"avih", 16), (b"strh", 32)):  # dwTotalFrames, dwLength
        struct.pack_into("<I", blob, blob.index(box) + 8 + offset, 30)
    path.write_bytes(blob)
    limits = VideoLimits(max_duration_s=2)
    assert probe(path, limits).duration_s == pytest.approx(1.0)
    slots = []
    with pytest.raises(InputError, match="runs past 2 s") as err:
        slots.extend(k for k, _ in iter_frames(path, limits=limits))
    assert "MAX_DURATION_S" in err.value.message and len(slots) <= 61
    with pytest.raises(InputError, match="more than 40 frames"):
        list(iter_frames(path, limits=VideoLimits(max_frames=40)))


def test_resolution_and_frame_count_limits_are_read_from_the_container(tmp_path):
    wide = face_video(tmp_path / "wide.mp4", seconds=1.0, size=(4608, 64))
    with pytest.raises(InputError, match="4608x64 pixels; at most 4096") as err:
        probe(wide)
    assert "PAIN_GATEWAY_PLUGIN_VIDEO_UPLOAD_MAX_SIDE_PX" in err.value.message
    clip = face_video(tmp_path / "clip.mp4", seconds=2.0, size=SMALL)
    with pytest.raises(InputError, match="60 frames; at most 30") as err:
        probe(clip, VideoLimits(max_frames=30))
    assert "PAIN_GATEWAY_PLUGIN_VIDEO_UPLOAD_MAX_FRAMES" in err.value.message


def test_slots_far_from_any_frame_have_no_picture_instead_of_a_frozen_one(tmp_path):
    """A 3 s stall: the slots within 1 s of a real frame repeat it, the rest are None; the tail is short."""
    times = [i / 30 for i in range(10)] + [4 + i / 30 for i in range(10)]
    decoded = list(iter_frames(vfr_face_video(tmp_path / "stall.mp4", times)))
    assert [k for k, _ in decoded] == list(range(len(decoded))) and len(decoded) == 4 * 30 + 10
    empty = [k for k, frame in decoded if frame is None]
    assert empty == list(range(round((9 / 30 + 1) * 30) + 1, 4 * 30 - 30))
