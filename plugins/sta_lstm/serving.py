"""``contracts.PainModel`` over any checkpoint directory of this family (STA-LSTM or plain LSTM).

``info`` reads only ``model.json``, so start-up, the CLI and the API can describe the model without
importing torch; weights (with the fitted temperature) are loaded and hash-checked on first ``predict``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from gateway.domain import LANDMARK_COUNT, LEVELS, WINDOW_FRAMES, ModelInfo, ModelOutput, Windows
from plugins.sta_lstm.checkpoint import load_checkpoint, read_manifest, read_model_card
from plugins.sta_lstm.personal import personalise


class CheckpointModel:
    def __init__(self, directory: str | Path, threads: int = 1) -> None:
        self.directory = Path(directory)
        self.threads = threads
        self._manifest = read_manifest(self.directory)  # fail at start-up, not on the first request
        self._model = None
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
        )

    @property
    def personal_template(self) -> np.ndarray | None:
        """(468, 2) population neutral face when the checkpoint was trained personalised, else None."""
        personal = self._manifest.get("personalisation")
        return None if not personal else np.asarray(personal["template"], dtype=np.float32)

    def model_card(self) -> str:
        return read_model_card(self.directory)

    def _loaded(self):
        with self._lock:
            if self._model is None:
                import torch

                torch.set_num_threads(self.threads)
                self._model = load_checkpoint(self.directory)[0]
            return self._model

    def predict(self, windows: Windows) -> ModelOutput:
        data = np.asarray(windows.data, dtype=np.float32)
        expected = (WINDOW_FRAMES, LANDMARK_COUNT, 2)
        if data.ndim != 4 or data.shape[1:] != expected:
            raise ValueError(f"windows.data must have shape (n, {', '.join(map(str, expected))}), got {data.shape}")
        if len(data) == 0:
            return ModelOutput(
                probabilities=np.zeros((0, len(LEVELS)), np.float32),
                alpha=np.zeros((0, WINDOW_FRAMES, LANDMARK_COUNT), np.float32),
                beta=np.zeros((0, WINDOW_FRAMES), np.float32),
            )
        from plugins.sta_lstm.network import infer

        template = self.personal_template
        if template is not None:  # trained on landmarks relative to each patient's neutral face
            data = personalise(data, template if windows.baseline is None else windows.baseline, template)
        probabilities, alpha, beta = infer(self._loaded(), data)
        return ModelOutput(probabilities=probabilities, alpha=alpha, beta=beta,
                           personalised=template is not None and windows.baseline is not None)
