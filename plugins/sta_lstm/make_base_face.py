"""Build ``data/base_face.npy``: MediaPipe's canonical face, front-facing, in model (normalised) space.

The mediapipe 0.10.21 wheel ships no ``canonical_face_model.obj`` (only empty ``data/__init__.py``
packages), so pass the file from google-ai-edge/mediapipe
(``mediapipe/modules/face_geometry/data/canonical_face_model.obj``, Apache-2.0) with ``--obj``; the
installed package is searched first in case a future wheel includes it. Vertex order is landmark
order; the .obj has y up, so y is flipped into image orientation before the production normalisation.

    python -m plugins.sta_lstm.make_base_face --obj canonical_face_model.obj
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

from gateway.domain import LANDMARK_COUNT
from gateway.landmarks import normalise_frames

OUT = Path(__file__).with_name("data") / "base_face.npy"
OBJ_NAME = "canonical_face_model.obj"


def find_in_wheel() -> Path | None:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(Path(spec.submodule_search_locations[0]).rglob(OBJ_NAME), None)


def read_vertices(path: Path) -> np.ndarray:
    """The ``v x y z`` rows of a Wavefront .obj, in file order (centimetres for this model)."""
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    vertices = np.asarray(rows, dtype=np.float64)
    if vertices.shape != (LANDMARK_COUNT, 3):
        raise ValueError(f"{path}: expected {LANDMARK_COUNT} vertices, found {vertices.shape[0]}")
    return vertices


def base_face(vertices: np.ndarray) -> np.ndarray:
    image_xy = np.stack([vertices[:, 0], -vertices[:, 1]], axis=1)
    return normalise_frames(image_xy[None])[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obj", type=Path, help=f"path to {OBJ_NAME} (default: search the mediapipe package)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    obj = args.obj or find_in_wheel()
    if obj is None:
        parser.error(f"{OBJ_NAME} is not in the installed mediapipe wheel; pass --obj")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, base_face(read_vertices(obj)))
    print(f"wrote {args.out} from {obj}")


if __name__ == "__main__":
    main()
