"""Region occlusion (painai §3.2, §5): how much the pain probability drops when a face region is neutral.

Model-agnostic: it only calls the model's ``predict``. For each scored window it builds one variant per
region in which that region's landmarks are replaced, in every frame, by the neutral face (the
patient's stored baseline, else the population neutral face), plus one variant with the whole face
neutral, and scores them in batches of bounded size (``CHUNK_WINDOWS`` windows x 8 variants).

The **pain probability** of a window is P(mild) + P(significant): the probability that the model sees
any pain. A region's *drop* in a window is the window's pain probability minus that of the variant
with the region occluded (positive: the region pushed the model towards pain). The clip's importance
of a region is the mean of its drops weighted by each window's pain probability, so the windows the
model scored as painful dominate and calm seconds do not dilute them. A second's importance is the
pain probability minus that of the whole-face-neutral variant: how far that second's expression, as a
whole, pushed the model above a neutral face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from gateway import BASE_FACE, REGIONS, ModelOutput, Windows, normalise_frames

CHUNK_WINDOWS = 32
"""Windows scored per batch: 32 x 8 variants of (30, 468, 2) float32 is 29 MB, whatever the clip's length."""

Predict = Callable[[Windows], ModelOutput]


@lru_cache(maxsize=1)
def population_neutral_face() -> np.ndarray:
    """(468, 2) the bundled neutral base face (a real face's MediaPipe mesh at rest), normalised like model input."""
    base = np.load(BASE_FACE)[None, :, :2]
    return normalise_frames(base)[0]


@dataclass(frozen=True)
class Occlusion:
    """Per scored window: pain probability, drop per region (order ``REGIONS``) and drop to a neutral face."""

    pain: np.ndarray  # (n,)
    drops: np.ndarray  # (n, regions)
    whole_face: np.ndarray  # (n,)

    def region_importance(self) -> np.ndarray:
        """(regions,) drops averaged over windows, weighted by each window's pain probability."""
        if len(self.pain) == 0:
            return np.zeros(len(REGIONS))
        weights = self.pain if self.pain.sum() > 1e-9 else np.ones_like(self.pain)
        return weights @ self.drops / weights.sum()


def pain_probability(probabilities: np.ndarray) -> np.ndarray:
    """P(mild) + P(significant) per row (order ``LEVELS``)."""
    return np.asarray(probabilities, dtype=np.float64)[:, 1:].sum(axis=1)


def occlude(windows: Windows, predict: Predict, pain: np.ndarray) -> Occlusion:
    """Score every scored window with each region, then the whole face, replaced by the neutral face.

    ``pain`` is the unoccluded pain probability per window (from the model output already computed).
    """
    neutral = np.asarray(windows.baseline if windows.baseline is not None else population_neutral_face(), dtype=np.float32)
    masks = [np.isin(np.arange(neutral.shape[0]), members) for members in REGIONS.values()]
    masks.append(np.ones(neutral.shape[0], dtype=bool))
    variants = len(masks)
    scores = []
    for start in range(0, len(windows.data), CHUNK_WINDOWS):
        chunk = np.asarray(windows.data[start : start + CHUNK_WINDOWS], dtype=np.float32)
        batch = np.repeat(chunk[:, None], variants, axis=1)  # (c, variants, 30, 468, 2)
        for v, mask in enumerate(masks):
            batch[:, v][:, :, mask] = neutral[mask]
        flat = batch.reshape(-1, *chunk.shape[1:])
        scores.append(pain_probability(predict(replace(windows, data=flat)).probabilities).reshape(len(chunk), variants))
    occluded = np.concatenate(scores) if scores else np.zeros((0, variants))
    pain = np.asarray(pain, dtype=np.float64)
    return Occlusion(pain=pain, drops=pain[:, None] - occluded[:, :-1], whole_face=pain - occluded[:, -1])


def mean_mesh(windows: Windows) -> np.ndarray:
    """(468, 2) the clip's mean normalised mesh over scored frames (NaN-free: windows hold filled frames)."""
    return np.asarray(windows.data, dtype=np.float64).reshape(-1, *windows.data.shape[-2:]).mean(axis=0)
