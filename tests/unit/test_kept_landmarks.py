"""Kept landmarks: what an assessment was scored from, written whole or not at all, however many write it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np

from gateway.contract.domain import LandmarkClip, PatientRef
from gateway.storage import kept_landmarks


def test_the_same_assessment_kept_by_concurrent_writers_is_whole_and_leaves_no_partial_file(tmp_path, face_points):
    """A retried submission can be scored twice at once (scoring processes keep before storing)."""
    clip = LandmarkClip(PatientRef(value="p1"), datetime(2026, 11, 23, 10, tzinfo=UTC), 30.0, face_points, (640, 480))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: kept_landmarks.keep(clip, str(tmp_path), "a-1"), range(32)))
    kept = kept_landmarks.load(str(tmp_path), "a-1")
    assert kept is not None and kept.fps == 30.0 and kept.image_size == (640, 480)
    np.testing.assert_array_equal(kept.points, face_points.astype(np.float32))
    assert [p.name for p in (tmp_path / "landmarks").iterdir()] == ["a-1.npz"]


def _clip(points):
    return LandmarkClip(PatientRef(value="p1"), datetime(2026, 11, 23, 10, tzinfo=UTC), 30.0, points, (640, 480))


def test_a_sparse_live_grid_is_kept_losslessly_at_its_own_frame_count_in_a_few_kilobytes(tmp_path, face_points):
    """60 face frames spread over 600 s on the 30 fps grid: 66 MB as every slot, uncompressed."""
    grid = np.full((18_000, 468, 2), np.nan, dtype=np.float32)
    grid[::300] = face_points[:60, :, :2]
    grid[7, 3] = [0.5, np.nan]  # a frame with part of a face stays as it was
    size = kept_landmarks.keep(_clip(grid), str(tmp_path), "live")
    assert size == kept_landmarks.path(str(tmp_path), "live").stat().st_size < 200_000
    kept = kept_landmarks.load(str(tmp_path), "live")
    assert kept is not None and kept.points.shape == (18_000, 468, 2) and kept.points.dtype == np.float32
    np.testing.assert_array_equal(kept.points, grid)


def test_landmarks_kept_in_the_uncompressed_format_before_are_still_read(tmp_path, face_points):
    points = face_points.astype(np.float32)
    points[10:20] = np.nan
    (tmp_path / "landmarks").mkdir()
    np.savez(
        kept_landmarks.path(str(tmp_path), "old"),
        points=points,
        fps=25.0,
        image_size=np.array((0, 0)),
        captured_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
    )
    kept = kept_landmarks.load(str(tmp_path), "old")
    assert kept is not None and kept.fps == 25.0 and kept.image_size is None
    np.testing.assert_array_equal(kept.points, points)
    assert kept_landmarks.load(str(tmp_path), "absent") is None
