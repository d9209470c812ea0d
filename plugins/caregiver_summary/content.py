"""What a caregiver summary says, before any language or format: the facts every renderer shares.

Built from one assessment (per-second levels) or from a patient's assessments over a period (one
point per assessment). A clinician's level, once an assessment is reviewed (``clinical_status`` final or
amended), takes the place of the AI level; until then the summary says "not yet reviewed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway import LEVELS, Assessment

REVIEWED_STATUSES = ("final", "amended")


@dataclass(frozen=True)
class Review:
    """``status``: none | confirmed | amended (the clinician chose another level)."""

    status: str
    level: str | None = None


def review_of(assessment: Assessment) -> Review:
    """The clinical review state: confirmed (``final``), amended (a clinician chose another level) or none."""
    if assessment.clinical_status not in REVIEWED_STATUSES:
        return Review("none")
    level = assessment.clinician_level or assessment.summary.level
    return Review("amended" if level != assessment.summary.level else "confirmed", level)


def level_of(assessment: Assessment) -> str | None:
    """The level a caregiver is told: the clinician's when reviewed, else the AI's."""
    review = review_of(assessment)
    return review.level if review.status != "none" else assessment.summary.level


@dataclass(frozen=True)
class Point:
    """One point of the trend: where on the x axis (0..1), the level there (None: not checked)."""

    x: float
    level: str | None
    at: datetime | None = None  # period points: when the check was made
    offset_s: float | None = None  # assessment points: seconds into the video


@dataclass(frozen=True)
class Facts:
    """Everything a summary states, in no language yet."""

    kind: str  # assessment | period
    start: datetime
    end: datetime
    checks: int  # assessments included
    checks_total: int  # assessments in the period before the cap
    reviewed: int
    scored_s: float
    unscorable_s: float
    seconds_at: dict[str, float]  # level -> seconds of scored video
    level: str | None  # assessment: its level; period: the most recent check's
    highest: str | None
    latest_at: datetime
    review: Review  # of the one assessment; for a period, of the most recent check
    trend: list[Point]
    model: str
    version: str
    no_baseline: bool = False  # the assessment (period: the most recent check) was scored without the patient's neutral face
    unfamiliar_s: float = 0.0  # assessment: its seconds that looked unlike the model's calibration data

    @property
    def share_at(self) -> dict[str, float]:
        total = sum(self.seconds_at.values())
        return {lvl: (s / total if total else 0.0) for lvl, s in self.seconds_at.items()}


def _step_s(assessment: Assessment) -> float:
    """Seconds each window stands for: the stride between windows (1 s by default)."""
    starts = [w.start_s for w in assessment.windows]
    return round(starts[1] - starts[0], 6) if len(starts) > 1 else 1.0


def _highest(levels: list[str | None]) -> str | None:
    ranked = [LEVELS.index(lvl) for lvl in levels if lvl is not None]
    return LEVELS[max(ranked)] if ranked else None


def _seconds(assessments: list[Assessment]) -> tuple[dict[str, float], float, float]:
    seconds = dict.fromkeys(LEVELS, 0.0)
    unscorable = 0.0
    for a in assessments:
        step = _step_s(a)
        for w in a.windows:
            if w.scorable and w.level in seconds:
                seconds[w.level] += step
            else:
                unscorable += step
    return seconds, sum(seconds.values()), unscorable


def _certainty(assessment: Assessment) -> dict[str, bool | float]:
    """What makes the program's estimate of one check less certain (``Facts.no_baseline``, ``unfamiliar_s``)."""
    record = assessment.reliability
    if record is None:
        return {"no_baseline": False, "unfamiliar_s": 0.0}
    return {"no_baseline": record.baseline == "none", "unfamiliar_s": record.unfamiliar_windows * _step_s(assessment)}


def for_assessment(assessment: Assessment) -> Facts:
    seconds, scored, unscorable = _seconds([assessment])
    duration = max(assessment.frames / assessment.fps, 1e-9)
    trend = [Point(min(w.start_s / duration, 1.0), w.level if w.scorable else None, offset_s=w.start_s) for w in assessment.windows]
    review = review_of(assessment)
    level = level_of(assessment)
    return Facts(
        kind="assessment",
        start=assessment.effective_start,
        end=assessment.effective_end,
        checks=1,
        checks_total=1,
        reviewed=int(review.status != "none"),
        scored_s=scored,
        unscorable_s=unscorable,
        seconds_at=seconds,
        level=level,
        highest=level,
        latest_at=assessment.effective_start,
        review=review,
        trend=trend,
        model=assessment.model.name,
        version=assessment.model.version,
        **_certainty(assessment),
    )


def for_period(assessments: list[Assessment], start: datetime, end: datetime, total: int) -> Facts:
    """``assessments``: the patient's checks in [start, end), any order, at least one; ``total`` before capping."""
    ordered = sorted(assessments, key=lambda a: a.effective_start)
    span = max((end - start).total_seconds(), 1e-9)
    seconds, scored, unscorable = _seconds(ordered)
    levels = [level_of(a) for a in ordered]
    latest = ordered[-1]
    trend = [
        Point(min(max((a.effective_start - start).total_seconds() / span, 0.0), 1.0), lvl, at=a.effective_start) for a, lvl in zip(ordered, levels, strict=True)
    ]
    return Facts(
        kind="period",
        start=start,
        end=end,
        checks=len(ordered),
        checks_total=total,
        reviewed=sum(review_of(a).status != "none" for a in ordered),
        scored_s=scored,
        unscorable_s=unscorable,
        seconds_at=seconds,
        level=levels[-1],
        highest=_highest(levels),
        latest_at=latest.effective_start,
        review=review_of(latest),
        trend=trend,
        model=latest.model.name,
        version=latest.model.version,
        no_baseline=bool(_certainty(latest)["no_baseline"]),  # its seconds are not singled out among the period's
    )
