"""Write tests/data/astronaut_face_5s.npz: real Face Mesh landmarks for a 5 s, 30 fps, 640x480 clip.

The face is skimage's astronaut photo (public domain, bundled, so this runs offline) moved by a small
smooth synthetic head motion (roll, zoom, drift). Tests and demos then exercise the pipeline on
landmarks MediaPipe really produced, without shipping video.

Run: python scripts/make_face_fixture.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from gateway.pipeline.facemesh import landmarks_from_frames

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "astronaut_face_5s.npz"
FPS, SECONDS, SIZE = 30, 5, (640, 480)
FACE_CENTRE = (225.0, 125.0)  # in the 512x512 astronaut image


def frames():
    """Astronaut face centred in a 640x480 frame, rolling ±6°, zooming ±5 % and drifting ±15 px."""
    image = data.astronaut()
    for t in np.arange(FPS * SECONDS) / FPS:
        phase = 2 * np.pi * t / SECONDS
        m = cv2.getRotationMatrix2D(FACE_CENTRE, 6 * np.sin(phase), 1.8 * (1 + 0.05 * np.sin(2 * phase)))
        centre = (SIZE[0] / 2 + 15 * np.cos(phase), SIZE[1] / 2 + 10 * np.sin(phase))
        m[:, 2] += np.subtract(centre, FACE_CENTRE)
        yield cv2.warpAffine(image, m, SIZE, borderMode=cv2.BORDER_REFLECT)


def main() -> None:
    points = landmarks_from_frames(frames())
    missing = int(np.isnan(points).any(axis=(1, 2)).sum())
    if missing:
        raise SystemExit(f"no face found in {missing} frames; adjust the motion")
    np.savez_compressed(OUT, points=points, fps=FPS, image_size=np.array(SIZE))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB, {points.shape})")


if __name__ == "__main__":
    main()
