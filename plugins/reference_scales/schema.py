"""Request and response bodies of the reference-scale routes (msgspec Structs: they type OpenAPI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from fhir_mappings.scales import Bands, Code, Item, LevelMapping, Range, Scale
from gateway import SYNTHETIC_DISCLAIMER, PatientRef
from plugins.reference_scales.scores import Score


class ScaleOut(msgspec.Struct, frozen=True):
    """A scale as the site records it: items with their keys and ranges, the total, published bands with
    their source, the code of the total and the site's versioned mapping onto the AI's levels."""

    id: str
    name: str
    population: str
    self_report: bool
    code: Code
    items: list[Item]
    total: Range
    bands: Bands
    levels: LevelMapping

    @staticmethod
    def of(scale: Scale) -> ScaleOut:
        return ScaleOut(scale.id, scale.name, scale.population, scale.self_report, scale.code, scale.items, scale.total, scale.bands, scale.levels)


class ScaleList(msgspec.Struct, frozen=True):
    scales: list[ScaleOut]
    pair_minutes: float


class ScaleScoreIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A score observed by a clinician: ``items`` (every item of the scale) or, for a total-only record,
    ``total``. With items the total is computed; a ``total`` sent beside them must agree."""

    patient: dict[str, Any]
    scale: str
    observed_at: str
    assessor: str
    items: dict[str, Any] | None = None
    total: Any = None


def patient_out(patient: PatientRef) -> dict[str, Any]:
    if patient.reference:
        return {"reference": patient.reference}
    return {"identifier": {"system": patient.system, "value": patient.value}}


class ScaleScoreOut(msgspec.Struct, frozen=True):
    """A recorded score. ``ai_asserted`` is always false: a clinician observed it."""

    id: str
    patient: dict[str, Any]
    scale: str
    items: dict[str, int] | None
    total: int
    band: str
    level: str
    mapping_version: str
    observed_at: datetime
    assessor: str
    recorded_by: str
    created_at: datetime
    ai_asserted: bool = False

    @staticmethod
    def of(score: Score) -> ScaleScoreOut:
        return ScaleScoreOut(
            score.id,
            patient_out(score.patient),
            score.scale,
            score.items,
            score.total,
            score.band,
            score.level,
            score.mapping_version,
            score.observed_at,
            score.assessor,
            score.recorded_by,
            score.created_at,
        )


class AiSide(msgspec.Struct, frozen=True):
    """The AI's half of a pair: AI-asserted, with its model and version."""

    assessment_id: str
    model_id: str
    model_version: str
    captured_start: datetime
    captured_end: datetime
    level: str
    probabilities: dict[str, float]
    expected_level: float
    ai_asserted: bool = True
    disclaimer: str = SYNTHETIC_DISCLAIMER


class PairOut(msgspec.Struct, frozen=True):
    score: ScaleScoreOut
    ai: AiSide
    seconds_apart: float


class PairList(msgspec.Struct, frozen=True):
    rule: str
    pair_minutes: float
    pairs: list[PairOut]


class EstimateOut(msgspec.Struct, frozen=True):
    value: float | None
    ci_low: float | None
    ci_high: float | None


class CalibrationBinOut(msgspec.Struct, frozen=True):
    lower: float
    upper: float
    count: int
    mean_probability: float | None
    observed: float | None


class BlandAltmanOut(msgspec.Struct, frozen=True):
    bias: float | None
    sd: float | None
    lower: float | None
    upper: float | None


class GroupOut(msgspec.Struct, frozen=True):
    """The figures of one scale, mapping version and model version (never mixed)."""

    scale: str
    mapping_version: str
    model_id: str
    model_version: str
    pairs: int
    patients: int
    reliable: bool
    reliability_note: str
    kappa: EstimateOut
    spearman: EstimateOut
    sensitivity_significant: EstimateOut
    specificity_significant: EstimateOut
    sensitivity_any: EstimateOut
    specificity_any: EstimateOut
    confusion: list[list[int]]
    calibration_bins: list[CalibrationBinOut]
    ece: float | None
    bland_altman: BlandAltmanOut


class ConcordanceOut(msgspec.Struct, frozen=True):
    generated_at: datetime
    rule: str
    method: str
    disclaimer: str
    groups: list[GroupOut]
    filters: dict[str, str] = msgspec.field(default_factory=dict)


METHOD = (
    "Quadratic weighted kappa (scikit-learn) of the AI level against the scale total mapped to none/mild/significant; Spearman rho (SciPy) "
    "between P(mild)+2*P(significant) and the total; sensitivity and specificity for 'significant' and for 'any pain' against the mapped "
    "scale; 95 % CIs by percentile bootstrap resampling patients (SciPy, fixed seed); calibration one-vs-rest over the three levels in "
    "tenths (ECE: count-weighted mean gap); Bland-Altman of the AI's expected level (0-2) against the mapped level."
)

NOW = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
EXAMPLE_SCORE_IN = {
    "patient": {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}},
    "scale": "painad",
    "items": {"breathing": 1, "vocalisation": 0, "facial_expression": 2, "body_language": 1, "consolability": 0},
    "observed_at": "2026-11-23T10:04:00Z",
    "assessor": "Practitioner/rn-42",
}
EXAMPLE_SCORE = ScaleScoreOut(
    "6f1c2d3e-0000-4000-8000-000000000001",
    {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}},
    "painad",
    {"breathing": 1, "vocalisation": 0, "facial_expression": 2, "body_language": 1, "consolability": 0},
    4,
    "moderate",
    "significant",
    "painad-default-1",
    datetime(2026, 11, 23, 10, 4, tzinfo=UTC),
    "Practitioner/rn-42",
    "a1b2c3d4",
    NOW,
)
