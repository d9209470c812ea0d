"""Explainer plugin: where on the face the STA-LSTM's spatial attention went, per anatomical region."""

from __future__ import annotations

import numpy as np

from gateway.domain import Explanation, ModelOutput, RegionAttention, Windows
from gateway.hookspecs import hookimpl
from gateway.landmarks import ANCHORS
from plugins.attention_regions.regions import MEMBERSHIP, REGIONS

NOTE = (
    "Share of the model's spatial attention per face region, weighted by its temporal attention and "
    "averaged over scored windows. Attention shows where the model looked, not what caused the score. "
    "Normalisation anchors (landmarks 226, 446, 2) are excluded because they carry no signal."
)


class AttentionRegions:
    """Aggregates α (per landmark and frame) into region shares a clinician can check against the face."""

    name = "attention_regions"

    def explain(self, windows: Windows, output: ModelOutput) -> Explanation:
        """Per window: β-weighted mean of α over frames, anchors zeroed, renormalised; then region sums.

        A window whose β is all zero (ReLU) counts its frames equally rather than dropping out.
        """
        alpha = np.asarray(output.alpha, dtype=np.float64)
        beta = np.asarray(output.beta, dtype=np.float64)
        if alpha.shape[0] == 0:
            return Explanation(self.name, "spatial_attention", [], NOTE + " No window was scored.")
        beta = np.where(beta.sum(axis=1, keepdims=True) > 0, beta, 1.0)
        beta = beta / beta.sum(axis=1, keepdims=True)  # before multiplying, so tiny β cannot underflow
        per_landmark = np.einsum("nt,ntk->nk", beta, alpha)
        per_landmark[:, list(ANCHORS)] = 0.0
        per_landmark /= per_landmark.sum(axis=1, keepdims=True)
        shares = (per_landmark @ MEMBERSHIP).mean(axis=0)
        regions = [RegionAttention(name, round(float(w), 6)) for name, w in zip(REGIONS, shares)]
        return Explanation(
            self.name, "spatial_attention", sorted(regions, key=lambda r: r.weight, reverse=True), NOTE
        )


@hookimpl
def register_explainers(register, settings):
    register(AttentionRegions())
