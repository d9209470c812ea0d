"""The worklist's urgency order: patients with an open alert, then overdue reassessments (both from plugins'
``WorklistPriority``), then unreviewed significant results (the core's own), so a ward screen shows first
what asks for action; their count starts the page title."""

from __future__ import annotations

from datetime import datetime

import structlog

from gateway.contract.domain import URGENCY_RANKS, UrgentPatient
from gateway.contract.plugin_manager import Plugins
from gateway.storage.assessments import AssessmentQuery, AssessmentStore

log = structlog.get_logger(__name__)

UNREVIEWED_LIMIT = 100
"""Unreviewed significant results listed at most (newest first): the worklist's rows hold the rest."""


async def needing_attention(plugins: Plugins, store: AssessmentStore, tenant: str, now: datetime) -> list[UrgentPatient]:
    """One row per patient and reason, most urgent reason first, oldest first within a reason. A priority
    that fails is logged and left out (the worklist still renders)."""
    found: list[UrgentPatient] = []
    for priority in plugins.worklist_priorities:
        try:
            found += [u for u in await priority.urgent(tenant, now, store.engine) if u.reason in URGENCY_RANKS]
        except Exception as exc:
            log.warning("worklist_priority_failed", priority=getattr(priority, "name", "?"), error=type(exc).__name__)
    unreviewed, _ = await store.search(AssessmentQuery(tenant=tenant, level="significant", clinical_status="preliminary", limit=UNREVIEWED_LIMIT))
    for a in unreviewed:
        badge = "Unreviewed significant result (AI-asserted)"
        found.append(UrgentPatient(patient=a.patient, reason="unreviewed-significant", badge=badge, since=a.effective_start, href=f"/ui/assessments/{a.id}"))
    unique: dict[tuple[str, object], UrgentPatient] = {}
    for u in found:
        key = (u.reason, (u.patient.system, u.patient.value, u.patient.reference))
        if key not in unique or u.since < unique[key].since:
            unique[key] = u
    return sorted(unique.values(), key=lambda u: (URGENCY_RANKS[u.reason], u.since))
