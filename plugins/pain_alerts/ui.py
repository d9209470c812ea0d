"""The patient page's "Pain over time" section: a chart (time across, one band per level, AI and
clinician marks distinguished, interventions as markers, unscorable checks as gaps: no line ever joins
two checks, so nothing is interpolated), the open alert, the reassessment timers and what pain did after
each intervention, with a table that says the same for screen readers. Readable at 820 px (viewBox scales)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
from markupsafe import Markup

from gateway import LEVELS, AssessmentStore, UiContext, UiSection
from plugins.pain_alerts import trajectory as tj

WIDTH, HEIGHT, LEFT, RIGHT, TOP, LANE = 760, 230, 110, 16, 24, 44
LANES = ("significant", "mild", "none", "unscorable")
ENV = jinja2.Environment(loader=jinja2.PackageLoader("plugins.pain_alerts", "templates"), autoescape=True, undefined=jinja2.StrictUndefined)
WINDOW = timedelta(hours=24)
RULE_TEXT = {"sustained": "sustained significant pain", "rising": "rising pain", "no-relief": "no relief after an intervention"}


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    kind: str  # ai | clinician | gap
    label: str


def lane_y(level: str | None) -> float:
    return TOP + LANE * LANES.index(level if level in LEVELS else "unscorable") + LANE / 2


def chart(body: tj.Trajectory) -> dict[str, Any]:
    """Time across from shortly before the first thing shown (within the period) to now, so a morning's checks are not one dot."""
    moments = [p.start for p in body.points] + [i.given_at for i in body.interventions] + [e.started_at for e in body.episodes]
    since = max(body.since, min(moments, default=body.since) - timedelta(minutes=30))
    span = max((body.until - since).total_seconds(), 3600.0)

    def x(moment: datetime) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * max(0.0, min(1.0, (moment - since).total_seconds() / span)), 1)

    marks: list[Mark] = []
    for p in body.points:
        when = p.start.strftime("%d %b %H:%M")
        if p.ai_level is None:
            marks.append(Mark(x(p.start), lane_y(None), "gap", f"{when}: nothing scorable"))
        else:
            marks.append(Mark(x(p.start), lane_y(p.ai_level), "ai", f"{when}: AI {p.ai_level}"))
        if p.clinician_level:
            marks.append(Mark(x(p.start), lane_y(p.clinician_level), "clinician", f"{when}: clinician {p.clinician_level}"))
    ticks = []
    step = next((timedelta(minutes=m) for m in (15, 30, 60, 120, 240) if span / (m * 60) <= 8), timedelta(days=1))
    moment = since.replace(minute=0, second=0, microsecond=0)
    while moment <= body.until and len(ticks) < 40:
        if moment >= since:
            ticks.append((x(moment), moment.strftime("%H:%M") if step < timedelta(days=1) else moment.strftime("%d %b")))
        moment += step
    interventions = [(x(i.given_at), i) for i in body.interventions]
    episodes = [(x(e.started_at), x(e.closed_at or body.until), e) for e in body.episodes]
    lanes = [(lane, TOP + LANE * k) for k, lane in enumerate(LANES)]
    return {"marks": marks, "ticks": ticks, "interventions": interventions, "episodes": episodes, "lanes": lanes}


def render(body: tj.Trajectory, now: datetime) -> Markup:
    points = {p.assessment_id: p for p in body.points}
    html = ENV.get_template("trajectory_section.html").render(
        t=body,
        c=chart(body),
        points=points,
        now=now,
        rule_text=RULE_TEXT,
        open_episodes=[e for e in body.episodes if e.status == "open"],
        W=WIDTH,
        H=TOP + LANE * len(LANES) + 30,
        LEFT=LEFT,
        RIGHT=RIGHT,
        TOP=TOP,
        LANE=LANE,
    )
    return Markup(html)  # autoescaped template: every value from the data is escaped


async def sections(page: str, context: UiContext) -> list[UiSection] | None:
    if page != "patient" or context.patient is None or context.engine is None or context.patient.value is None:
        return None
    now = datetime.now(UTC)
    store = AssessmentStore(context.engine)
    body = await tj.build(store, [], context.tenant, context.patient, now - WINDOW, now, now)
    return [UiSection(id="pain-over-time", title="Pain over time (last 24 h)", html=render(body, now), order=10)]
