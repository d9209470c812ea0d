"""Regenerate examples/: the README's first requests run on these files as written.

- ``astronaut-keypoints.json``: the JSON keypoint submission of ``tests/data/astronaut_face_5s.npz``
  (real Face Mesh output for scikit-image's public-domain astronaut photo, see make_face_fixture.py),
  written by the same function as ``pain-gateway extract``.
- ``astronaut-3s.mp4``: 3 s of the same face moving, 320x240 H.264, made like the tests' face videos
  (``tests/support/videos.py``; needs PyAV, a test dependency) and kept under 300 kB for the repository.
- ``synthetic-pain-8s.npz``: **synthetic** keypoints (``points``, float16, 240 x 468 x 3, for a 480 x 480
  frame) of a real person's neutral Face Mesh landmarks (``EXAMPLE_PERSON`` of the identity bank, Face
  Research Lab London Set, CC BY 4.0, held out from training) wearing the training generator's pain
  expression, carried onto them the way ``pain-gateway real-identities`` checks the model
  (``plugins/sta_lstm/lab/real_identities.py``): 4 s at PSPI 3 (brow lowered, eyes narrowed), then 4 s at
  PSPI 7, with the generator's micro-motion and frontal, as a first visit (no baseline). The bundled model
  scores it mild, then significant, on windows it finds typical (tests/unit/test_examples.py), so the first
  assessment page has a heatmap, regions and seconds that mean something. Not a real grimace, not
  clinical data.

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


PAIN_SEGMENTS = (({"AU4": 2, "AU6/7": 1}, 4.0), ({"AU4": 4, "AU6/7": 3}, 4.0))
"""(FACS intensities 0-5 of the generator's fused action-unit fields, seconds): PSPI 3 for 4 s, then PSPI 7.
Brow lowering leads, so occluding the brow is what moves the model: the heatmap has a region that stands
out (with AU9/10 added too, no single region carries the result and none stands out)."""

EXAMPLE_PERSON = "london-037"
"""Until sta-lstm-synthetic 0.5.1 the example wore the expression on the astronaut photograph's landmarks;
0.5.1's typicality rightly flags that smiling portrait without a baseline as unlike its training faces in
every second (the card's photographs), so the README's first result would have been an off-distribution one.
This held-out person is scored mild then significant on typical windows (so are london-068 and -008)."""
FRAME = (480, 480)


def synthetic_pain(path: Path) -> Path:
    """The synthetic pain clip (see the module's docstring); float16 keeps it near half a megabyte."""
    from plugins.sta_lstm.lab.face import load_face
    from plugins.sta_lstm.lab.identity_bank import load_bank
    from plugins.sta_lstm.lab.real_identities import FPS, PX_PER_CM
    from plugins.sta_lstm.lab.synthetic import GRADED_MAX, carry

    bank, face = load_bank(), load_face()
    neutral = bank.neutral[list(bank.people).index(EXAMPLE_PERSON)].astype(np.float64)
    rng = np.random.default_rng(0)
    held = []
    for dose, seconds in PAIN_SEGMENTS:
        field = sum(((v / GRADED_MAX) * face.fields[au] for au, v in dose.items()), np.zeros_like(face.base))
        expression = neutral + carry(field, face.base, neutral)
        held.append(expression[None] + rng.normal(0.0, 0.02, (int(seconds * FPS), 468, 3)))  # the generator's micro-motion, cm
    pixels = np.concatenate(held) * PX_PER_CM + [FRAME[0] / 2, FRAME[1] / 2, 0.0]
    np.savez_compressed(path, points=(pixels / [FRAME[0], FRAME[1], FRAME[0]]).astype(np.float16))
    return path


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    fixture = np.load(ROOT / "tests" / "data" / "astronaut_face_5s.npz")
    submission = keypoint_submission(fixture["points"], int(fixture["fps"]), fixture["image_size"].tolist(), PATIENT, "2026-11-23T10:00:00Z")
    keypoints = EXAMPLES / "astronaut-keypoints.json"
    keypoints.write_text(json.dumps(submission, separators=(",", ":")) + "\n")
    video = face_video(EXAMPLES / "astronaut-3s.mp4", seconds=3, size=(320, 240), fourcc="avc1")
    pain = synthetic_pain(EXAMPLES / "synthetic-pain-8s.npz")
    for path in (keypoints, video, pain):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
