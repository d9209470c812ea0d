"""FHIR search on ``Observation`` (R4 search.html) turned into a store query within the caller's tenant.

Patients: our Observations reference the patient by *identifier* (``subject.identifier``), so, as on
a conformant server (HAPI), ``subject:identifier`` / ``patient:identifier`` (``system|value`` or
``value``) find them, ``subject`` / ``patient`` match a literal ``Patient/<id>`` reference, and the
chained ``patient.identifier`` (which follows a reference to a Patient resource this server does not
hold) matches nothing; the outcome entry says to use ``patient:identifier`` instead.

Dates compare the search value's implicit range with ``effectivePeriod`` as R4 §3.1.1.4 defines the
prefixes (see ``period_clauses``). Unknown parameters are ignored and reported, unless the client sent
``Prefer: handling=strict``; a malformed value of a known parameter is always an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from gateway import AssessmentQuery, InputError, PeriodBound

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MAX_COUNT = 100
"""``_count`` above this is capped (not refused), as HAPI does; 100 Observations is ~250 kB of JSON."""
DEFAULT_COUNT = 50

# name -> (FHIR type, documentation): what the parser accepts. The CapabilityStatement lists the search
# parameters proper (no modifier, no result parameter) and documents the modifiers on them.
SEARCH_PARAMS: dict[str, tuple[str, str]] = {
    "subject": (
        "reference",
        "Patient/<id> matches a literal reference in Observation.subject; with the :identifier "
        "modifier (subject:identifier=system|value) the patient identifier our Observations carry",
    ),
    "patient": ("reference", "Same as subject (Patient/<id> or <id>; patient:identifier=system|value)"),
    "subject:identifier": ("token", "system|value or value of the patient identifier in Observation.subject.identifier"),
    "patient:identifier": ("token", "Same as subject:identifier"),
    "date": ("date", "effectivePeriod against the value's implicit range; prefixes eq ne gt lt ge le sa eb ap"),
    "code": ("token", "system|code or code of Observation.code"),
    "identifier": ("token", "system|value of Observation.identifier (the assessment id)"),
    "_count": ("number", f"Page size, default {DEFAULT_COUNT}; values above {MAX_COUNT} are capped at {MAX_COUNT}"),
    "_offset": ("number", "Entries to skip (the next/previous links carry it)"),
    "_sort": ("special", "date (oldest first) or -date (newest first, the default)"),
    "_summary": ("special", "count: total only, no entries"),
    "_total": ("special", "accepted; the total is always accurate"),
}
CHAINED = {"patient.identifier", "subject.identifier", "subject:Patient.identifier", "patient:Patient.identifier"}
IGNORED_QUIETLY = {"_format", "_pretty"}  # content negotiation, handled before the search


@dataclass
class Search:
    """A parsed search: the store query, code tokens to check, paging and what to tell the client."""

    query: AssessmentQuery
    codes: list[str] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0
    summary_count: bool = False
    matches_nothing: bool = False
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # OperationOutcome issues
    echo: list[tuple[str, str]] = field(default_factory=list)  # the parameters the links repeat


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?P<seconds>:\d{2}(?:\.(?P<fraction>\d{1,6}))?)?(?:Z|[+-]\d{2}:\d{2})")


def _instant_range(value: str) -> tuple[datetime, datetime]:
    """The range ``[low, high)`` a FHIR date value covers at its precision (year, month, day, minute, second, fraction)."""
    for fmt, precision in (("%Y", "year"), ("%Y-%m", "month"), ("%Y-%m-%d", "day")):
        try:
            start = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if precision == "year":
            return start, start.replace(year=start.year + 1)
        if precision == "month":
            return start, (start + timedelta(days=32)).replace(day=1)
        return start, start + timedelta(days=1)
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise InputError("date", f"{value!r} is not a FHIR date or dateTime with a time zone (e.g. 2026-11-23 or 2026-11-23T10:00:00Z)")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    seconds, fraction = match.group("seconds"), match.group("fraction")
    step = timedelta(microseconds=10 ** (6 - len(fraction))) if fraction else timedelta(seconds=1) if seconds else timedelta(minutes=1)
    return moment, moment + step


def period_clauses(prefix: str, low: datetime, high: datetime, now: datetime) -> tuple[tuple[PeriodBound, ...], ...]:
    """R4 §3.1.1.4 prefix semantics for a target period [start, end] and a search range [low, high).

    eq: the search range contains the period; ne: it does not; gt / lt: the period reaches above /
    below the range; ge / le: gt / lt or eq; sa / eb: the period starts after / ends before the range;
    ap: the period overlaps the range widened by 10 % of its distance from now (the spec's suggestion).
    """
    if prefix == "eq":
        return ((("start", ">=", low),), (("end", "<", high),))
    if prefix == "ne":
        return ((("start", "<", low), ("end", ">=", high)),)
    if prefix == "gt":
        return ((("end", ">=", high),),)
    if prefix == "lt":
        return ((("start", "<", low),),)
    if prefix == "ge":  # end >= high, or (start >= low and end < high)
        return ((("end", ">=", high), ("start", ">=", low)),)
    if prefix == "le":  # start < low, or (start >= low and end < high)
        return ((("start", "<", low), ("end", "<", high)),)
    if prefix == "sa":
        return ((("start", ">=", high),),)
    if prefix == "eb":
        return ((("end", "<", low),),)
    if prefix == "ap":
        slack = abs(now - low) / 10
        return ((("start", "<", high + slack),), (("end", ">=", low - slack),))
    raise ValueError(prefix)


def _date(search: Search, raw: str, now: datetime) -> None:
    prefix, value = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
    try:  # the calendar's edges (year 9999, year 1 east of UTC, ap around them) overflow datetime
        low, high = _instant_range(value)
        clauses = period_clauses(prefix, low, high, now)
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("date", f"{value!r} is outside the dates this server can compare (years 1 to 9998, in UTC)") from None
    search.query = replace(search.query, period=search.query.period + clauses)


def _token(name: str, raw: str) -> tuple[str | None, str]:
    system, sep, value = raw.rpartition("|")
    if not value or (sep and not system):
        raise InputError(name, "use system|value or value (an identifier without a system is not supported)")
    return (system if sep else None), value


MAX_OFFSET = 1_000_000


def _count(name: str, raw: str, maximum: int | None = None) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", raw):  # ASCII digits only: str.isdigit() accepts '²', which int() refuses
        raise InputError(name, "must be a whole number from 0 to 999999999")
    return int(raw) if maximum is None else min(int(raw), maximum)


def parse_search(params: list[tuple[str, str]], identifier_system: str, tenant: str, strict: bool = False, now: datetime | None = None) -> Search:
    """Every criterion must match (repeat ``date`` for a range); the query never leaves ``tenant``."""
    search = Search(AssessmentQuery(tenant=tenant))
    now = now or datetime.now(UTC)
    unknown: list[str] = []
    for name, raw in params:
        if name in IGNORED_QUIETLY:
            continue
        if name in SEARCH_PARAMS and name not in {"_count", "_offset"}:
            search.echo.append((name, raw))
        if name == "date":
            _date(search, raw, now)
        elif name in {"subject", "patient"}:
            reference = raw if raw.startswith("Patient/") else f"Patient/{raw}" if name == "patient" and "/" not in raw else None
            if reference is None or reference.count("/") != 1 or not reference.split("/")[1]:
                raise InputError(name, f"a reference parameter takes Patient/<id>; search an identifier with {name}:identifier=system|value")
            search.query = replace(search.query, reference=reference)
        elif name in {"subject:identifier", "patient:identifier"}:
            system, value = _token(name, raw)
            search.query = replace(search.query, system=system, value=value)
        elif name in CHAINED:
            search.matches_nothing = True
            search.notes.append(
                (
                    "warning",
                    "not-found",
                    f"{name} follows the subject reference to a Patient resource; these Observations identify the "
                    "patient by identifier only, so nothing matches (as on any conformant server). "
                    "Use patient:identifier=system|value.",
                )
            )
        elif name == "code":
            search.codes.append(raw)
        elif name == "identifier":
            system, value = _token(name, raw)
            if system is not None and system != identifier_system:
                search.matches_nothing = True  # another system's identifier cannot match ours
            search.query = replace(search.query, assessment_id=value)
        elif name == "_count":
            search.count = _count(name, raw, MAX_COUNT)
            if _count(name, raw) > MAX_COUNT:
                search.notes.append(("information", "informational", f"_count={raw} capped at {MAX_COUNT}"))
        elif name == "_offset":
            search.offset = _count(name, raw)
            if search.offset > MAX_OFFSET:
                raise InputError(name, f"must be at most {MAX_OFFSET}; narrow the search instead of paging that far")
        elif name == "_sort":
            if raw not in {"date", "-date"}:
                raise InputError(name, "supported: date (oldest first) or -date (newest first)")
            search.query = replace(search.query, oldest_first=raw == "date")
        elif name == "_summary":
            if raw not in {"count", "false"}:
                raise InputError(name, "supported: count (the total only) or false")
            search.summary_count = raw == "count"
        elif name == "_total":
            if raw not in {"none", "estimate", "accurate"}:
                raise InputError(name, "must be none, estimate or accurate")
        else:
            unknown.append(name)
    if unknown:
        if strict:
            raise InputError(
                unknown[0], f"unsupported search parameter(s) {', '.join(unknown)} (Prefer: handling=strict); supported: {', '.join(SEARCH_PARAMS)}"
            )
        search.notes.append(
            ("warning", "not-supported", f"ignored unsupported search parameter(s): {', '.join(unknown)}; supported: {', '.join(SEARCH_PARAMS)}")
        )
    search.query = replace(search.query, limit=0 if search.summary_count else search.count, offset=search.offset)
    return search
