"""Where the HL7 v2 destination is on, an alert episode reaches the MLLP receiver as an ORU^R01 with the
abnormal flag ``A`` and an NTE saying it is AI-derived; the receiver's ACK ends the delivery."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from support.mllp import MllpListener
from support.pain_alerts import MINUTE, scored, store

from gateway.contract.domain import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine

PATIENT = PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-HL7-ALERT")


def test_an_alert_episode_is_an_oru_with_an_abnormal_flag(gateway_for, sqlite_url):
    listener = MllpListener().start()
    try:
        settings = {"hl7v2": {"host": "127.0.0.1", "port": listener.port}, "pain_alerts": {"enabled": True}}
        gateway_for(**settings)
        plugins = build_plugins(Settings(database_url=sqlite_url, plugins=settings), environ={})
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

        async def three():
            engine = create_engine(sqlite_url)
            try:
                flow = AssessmentFlow(plugins, engine, RowsAreTheQueue())
                for minute in (0, 6, 12):
                    await store(flow, scored(t0 + minute * MINUTE, "significant", PATIENT))
            finally:
                await engine.dispose()

        asyncio.run(three())
        deadline = time.monotonic() + 60  # the gateway's delivery jobs evaluate and send: a bounded wait
        while not (alerts := [m for m in listener.messages if "ai-pain-episode" in m]):
            assert time.monotonic() < deadline, listener.messages
            time.sleep(0.2)
    finally:
        listener.stop()
    segments = {line.split("|")[0]: line.split("|") for line in alerts[0].split("\r") if line}
    assert segments["MSH"][8] == "ORU^R01^ORU_R01"
    assert segments["PID"][3].startswith("MRN-HL7-ALERT^^^")
    assert segments["OBX"][8] == "A" and segments["OBX"][5] == "significant^Significant pain^L"
    assert "AI-derived decision support" in alerts[0] and "synthetic data" in alerts[0]
