"""``contracts.PainModel`` over any checkpoint directory of this family (STA-LSTM or plain LSTM).

``info`` reads only ``model.json``, so start-up, the CLI and the API can describe the model without
importing torch; weights (with the fitted temperature and prior correction) are loaded and hash-checked
on first ``predict``. A site's own level prevalence replaces the checkpoint's default prior correction.
Outputs carry whether the checkpoint's attention passed its sanity checks, for the explainer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway import LANDMARK_COUNT, LEVELS, WINDOW_FRAMES, ModelInfo, ModelOutput, Windows
from plugins.sta_lstm.checkpoint import load_checkpoint, load_typicality, read_manifest, read_model_card
from plugins.sta_lstm.personal import personalise


@dataclass(frozen=True)
class CheckedOutput(ModelOutput):
    """``ModelOutput`` plus the checkpoint's attention verdict: True passed, False failed or no attention,
    None never checked (``pain-gateway attention-check``)."""

    attention_informative: bool | None = None


def parse_prevalence(text: str) -> tuple[float, ...] | None:
    """``"0.7,0.2,0.1"`` (none, mild, significant) -> proportions summing to 1; empty -> None."""
    if not text.strip():
        return None
    values = tuple(float(v) for v in text.split(","))
    if len(values) != len(LEVELS) or min(values) <= 0:
        raise ValueError(f"prevalence needs {len(LEVELS)} positive numbers (none, mild, significant), got {text!r}")
    return tuple(v / sum(values) for v in values)


def measured_reliability(manifest: dict) -> dict[str, str]:
    """``ModelInfo.reliability`` from the checkpoint's held-out real people (``pain-gateway real-identities``):
    one sentence per baseline case; none for a checkpoint that was not measured there."""
    record = manifest.get("real_identities")
    if not record:
        return {}
    out = {}
    for case, key, how in (("stored", "with_baseline", "with their neutral face stored"), ("none", "without_baseline", "without a stored neutral face")):
        r = record[key]
        smile = f"; their real smile called pain for {1 - r['smile_none']:.0%} of {r['smile_people']}" if r.get("smile_people") else ""
        out[case] = (
            f"Measured for this model {how}, on {r['people']} held-out real people showing synthetic expressions: "
            f"neutral face called none for {r['neutral_none']:.0%} of them, PSPI 3 mild for {r['pspi3_mild']:.0%}, "
            f"PSPI 8 significant for {r['pspi8_significant']:.0%}{smile} (calibration error {r['ece_top_label']:.3f}); "
            "never measured on real pain."
        )
    return out


class CheckpointModel:
    def __init__(self, directory: str | Path, threads: int = 1, prevalence: Sequence[float] | None = None) -> None:
        self.directory = Path(directory)
        self.threads = threads
        self.prevalence = prevalence
        self._manifest = read_manifest(self.directory)  # fail at start-up, not on the first request
        self._model = None
        self._density = None
        self._lock = threading.Lock()

    @property
    def info(self) -> ModelInfo:
        m = self._manifest
        return ModelInfo(
            model_id=m["model_id"],
            version=m["version"],
            sha256=m["sha256"],
            name=m["name"],
            training_data=m["training_data"],
            metrics=m["metrics"],
            model_card_url=f"/v1/models/{m['model_id']}/card",
            reliability=measured_reliability(m),
            uses_baseline=bool(m.get("personalisation")),
        )

    @property
    def personal_template(self) -> np.ndarray | None:
        """(468, 2) population neutral face when the checkpoint was trained personalised, else None."""
        personal = self._manifest.get("personalisation")
        return None if not personal else np.asarray(personal["template"], dtype=np.float32)

    def model_card(self) -> str:
        return read_model_card(self.directory)

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (workers warm them before their first job)."""
        return self._model is not None

    def _loaded(self):
        with self._lock:
            if self._model is None:
                import torch

                torch.set_num_threads(self.threads)
                model, manifest = load_checkpoint(self.directory)
                if self.prevalence is not None:
                    cal = manifest["calibration"]
                    model.set_calibration(cal["temperature"], cal["training_prior"], self.prevalence)
                self._density = load_typicality(self.directory, manifest)
                self._model = model
            return self._model

    @property
    def attention_informative(self) -> bool | None:
        """The checkpoint's recorded verdict; a network without attention never has an informative one."""
        record = self._manifest.get("attention")
        if record is None:
            return False if self._manifest["architecture"]["class"] == "PlainLSTM" else None
        return bool(record["informative"])

    def predict(self, windows: Windows) -> ModelOutput:
        data = np.asarray(windows.data, dtype=np.float32)
        expected = (WINDOW_FRAMES, LANDMARK_COUNT, 2)
        if data.ndim != 4 or data.shape[1:] != expected:
            raise ValueError(f"windows.data must have shape (n, {', '.join(map(str, expected))}), got {data.shape}")
        if len(data) == 0:
            return CheckedOutput(
                probabilities=np.zeros((0, len(LEVELS)), np.float32),
                alpha=np.zeros((0, WINDOW_FRAMES, LANDMARK_COUNT), np.float32),
                beta=np.zeros((0, WINDOW_FRAMES), np.float32),
                typicality=np.zeros(0, np.float32) if "typicality" in self._manifest else None,
                attention_informative=self.attention_informative,
            )
        from plugins.sta_lstm.network import infer

        template = self.personal_template
        if template is not None:  # trained on landmarks relative to each patient's neutral face
            data = personalise(data, template if windows.baseline is None else windows.baseline, template)
        probabilities, alpha, beta, features = infer(self._loaded(), data)
        personalised = template is not None and windows.baseline is not None
        return CheckedOutput(
            probabilities=probabilities,
            alpha=alpha,
            beta=beta,
            personalised=personalised,
            typicality=None if self._density is None else self._density.typicality(features, "personalised" if personalised else "raw"),
            attention_informative=self.attention_informative,
        )
