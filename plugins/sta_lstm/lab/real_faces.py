"""Dose-response on real faces: the generator's own action-unit fields transplanted onto photographs.

Why: a model trained on one synthetic base face could learn that face rather than the expression.
Here three freely licensed photographs shipped inside installed packages go through the real
MediaPipe Face Mesh (as a clip would), the generator's AU4, AU6/7 and AU9/10 fields are carried onto
each face by a 3-D similarity fitted from the base face, and the model must answer with graded
levels: PSPI 0 none, 3 mild, 7 significant, P(none) strictly falling with intensity. These are
transplanted synthetic expressions on real faces, not real grimaces; passing says the model reads
real face geometry, nothing about clinical validity. A stored patient baseline (the face at PSPI 0)
is handed to the model as the gateway does; only a personalised checkpoint uses it.

    pain-gateway real-faces CHECKPOINT
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from gateway import LEVELS, LandmarkClip, PatientRef, neutral_reference, prepare
from plugins.sta_lstm.lab.face import load_face
from plugins.sta_lstm.lab.synthetic import GRADED_MAX

PHOTOS = {
    "astronaut": "scikit-image astronaut (NASA, public domain)",
    "grace_hopper": "matplotlib sample data grace_hopper.jpg (US Navy, public domain)",
    "cameraman": "scikit-image camera (CC0, Lav Varshney); a three-quarter view in grey scale",
}
DOSES = {  # PSPI -> FACS intensities (0-5) of the fused fields; AU43 stays 0 so the eyes stay open
    0: {},
    3: {"AU4": 1, "AU6/7": 1, "AU9/10": 1},
    7: {"AU4": 3, "AU6/7": 2, "AU9/10": 2},
}
EXPECTED = {0: "none", 3: "mild", 7: "significant"}
SECONDS, FPS = 3, 30.0


def photo(name: str) -> np.ndarray:
    """RGB uint8 image of one of ``PHOTOS``, read from the installed package."""
    if name == "astronaut":
        from plugins.sta_lstm.lab.make_base_face import astronaut_face

        return astronaut_face()
    if name == "grace_hopper":
        import matplotlib
        import matplotlib.image

        return np.asarray(matplotlib.image.imread(f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg"))[..., :3]
    if name == "cameraman":
        from skimage import data

        return np.repeat(data.camera()[..., None], 3, axis=2)
    raise KeyError(name)


@cache
def face_points(name: str) -> tuple[np.ndarray, tuple[int, int]]:
    """(468, 3) Face Mesh landmarks of the photo in pixels (z scaled like x) and the image size."""
    from gateway import landmarks_from_frames

    rgb = photo(name)
    points = landmarks_from_frames([rgb] * 3)[-1].astype(np.float64)
    if not np.isfinite(points).all():
        raise RuntimeError(f"Face Mesh found no face in {name}")
    height, width = rgb.shape[:2]
    return points * [width, height, width], (width, height)


def similarity_3d(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and rotation of the least-squares similarity ``dst ≈ s R src + t`` (Umeyama 1991)."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    flip = np.diag([1.0, 1.0, d])
    rotation = u @ flip @ vt
    return float((sigma * np.diag(flip)).sum() / (a**2).sum()), rotation


def transplant(name: str, pspi: int) -> np.ndarray:
    """The photo's landmarks (pixels) with the dose's action-unit displacement carried onto them."""
    points, _ = face_points(name)
    face = load_face()
    scale, rotation = similarity_3d(face.base, points)
    displacement = sum(((v / GRADED_MAX) * face.fields[au] for au, v in DOSES[pspi].items()), np.zeros_like(face.base))
    return points + scale * displacement @ rotation.T


def clip_of(name: str, pspi: int, seed: int = 0) -> LandmarkClip:
    """A held expression for ``SECONDS`` with the generator's per-frame micro-motion (0.02 cm) as jitter."""
    points, (width, height) = face_points(name)
    scale = similarity_3d(load_face().base, points)[0]
    rng = np.random.default_rng([seed, pspi, sum(map(ord, name))])
    frames = transplant(name, pspi)[None] + rng.normal(0.0, 0.02 * scale, (int(SECONDS * FPS), 468, 3))
    normalised = frames / [width, height, width]
    patient = PatientRef(system="urn:pain-gateway:real-faces", value=name)
    return LandmarkClip(patient, datetime(2026, 1, 1, tzinfo=UTC), FPS, normalised.astype(np.float32), (width, height))


def dose_response(model, seed: int = 0, with_baseline: bool = True) -> dict[str, dict[int, list[float]]]:
    """Mean probabilities (none, mild, significant) per photo and PSPI dose, scored as the gateway scores,
    with the patient's baseline stored (a separate neutral clip) or not."""
    out: dict[str, dict[int, list[float]]] = {}
    for name in PHOTOS:
        baseline = neutral_reference(prepare(clip_of(name, 0, seed + 1)).data) if with_baseline else None
        out[name] = {}
        for pspi in DOSES:
            windows = prepare(clip_of(name, pspi, seed))
            windows = type(windows)(spans=windows.spans, data=windows.data, baseline=baseline)
            out[name][pspi] = np.round(model.predict(windows).probabilities.mean(0), 4).tolist()
    return out


def graded(doses: dict[int, list[float]]) -> bool:
    """Levels as designed (none, mild, significant), neutral P(none) >= 0.8, expected level
    P(mild) + 2 P(significant) strictly rising, and P(none) strictly falling, except that between two
    doses where it has already fallen below 0.01 it may wobble by up to 0.01 (both are saturated)."""
    order = sorted(doses)
    levels = {pspi: LEVELS[int(np.argmax(doses[pspi]))] for pspi in order}
    p_none = [doses[pspi][0] for pspi in order]
    expected = [doses[pspi][1] + 2 * doses[pspi][2] for pspi in order]
    falling = all(b < a or (a < 0.01 and b < a + 0.01) for a, b in pairwise(p_none))
    return levels == EXPECTED and p_none[0] >= 0.8 and falling and all(a < b for a, b in pairwise(expected))


def check_checkpoint(checkpoint: str | Path) -> dict[str, Any]:
    """``pain-gateway real-faces``: the dose-response of a checkpoint, stored in its ``model.json`` and card."""
    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint
    from plugins.sta_lstm.serving import CheckpointModel

    model = CheckpointModel(checkpoint)
    response, without = dose_response(model), dose_response(model, with_baseline=False)
    record = {
        "note": (
            f"The generator's AU4, AU6/7 and AU9/10 fields transplanted onto {len(PHOTOS)} real photographs "
            f"run through MediaPipe Face Mesh ({'; '.join(PHOTOS.values())}), held for {SECONDS} s, scored as the "
            "gateway scores, with the neutral transplant as the stored baseline. Synthetic expressions on real "
            "faces: this shows the model reads real face geometry, not that it recognises real pain."
        ),
        "doses": {str(k): v for k, v in DOSES.items()},
        "probabilities": {name: {str(k): v for k, v in doses.items()} for name, doses in response.items()},
        "graded": {name: graded(doses) for name, doses in response.items()},
        "without_baseline": {
            "probabilities": {name: {str(k): v for k, v in doses.items()} for name, doses in without.items()},
            "graded": {name: graded(doses) for name, doses in without.items()},
        },
    }
    record_in_checkpoint(checkpoint, "real_faces", record)
    return record
