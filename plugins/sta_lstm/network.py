"""STA-LSTM (research notes §1.3, with the deviations below) and a plain LSTM baseline, with one interface.

Both models standardise each landmark coordinate with training-set statistics stored as buffers and
end in the same calibration, ``softmax(z / τ + log(π_site / π_train))``, so a checkpoint carries its own
preprocessing, temperature and prior correction.

Deviations from §1.3, each measured on the synthetic benchmark (``../shared/research/model-audit.md``):

- β is a softmax over frames, not a ReLU of the raw coordinates: the ReLU gate made the output's
  scale depend on face geometry (61 % of frames had β = 0, a fifth of windows came out exactly
  (⅓, ⅓, ⅓) whatever the face did) and training stopped after two epochs.
- Attention is over regions (7 anatomical regions, painai §3.2) rather than 468 landmarks, with the
  score layer zero-initialised (attention starts exactly uniform) and scaled by ``attention_scale``:
  per-landmark attention stayed uniform because the main LSTM's input weights can do its job.
- One small attention LSTM (``attention_hidden`` units over a learnt projection of the frame) feeds
  both the spatial scores and the temporal gate, read from h_t rather than tanh(W x_t + W h_{t-1}):
  a second full-width LSTM cost 3.5x the plain LSTM's latency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class _Standardised(nn.Module):
    """Per-(landmark, coordinate) mean/SD, plus the output calibration (temperature, prior shift).

    ``forward`` returns calibrated logits unless called with ``calibrated=False`` (training, fitting τ).
    """

    def __init__(self, landmarks: int, coords: int, classes: int) -> None:
        super().__init__()
        self.landmarks, self.coords, self.classes = landmarks, coords, classes
        self.register_buffer("mean", torch.zeros(landmarks, coords))
        self.register_buffer("std", torch.ones(landmarks, coords))
        self.register_buffer("temperature", torch.ones(()))
        # log(π_site / π_train): training is class-balanced, deployment is not (a prior shift).
        self.register_buffer("prior_shift", torch.zeros(classes))

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor, floor: float = 1e-4) -> None:
        """Floor the SD: the normalisation anchors barely move, and dividing by ~0 would blow them up."""
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(floor))

    def set_calibration(self, temperature: float, training_prior: Sequence[float], prevalence: Sequence[float]) -> None:
        self.temperature.fill_(float(temperature))
        self.prior_shift.copy_(torch.log(torch.as_tensor(prevalence, dtype=torch.float32) / torch.as_tensor(training_prior, dtype=torch.float32)))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def calibrate(self, z: torch.Tensor) -> torch.Tensor:
        return z / self.temperature + self.prior_shift

    def forward(self, x: torch.Tensor, calibrated: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, alpha, beta)`` for (n, T, K, C) windows."""
        features, alpha, beta = self.encode(x)
        z = self.classifier(features)
        return (self.calibrate(z) if calibrated else z), alpha, beta


