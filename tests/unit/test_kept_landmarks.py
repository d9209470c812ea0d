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
