"""The real no-pain video set: landmarks only, scorable as the gateway scores, sources recorded."""

from __future__ import annotations

import numpy as np

from gateway import prepare
from plugins.sta_lstm.lab.real_video import SOURCE, VIDEO_FILE, clips


def test_every_video_is_a_scorable_tracked_face():
    videos = clips()
    assert len(videos) == 11 and sum(c.duration_s for c in videos) >= 30
    for clip in videos:
        assert clip.points.shape[1:] == (468, 2) and np.isfinite(clip.points).all()
        windows = prepare(clip)
        assert len(windows.data) >= 2 and np.isfinite(windows.data).all()


def test_the_mouth_moves_while_they_talk():
    """Talking, not a still face: the lip gap (13-14) varies within every clip."""
    for clip in clips():
        gap = np.linalg.norm((clip.points[:, 13] - clip.points[:, 14]) * clip.image_size, axis=1)
        assert gap.max() - gap.min() > 2.0, clip.patient.value  # pixels


def test_only_landmarks_ship_and_the_card_names_source_and_licence():
    assert sorted(p.name for p in VIDEO_FILE.parent.iterdir()) == ["CARD.md", "grid.npz"]
    card = (VIDEO_FILE.parent / "CARD.md").read_text()
    assert "CC BY 4.0" in card and "10.5281/zenodo.3625687" in card and "No video is" in card
    assert "zenodo.3625687" in SOURCE
