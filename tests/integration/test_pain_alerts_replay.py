"""The same events replayed after a gateway SIGKILL give exactly one episode and one Flag.

``pain-gateway serve`` evaluates the alert rules and pushes the episode to a real FHIR server (sekmet);
it is killed with SIGKILL as soon as the episode exists (its deliveries may be mid-send), then every
delivery of every event is replayed from the start (evaluations and FHIR pushes alike) by a fresh serve.
The episode and its events have ids derived from what happened, and the Bundle's writes are conditional
on our identifiers, so the EMR ends with one Flag and one episode Observation, the database with one
episode and one ``pain_alert.opened``."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from support.pain_alerts import MINUTE, scored, store
from support.serve import live_gateway

from gateway.contract.domain import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
PATIENT = PatientRef(system=SYSTEM, value="MRN-REPLAY-1")


def _db(path, sql: str) -> list:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def _until(what, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while not (value := what()):
        assert time.monotonic() < deadline, "the served gateway did not get there in time"
        time.sleep(0.3)
    return value


def test_events_replayed_after_a_sigkill_give_one_episode_and_one_flag(emr, tmp_path):
    path = tmp_path / "gateway.db"
    url = f"sqlite+aiosqlite:///{path}"
    env = {"PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL": emr.base, "PAIN_GATEWAY_PLUGIN_PAIN_ALERTS_ENABLED": "true"}
    settings = Settings(database_url=url, data_dir=str(tmp_path / "data"), plugins={"fhir_delivery": {"base_url": emr.base}, "pain_alerts": {"enabled": True}})
    plugins = build_plugins(settings, environ={})
    upgrade(url, plugins.migrations)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    async def three():
        engine = create_engine(url)
        try:
            flow = AssessmentFlow(plugins, engine, RowsAreTheQueue())
            for minute in (0, 6, 12):
                await store(flow, scored(t0 + minute * MINUTE, "significant", PATIENT))
        finally:
            await engine.dispose()

    asyncio.run(three())
    with live_gateway(tmp_path, env, start_s=180) as served:
        _until(lambda: _db(path, "select id from pain_alert_episodes"), timeout_s=60)
        os.kill(served.pid, signal.SIGKILL)  # no graceful stop: deliveries may be mid-send, leases left behind
        time.sleep(0.5)
    replayed = _db(path, "select count(*) from deliveries")[0][0]
    with sqlite3.connect(path) as db:  # every event's every delivery again, from scratch: a full replay
        db.execute("update deliveries set status = 'pending', attempts = 0, lease_until = null, next_attempt_at = '2000-01-01 00:00:00'")
    with live_gateway(tmp_path, env, start_s=180):
        _until(lambda: _db(path, "select count(*) from deliveries where status not in ('delivered', 'dead')") == [(0,)])
    assert _db(path, "select status from deliveries where status = 'dead'") == []
    assert _db(path, "select rule, status from pain_alert_episodes") == [("sustained", "open")]
    assert _db(path, "select count(*) from events where type = 'pain_alert.opened'") == [(1,)]
    assert _db(path, "select count(*) from deliveries")[0][0] >= replayed
    with emr.client() as client:
        flags = client.get("Flag", params={"subject:identifier": f"{SYSTEM}|{PATIENT.value}"}).json().get("entry", [])
        episode = flags[0]["resource"]["identifier"][0]
        observations = client.get("Observation", params={"identifier": f"{episode['system']}|{episode['value']}"}).json().get("entry", [])
    assert len(flags) == 1 and flags[0]["resource"]["status"] == "active"
    assert len(observations) == 1
