"""A live session that holds significant for the rule's minutes opens an alert while it runs, and the
window message that opened it carries the alert to the live page (``alert``, AI-derived).

The bundled model scores the one recorded face the same way every second, and not as significant pain,
so this story uses a model that scores every second significant (registered like any model plugin): the
rule, the live protocol, the ledger and the episode are the shipped ones."""

from __future__ import annotations

import json

import numpy as np
from litestar.testing import TestClient
from support.gateway import tokens_for
from support.live import PATIENT, frames

from gateway import ModelInfo, ModelOutput, hookimpl
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.storage.migrate import upgrade
from gateway.web.app import create_app


class AlwaysSignificant:
    info = ModelInfo(model_id="always-significant", version="1", sha256="ab" * 32, name="always significant", training_data="none: a test double")

    def predict(self, windows):
        n = windows.data.shape[0]
        return ModelOutput(np.tile([0.02, 0.03, 0.95], (n, 1)), np.full((n, 30, 468), 1 / 468), np.full((n, 30), 1 / 30))

    def model_card(self) -> str:
        return "test double"


class Models:
    @hookimpl
    def register_models(self, register, settings):
        register(AlwaysSignificant())


def test_a_live_session_holding_significant_opens_an_alert_shown_on_the_live_page(sqlite_url, tmp_path):
    settings = Settings(
        database_url=sqlite_url, data_dir=str(tmp_path / "data"), model="always-significant", plugins={"pain_alerts": {"enabled": True, "sustained_minutes": 1}}
    )
    plugins = build_plugins(settings, extra=[("models", Models())], environ={})
    upgrade(sqlite_url, plugins.migrations)
    headers = tokens_for(sqlite_url, "default")["clinician"]
    with TestClient(create_app(settings, plugins)) as client:
        opened = client.post("/v1/live/sessions", json={"patient": PATIENT}, headers=headers).json()
        with client.websocket_connect(f"/v1/live/{opened['id']}?ticket={opened['ticket']}") as socket:
            socket.send_text(json.dumps({"type": "hello", "image_size": [640, 480], "fps": 30}))
            messages = []
            for i, (_, frame) in enumerate(frames(63.0)):
                socket.send_bytes(frame)
                if i % 30 == 0 and i:  # a second's frames closed the one before: read its result (a client at camera speed)
                    messages.append(socket.receive_json())
            socket.send_text(json.dumps({"type": "end"}))
            while (message := socket.receive_json())["type"] != "assessment":
                messages.append(message)
        alerts = [(m["index"], m["alert"]) for m in messages if m.get("alert")]
        assert all(m["level"] == "significant" for m in messages), "every second was scored"
        assert len(alerts) == 1, alerts
        index, text = alerts[0]
        assert index >= 59 and "AI-derived" in text and "significant pain held for 1 min" in text
        episodes = client.get("/v1/patients/alerts", headers=headers).json()["episodes"]
        assert [e["rule"] for e in episodes] == ["sustained"] and "live session" in episodes[0]["detail"]
