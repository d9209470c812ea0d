"""Built-in pain model plugin: the STA-LSTM, scoring normalised landmark windows.

Registration and ``info`` read only ``model.json``, so start-up, the CLI and the API can describe the
model without importing torch; weights are loaded (and their SHA-256 checked) on the first ``predict``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec
import numpy as np

from gateway.domain import LANDMARK_COUNT, LEVELS, WINDOW_FRAMES, ModelInfo, ModelOutput, Windows
from gateway.hookspecs import hookimpl
from plugins.sta_lstm.checkpoint import load_checkpoint, read_manifest, read_model_card

BUNDLED_CHECKPOINT = Path(__file__).with_name("checkpoints") / "sta-lstm-synthetic-0.1"


class StaLstmSettings(msgspec.Struct):
    checkpoint: str = ""  # checkpoint directory; empty = the bundled synthetic weights
    threads: int = 1  # torch intra-op threads; keep low when several workers share the CPU


class StaLstmModel:
    """``contracts.PainModel`` over a checkpoint directory."""

    def __init__(self, settings: StaLstmSettings | None = None) -> None:
        settings = settings or StaLstmSettings()
        self.directory = Path(settings.checkpoint) if settings.checkpoint else BUNDLED_CHECKPOINT
        self.threads = settings.threads
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
            model_card_url=None,
        )

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

        probabilities, alpha, beta = infer(self._loaded(), data)
        return ModelOutput(probabilities=probabilities, alpha=alpha, beta=beta)


@hookimpl
def register_settings(register):
    register("sta_lstm", StaLstmSettings)


@hookimpl
def register_models(register, settings):
    register(StaLstmModel(settings.plugin_config("sta_lstm")))
