"""Build ``gateway/pipeline/data/base_face.npy``: a real face's 468 landmarks, from the project's own MediaPipe capture.

The face is scikit-image's ``astronaut`` (a NASA photograph, public domain, bundled inside the
package), so this runs offline and anyone can regenerate the file bit for bit with the pinned
mediapipe. Face Mesh runs on a few copies of the enlarged face and the frames are averaged; the
result is put back into pixels, roll and yaw are removed (canthi 226/446 level and at equal depth),
and it is scaled to centimetres with the canonical 10.34 cm between the lateral canthi, in image
orientation (x right, y down, z away from the camera as MediaPipe's depth).

    python -m plugins.sta_lstm.lab.make_base_face
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gateway import BASE_FACE, landmarks_from_frames

OUT = BASE_FACE
CANTHI_CM = 10.34
"""Distance 226-446 on MediaPipe's canonical face model, in cm (research notes §3.1)."""
FACE_BOX = (120, 20, 330, 230)  # square x0, y0, x1, y1 around the face in the 512x512 astronaut image
SIZE = 480


def astronaut_face() -> np.ndarray:
    """The astronaut's face cropped and enlarged to a square frame, RGB uint8."""
    import cv2
    from skimage import data

    x0, y0, x1, y1 = FACE_BOX
    return cv2.resize(data.astronaut()[y0:y1, x0:x1], (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


def _rotation(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [a for a in range(3) if a != axis]
    rot = np.eye(3)
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
    return rot


def frontalise(points: np.ndarray) -> np.ndarray:
    """Centre on the canthi, remove roll (about z) then yaw (about y), scale to centimetres."""
    p = points - (points[226] + points[446]) / 2
    d = p[446] - p[226]
    p = p @ _rotation(2, -np.arctan2(d[1], d[0])).T
    d = p[446] - p[226]
    p = p @ _rotation(1, -np.arctan2(d[2], d[0])).T
    return p * CANTHI_CM / np.linalg.norm(p[446] - p[226])


def base_face(copies: int = 5) -> np.ndarray:
    """(468, 3) float32 cm, averaged over ``copies`` tracked frames of the same photo."""
    face = astronaut_face()
    points = landmarks_from_frames([face] * copies).astype(np.float64)
    if not np.isfinite(points).all():
        raise RuntimeError("Face Mesh found no face in the astronaut crop")
    return frontalise(points.mean(axis=0) * SIZE).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, base_face())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
