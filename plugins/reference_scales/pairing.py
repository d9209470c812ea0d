"""Pairs: a scale score and the AI assessment of the same patient captured at (nearly) the same time.

The rule, stated in every answer so it can be inspected: a score observed at *t* is paired with a
completed, scored AI assessment of the same patient (same identifier or reference, same tenant) whose
capture period [start, end] overlaps [*t* - window, *t* + window]; the time apart is 0 inside the
period, else the distance to its nearer end. Within one scale each score and each assessment take part
in at most one pair: candidate pairs are taken nearest first (ties: the earlier score, then the
assessment id), so two nurses' scores around one clip never count that clip twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway import LEVELS, Assessment, AssessmentQuery, AssessmentStore
from plugins.reference_scales.scores import Score

RULE = (
    "A scale score observed at t pairs with a completed, scored AI assessment of the same patient whose capture period "
    "overlaps [t - {minutes} min, t + {minutes} min]; nearest first, each score and each assessment in at most one pair per scale."
)
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class Pair:
    score: Score
    assessment: Assessment
    seconds_apart: float
    probabilities: tuple[float, float, float]  # P(none), P(mild), P(significant): mean of the scored windows

    @property
    def ai_level(self) -> str:
        assert self.assessment.summary.level is not None  # only scored assessments pair
        return self.assessment.summary.level

    @property
    def expected_level(self) -> float:
        """P(mild) + 2 P(significant): the AI's expected level on the 0-2 scale."""
        return self.probabilities[1] + 2 * self.probabilities[2]

    @property
    def patient_key(self) -> str:
        p = self.score.patient
        return p.reference or f"{p.system}|{p.value}"


def mean_probabilities(assessment: Assessment) -> tuple[float, float, float] | None:
    scored = [w.probabilities for w in assessment.windows if w.scorable and w.probabilities is not None]
    if not scored:
        return None
    n = len(scored)
    mean = [sum(getattr(p, level) for p in scored) / n for level in LEVELS]
    return (mean[0], mean[1], mean[2])


def seconds_apart(moment: datetime, assessment: Assessment) -> float:
    if moment < assessment.effective_start:
        return (assessment.effective_start - moment).total_seconds()
    if moment > assessment.effective_end:
        return (moment - assessment.effective_end).total_seconds()
    return 0.0


async def candidates(store: AssessmentStore, tenant: str, score: Score, window: timedelta) -> list[Assessment]:
    """The tenant's scored assessments of the score's patient whose period overlaps the window."""
    p = score.patient
    query = AssessmentQuery(
        tenant=tenant,
        reference=p.reference,
        system=p.system,
        value=p.value,
        period=((("end", ">=", score.observed_at - window),), (("start", "<=", score.observed_at + window),)),
        limit=MAX_CANDIDATES,
    )
    found, _ = await store.search(query)
    # an identifier query must not match a reference-only assessment and vice versa
    same = [a for a in found if (a.patient.reference, a.patient.system, a.patient.value) == (p.reference, p.system, p.value)]
    return [a for a in same if a.summary.level is not None]


async def make_pairs(store: AssessmentStore, tenant: str, scores: list[Score], minutes: float, model_version: str | None = None) -> list[Pair]:
    """Every pair among ``scores`` (one tenant's), by the rule above; optionally one model version's only."""
    window = timedelta(minutes=minutes)
    options: list[tuple[float, datetime, str, str, Score, Assessment]] = []
    for score in scores:
        for a in await candidates(store, tenant, score, window):
            if model_version is not None and a.model.version != model_version:
                continue
            options.append((seconds_apart(score.observed_at, a), score.observed_at, score.id, a.id, score, a))
    options.sort(key=lambda o: o[:4])
    used_scores: set[str] = set()
    used_assessments: set[tuple[str, str]] = set()
    pairs: list[Pair] = []
    for apart, _, score_id, assessment_id, score, assessment in options:
        if score_id in used_scores or (score.scale, assessment_id) in used_assessments:
            continue
        probabilities = mean_probabilities(assessment)
        if probabilities is None:
            continue
        used_scores.add(score_id)
        used_assessments.add((score.scale, assessment_id))
        pairs.append(Pair(score, assessment, apart, probabilities))
    pairs.sort(key=lambda p: (p.score.observed_at, p.score.id))
    return pairs
