"""Store assessments the way the flow does (with their ``assessment.completed`` event and deliveries) and
run the due deliveries of chosen destinations in process: the alert evaluator is one of them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from gateway.contract.domain import Assessment, PatientRef
from gateway.service.flow import AssessmentFlow
from gateway.service.jobs.pipeline import deliver
from gateway.storage.events import new_event
from support.assessments import make_assessment, make_window


def scored(start: datetime, level: str | None, patient: PatientRef, seconds: int = 5, **overrides) -> Assessment:
    """An assessment of ``seconds`` one-second windows all at ``level`` (None: unscorable)."""
    probabilities = {"none": (0.9, 0.05, 0.05), "mild": (0.1, 0.8, 0.1), "significant": (0.05, 0.1, 0.85)}.get(level or "", None)
    windows = [make_window(i, level=level, probabilities=probabilities) for i in range(seconds)]
    peaks = None if level is None else dict(zip(("none", "mild", "significant"), probabilities or (0, 0, 0), strict=True))
    fields = {"id": str(uuid.uuid4()), "patient": patient, "windows": windows, "tenant": "default"} | overrides
    return make_assessment(start=start, seconds=seconds, level=level, peaks=peaks, **fields)


async def store(flow: AssessmentFlow, assessment: Assessment) -> None:
    event = new_event("assessment.completed", assessment.id, assessment.tenant)

    async def with_event(connection) -> None:
        await flow.events.record(connection, event)

    assert await flow.assessments.add(assessment, then=with_event)
    flow.events.committed(event)


async def run_due(flow: AssessmentFlow, *destinations: str, rounds: int = 5) -> list:
    """Attempt every due delivery to ``destinations`` (all when none named), again while new ones appear."""
    done = []
    for _ in range(rounds):
        due = [
            d
            for d in await flow.deliveries.due(1000)
            if (delivery := await flow.deliveries.get(d)) and (not destinations or delivery.destination in destinations)
        ]
        if not due:
            break
        for delivery_id in due:
            done.append(await deliver(flow, delivery_id))
    return done


MINUTE = timedelta(minutes=1)
