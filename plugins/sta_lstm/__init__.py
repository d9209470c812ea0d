"""Built-in pain model plugin: the STA-LSTM, scoring normalised landmark windows.

Serves the bundled synthetic-data checkpoint unless ``checkpoint`` points at another directory (e.g.
one written by ``pain-gateway train``); its temperature, prior correction and metadata come with it.
``prevalence`` is the site's share of none / mild / significant: the checkpoint's outputs are
corrected to it (its default is the prevalence of its training patients, synthetic for the bundled one).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway import hookimpl
from plugins.sta_lstm.serving import CheckpointModel, parse_prevalence

BUNDLED_CHECKPOINT = Path(__file__).with_name("checkpoints") / "sta-lstm-synthetic-0.5"


class StaLstmSettings(msgspec.Struct):
    checkpoint: str = ""  # checkpoint directory; empty = the bundled synthetic weights
    threads: int = 1  # torch intra-op threads; keep low when several workers share the CPU
    prevalence: str = ""  # "none,mild,significant" at this site, e.g. "0.7,0.2,0.1"; empty = the checkpoint's


class StaLstmModel(CheckpointModel):
    """``contracts.PainModel`` for the configured (or bundled) STA-LSTM checkpoint."""

    def __init__(self, settings: StaLstmSettings | None = None) -> None:
        settings = settings or StaLstmSettings()
        super().__init__(settings.checkpoint or BUNDLED_CHECKPOINT, settings.threads, parse_prevalence(settings.prevalence))


@hookimpl
def register_settings(register):
    register("sta_lstm", StaLstmSettings)


@hookimpl
def register_models(register, settings):
    register(StaLstmModel(settings.plugin_config("sta_lstm")))
