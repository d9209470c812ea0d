"""``WorklistPriority``: patients with an open alert, then those whose reassessment is overdue."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import PatientRef, UrgentPatient, read_only
from plugins.pain_alerts.episodes import open_episodes, overdue_interventions

RULE_TEXT = {"sustained": "sustained significant pain", "rising": "rising pain", "no-relief": "no relief after an intervention"}


def patient_href(patient: PatientRef) -> str:
    text = f"{patient.system}|{patient.value}" if patient.system else (patient.value or "")
    return "/ui/patients?" + urlencode({"patient": text})


class AlertUrgency:
    name = "pain_alerts"

    async def urgent(self, tenant: str, now: datetime, engine: AsyncEngine) -> list[UrgentPatient]:
        async with read_only(engine).connect() as connection:
            episodes = await open_episodes(connection, tenant)
        urgent = []
        for e in episodes:
            patient = PatientRef(**e.patient)
            badge = f"Alert (AI-derived): {RULE_TEXT.get(e.rule, e.rule)}"
            urgent.append(UrgentPatient(patient=patient, reason="open-alert", badge=badge, since=e.opened_at, href=patient_href(patient)))
        for i in await overdue_interventions(engine, tenant, now):
            patient = PatientRef(**i.patient)
            minutes = int((now - i.due_at).total_seconds() // 60)
            badge = f"Reassessment overdue by {minutes} min ({i.kind}: {i.description[:60]})"
            urgent.append(UrgentPatient(patient=patient, reason="overdue-reassessment", badge=badge, since=i.due_at, href=patient_href(patient)))
        return urgent
