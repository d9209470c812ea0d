"""Pain alerts: the rules on stored checks, episodes opened and closed through the delivery ledger (once,
however often evaluation runs), their FHIR documents, interventions and the trajectory."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

from support.fhir_r4 import validate
from support.pain_alerts import MINUTE, run_due, scored, store

from gateway.contract.domain import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade
from plugins.pain_alerts import rules as R

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PATIENT = PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-ALERT-1")


def check(minute: float, level: str | None, seconds: float = 5, worst: str | None = None) -> R.Check:
    start = T0 + timedelta(minutes=minute)
    return R.Check(f"c{minute}", start, start + timedelta(seconds=seconds), level, worst or level)


def test_sustained_needs_consecutive_significant_checks_spanning_the_rule_minutes():
    gap = timedelta(minutes=30)
    three = [check(0, "significant"), check(6, "significant"), check(12, "significant")]
    finding = R.sustained(three, 10, gap)
    assert finding is not None and [c.id for c in finding.checks] == ["c0", "c6", "c12"]
    assert R.sustained(three[:2], 10, gap) is None, "6 min 5 s is under 10 min"
    assert R.sustained([check(0, "significant"), check(6, "mild"), check(12, "significant")], 10, gap) is None
    assert R.sustained([check(0, "significant"), check(6, None), check(12, "significant")], 10, gap) is None, "nothing scorable breaks a run, never guessed"
    assert R.sustained([check(0, "significant"), check(45, "significant")], 10, gap) is None, "checks further apart than max_gap are not one run"


def test_rising_and_no_relief_compare_consecutive_checks():
    assert R.rising([check(0, "none"), check(30, "mild")], 4).rule == "rising"
    assert R.rising([check(0, "mild"), check(30, "mild")], 4) is None
    assert R.rising([check(0, "none"), check(300, "mild")], 4) is None, "outside the rule's hours"
    assert R.no_relief(check(0, "significant"), check(30, "significant")).detail.startswith("pain unchanged")
    assert R.no_relief(check(0, "significant"), check(30, "none")) is None
    assert R.compare(check(0, "mild"), check(30, "significant")) == "rose"


def _setup(url: str, **plugin_settings):
    settings = Settings(
        database_url=url, plugins={"fhir_delivery": {"base_url": "http://127.0.0.1:9/fhir"}, "pain_alerts": {"enabled": True}} | plugin_settings
    )
    plugins = build_plugins(settings, environ={})
    upgrade(url, plugins.migrations)
    return plugins


def _rows(url: str, sql: str) -> list:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as db:
            return db.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as db:
        return db.execute(sql).fetchall()


def test_hook_event_documents(database_url):
    """Three significant checks over 12 minutes open one episode whose Observation and Flag go to the FHIR
    destination through the ledger; evaluating again (a retry, a replay) changes nothing."""
    plugins = _setup(database_url)

    async def scenario():
        engine = create_engine(database_url)
        try:
            flow = AssessmentFlow(plugins, engine, RowsAreTheQueue())
            for minute in (0, 6, 12):
                await store(flow, scored(T0 + minute * MINUTE, "significant", PATIENT))
            await run_due(flow, "pain_alerts")
            # replay every evaluation, as after a crash between the evaluation and its ledger row's update
            for delivery_id in [r[0] for r in _rows(database_url, "select id from deliveries where destination = 'pain_alerts'")]:
                await flow.deliveries.redeliver(delivery_id)
            await run_due(flow, "pain_alerts")
            event_id = _rows(database_url, "select id from events where type = 'pain_alert.opened'")[0][0]
            event = plugins.with_documents(await flow.deliveries.event(event_id))
            document = await plugins.event_documents[event.type].render(event, "fhir", engine)
            return event, document
        finally:
            await engine.dispose()

    event, document = asyncio.run(scenario())
    assert _rows(database_url, "select rule, status from pain_alert_episodes") == [("sustained", "open")]
    assert _rows(database_url, "select count(*) from events where type like 'pain_alert.%'") == [(1,)]
    assert _rows(database_url, "select destination from deliveries where event_type = 'pain_alert.opened'") == [("fhir",)]
    assert "fhir" in event.documents  # and "hl7v2", the hl7v2 output being on
    bundle = document.decoded()
    resources = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    observation, flag = resources["Observation"], resources["Flag"]
    assert flag["status"] == "active" and "end" not in flag["period"]
    assert observation["effectivePeriod"] == {"start": T0.isoformat(), "end": (T0 + 12 * MINUTE + timedelta(seconds=5)).isoformat()}
    assert len(observation["derivedFrom"]) == 3 and observation["component"][0]["valueQuantity"]["value"] == 12.1
    assert observation["meta"]["security"][0]["code"] == "AIAST" and "AI-derived" in observation["note"][-1]["text"]
    assert flag["author"]["reference"] == bundle["entry"][0]["fullUrl"], "the model Device is the Flag's author"
    for resource in resources.values():
        assert validate(resource) == [], resource["resourceType"]
    assert document.meta["rule"] == "sustained" and "MRN" not in str(document.meta), "the webhook summary names no patient"
