"""Real MediaPipe on real encoded videos: faces found, no phantom faces, rotation, progress, shrinking."""

from __future__ import annotations

import numpy as np
from support.videos import face_frames, face_video, faceless_video, set_rotation, vfr_face_video, write_video

from gateway.pipeline.quality import FAILED_FACE_SHARE, head_turn_deg, quality
from plugins.video_upload.extract import extract_landmarks

EYES, MOUTH = [33, 263], [13, 14]


def test_a_face_video_yields_landmarks_for_nearly_every_frame_with_monotone_progress(tmp_path):
    path = face_video(tmp_path / "face.mp4", seconds=2.0, size=(640, 480), fourcc="avc1")
    calls: list[float] = []
    result = extract_landmarks(path, progress=calls.append)
    assert result.points.shape == (60, 468, 3) and result.points.dtype == np.float32
    assert result.fps == 30.0 and result.image_size == (640, 480) and result.frames_decoded == 60
    assert result.face_frames >= 54 and result.info.codec == "h264"
    assert quality(result.points).face_share == result.face_frames / 60
    # The face sits in the middle of the frame, as written, and looks at the camera.
    assert 0.4 < np.nanmean(result.points[:, :, 0]) < 0.6
    assert np.nanmax(np.abs(head_turn_deg(result.points, result.image_size))) < 10
    assert calls and calls[-1] == 1.0 and calls == sorted(calls) and all(0 <= c <= 1 for c in calls)


def test_a_video_without_a_face_finds_almost_none(tmp_path):
    result = extract_landmarks(faceless_video(tmp_path / "wall.webm", seconds=1.0, size=(320, 240), fourcc="VP80"))
    assert result.points.shape[0] == 30
    assert quality(result.points).face_share < 0.1 < FAILED_FACE_SHARE


def test_a_portrait_phone_video_is_landmarked_upright(tmp_path):
    stored = [np.ascontiguousarray(np.rot90(f)) for f in face_frames(20, 30, (320, 240))]
    path = write_video(tmp_path / "phone.mp4", stored, 30)
    sideways = extract_landmarks(path).points
    set_rotation(path, 90)
    result = extract_landmarks(path)
    assert result.image_size == (320, 240) and result.info.rotation_deg == 90
    upright = result.points
    # Upright: eyes above the mouth (image y grows downwards); stored pixels had them side by side.
    drop = np.nanmean(upright[:, MOUTH, 1]) - np.nanmean(upright[:, EYES, 1])
    assert drop > 0.1 and abs(np.nanmean(sideways[:, MOUTH, 1]) - np.nanmean(sideways[:, EYES, 1])) < drop / 3


def test_repeated_frames_reuse_landmarks_instead_of_running_face_mesh_again(tmp_path):
    times = [i / 15 for i in range(15)]  # 1 s at 15 fps
    result = extract_landmarks(vfr_face_video(tmp_path / "slow.mp4", times))
    assert result.points.shape[0] == 30 and result.frames_decoded == 15
    np.testing.assert_array_equal(result.points[0::2], result.points[1::2])


def test_shrinking_large_frames_keeps_the_face_and_its_landmarks(tmp_path):
    path = face_video(tmp_path / "hd.mp4", seconds=1.0, size=(1280, 720))
    full = extract_landmarks(path, max_side=None)
    small = extract_landmarks(path, max_side=640)
    assert full.face_frames == small.face_frames == 30 and small.image_size == (1280, 720)
    # Within half a percent of the frame: far below the face's own size.
    assert np.abs(full.points[..., :2] - small.points[..., :2]).mean() < 0.005


def test_a_stalled_camera_gives_no_face_rows_not_a_frozen_face(tmp_path):
    """3 s without frames: landmarks are NaN there (unscorable), not the last face repeated for 3 s."""
    times = [i / 30 for i in range(10)] + [4 + i / 30 for i in range(10)]
    result = extract_landmarks(vfr_face_video(tmp_path / "stall.mp4", times))
    assert result.points.shape[0] == 4 * 30 + 10
    assert np.isnan(result.points[40:90]).all()
    assert result.frames_decoded == 20