class STALSTM(_Standardised):
    """Region-level spatial attention + softmax temporal attention around a one-layer main LSTM.

    ``forward(x)`` takes (n, T, K, C) and returns ``(logits, alpha, beta)``: logits (n, classes), alpha
    (n, T, K) summing to 1 over K (0 on masked landmarks; landmarks of one region share a weight) and
    beta (n, T) summing to 1 over frames. ``regions`` gives each landmark's region index; empty means
    every landmark is its own region (the landmark-level attention of §1.3).
    """

    def __init__(
        self,
        landmarks: int = 468,
        coords: int = 2,
        hidden: int = 64,
        classes: int = 3,
        masked: Sequence[int] = (),
        regions: Sequence[int] = (),
        attention_hidden: int = 16,
        attention_scale: float = 1.0,
    ) -> None:
        super().__init__(landmarks, coords, classes)
        features = landmarks * coords
        self.hidden, self.masked = hidden, tuple(int(k) for k in masked)
        self.regions = tuple(int(r) for r in regions) or tuple(range(landmarks))
        self.attention_hidden, self.attention_scale = attention_hidden, float(attention_scale)
        count = max(self.regions) + 1
        member = torch.zeros(count, landmarks)
        member[list(self.regions), torch.arange(landmarks)] = 1.0
        member[:, list(self.masked)] = 0.0
        sizes = member.sum(1)
        # Region softmax with log-size offsets = landmark softmax with tied scores: zero scores give
        # every unmasked landmark the same weight, so untrained attention is exactly uniform.
        self.register_buffer("log_size", torch.where(sizes > 0, sizes.log(), torch.full_like(sizes, -math.inf)))
        self.register_buffer("spread", member / sizes.clamp_min(1)[:, None])  # region weight -> per landmark
        self.attention_in = nn.Linear(features, attention_hidden)  # W_xs, w_x on the frame
        self.attention_lstm = nn.LSTM(attention_hidden, attention_hidden, batch_first=True)
        self.attention_out = nn.Linear(attention_hidden, count + 1)  # U_s (region scores), w (gate score)
        nn.init.zeros_(self.attention_out.weight)
        nn.init.zeros_(self.attention_out.bias)
        self.main = nn.LSTM(features, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, classes)  # W_z, b_z

    @property
    def architecture(self) -> dict:
        return {
            "landmarks": self.landmarks, "coords": self.coords, "hidden": self.hidden, "classes": self.classes,
            "masked": list(self.masked), "regions": list(self.regions), "attention_hidden": self.attention_hidden,
            "attention_scale": self.attention_scale,
        }  # fmt: skip

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features, alpha, beta)``: features (n, hidden) are the β-weighted hidden states the classifier
        reads (the classifier is linear, so Σ β_t W h_t = W Σ β_t h_t)."""
        n, t = x.shape[:2]
        x = self.standardise(x)
        flat = x.reshape(n, t, -1)
        scores = self.attention_out(self.attention_lstm(self.attention_in(flat))[0])
        alpha = torch.softmax(self.attention_scale * scores[..., :-1] + self.log_size, dim=-1) @ self.spread
        # K·α so that uniform attention leaves the input unchanged (plain α would shrink it ~K times).
        attended = x * (alpha * (self.landmarks - len(self.masked))).unsqueeze(-1)
        beta = torch.softmax(scores[..., -1], dim=1)
        h = self.main(attended.reshape(n, t, -1))[0]
        return torch.bmm(beta.unsqueeze(1), h)[:, 0], alpha, beta


class PlainLSTM(_Standardised):
    """One-layer LSTM of the same width classifying from the last hidden state: the no-attention baseline.

    ``forward`` has STALSTM's signature so training, calibration and serving treat both alike: α is
    uniform over the unmasked landmarks and β uniform over frames, i.e. "no attention", never an explanation.
    """

    def __init__(self, landmarks: int = 468, coords: int = 2, hidden: int = 64, classes: int = 3, masked: Sequence[int] = ()) -> None:
        super().__init__(landmarks, coords, classes)
        self.hidden, self.masked = hidden, tuple(int(k) for k in masked)
        self.main = nn.LSTM(landmarks * coords, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, classes)
        uniform = torch.full((landmarks,), 1.0 / (landmarks - len(self.masked)))
        uniform[list(self.masked)] = 0.0
        self.register_buffer("uniform", uniform)

    @property
    def architecture(self) -> dict:
        return {"landmarks": self.landmarks, "coords": self.coords, "hidden": self.hidden, "classes": self.classes, "masked": list(self.masked)}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features, alpha, beta)``: the last hidden state, and uniform attention."""
        n, t = x.shape[:2]
        h = self.main(self.standardise(x).reshape(n, t, -1))[0]
        return h[:, -1], self.uniform.expand(n, t, -1), x.new_full((n, t), 1.0 / t)


ARCHITECTURES: dict[str, type[nn.Module]] = {"STALSTM": STALSTM, "PlainLSTM": PlainLSTM}
"""Checkpoint ``architecture.class`` to network class."""


def infer(model: nn.Module, data: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities, alpha, beta and features for (n, T, K, C) windows, in batches so memory stays bounded."""
    model.eval()
    parts = []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            features, alpha, beta = model.encode(torch.from_numpy(np.ascontiguousarray(data[i : i + batch], dtype=np.float32)))
            parts.append((torch.softmax(model.calibrate(model.classifier(features)), dim=-1), alpha, beta, features))
    return tuple(torch.cat(column).numpy() for column in zip(*parts, strict=False))


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
    With softmax β the λ2 term likewise discourages gates that collapse onto one frame. λ3 is tiny
    because the L1 sum runs over ~70 k weights per LSTM (5e-4 would swamp the CE term).
    """
    ce = F.cross_entropy(logits, target, weight=class_weight)
    concentration = alpha.mean(dim=1).pow(2).sum(dim=-1).mean()
    gates = beta.pow(2).mean()
    l1 = sum(p.abs().sum() for name, p in model.named_parameters() if p.dim() > 1)
    return ce + lambda_alpha * concentration + lambda_beta * gates + lambda_l1 * l1
