"""Model monitoring: how often clinicians agree with each model version, and how that moves over time.

Counts the review in force for each reviewed assessment (the latest), per model version: the
confusion matrix AI level x clinician level, the override rate, Cohen's kappa with quadratic weights
(disagreeing by two levels costs four times one level) and a daily or weekly trend. Aggregated in the
database, so the answer's size depends on models and days, never on the number of assessments.
Agreement with clinicians is a signal to watch, not a clinical validation.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import msgspec
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.contract.domain import LEVELS, SYNTHETIC_DISCLAIMER, InputError
from gateway.storage.tables import AssessmentRow, ReviewRow

PERIODS = ("day", "week")
NOTE = (
    "Agreement between the AI and reviewing clinicians, from each assessment's latest review. A high agreement is not "
    "clinical validation: clinicians see the AI's answer before they review. " + SYNTHETIC_DISCLAIMER
)


class TrendPoint(msgspec.Struct, frozen=True):
    """Reviews made in one period (``start``: the day, or the Monday of the week)."""

    start: date
    reviewed: int
    overridden: int
    override_rate: float


class ModelAgreement(msgspec.Struct, frozen=True):
    """``confusion[i][j]``: reviews where the AI said ``levels[i]`` and the clinician ``levels[j]``;
    ``ai_gave_no_level``: reviews of clips the AI could not score (not in the matrix or kappa)."""

    model_id: str
    model_version: str
    reviewed: int
    confirmed: int
    overridden: int
    override_rate: float
    weighted_kappa: float | None
    confusion: list[list[int]]
    ai_gave_no_level: int
    trend: list[TrendPoint]


class ModelMonitoring(msgspec.Struct, frozen=True):
    levels: list[str]
    period: str
    models: list[ModelAgreement]
    generated_at: datetime
    note: str = NOTE


def quadratic_kappa(confusion: list[list[int]]) -> float | None:
    """Cohen's kappa with quadratic weights; None when it is undefined (no reviews, or one level only on both sides)."""
    k = len(confusion)
    n = sum(map(sum, confusion))
    if n == 0 or k < 2:
        return None
    rows = [sum(r) for r in confusion]
    cols = [sum(confusion[i][j] for i in range(k)) for j in range(k)]
    weight = [[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)]
    observed = sum(weight[i][j] * confusion[i][j] for i in range(k) for j in range(k))
    expected = sum(weight[i][j] * rows[i] * cols[j] / n for i in range(k) for j in range(k))
    return None if expected == 0 else round(1 - observed / expected, 4)


def _period_start(day: date, period: str) -> date:
    return day - timedelta(days=day.weekday()) if period == "week" else day


async def model_monitoring(engine: AsyncEngine, tenant: str, period: str = "day") -> ModelMonitoring:
    """Agreement per model version for ``tenant``'s reviewed assessments; ``period``: ``day`` or ``week``."""
    if period not in PERIODS:
        raise InputError("period", f"must be one of {', '.join(PERIODS)}, got {period!r}")
    latest = and_(ReviewRow.assessment_id == AssessmentRow.id, ReviewRow.version == AssessmentRow.clinical_version)
    model = (ReviewRow.model_id, ReviewRow.model_version)
    day = func.date(ReviewRow.reviewed_at)
    count = func.count()
    scope = [AssessmentRow.tenant == tenant, ReviewRow.tenant == tenant]
    async with engine.connect() as connection:
        pairs = await connection.execute(
            select(*model, ReviewRow.ai_level, ReviewRow.level, count)
            .join(AssessmentRow, latest)
            .where(*scope)
            .group_by(*model, ReviewRow.ai_level, ReviewRow.level)
        )
        days = await connection.execute(
            select(*model, day, ReviewRow.decision, count).join(AssessmentRow, latest).where(*scope).group_by(*model, day, ReviewRow.decision)
        )
        pairs, days = pairs.all(), days.all()
    confusion: dict[tuple[str, str], list[list[int]]] = defaultdict(lambda: [[0] * len(LEVELS) for _ in LEVELS])
    stats: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"reviewed": 0, "overridden": 0, "no_level": 0})
    for model_id, version, ai_level, level, n in pairs:
        key = (model_id, version)
        stats[key]["reviewed"] += n
        if ai_level is None:
            stats[key]["no_level"] += n
        else:
            confusion[key][LEVELS.index(ai_level)][LEVELS.index(level)] += n
    trend: dict[tuple[str, str], dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for model_id, version, reviewed_on, decision, n in days:
        reviewed_on = reviewed_on if isinstance(reviewed_on, date) else date.fromisoformat(str(reviewed_on))
        bucket = trend[(model_id, version)][_period_start(reviewed_on, period)]
        bucket[0] += n
        if decision == "override":
            bucket[1] += n
            stats[(model_id, version)]["overridden"] += n
    models = []
    for key in sorted(stats):
        s, matrix = stats[key], confusion[key]
        models.append(
            ModelAgreement(
                model_id=key[0],
                model_version=key[1],
                reviewed=s["reviewed"],
                confirmed=s["reviewed"] - s["overridden"],
                overridden=s["overridden"],
                override_rate=round(s["overridden"] / s["reviewed"], 4),
                weighted_kappa=quadratic_kappa(matrix),
                confusion=matrix,
                ai_gave_no_level=s["no_level"],
                trend=[TrendPoint(start, r, o, round(o / r, 4)) for start, (r, o) in sorted(trend[key].items())],
            )
        )
    return ModelMonitoring(levels=list(LEVELS), period=period, models=models, generated_at=datetime.now(UTC))
