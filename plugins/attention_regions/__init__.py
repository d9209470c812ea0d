"""Explainer plugin: where on the face the STA-LSTM's spatial attention went, per anatomical region.

Only for a model whose attention passed its sanity checks (``pain-gateway attention-check``, recorded
in the checkpoint; the model hands the verdict on as ``output.attention_informative``). For a model
that failed them or has no attention the explanation lists no regions and says "not informative";
for one never checked it lists them and says so.
"""

from __future__ import annotations

import numpy as np

from gateway import ATTENTION_KIND, REGIONS, Explanation, ModelOutput, Predict, RegionAttention, Windows, hookimpl, region_shares

NOTE = (
    "Share of the model's spatial attention per face region, weighted by its temporal attention and "
    "averaged over scored windows. Attention shows where the model looked, not what caused the score. "
    "Normalisation anchors (landmarks 226, 446, 2) are excluded because they carry no signal. "
    "The model was trained on synthetic data only."
)
PASSED = " This model's attention passed the sanity checks (planted signals, shuffled labels, brow and eyes on its test set)."
NOT_INFORMATIVE = "Not informative: this model's attention failed the sanity checks or the model has no attention, so no region shares are shown."
UNCHECKED = " Not checked: this model's attention was never put through the sanity checks; read the shares with care."


class AttentionRegions:
    """Aggregates α (per landmark and frame) into region shares a clinician can check against the face."""

    name = "attention_regions"

    def explain(self, windows: Windows, output: ModelOutput, predict: Predict | None = None) -> Explanation:
        """Reads the attention already in ``output``; ``predict`` is not needed."""
        informative = getattr(output, "attention_informative", None)
        if informative is False:
            return Explanation(self.name, ATTENTION_KIND, [], NOT_INFORMATIVE, passed_checks=False)
        note = NOTE + (PASSED if informative else UNCHECKED)
        if np.shape(output.alpha)[0] == 0:
            return Explanation(self.name, ATTENTION_KIND, [], note + " No window was scored.", passed_checks=informative)
        shares = region_shares(output.alpha, output.beta)
        regions = [RegionAttention(name, round(float(w), 6)) for name, w in zip(REGIONS, shares, strict=False)]
        return Explanation(self.name, ATTENTION_KIND, sorted(regions, key=lambda r: r.weight, reverse=True), note, passed_checks=informative)


@hookimpl
def register_explainers(register, settings):
    register(AttentionRegions())
