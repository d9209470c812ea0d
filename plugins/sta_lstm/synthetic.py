"""Synthetic 1-second landmark windows with pain-like expressions (research notes §4.2, simplified).

Why synthetic: no pain-labelled landmark data may ship with the gateway, yet the pipeline, the
training loop and the explainers need something with a known, learnable signal. Faces start from
MediaPipe's canonical face (``data/base_face.npy``), get a fixed identity per subject, pain action
units as smooth region displacements (AU4 brow lowering, AU6/7 orbital tightening, AU9/10 levator /
nose wrinkle, AU43 eye closure), distractors (blinks, smiles, talking), head pose with drift and
detector jitter, and finally go through the production normalisation so the model sees exactly what
it sees in service. Class intensities overlap on purpose: mild vs. its neighbours is not separable.

Everything is deterministic: a subject's identity depends only on its id, a batch only on ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from gateway.domain import LEVELS, WINDOW_FRAMES
from gateway.landmarks import normalise_frames

BASE_FACE = Path(__file__).with_name("data") / "base_face.npy"
CANTHI_CM = 10.34
"""Distance 226–446 in the canonical model; converts the recipe's centimetres to model units."""

RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
EYE_CORNERS = ((33, 133), (263, 362))
CHEEK_RAISE = (117, 346, 50, 280, 101, 330)
LEVATOR = (48, 278, 64, 294, 98, 327, 129, 358, 0, 37, 267, 39, 269)
MOUTH_CORNERS = (61, 291)
LOWER_LIP_CHIN = (14, 17, 84, 314, 87, 317, 178, 402, 18, 200, 199, 175, 152)

# Action-unit fields, one row each, in this order; amplitudes in [0, 1] scale them.
AUS = ("AU4", "AU6/7", "AU9/10", "AU43", "AU12", "AU26")

# Per level: (low, high) amplitude range and probability of being present, for AU4, AU6/7, AU9/10, AU43.
PAIN_AMPLITUDES = {
    0: ((0.0, 0.3, 0.25), (0.0, 0.3, 0.25), (0.0, 0.25, 0.2), (0.0, 0.0, 0.0)),
    1: ((0.15, 0.65, 0.8), (0.15, 0.65, 0.8), (0.1, 0.55, 0.7), (0.0, 0.35, 0.2)),
    2: ((0.4, 1.0, 0.95), (0.4, 1.0, 0.95), (0.3, 0.9, 0.9), (0.45, 1.0, 0.9)),
}


@dataclass(frozen=True)
class SyntheticWindows:
    data: np.ndarray  # (n, 30, 468, 2) float32, normalised like production input
    labels: np.ndarray  # (n,) int64 index into LEVELS
    subjects: np.ndarray  # (n,) int64 subject id (split by subject, never by window)


@dataclass(frozen=True)
class _Face:
    base: np.ndarray  # (468, 2)
    cm: float  # model units per centimetre
    fields: np.ndarray  # (len(AUS), 468, 2) displacement at amplitude 1


def _gaussian(base: np.ndarray, seeds: tuple[int, ...], sigma: float) -> np.ndarray:
    """Weight 1 at the seed landmarks, falling off smoothly so neighbouring skin moves along."""
    d2 = ((base[:, None, :] - base[list(seeds)][None]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * sigma**2)).max(axis=1)[:, None]


def _lid_closure(base: np.ndarray) -> np.ndarray:
    """Move each upper-lid point onto the lower-lid point nearest in x (amplitude 1 = eye shut)."""
    field = np.zeros_like(base)
    for eye, (a, b) in zip((RIGHT_EYE, LEFT_EYE), EYE_CORNERS):
        pts = [k for k in eye if k not in (a, b)]
        # Image y grows downwards: points above the corner line are the upper lid.
        line_y = np.interp(base[pts, 0], *zip(*sorted([tuple(base[a]), tuple(base[b])])))
        upper = [k for k, y in zip(pts, line_y) if base[k, 1] < y]
        lower = [k for k, y in zip(pts, line_y) if base[k, 1] >= y]
        for k in upper:
            match = min(lower, key=lambda j: abs(base[j, 0] - base[k, 0]))
            field[k] = base[match] - base[k]
    return field


@lru_cache(maxsize=1)
def _face() -> _Face:
    base = np.load(BASE_FACE).astype(np.float64)
    cm = float(np.linalg.norm(base[446] - base[226])) / CANTHI_CM
    side = np.sign(base[:, :1])
    up, down = np.array([0.0, -1.0]), np.array([0.0, 1.0])
    upper_lids = _lid_closure(base)
    fields = np.stack(
        [
            # Brows down and towards the midline (corrugator/procerus).
            _gaussian(base, RIGHT_BROW + LEFT_BROW, 0.75 * cm) * np.hstack([-0.5 * side, np.ones_like(side)]) * 0.45 * cm,
            # Lower lids and infraorbital cheek up, upper lids slightly down.
            _gaussian(base, CHEEK_RAISE, 0.9 * cm) * up * 0.4 * cm + 0.25 * upper_lids,
            _gaussian(base, LEVATOR, 0.6 * cm) * up * 0.35 * cm,
            upper_lids,
            _gaussian(base, MOUTH_CORNERS, 0.8 * cm) * np.hstack([0.7 * side, -0.7 * np.ones_like(side)]) * 0.5 * cm,
            _gaussian(base, LOWER_LIP_CHIN, 1.5 * cm) * down * 0.8 * cm,
        ]
    )
    return _Face(base=base, cm=cm, fields=fields)


