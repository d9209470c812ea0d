"""Built-in model workflow plugin: ``pain-gateway synth``, ``train``, ``evaluate`` and ``frame-rates``.

A site trains and evaluates on its own clips (``gateway.pipeline.dataset`` format) and serves the result by
pointing ``PAIN_GATEWAY_PLUGIN_STA_LSTM_CHECKPOINT`` at the checkpoint directory.
"""

from __future__ import annotations

from gateway import hookimpl
from plugins.sta_lstm.lab.commands import COMMANDS


@hookimpl
def register_commands(register, settings):
    for command in COMMANDS:
        register(command)
