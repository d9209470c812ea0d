"""Pairs and concordance for one tenant: the routes, the UI page and the report command share this.

Pairs are grouped by scale, mapping version and model (id and version) and never mixed: a figure
computed across two mappings or two models would describe neither. Each group is marked unreliable
below the configured number of pairs (50) or patients (10).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime

from gateway import LEVELS, SYNTHETIC_DISCLAIMER, AssessmentStore, InputError
from plugins.reference_scales import ReferenceScalesSettings
from plugins.reference_scales.pairing import RULE, Pair, make_pairs
from plugins.reference_scales.schema import (
    METHOD,
    AiSide,
    BlandAltmanOut,
    CalibrationBinOut,
    ConcordanceOut,
    EstimateOut,
    GroupOut,
    PairList,
    PairOut,
    ScaleScoreOut,
)
from plugins.reference_scales.scores import MAX_SCORES, ScoreStore
from plugins.reference_scales.statistics import STATISTICS, PairArrays, concordance


def parse_moment(field: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(field, f"{raw!r} is not an ISO-8601 date-time, e.g. 2026-11-23T10:00:00Z") from None
    if moment.tzinfo is None:
        raise InputError(field, "needs a time zone (e.g. 'Z' or '+01:00')")
    return moment.astimezone(UTC)


class Filters:
    """``scale``, ``since``, ``until``, ``model_version`` as the caller gave them, checked."""

    def __init__(self, config: ReferenceScalesSettings, scale: str | None, since: str | None, until: str | None, model_version: str | None) -> None:
        scales = config.enabled()
        if scale is not None and scale != "" and scale not in scales:
            raise InputError("scale", f"unknown scale {scale!r}; this site records {', '.join(scales)}")
        self.scale = scale or None
        self.since = parse_moment("since", since)
        self.until = parse_moment("until", until)
        if self.since and self.until and self.since >= self.until:
            raise InputError("until", "must be after since")
        if model_version is not None and len(model_version) > 64:
            raise InputError("model_version", "is at most 64 characters")
        self.model_version = model_version or None

    def given(self) -> dict[str, str]:
        values = {
            "scale": self.scale,
            "since": self.since and self.since.isoformat(),
            "until": self.until and self.until.isoformat(),
            "model_version": self.model_version,
        }
        return {k: v for k, v in values.items() if v}


async def pairs_for(store: AssessmentStore, tenant: str, config: ReferenceScalesSettings, filters: Filters) -> list[Pair]:
    scores = await ScoreStore(store.engine, tenant).search(scale=filters.scale, since=filters.since, until=filters.until)
    if len(scores) > MAX_SCORES:
        raise InputError("since", f"more than {MAX_SCORES} scores match: narrow since/until (or scale)")
    return await make_pairs(store, tenant, scores, config.pair_minutes, filters.model_version)


def rule(config: ReferenceScalesSettings) -> str:
    minutes = f"{config.pair_minutes:g}"
    return RULE.format(minutes=minutes)


def pair_out(pair: Pair) -> PairOut:
    a = pair.assessment
    ai = AiSide(
        assessment_id=a.id,
        model_id=a.model.model_id,
        model_version=a.model.version,
        captured_start=a.effective_start,
        captured_end=a.effective_end,
        level=pair.ai_level,
        probabilities=dict(zip(LEVELS, pair.probabilities, strict=True)),
        expected_level=pair.expected_level,
        disclaimer=a.disclaimer,
    )
    return PairOut(ScaleScoreOut.of(pair.score), ai, pair.seconds_apart)


def pair_list(pairs: list[Pair], config: ReferenceScalesSettings) -> PairList:
    return PairList(rule(config), config.pair_minutes, [pair_out(p) for p in pairs])


def _estimate(values: dict[str, object], name: str) -> EstimateOut:
    e = values[name]
    return EstimateOut(e.value, e.ci_low, e.ci_high)  # type: ignore[attr-defined]


def group(pairs: list[Pair], config: ReferenceScalesSettings) -> GroupOut:
    first = pairs[0]
    code = {level: i for i, level in enumerate(LEVELS)}
    arrays = PairArrays.of(
        [code[p.ai_level] for p in pairs],
        [code[p.score.level] for p in pairs],
        [p.score.total for p in pairs],
        [p.probabilities for p in pairs],
        [p.patient_key for p in pairs],
    )
    c = concordance(arrays, config.bootstrap_resamples)
    notes = []
    if c.pairs < config.min_pairs:
        notes.append(f"{c.pairs} pairs (under {config.min_pairs})")
    if c.patients < config.min_patients:
        notes.append(f"{c.patients} patients (under {config.min_patients})")
    note = ("Unreliable: " + " and ".join(notes) + ".") if notes else f"At least {config.min_pairs} pairs from {config.min_patients} patients."
    figures = {name: _estimate(c.figures, name) for name in STATISTICS}  # type: ignore[arg-type]
    ba = c.bland_altman
    return GroupOut(
        scale=first.score.scale,
        mapping_version=first.score.mapping_version,
        model_id=first.assessment.model.model_id,
        model_version=first.assessment.model.version,
        pairs=c.pairs,
        patients=c.patients,
        reliable=not notes,
        reliability_note=note,
        confusion=c.confusion,
        calibration_bins=[CalibrationBinOut(b.lower, b.upper, b.count, b.mean_probability, b.observed) for b in c.calibration.bins],
        ece=c.calibration.ece,
        bland_altman=BlandAltmanOut(ba.bias, ba.sd, ba.lower, ba.upper),
        **figures,
    )


def report(pairs: list[Pair], config: ReferenceScalesSettings, filters: Filters) -> ConcordanceOut:
    groups: dict[tuple[str, str, str, str], list[Pair]] = defaultdict(list)
    for p in pairs:
        groups[(p.score.scale, p.score.mapping_version, p.assessment.model.model_id, p.assessment.model.version)].append(p)
    return ConcordanceOut(
        generated_at=datetime.now(UTC),
        rule=rule(config),
        method=METHOD,
        disclaimer=SYNTHETIC_DISCLAIMER,
        groups=[group(groups[key], config) for key in sorted(groups)],
        filters=filters.given(),
    )


async def concordance_report(store: AssessmentStore, tenant: str, config: ReferenceScalesSettings, filters: Filters) -> ConcordanceOut:
    return report(await pairs_for(store, tenant, config, filters), config, filters)


CSV_FIGURES = (*STATISTICS, "ece", "bland_altman_bias", "bland_altman_lower", "bland_altman_upper")


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def report_csv(out: ConcordanceOut) -> str:
    """One row per group and figure: value and 95 % CI, plus the group's counts and reliability."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["scale", "mapping_version", "model_id", "model_version", "pairs", "patients", "reliable", "figure", "value", "ci_low", "ci_high"])
    for g in out.groups:
        head = [g.scale, g.mapping_version, g.model_id, g.model_version, g.pairs, g.patients, "yes" if g.reliable else "no"]
        for name in STATISTICS:
            e: EstimateOut = getattr(g, name)
            writer.writerow([*head, name, _cell(e.value), _cell(e.ci_low), _cell(e.ci_high)])
        ba = g.bland_altman
        for name, value in (("ece", g.ece), ("bland_altman_bias", ba.bias), ("bland_altman_lower", ba.lower), ("bland_altman_upper", ba.upper)):
            writer.writerow([*head, name, _cell(value), "", ""])
    return buffer.getvalue()


def pairs_csv(pairs: PairList) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "score_id",
            "scale",
            "observed_at",
            "total",
            "scale_level",
            "mapping_version",
            "assessment_id",
            "model_version",
            "ai_level",
            "p_none",
            "p_mild",
            "p_significant",
            "seconds_apart",
        ]
    )
    for p in pairs.pairs:
        s, ai = p.score, p.ai
        writer.writerow(
            [s.id, s.scale, s.observed_at.isoformat(), s.total, s.level, s.mapping_version, ai.assessment_id, ai.model_version, ai.level]
            + [f"{ai.probabilities[level]:.6f}" for level in LEVELS]
            + [f"{p.seconds_apart:g}"]
        )
    return buffer.getvalue()