def _identity(face: _Face, subject: int) -> tuple[np.ndarray, float]:
    """A subject's neutral face and expressivity, fixed by its id alone so splits stay disjoint."""
    rng = np.random.default_rng([0x5EED, subject])
    shape = face.base * rng.uniform(0.92, 1.08, size=2)
    for _ in range(rng.integers(4, 9)):
        centre = int(rng.integers(len(face.base)))
        weight = _gaussian(shape, (centre,), rng.uniform(1.0, 3.0) * face.cm)
        shape = shape + weight * rng.normal(0.0, 0.15 * face.cm, size=2)
    return shape, float(rng.uniform(0.6, 1.4))


def _envelope(rng: np.random.Generator, n: int) -> np.ndarray:
    """Expression time course: already on, or onset within the window with a 3–8 frame ramp."""
    t = np.arange(WINDOW_FRAMES)
    onset = np.where(rng.random(n) < 0.5, -10, rng.integers(0, 16, n))
    ramp = rng.integers(3, 9, n)
    return np.clip((t[None] - onset[:, None]) / ramp[:, None], 0.0, 1.0)


def _blinks(rng: np.random.Generator, n: int) -> np.ndarray:
    """AU45: 100–400 ms closures that must not read as pain (AU43 holds, a blink does not)."""
    t = np.arange(WINDOW_FRAMES)
    start, length = rng.integers(-3, WINDOW_FRAMES, n), rng.integers(3, 13, n)
    mid = start + length / 2
    closure = np.clip(1 - np.abs(t[None] - mid[:, None]) / (length[:, None] / 2), 0, 1)
    return closure * (rng.random(n) < 0.3)[:, None]


def _pose(rng: np.random.Generator, n: int, points: np.ndarray) -> np.ndarray:
    """Head pose with random-walk drift: yaw/pitch foreshorten x/y (weak perspective), roll rotates."""
    deg = np.deg2rad
    start = rng.uniform([-20, -15, -10], [20, 15, 10], size=(n, 3))
    drift = np.cumsum(rng.normal(0.0, 0.5, size=(n, WINDOW_FRAMES, 3)), axis=1)
    yaw, pitch, roll = np.moveaxis(deg(start[:, None] + drift), -1, 0)
    xy = points * np.stack([np.cos(yaw), np.cos(pitch)], axis=-1)[:, :, None]
    c, s = np.cos(roll)[..., None], np.sin(roll)[..., None]
    xy = np.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], axis=-1)
    scale = rng.uniform(0.5, 2.0, size=(n, 1, 1, 1))
    shift = rng.uniform(-3, 3, size=(n, 1, 1, 2))
    return xy * scale + shift


def generate(n: int, seed: int, subjects: Sequence[int], level: int | None = None) -> SyntheticWindows:
    """``n`` windows from the given subject ids; balanced random levels unless ``level`` fixes one."""
    face = _face()
    rng = np.random.default_rng(seed)
    subject_ids = np.asarray(subjects, dtype=np.int64)
    who = rng.choice(subject_ids, size=n)
    labels = np.full(n, level, dtype=np.int64) if level is not None else rng.integers(0, len(LEVELS), n)
    identities = {int(s): _identity(face, int(s)) for s in np.unique(who)}
    neutral = np.stack([identities[int(s)][0] for s in who])
    gain = np.array([identities[int(s)][1] for s in who])

    amp = np.zeros((n, WINDOW_FRAMES, len(AUS)))
    envelope = _envelope(rng, n)
    for i, lab in enumerate(labels):
        for au, (low, high, p) in enumerate(PAIN_AMPLITUDES[int(lab)]):
            if rng.random() < p:
                amp[i, :, au] = rng.uniform(low, high) * gain[i] * envelope[i]
    amp[..., 3] = np.minimum(np.maximum(amp[..., 3], _blinks(rng, n)), 1.0)  # a lid cannot close past shut
    amp[..., 4] = (rng.random(n) < 0.2)[:, None] * rng.uniform(0.2, 1.0, (n, 1))
    talking = (rng.random(n) < 0.3)[:, None]
    rate = rng.uniform(3, 5, (n, 1)) * 2 * np.pi / WINDOW_FRAMES
    amp[..., 5] = talking * rng.uniform(0.2, 0.8, (n, 1)) * 0.5 * (1 - np.cos(rate * np.arange(WINDOW_FRAMES)))

    points = neutral[:, None] + np.einsum("nta,akc->ntkc", amp, face.fields)
    points += rng.normal(0.0, 0.02 * face.cm, points.shape)  # micro-motion
    iod = float(np.linalg.norm(face.base[list(RIGHT_EYE)].mean(0) - face.base[list(LEFT_EYE)].mean(0)))
    points += rng.normal(size=points.shape) * rng.uniform(0.004, 0.008, (n, 1, 1, 1)) * iod  # detector jitter
    posed = _pose(rng, n, points)
    data = normalise_frames(posed.reshape(-1, *posed.shape[2:])).reshape(posed.shape)
    return SyntheticWindows(data=data, labels=labels, subjects=who)
