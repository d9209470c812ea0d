"""The synthetic face: a real base geometry and action-unit displacement fields on it (painai §4.2).

Base geometry is the astronaut's face as MediaPipe measured it (``make_base_face``), in centimetres,
image orientation (x right, y down, z away from the camera). Each field is the displacement of all
468 landmarks at full intensity (FACS 5, or 1 for the binary AU43): a Gaussian fall-off around
seed landmarks times a direction, so neighbouring skin moves along. Peak sizes follow the recipe
(AU4 1.1 cm, AU6/7 1.0 cm); the rest are chosen to be visible but smaller. ``|field|`` per landmark is
the ground-truth mask of where a signal lives, used by the explanation sanity checks. Fields: the
PSPI action units (AU4, AU6/7, AU9/10, AU43), then smile (AU12), lip stretch (AU20), jaw drop (AU26).

Every field fades to zero at the normalisation anchors (226, 446, 2; ``ANCHOR_FADE_CM``). Without
that, AU6/7 moved the lateral canthi by 47 % of its peak and AU9/10 the subnasale by 28 %, and the
similarity normalisation turned part of each expression into a whole-face shift where no action unit
acts. Real canthi do move a little with AU6; the pipeline's anchors assume they do not, and the
model card lists that as a limitation for real faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gateway import ANCHORS, BASE_FACE

RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
GLABELLA = (8, 9, 107, 336)
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
EYE_CORNERS = ((33, 133), (263, 362))
CHEEK_RAISE = (117, 346, 50, 280, 101, 330)
LEVATOR = (48, 278, 64, 294, 98, 327, 129, 358, 0, 37, 267, 39, 269)
MOUTH_CORNERS = (61, 291)
LOWER_LIP_CHIN = (14, 17, 84, 314, 87, 317, 178, 402, 18, 200, 199, 175, 152)
ANCHOR_FADE_CM = 0.4  # SD of the Gaussian dip around each anchor; its nearest neighbour is 0.39 cm away


@dataclass(frozen=True)
class Face:
    base: np.ndarray  # (468, 3) cm
    fields: dict[str, np.ndarray]  # name -> (468, 3) cm at full intensity

    def mask(self, names: tuple[str, ...]) -> np.ndarray:
        """(468,) in [0, 1]: largest displacement any of ``names`` causes at each landmark, scaled to max 1."""
        magnitude = np.max([np.linalg.norm(self.fields[n], axis=1) for n in names], axis=0)
        return (magnitude / magnitude.max()).astype(np.float32)


def _falloff(base: np.ndarray, seeds: tuple[int, ...], sigma: float) -> np.ndarray:
    """Weight 1 at the seed landmarks, Gaussian in 3-D distance to the nearest seed; shape (468, 1)."""
    d2 = ((base[:, None, :] - base[list(seeds)][None]) ** 2).sum(-1)
    return np.exp(-d2.min(axis=1) / (2 * sigma**2))[:, None]


def _lid_closure(base: np.ndarray) -> np.ndarray:
    """Each upper-lid point moves onto the lower-lid point nearest in x (full intensity = eye shut)."""
    field = np.zeros_like(base)
    for eye, (a, b) in zip((RIGHT_EYE, LEFT_EYE), EYE_CORNERS, strict=False):
        points = [k for k in eye if k not in (a, b)]
        # The line through the corners splits the lids; y grows downwards, so above it is the upper lid.
        (xa, ya), (xb, yb) = base[a, :2], base[b, :2]
        above = {k: base[k, 1] < ya + (yb - ya) * (base[k, 0] - xa) / (xb - xa) for k in points}
        lower = [k for k in points if not above[k]]
        for k in (k for k in points if above[k]):
            match = min(lower, key=lambda j: abs(base[j, 0] - base[k, 0]))
            field[k] = base[match] - base[k]
    return field


def _lower_lids(base: np.ndarray) -> tuple[int, ...]:
    closure = _lid_closure(base)
    moving_onto = {int(np.argmin(np.linalg.norm(base - (base[k] + closure[k]), axis=1))) for k in np.flatnonzero(closure.any(1))}
    return tuple(sorted(moving_onto))


def _direction(x: float, y: float, z: float = 0.0) -> np.ndarray:
    v = np.array([x, y, z])
    return v / np.linalg.norm(v)


@lru_cache(maxsize=1)
def load_face() -> Face:
    base = np.load(BASE_FACE).astype(np.float64)
    side = np.sign(base[:, :1])  # -1 on the subject's right (image left)
    lids = _lid_closure(base)
    up, down = _direction(0, -1), _direction(0, 1)
    brow = _falloff(base, RIGHT_BROW + LEFT_BROW + GLABELLA, 0.75)
    corners = _falloff(base, MOUTH_CORNERS, 0.8)
    fields = {
        # Corrugator/procerus: brows down and towards the midline.
        "AU4": brow * np.hstack([-0.5 * side, np.ones_like(side), np.zeros_like(side)]) / np.hypot(0.5, 1) * 1.1,
        # Orbicularis oculi: lower lids and infraorbital cheek up, upper lids a little down.
        "AU6/7": _falloff(base, _lower_lids(base) + CHEEK_RAISE, 0.8) * up * 1.0 + 0.25 * lids,
        # Levator labii / nasalis: alae and upper lip up.
        "AU9/10": _falloff(base, LEVATOR, 0.6) * up * 0.8,
        "AU43": lids,  # a blink (AU45) is this closure lasting 100-400 ms instead of being held
        # Zygomaticus: mouth corners up and out.
        "AU12": corners * np.hstack([0.7 * side, -0.7 * np.ones_like(side), np.zeros_like(side)]) * 0.8,
        # Risorius: mouth corners straight out, lips thinner.
        "AU20": corners * np.hstack([side, np.zeros_like(side), np.zeros_like(side)]) * 0.7,
        "AU26": _falloff(base, LOWER_LIP_CHIN, 1.5) * down * 1.0,
    }
    still = 1 - _falloff(base, ANCHORS, ANCHOR_FADE_CM)
    return Face(base=base, fields={name: field * still for name, field in fields.items()})
