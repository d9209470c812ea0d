"""Explainer plugin: where on the face the STA-LSTM's spatial attention went, per anatomical region.

Only for a model whose attention passed its sanity checks (``pain-gateway attention-check``, recorded
in the checkpoint; the model hands the verdict on as ``output.attention_informative``). For a model
that failed them or has no attention the explanation lists no regions and says "not informative";
for one never checked it lists them and says so.
"""

from __future__ import annotations

import numpy as np

from gateway.contract.domain import Explanation, ModelOutput, RegionAttention, Windows
from gateway.contract.hookspecs import hookimpl
from gateway.contract.protocols import Predict
from gateway.pipeline.landmarks import ANCHORS
from plugins.attention_regions.regions import MEMBERSHIP, REGIONS

NOTE = (
    "Share of the model's spatial attention per face region, weighted by its temporal attention and "
    "averaged over scored windows. Attention shows where the model looked, not what caused the score. "
    "Normalisation anchors (landmarks 226, 446, 2) are excluded because they carry no signal. "
    "The model was trained on synthetic data only."
)
PASSED = " This model's attention passed the sanity checks (planted signals, shuffled labels, brow and eyes on its test set)."
NOT_INFORMATIVE = (
    "Not informative: this model's attention failed the sanity checks or the model has no attention, "
    "so no region shares are shown."
)
UNCHECKED = " Not checked: this model's attention was never put through the sanity checks; read the shares with care."


def region_shares(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(regions,) share of attention per region: per window the β-weighted mean of α over frames, anchors
    zeroed and renormalised, summed per region, then averaged over windows.

    A window whose β is all zero counts its frames equally rather than dropping out.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    beta = np.where(beta.sum(axis=1, keepdims=True) > 0, beta, 1.0)
    beta = beta / beta.sum(axis=1, keepdims=True)  # before multiplying, so tiny β cannot underflow
    per_landmark = np.einsum("nt,ntk->nk", beta, alpha)
    per_landmark[:, list(ANCHORS)] = 0.0
    per_landmark /= per_landmark.sum(axis=1, keepdims=True)
    return (per_landmark @ MEMBERSHIP).mean(axis=0)


LANDMARK_SHARES = np.delete(MEMBERSHIP, list(ANCHORS), axis=0).mean(axis=0)
"""Each region's share of the non-anchor landmarks: what uniform attention would give it."""


def mass_ratios(alpha: np.ndarray, beta: np.ndarray) -> dict[str, float]:
    """Region share of attention over region share of landmarks (painai §3.2): uniform attention = 1.0."""
    return {name: float(r) for name, r in zip(REGIONS, region_shares(alpha, beta) / LANDMARK_SHARES, strict=False)}


class AttentionRegions:
    """Aggregates α (per landmark and frame) into region shares a clinician can check against the face."""

    name = "attention_regions"

    def explain(self, windows: Windows, output: ModelOutput, predict: Predict | None = None) -> Explanation:
        """Reads the attention already in ``output``; ``predict`` is not needed."""
        informative = getattr(output, "attention_informative", None)
        if informative is False:
            return Explanation(self.name, "spatial_attention", [], NOT_INFORMATIVE, passed_checks=False)
        note = NOTE + (PASSED if informative else UNCHECKED)
        if np.shape(output.alpha)[0] == 0:
            return Explanation(self.name, "spatial_attention", [], note + " No window was scored.", passed_checks=informative)
        shares = region_shares(output.alpha, output.beta)
        regions = [RegionAttention(name, round(float(w), 6)) for name, w in zip(REGIONS, shares, strict=False)]
        return Explanation(
            self.name, "spatial_attention", sorted(regions, key=lambda r: r.weight, reverse=True), note, passed_checks=informative
        )


@hookimpl
def register_explainers(register, settings):
    register(AttentionRegions())
