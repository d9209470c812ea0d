"""FHIR search parameters for ``GET /fhir/Observation`` turned into a store query.

Supported: ``subject`` / ``patient`` (``Patient/<id>`` or ``system|value``), ``patient.identifier``
(``system|value``), ``date`` (with ``eq``, ``ge``, ``gt``, ``le``, ``lt`` prefixes; repeat it for a
range), ``code``, ``identifier`` (the assessment's), ``_count`` and ``_offset``. Unknown parameters
are an error rather than silently ignored, so a typo never returns someone else's results.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gateway.domain import InputError
from gateway.store import AssessmentQuery

KNOWN = {"subject", "patient", "patient.identifier", "date", "code", "identifier", "_count", "_offset", "_format"}
PREFIXES = ("eq", "ge", "gt", "le", "lt")
MAX_COUNT = 200


def _period(value: str) -> tuple[datetime, datetime]:
    """The instant range a FHIR date value covers at its precision (year, month, day or instant)."""
    formats = [("%Y", "year"), ("%Y-%m", "month"), ("%Y-%m-%d", "day")]
    for fmt, precision in formats:
        try:
            start = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if precision == "year":
            return start, start.replace(year=start.year + 1)
        if precision == "month":
            return start, (start + timedelta(days=32)).replace(day=1)
        return start, start + timedelta(days=1)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("date", f"{value!r} is not a FHIR date or dateTime (e.g. 2026-11-23 or 2026-11-23T10:00:00Z)") from None
    if moment.tzinfo is None:
        raise InputError("date", "a dateTime needs a time zone, e.g. 2026-11-23T10:00:00Z")
    return moment, moment + timedelta(seconds=1)


def _date(query: AssessmentQuery, raw: str) -> AssessmentQuery:
    prefix, value = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
    low, high = _period(value)
    bounds = {"eq": (low, high), "ge": (low, None), "gt": (high, None), "le": (None, high), "lt": (None, low)}[prefix]
    start_from = max(filter(None, (query.start_from, bounds[0])), default=None)
    start_before = min(filter(None, (query.start_before, bounds[1])), default=None)
    return replace(query, start_from=start_from, start_before=start_before)


def _patient(query: AssessmentQuery, name: str, raw: str) -> AssessmentQuery:
    if raw.startswith("Patient/"):
        return replace(query, reference=raw)
    system, sep, value = raw.partition("|")
    if not sep or not system or not value:
        raise InputError(name, "use Patient/<id> or an identifier as system|value")
    return replace(query, system=system, value=value)


def _int(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError(name, f"must be a whole number from {low} to {high}")
    return int(raw)


def parse_search(params: list[tuple[str, str]], identifier_system: str, tenant: str) -> tuple[AssessmentQuery, list[str]]:
    """Return the store query (within the caller's tenant) plus the ``code`` tokens the caller must also match."""
    query, codes = AssessmentQuery(tenant=tenant), []
    for name, raw in params:
        if name not in KNOWN:
            raise InputError(name, f"unsupported search parameter; supported: {', '.join(sorted(KNOWN))}")
        if name == "date":
            query = _date(query, raw)
        elif name in {"subject", "patient"}:
            query = _patient(query, name, raw)
        elif name == "patient.identifier":
            if raw.startswith("Patient/"):
                raise InputError(name, "takes an identifier as system|value; use subject=Patient/<id> for a reference")
            query = _patient(query, name, raw)
        elif name == "code":
            codes.append(raw)
        elif name == "identifier":
            system, sep, value = raw.rpartition("|")
            if sep and system != identifier_system:
                value = ""  # another system's identifier cannot match ours
            query = replace(query, assessment_id=value)
        elif name == "_count":
            query = replace(query, limit=_int(name, raw, 0, MAX_COUNT))
        elif name == "_offset":
            query = replace(query, offset=_int(name, raw, 0, 10**9))
    return query, codes
