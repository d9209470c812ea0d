"""Built-in pain model plugin: the STA-LSTM, scoring normalised landmark windows.

Serves the bundled synthetic-data checkpoint unless ``checkpoint`` points at another directory (e.g.
one written by ``pain-gateway train``); its temperature and metadata come with it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway.hookspecs import hookimpl
from plugins.sta_lstm.serving import CheckpointModel

BUNDLED_CHECKPOINT = Path(__file__).with_name("checkpoints") / "sta-lstm-synthetic-0.2"


class StaLstmSettings(msgspec.Struct):
    checkpoint: str = ""  # checkpoint directory; empty = the bundled synthetic weights
    threads: int = 1  # torch intra-op threads; keep low when several workers share the CPU


class StaLstmModel(CheckpointModel):
    """``contracts.PainModel`` for the configured (or bundled) STA-LSTM checkpoint."""

    def __init__(self, settings: StaLstmSettings | None = None) -> None:
        settings = settings or StaLstmSettings()
        super().__init__(settings.checkpoint or BUNDLED_CHECKPOINT, settings.threads)


@hookimpl
def register_settings(register):
    register("sta_lstm", StaLstmSettings)


@hookimpl
def register_models(register, settings):
    register(StaLstmModel(settings.plugin_config("sta_lstm")))
