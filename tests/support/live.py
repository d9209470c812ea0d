"""Live scoring helpers for tests and the benchmark: the recorded face as protocol frames."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from plugins.live_stream.protocol import encode_frame

FACE = Path(__file__).resolve().parents[1] / "data" / "astronaut_face_5s.npz"
PATIENT = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-LIVE-1"}}


def recorded_points() -> np.ndarray:
    """5 s of MediaPipe Face Mesh output of a real face at 30 fps, (150, 468, 3)."""
    with np.load(FACE) as data:
        return data["points"].astype(np.float32)


def frames(seconds: float, fps: float = 30.0, start_ms: float | None = None, first_sequence: int = 0) -> Iterator[tuple[float, bytes]]:
    """(capture ms, binary frame) for ``seconds`` of the recorded face at ``fps``, looping the recording
    (back and forth, so motion stays continuous); capture times start ``seconds`` ago by default."""
    points = recorded_points()
    loop = np.concatenate([points, points[::-1]])
    start_ms = time.time() * 1000 - seconds * 1000 if start_ms is None else start_ms
    for i in range(int(round(seconds * fps))):
        captured = start_ms + i * 1000.0 / fps
        row = loop[int(round(i * 30.0 / fps)) % len(loop)]
        yield captured, encode_frame(first_sequence + i, captured, None if np.isnan(row).all() else row)
