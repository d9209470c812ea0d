"""An episode's documents: a FHIR transaction Bundle (episode Observation, ``Flag``, the model Device)
for the EMR, with a short patient-free summary for webhooks.

The Observation is derived from the window Observations (``derivedFrom`` by their identifiers),
``effectivePeriod`` first → last significant check, a duration component in minutes, the model Device,
labelled AI-asserted; the Flag is active with ``period.start`` until the episode closes (then inactive
with ``period.end``). Both are conditional updates on our identifiers, so a resend or a replay never
creates a second one, and a late retry of ``opened`` sends the episode as it is now (already closed),
never reopening it. Codes come from ``fhir_mappings/pain_alerts.yaml``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import msgspec
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from fhir_mappings import Coding, Concept, Quantity
from gateway import SYNTHETIC_DISCLAIMER, AssessmentEvent, OutputDocument
from plugins.pain_alerts.episodes import get_episode
from plugins.pain_alerts.hl7 import oru
from plugins.pain_alerts.tables import EpisodeRow

FHIR_JSON = "application/fhir+json"


class EpisodeCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Concept
    category: Concept
    duration: Concept
    duration_unit: Quantity
    value_significant: Concept


class FlagCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    category: Concept
    codes: dict[str, Concept]


class AlertMappings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    episode: EpisodeCodes
    flag: FlagCodes
    ai_asserted: Coding


@cache
def mappings() -> AlertMappings:
    text = resources.files("fhir_mappings").joinpath("pain_alerts.yaml").read_text(encoding="utf-8")
    return msgspec.convert(yaml.safe_load(text), AlertMappings)


def _id(base: str, kind: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base}/{kind}/{key}"))


def _instant(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _subject(patient: dict[str, str]) -> dict[str, Any]:
    subject: dict[str, Any] = {}
    if patient.get("reference"):
        subject["reference"] = patient["reference"]
    if patient.get("value"):
        subject["identifier"] = {k: patient[k] for k in ("system", "value") if patient.get(k)}
    return subject


def _narrative(*paragraphs: str) -> dict[str, str]:
    from html import escape

    body = "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def episode_bundle(episode: EpisodeRow, base: str) -> dict[str, Any]:
    """The transaction Bundle for an episode as it is now (active or closed)."""
    codes, model = mappings(), episode.model
    security = [msgspec.to_builtins(codes.ai_asserted)]
    device_key = model.get("sha256") or f"{model.get('model_id')}/{model.get('version')}"
    device_full = f"urn:uuid:{_id(base, 'model', device_key)}"
    observation_id, flag_id = _id(base, "pain-alert", f"{episode.id}/Observation"), _id(base, "pain-alert", f"{episode.id}/Flag")
    identifier = {"system": f"{base}/pain-alert-episode", "value": episode.id}
    minutes = round((episode.last_end - episode.first_start).total_seconds() / 60, 1)
    closed = episode.status != "open"
    detail = str((episode.detail or {}).get("text", ""))
    disclaimer = f"AI-derived decision support, not a diagnosis; a clinician decides. {SYNTHETIC_DISCLAIMER}"
    device = {
        "resourceType": "Device",
        "identifier": [{"system": f"{base}/model-sha256", "value": device_key}],
        "status": "active",
        "deviceName": [{"name": str(model.get("name") or model.get("model_id")), "type": "model-name"}],
        "modelNumber": str(model.get("model_id")),
        "version": [{"value": str(model.get("version"))}],
        "note": [{"text": SYNTHETIC_DISCLAIMER}],
        "text": _narrative(f"AI model {model.get('name') or model.get('model_id')} {model.get('version')}.", SYNTHETIC_DISCLAIMER),
    }
    device_ref = {"reference": device_full, "display": f"{model.get('name') or model.get('model_id')} {model.get('version')}"}
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": {"security": security},
        "identifier": [identifier],
        "status": "preliminary",
        "category": [codes.episode.category.fhir()],
        "code": codes.episode.code.fhir(),
        "subject": _subject(episode.patient),
        "effectivePeriod": {"start": _instant(episode.first_start), "end": _instant(episode.last_end)},
        "issued": _instant(episode.opened_at),
        "valueCodeableConcept": codes.episode.value_significant.fhir(),
        "device": device_ref,
        "derivedFrom": [{"identifier": {"system": f"{base}/assessment", "value": a}, "display": "AI pain assessment"} for a in episode.derived_from][:50],
        "component": [
            {
                "code": codes.episode.duration.fhir(),
                "valueQuantity": {
                    "value": minutes,
                    "unit": codes.episode.duration_unit.unit,
                    "system": codes.episode.duration_unit.system,
                    "code": codes.episode.duration_unit.code,
                },
            }
        ],
        "note": [{"text": f"Rule {episode.rule}: {detail}"}, {"text": disclaimer}],
        "text": _narrative(f"AI-derived pain alert ({episode.rule}): {detail}.", disclaimer),
    }
    if not observation["derivedFrom"]:
        del observation["derivedFrom"]  # a live session's stretch: its assessment is stored when the session ends
    period = {"start": _instant(episode.opened_at)} | ({"end": _instant(episode.closed_at)} if closed and episode.closed_at else {})
    flag = {
        "resourceType": "Flag",
        "meta": {"security": security},
        "identifier": [identifier],
        "status": "inactive" if closed else "active",
        "category": [codes.flag.category.fhir()],
        "code": codes.flag.codes[episode.rule].fhir(),
        "subject": _subject(episode.patient),
        "period": period,
        "author": device_ref,
        "text": _narrative(f"{codes.flag.codes[episode.rule].text}: {detail}." + (f" Closed: {episode.closed_reason}." if closed else ""), disclaimer),
    }
    search = urlencode({"identifier": f"{identifier['system']}|{identifier['value']}"})
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": device_full,
                "resource": device,
                "request": {"method": "POST", "url": "Device", "ifNoneExist": urlencode({"identifier": f"{base}/model-sha256|{device_key}"})},
            },
            {"fullUrl": f"urn:uuid:{observation_id}", "resource": observation, "request": {"method": "PUT", "url": f"Observation?{search}"}},
            {"fullUrl": f"urn:uuid:{flag_id}", "resource": flag, "request": {"method": "PUT", "url": f"Flag?{search}"}},
        ],
    }


def summary(episode: EpisodeRow) -> dict[str, str]:
    """What a webhook receiver shows without parsing FHIR: no patient identifier, only the episode."""
    minutes = (episode.last_end - episode.first_start).total_seconds() / 60
    return {
        "episode_id": episode.id,
        "rule": episode.rule,
        "status": "active" if episode.status == "open" else "inactive",
        "started_at": _instant(episode.first_start),
        "last_seen_at": _instant(episode.last_end),
        "duration_min": f"{minutes:.1f}",
        "opened_at": _instant(episode.opened_at),
        "closed_at": _instant(episode.closed_at) if episode.closed_at else "",
        "closed_reason": episode.closed_reason or "",
        "detail": str((episode.detail or {}).get("text", "")),
        "model": f"{episode.model.get('model_id')} {episode.model.get('version')}",
        "ai_derived": "AI-derived decision support; a clinician decides",
    }


class EpisodeDocuments:
    """``EventDocuments`` for ``pain_alert.*``: the event's subject is the episode id."""

    name = "pain_alerts"
    event_types = ("pain_alert.opened", "pain_alert.updated", "pain_alert.resolved")
    outputs = ("fhir", "hl7v2")

    def __init__(self, base: str, hl7_header: Any = None) -> None:
        self.base = base
        self.hl7_header = hl7_header  # the hl7v2 plugin's settings (application and facility names), when it is on
        if hl7_header is None:
            self.outputs = ("fhir",)

    async def render(self, event: AssessmentEvent, output: str, engine: AsyncEngine) -> OutputDocument | None:
        episode = await get_episode(engine, event.assessment_id, event.tenant)
        if episode is None:
            return None
        if output == "fhir":
            return OutputDocument.json("fhir", FHIR_JSON, episode_bundle(episode, self.base), summary(episode))
        if output == "hl7v2" and self.hl7_header is not None:
            return OutputDocument("hl7v2", "x-application/hl7-v2+er7", oru(event, episode, self.hl7_header), summary(episode))
        return None
