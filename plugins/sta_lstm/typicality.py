"""Typicality: how much a window looks, to the network, like the windows it was calibrated on.

The softmax probabilities carry the model's uncertainty between levels on faces like its training faces;
they stay confident on faces unlike them (a smiling portrait without a baseline was called *mild* at
P 0.91). Typicality says whether those probabilities apply at all. Method: class-conditional Gaussians
on the features the classifier reads (Lee et al. 2018; Mukhoti et al. 2023, "Deep Deterministic
Uncertainty"), fitted on the training patients' windows; a window's typicality is a conformal p-value
(Bates et al. 2023): the share of the calibration patients' windows whose density is no higher. So a
threshold of 0.01 flags about 1 % of windows like the calibration patients' by construction, whatever
the model or its feature scale. It costs one quadratic form per level and window (no second network
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


@dataclass(frozen=True)
class FeatureDensity:
    means: np.ndarray  # (levels, d)
    precisions: np.ndarray  # (levels, d, d) inverse covariances
    offsets: np.ndarray  # (levels,) log prior - ½ log det Σ
    reference: np.ndarray  # (m,) sorted log densities of the calibration windows

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, reference_features: np.ndarray, levels: int = 3) -> FeatureDensity:
        """Gaussians per level on ``features`` (training windows), the reference from ``reference_features``."""
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
        density = cls(np.stack(means), np.stack(precisions), np.asarray(offsets), np.zeros(0))
        return cls(density.means, density.precisions, density.offsets, np.sort(density.log_density(reference_features)))

    def log_density(self, features: np.ndarray) -> np.ndarray:
        """Log of the mixture density (up to a constant shared by every window)."""
        d = np.asarray(features, np.float64)[:, None, :] - self.means[None]
        parts = -0.5 * np.einsum("nlj,ljk,nlk->nl", d, self.precisions, d) + self.offsets
        top = parts.max(1)
        return top + np.log(np.exp(parts - top[:, None]).sum(1))

    def typicality(self, features: np.ndarray) -> np.ndarray:
        """(n,) in (0, 1]: (1 + calibration windows no denser) / (1 + calibration windows)."""
        below = np.searchsorted(self.reference, self.log_density(features), side="right")
        return ((1 + below) / (1 + len(self.reference))).astype(np.float32)

    def save(self, path: str | Path) -> None:
        np.savez(path, means=self.means, precisions=self.precisions, offsets=self.offsets, reference=self.reference)

    @classmethod
    def load(cls, path: str | Path) -> FeatureDensity:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["means"], data["precisions"], data["offsets"], data["reference"])
