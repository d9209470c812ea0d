"""A recorded score, checked against its scale's definition before anything is written.

The total is computed from the items when items are given (a client's total is only compared, never
trusted); a missing, unknown or out-of-range item, a total that disagrees with the items, an unknown
scale or an observation time in the future is an ``InputError`` naming the field, so the API answers
422 with the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_mappings.scales import Scale
from gateway import DEFAULT_CLOCK_SKEW_S, InputError, PatientRef, parse_patient

MAX_ASSESSOR = 200


@dataclass(frozen=True)
class ScoreInput:
    """A checked score, ready to store: ``level`` is the scale's mapping of ``total`` at recording time."""

    patient: PatientRef
    scale: Scale
    items: dict[str, int] | None
    total: int
    band: str
    level: str
    mapping_version: str
    observed_at: datetime
    assessor: str


def _integer(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"must be a whole number, got {value!r}")
    return value


def check_items(scale: Scale, items: Any) -> dict[str, int]:
    if not isinstance(items, dict):
        raise InputError("items", f"must be an object of item scores: {', '.join(i.key for i in scale.items)}")
    keys = {i.key for i in scale.items}
    unknown = sorted(k for k in items if k not in keys)
    if unknown:
        raise InputError(f"items.{unknown[0]}", f"is not an item of {scale.id}; its items are {', '.join(i.key for i in scale.items)}")
    checked: dict[str, int] = {}
    for item in scale.items:
        field = f"items.{item.key}"
        if item.key not in items:
            raise InputError(field, f"is missing: score every item of {scale.id} ({item.label}, {item.min}-{item.max})")
        value = _integer(field, items[item.key])
        if not item.min <= value <= item.max:
            raise InputError(field, f"{value} is out of range: {item.label} is scored {item.min}-{item.max}")
        checked[item.key] = value
    return checked


def check_observed_at(raw: Any, now: datetime | None = None) -> datetime:
    if not isinstance(raw, str) or len(raw) > 64:
        raise InputError("observed_at", "is required: an ISO-8601 date-time with a time zone, e.g. 2026-11-23T10:00:00Z")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError("observed_at", f"{raw!r} is not an ISO-8601 date-time, e.g. 2026-11-23T10:00:00Z") from None
    if moment.tzinfo is None:
        raise InputError("observed_at", "needs a time zone (e.g. 'Z' or '+01:00')")
    now = now or datetime.now(UTC)
    if moment > now + timedelta(seconds=DEFAULT_CLOCK_SKEW_S):
        raise InputError("observed_at", f"{raw} is in the future: record a score when it has been observed")
    if moment < now - timedelta(days=366 * 10):
        raise InputError("observed_at", f"{raw} is more than ten years ago")
    return moment.astimezone(UTC)


def check_score(scales: dict[str, Scale], body: dict[str, Any], now: datetime | None = None) -> ScoreInput:
    """``body`` (patient, scale, items or total, observed_at, assessor) as a ``ScoreInput``."""
    patient = parse_patient(body.get("patient"))
    scale_id = body.get("scale")
    if not isinstance(scale_id, str) or scale_id not in scales:
        raise InputError("scale", f"unknown scale {scale_id!r}; this site records {', '.join(scales)}")
    scale = scales[scale_id]
    raw_items, raw_total = body.get("items"), body.get("total")
    if raw_items is None and raw_total is None:
        raise InputError("items", f"give the item scores ({', '.join(i.key for i in scale.items)}) or the total")
    items = None if raw_items is None else check_items(scale, raw_items)
    if items is not None:
        total = sum(items.values())
        if raw_total is not None and _integer("total", raw_total) != total:
            raise InputError("total", f"{raw_total} disagrees with the items, which add up to {total}; send the items alone")
    else:
        total = _integer("total", raw_total)
        if not scale.total.holds(total):
            raise InputError("total", f"{total} is out of range: the {scale.id} total is {scale.total.min}-{scale.total.max}")
    observed_at = check_observed_at(body.get("observed_at"), now)
    assessor = body.get("assessor")
    if not isinstance(assessor, str) or not assessor.strip() or len(assessor) > MAX_ASSESSOR:
        raise InputError("assessor", f"is required: who scored it (a name or 'Practitioner/<id>', up to {MAX_ASSESSOR} characters)")
    return ScoreInput(
        patient=patient,
        scale=scale,
        items=items,
        total=total,
        band=scale.band(total),
        level=scale.levels.level(total),
        mapping_version=scale.levels.version,
        observed_at=observed_at,
        assessor=assessor.strip(),
    )
