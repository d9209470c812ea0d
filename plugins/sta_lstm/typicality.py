"""Typicality: how much a window looks, to the network, like the windows it was calibrated on.

The softmax probabilities carry the model's uncertainty between levels on faces like its training faces;
they stay confident on faces unlike them (a three-quarter view at rest, without a baseline, was called
*mild* at P 0.91). Typicality says whether those probabilities apply at all. Method: class-conditional Gaussians
on the features the classifier reads (Lee et al. 2018; Mukhoti et al. 2023, "Deep Deterministic
Uncertainty"), fitted on the training patients' windows; a window's typicality is a conformal p-value
(Bates et al. 2023): the share of the calibration patients' windows, seen the same way (with their
baseline, or raw), whose density is no higher. So a threshold of 0.01 flags about 1 % of windows of
patients like the calibration patients, in each case, whatever the model or its feature scale (only
about: the calibration windows come from a few dozen patients, not independent draws). It costs one quadratic form per level and window (no second network
pass; a deep ensemble of M members costs M passes), and ``pain-gateway typicality`` measures what it
flags (photographs the model fails on, distorted faces) and what it does not (Gaussian jitter, to which
the network is insensitive).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE = "typicality.npz"
RIDGE = 1e-3
"""Added to each level's covariance diagonal: a level with few windows must not give a singular one."""


VIEWS = ("personalised", "raw")
"""How the network saw a window: relative to the patient's stored neutral face, or the raw face."""


@dataclass(frozen=True)
class FeatureDensity:
    means: np.ndarray  # (levels, d)
    precisions: np.ndarray  # (levels, d, d) inverse covariances
    offsets: np.ndarray  # (levels,) log prior - ½ log det Σ
    references: dict[str, np.ndarray]  # view -> (m,) sorted log densities of the calibration windows seen that way

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, references: dict[str, np.ndarray], levels: int = 3) -> FeatureDensity:
        """Gaussians per level on ``features`` (training windows); a reference per view from its calibration features."""
        features = np.asarray(features, np.float64)
        counts = np.bincount(labels, minlength=levels)
        if (counts < 2).any():
            raise ValueError(f"every level needs at least 2 training windows to fit its density, got {counts.tolist()}")
        means, precisions, offsets = [], [], []
        for level in range(levels):
            own = features[labels == level]
            covariance = np.cov(own.T) + RIDGE * np.eye(features.shape[1])
            means.append(own.mean(0))
            precisions.append(np.linalg.inv(covariance))
            offsets.append(np.log(counts[level] / counts.sum()) - 0.5 * np.linalg.slogdet(covariance)[1])
        unknown = set(references) - set(VIEWS)
        if unknown or not references:
            raise ValueError(f"references are keyed by view, one or both of {VIEWS}; got {sorted(references)}")
        density = cls(np.stack(means), np.stack(precisions), np.asarray(offsets), {})
        return cls(density.means, density.precisions, density.offsets, {v: np.sort(density.log_density(f)) for v, f in references.items()})

    def log_density(self, features: np.ndarray) -> np.ndarray:
        """Log of the mixture density (up to a constant shared by every window); -inf for non-finite features."""
        d = np.asarray(features, np.float64)[:, None, :] - self.means[None]
        parts = -0.5 * np.einsum("nlj,ljk,nlk->nl", d, self.precisions, d) + self.offsets
        top = parts.max(1)
        with np.errstate(invalid="ignore", over="ignore"):
            density = top + np.log(np.exp(parts - top[:, None]).sum(1))
        return np.where(np.isfinite(density), density, -np.inf)  # fail closed: what cannot be measured is not typical

    def typicality(self, features: np.ndarray, view: str) -> np.ndarray:
        """(n,) in (0, 1]: (1 + calibration windows of ``view`` no denser) / (1 + calibration windows of ``view``).
        A view without a reference of its own (a checkpoint trained one way only) uses the one it has."""
        reference = self.references.get(view)
        if reference is None and len(self.references) == 1:
            [reference] = self.references.values()
        if reference is None:
            raise ValueError(f"view {view!r}: the reference has {sorted(self.references)}, one of {VIEWS} expected")
        below = np.searchsorted(reference, self.log_density(features), side="right")
        return ((1 + below) / (1 + len(reference))).astype(np.float32)

    def save(self, path: str | Path) -> None:
        np.savez(path, means=self.means, precisions=self.precisions, offsets=self.offsets, **{f"reference_{v}": r for v, r in self.references.items()})

    @classmethod
    def load(cls, path: str | Path) -> FeatureDensity:
        with np.load(path, allow_pickle=False) as data:
            references = {v: data[f"reference_{v}"] for v in VIEWS if f"reference_{v}" in data.files}
            return cls(data["means"], data["precisions"], data["offsets"], references)
