"""Regenerate examples/: the README's first requests run on these files as written.

- ``astronaut-keypoints.json``: the JSON keypoint submission of ``tests/data/astronaut_face_5s.npz``
  (real Face Mesh output for scikit-image's public-domain astronaut photo, see make_face_fixture.py),
  written by the same function as ``pain-gateway extract``.
- ``astronaut-3s.mp4``: 3 s of the same face moving, 320x240 H.264, made like the tests' face videos
  (``tests/support/videos.py``; needs PyAV, a test dependency) and kept under 300 kB for the repository.

Run: python scripts/make_examples.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gateway.cli import keypoint_submission
from tests.support.videos import face_video

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PATIENT = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-EXAMPLE-1"}}


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    fixture = np.load(ROOT / "tests" / "data" / "astronaut_face_5s.npz")
    submission = keypoint_submission(fixture["points"], int(fixture["fps"]), fixture["image_size"].tolist(), PATIENT, "2026-11-23T10:00:00Z")
    keypoints = EXAMPLES / "astronaut-keypoints.json"
    keypoints.write_text(json.dumps(submission, separators=(",", ":")) + "\n")
    video = face_video(EXAMPLES / "astronaut-3s.mp4", seconds=3, size=(320, 240), fourcc="avc1")
    for path in (keypoints, video):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
