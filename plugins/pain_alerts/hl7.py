"""An episode as an HL7 v2.5.1 ORU^R01 for sites whose EMR takes HL7 v2 (the ``hl7v2`` destination sends it):
one OBX with the episode's level and abnormal flag ``A`` while open (``N`` once resolved), the period in
OBR-7/OBR-8, and an NTE saying it is AI-derived decision support. MSH-10 is derived from the event, so a
resend carries the same control id. Header names come from the ``hl7v2`` plugin's settings when it is on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from gateway import SYNTHETIC_DISCLAIMER, AssessmentEvent
from plugins.pain_alerts.tables import EpisodeRow

SPECIAL = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def _escape(text: str) -> str:
    return "".join(SPECIAL.get(c, c) for c in text).replace("\r", " ").replace("\n", " ")


def _ts(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def oru(event: AssessmentEvent, episode: EpisodeRow, header: Any) -> bytes:
    control = uuid.uuid5(uuid.NAMESPACE_URL, f"pain-alert/{event.id}").hex[:20]
    patient = episode.patient
    identifier = f"{_escape(patient.get('value', ''))}^^^&{_escape(patient.get('system', ''))}&URI" if patient.get("value") else ""
    open_ = episode.status == "open"
    detail = _escape(str((episode.detail or {}).get("text", "")))
    segments = [
        f"MSH|^~\\&|{header.sending_application}|{header.sending_facility}|{header.receiving_application}|{header.receiving_facility}|"
        f"{_ts(event.occurred_at)}||ORU^R01^ORU_R01|{control}|{header.processing_id}|2.5.1",
        f"PID|1||{identifier}",
        f"OBR|1||{episode.id}^PAIN_GATEWAY|ai-pain-episode^AI-derived pain alert episode^L|||{_ts(episode.first_start)}|{_ts(episode.last_end)}",
        f"OBX|1|CWE|ai-pain-episode^AI-derived pain alert ({_escape(episode.rule)})^L||significant^Significant pain^L|||{'A' if open_ else 'N'}|||"
        f"{'P' if open_ else 'C'}|||{_ts(episode.opened_at)}",
        f"NTE|1||{detail}",
        f"NTE|2||{_escape('AI-derived decision support, not a diagnosis; a clinician decides. ' + SYNTHETIC_DISCLAIMER)}",
    ]
    if not open_:
        segments.append(f"NTE|3||{_escape('Resolved: ' + (episode.closed_reason or ''))}")
    return ("\r".join(segments) + "\r").encode("utf-8")
