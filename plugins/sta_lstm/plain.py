"""Baseline model plugin: a plain LSTM of the STA-LSTM's width, for comparison (as the study compared).

Nothing is bundled: train one with ``pain-gateway train <data> --model plain-lstm --out DIR`` and set
``PAIN_GATEWAY_PLUGIN_PLAIN_LSTM_CHECKPOINT=DIR`` (then ``PAIN_GATEWAY_MODEL`` to its model id) to
serve it. It has no attention: its α is uniform, so attention-based explanations say nothing about it.
"""

from __future__ import annotations

import msgspec

from gateway import hookimpl
from plugins.sta_lstm.serving import CheckpointModel, parse_prevalence


class PlainLstmSettings(msgspec.Struct):
    checkpoint: str = ""  # checkpoint directory; empty = not registered
    threads: int = 1
    prevalence: str = ""  # as for sta_lstm: the site's none,mild,significant shares; empty = the checkpoint's


@hookimpl
def register_settings(register):
    register("plain_lstm", PlainLstmSettings)


@hookimpl
def register_models(register, settings):
    config = settings.plugin_config("plain_lstm")
    if config.checkpoint:
        register(CheckpointModel(config.checkpoint, config.threads, parse_prevalence(config.prevalence)))
