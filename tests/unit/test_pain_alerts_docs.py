"""docs/guides/pain-alerts.md says what the plugin does: its defaults, event types, routes, metrics and codes file."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from prometheus_client import generate_latest

from gateway import METRICS_REGISTRY
from plugins.pain_alerts import EVENT_TYPES, Rules
from plugins.pain_alerts import metrics as alert_metrics
from plugins.pain_alerts.routes import ROUTES

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "guides" / "pain-alerts.md").read_text()


def test_the_rules_table_gives_the_shipped_defaults():
    defaults = Rules()
    for field in ("sustained_minutes", "max_gap_minutes", "rising_hours", "reset_minutes", "reassess_minutes", "reassess_parenteral_minutes"):
        value = getattr(defaults, field)
        assert re.search(rf"`{field}` \({value:g}[;)]", DOC), f"the guide should give {field}'s default {value:g}"
    assert "PAIN_GATEWAY_PLUGIN_PAIN_ALERTS_REASSESS_MINUTES" in DOC
    assert defaults.enabled is False and "(`enabled`, default `false`" in DOC
    assert msgspec.structs.fields(Rules)  # the settings reference is generated from the same Struct


def test_the_guide_names_the_event_types_routes_metrics_and_codes_that_exist():
    for event in EVENT_TYPES:
        assert f"`{event}`" in DOC
    for route in ROUTES:
        for path in route.paths:
            assert path.replace("{episode_id:str}", "{id}") in DOC, path
    alert_metrics.count("pain_alert.opened", "sustained")
    exposed = generate_latest(METRICS_REGISTRY).decode()
    for name in re.findall(r"`(pain_gateway_pain_alert_[a-z_]+)", DOC):
        assert name in exposed, name
    assert (ROOT / "fhir_mappings" / "pain_alerts.yaml").exists() and "fhir_mappings/pain_alerts.yaml" in DOC
