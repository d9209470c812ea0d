"""STA-LSTM (research notes §1.3) and a plain LSTM baseline of the same width, with one interface.

Both models standardise each landmark coordinate with training-set statistics stored as buffers, so a
checkpoint carries its own preprocessing. The attention subnetworks read the raw frame sequence, not
the attended one, so their LSTMs run over the whole window in one call instead of a Python loop over
frames; ``h_{t-1}`` is that output shifted by one frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class _Standardised(nn.Module):
    """Holds per-(landmark, coordinate) mean/SD; unit SD until ``set_standardisation`` is called."""

    def __init__(self, landmarks: int, coords: int) -> None:
        super().__init__()
        self.landmarks, self.coords = landmarks, coords
        self.register_buffer("mean", torch.zeros(landmarks, coords))
        self.register_buffer("std", torch.ones(landmarks, coords))

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor, floor: float = 1e-4) -> None:
        """Floor the SD: the normalisation anchors barely move, and dividing by ~0 would blow them up."""
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(floor))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class STALSTM(_Standardised):
    """Spatial attention over landmarks + ReLU temporal gates around a one-layer main LSTM.

    ``forward(x)`` takes (n, T, K, C) and returns ``(logits, alpha, beta)``: logits (n, classes) already
    divided by the temperature, alpha (n, T, K) summing to 1 over K (0 on masked landmarks), and beta
    (n, T) >= 0, unnormalised as in Song et al.
    """

    def __init__(
        self, landmarks: int = 468, coords: int = 2, hidden: int = 64, classes: int = 3, masked: Sequence[int] = ()
    ) -> None:
        super().__init__(landmarks, coords)
        features = landmarks * coords
        self.hidden, self.classes, self.masked = hidden, classes, tuple(int(k) for k in masked)
        self.spatial_lstm = nn.LSTM(features, hidden, batch_first=True)
        self.spatial_x = nn.Linear(features, hidden)  # W_xs, b_si
        self.spatial_h = nn.Linear(hidden, hidden, bias=False)  # W_hs
        self.spatial_out = nn.Linear(hidden, landmarks)  # U_s, b_so
        self.temporal_lstm = nn.LSTM(features, hidden, batch_first=True)
        self.temporal_x = nn.Linear(features, 1)  # w_x, b
        self.temporal_h = nn.Linear(hidden, 1, bias=False)  # w_h
        self.main = nn.LSTM(features, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, classes)  # W_z, b_z
        mask = torch.zeros(landmarks, dtype=torch.bool)
        mask[list(self.masked)] = True
        self.register_buffer("mask", mask)
        # Softmax(o / τ); fitted post hoc on held-out patients, 1 while training.
        self.register_buffer("temperature", torch.ones(()))

    @staticmethod
    def _previous(h: torch.Tensor) -> torch.Tensor:
        """h_{t-1} for every t, with the zero initial state at t = 0."""
        return F.pad(h, (0, 0, 1, 0))[:, :-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, t = x.shape[:2]
        x = self.standardise(x)
        flat = x.reshape(n, t, -1)

        h_s = self._previous(self.spatial_lstm(flat)[0])
        scores = self.spatial_out(torch.tanh(self.spatial_x(flat) + self.spatial_h(h_s)))
        alpha = torch.softmax(scores.masked_fill(self.mask, float("-inf")), dim=-1)
        # K·α so that uniform attention leaves the input unchanged (plain α would shrink it ~K times).
        attended = x * (alpha * (self.landmarks - len(self.masked))).unsqueeze(-1)

        h_p = self._previous(self.temporal_lstm(flat)[0])
        beta = F.relu(self.temporal_x(flat) + self.temporal_h(h_p)).squeeze(-1)

        h = self.main(attended.reshape(n, t, -1))[0]
        logits = (beta.unsqueeze(-1) * self.classifier(h)).sum(dim=1)
        return logits / self.temperature, alpha, beta


class PlainLSTM(_Standardised):
    """One-layer LSTM of the same width classifying from the last hidden state: the no-attention baseline.

    ``forward`` has STALSTM's signature so training, calibration and serving treat both alike: α is
    uniform over the unmasked landmarks and β is 1, i.e. "no attention", never an explanation.
    """

    def __init__(
        self, landmarks: int = 468, coords: int = 2, hidden: int = 64, classes: int = 3, masked: Sequence[int] = ()
    ) -> None:
        super().__init__(landmarks, coords)
        self.hidden, self.classes, self.masked = hidden, classes, tuple(int(k) for k in masked)
        self.main = nn.LSTM(landmarks * coords, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, classes)
        uniform = torch.full((landmarks,), 1.0 / (landmarks - len(self.masked)))
        uniform[list(self.masked)] = 0.0
        self.register_buffer("uniform", uniform)
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, t = x.shape[:2]
        h = self.main(self.standardise(x).reshape(n, t, -1))[0]
        logits = self.classifier(h[:, -1]) / self.temperature
        return logits, self.uniform.expand(n, t, -1), x.new_ones(n, t)


ARCHITECTURES: dict[str, type[nn.Module]] = {"STALSTM": STALSTM, "PlainLSTM": PlainLSTM}
"""Checkpoint ``architecture.class`` to network class."""


def infer(model: nn.Module, data: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities, alpha and beta for (n, T, K, C) windows, in batches so memory stays bounded."""
    model.eval()
    parts = []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            logits, alpha, beta = model(torch.from_numpy(np.ascontiguousarray(data[i : i + batch], dtype=np.float32)))
            parts.append((torch.softmax(logits, dim=-1), alpha, beta))
    return tuple(torch.cat(column).numpy() for column in zip(*parts))


def sta_lstm_loss(
    logits: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    target: torch.Tensor,
    model: nn.Module,
    *,
    class_weight: torch.Tensor | None = None,
    lambda_alpha: float = 1e-3,
    lambda_beta: float = 1e-4,
    lambda_l1: float = 1e-7,
) -> torch.Tensor:
    """CE_w + λ1 Σ_k ᾱ_k² + λ2 mean_t β_t² + λ3 Σ|W| (§1.3), averaged over the batch.

    Σ_k ᾱ_k² is Song's "attend to every joint" term up to a constant: it pushes time-averaged attention
    towards uniform, so it trades off against crisp heat maps and λ1 is reported in the model card.
    λ3 is tiny because the L1 sum runs over ~865 k weights (5e-4 would swamp the CE term).
    """
    ce = F.cross_entropy(logits, target, weight=class_weight)
    concentration = alpha.mean(dim=1).pow(2).sum(dim=-1).mean()
    gates = beta.pow(2).mean()
    l1 = sum(p.abs().sum() for name, p in model.named_parameters() if p.dim() > 1)
    return ce + lambda_alpha * concentration + lambda_beta * gates + lambda_l1 * l1
