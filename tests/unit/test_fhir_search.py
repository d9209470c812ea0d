"""GET /fhir/Observation: the searches an EMR runs, and clear errors for the ones we do not support."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.contract.domain import InputError
from plugins.fhir_observation.search import MAX_COUNT, PREFIXES, parse_search

ID_SYSTEM = "urn:pain-gateway/assessment"


NOW = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def holds(clauses, start: datetime, end: datetime) -> bool:
    """Evaluate the store's clauses (conjunction of disjunctions) on one period, as the SQL does."""
    ops = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    ends = {"start": start, "end": end}
    return all(any(ops[op](ends[side], moment) for side, op, moment in clause) for clause in clauses)


def reference(prefix: str, low: datetime, high: datetime, start: datetime, end: datetime, now: datetime = NOW) -> bool:
    """R4 search.html §3.1.1.4 read literally with sets: S = [low, high) the search value's range, T = [start, end]."""
    inside = low <= start and end < high  # S fully contains T
    above = end >= high  # T meets the range above S
    below = start < low  # T meets the range below S
    if prefix == "ap":
        slack = abs(now - low) / 10
        return start < high + slack and end >= low - slack  # T overlaps S widened by 10 % of its distance from now
    return {"eq": inside, "ne": not inside, "gt": above, "lt": below, "ge": above or inside, "le": below or inside, "sa": start >= high, "eb": end < low}[
        prefix
    ]


def test_ge_matches_a_clip_spanning_the_moment():
    """The issue's case: a clip 10:00:00-10:00:10 is ``ge10:00:05`` (it reaches past 10:00:05)."""
    clauses = parse_search([("date", "ge2026-11-23T10:00:05Z")], ID_SYSTEM, "default").query.period
    assert holds(clauses, T0, T0 + timedelta(seconds=10))
    assert not holds(clauses, T0, T0 + timedelta(seconds=4))
    lt = parse_search([("date", "lt2026-11-23T10:00:05Z")], ID_SYSTEM, "default").query.period
    assert holds(lt, T0, T0 + timedelta(seconds=10))
    eq_day = parse_search([("date", "2026-11-23")], ID_SYSTEM, "default").query.period
    assert holds(eq_day, T0, T0 + timedelta(seconds=10)) and not holds(eq_day, T0 - timedelta(hours=11), T0)


moments = st.integers(min_value=-400, max_value=400).map(lambda s: T0 + timedelta(seconds=s / 4))


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    value=moments,
    precision=st.sampled_from(["second", "minute", "day"]),
    start=moments,
    length=st.integers(min_value=0, max_value=200).map(lambda s: timedelta(seconds=s / 4)),
)
def test_date_prefixes_agree_with_the_spec_on_periods(prefix, value, precision, start, length):
    text = {"second": value.strftime("%Y-%m-%dT%H:%M:%SZ"), "minute": value.strftime("%Y-%m-%dT%H:%MZ"), "day": value.strftime("%Y-%m-%d")}[precision]
    step = {"second": timedelta(seconds=1), "minute": timedelta(minutes=1), "day": timedelta(days=1)}[precision]
    low = datetime.fromisoformat(text.replace("Z", "+00:00")) if precision != "day" else datetime.fromisoformat(text).replace(tzinfo=UTC)
    clauses = parse_search([("date", prefix + text)], ID_SYSTEM, "default", now=NOW).query.period
    assert holds(clauses, start, start + length) == reference(prefix, low, low + step, start, start + length)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("date", "last tuesday")], "date"),
        ([("date", "2026-11-23T10:00:00")], "date"),
        ([("subject", "MRN-1")], "subject"),
        ([("subject:identifier", "|MRN-1")], "subject:identifier"),
        ([("_count", "-1")], "_count"),
        ([("_sort", "status")], "_sort"),
        ([("_summary", "text")], "_summary"),
    ],
)
def test_bad_search_values_name_themselves(params, field):
    with pytest.raises(InputError) as err:
        parse_search(params, ID_SYSTEM, "default")
    assert err.value.field == field


def test_unknown_parameters_are_reported_or_refused_when_strict():
    search = parse_search([("status", "final"), ("_elements", "id")], ID_SYSTEM, "default")
    assert [code for _, code, _ in search.notes] == ["not-supported"] and "status, _elements" in search.notes[0][2]
    with pytest.raises(InputError) as err:
        parse_search([("status", "final")], ID_SYSTEM, "default", strict=True)
    assert err.value.field == "status"


def test_identifier_parameters():
    assert parse_search([("identifier", "urn:other|abc")], ID_SYSTEM, "default").matches_nothing
    search = parse_search([("identifier", f"{ID_SYSTEM}|abc")], ID_SYSTEM, "default")
    assert search.query.assessment_id == "abc" and not search.matches_nothing
    query = parse_search([("patient:identifier", "urn:s|MRN-1")], ID_SYSTEM, "default").query
    assert (query.system, query.value, query.tenant) == ("urn:s", "MRN-1", "default")
    assert parse_search([("patient", "x")], ID_SYSTEM, "t").query.reference == "Patient/x"
    chained = parse_search([("patient.identifier", "urn:s|MRN-1")], ID_SYSTEM, "default")
    assert chained.matches_nothing and "patient:identifier" in chained.notes[0][2]


def test_count_is_capped_not_refused():
    search = parse_search([("_count", "1000")], ID_SYSTEM, "default")
    assert search.count == MAX_COUNT == search.query.limit and search.notes[0][0] == "information"


@pytest.fixture
def two_clips(api, keypoints_json):
    first = api.post("/v1/assessments", json=keypoints_json(captured_at="2026-11-20T08:00:00Z")).json()
    second = api.post("/v1/assessments", json=keypoints_json(captured_at="2026-11-23T10:00:00+01:00")).json()
    other = api.post("/v1/assessments", json=keypoints_json(patient={"reference": "Patient/other"})).json()
    return first, second, other


def search(api, **params):
    response = api.get("/fhir/Observation", params=params, role="clinician")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return response.json()


def ids(bundle):
    return [e["resource"]["identifier"][0]["value"] for e in bundle.get("entry", [])]


def test_search_by_patient_newest_first(api, two_clips):
    first, second, other = two_clips
    bundle = search(api, **{"patient:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"})
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 2 and ids(bundle) == [second["id"], first["id"]]
    assert ids(search(api, subject="Patient/other")) == [other["id"]]


def test_search_by_date_and_code(api, two_clips):
    first, second, _ = two_clips
    patient = {"subject:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}
    assert ids(search(api, **patient, date="2026-11-23")) == [second["id"]]
    assert ids(search(api, **patient, date="lt2026-11-21")) == [first["id"]]
    code = search(api, **patient)["entry"][0]["resource"]["code"]["coding"][0]
    assert search(api, **patient, code=f"{code['system']}|{code['code']}")["total"] == 2
    assert search(api, **patient, code="http://loinc.org|8867-4")["total"] == 0


def test_search_paging_and_identifier(api, two_clips):
    first, second, _ = two_clips
    patient = {"subject:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}
    page = search(api, **patient, _count="1", _offset="1")
    assert page["total"] == 2 and ids(page) == [first["id"]]
    assert ids(search(api, identifier=f"urn:pain-gateway/assessment|{second['id']}")) == [second["id"]]


def test_unsupported_parameter_is_ignored_and_reported(api, two_clips):
    bundle = search(api, status="final", **{"subject:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"})
    assert bundle["total"] == 2 and bundle["entry"][-1]["search"]["mode"] == "outcome"
    assert "status" in bundle["entry"][-1]["resource"]["issue"][0]["diagnostics"]
    strict = api.get("/fhir/Observation", params={"status": "final"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400 and strict.json()["resourceType"] == "OperationOutcome"


def test_capability_statement(api):
    statement = api.get("/fhir/metadata").json()
    assert statement["fhirVersion"] == "4.0.1"
    [observation] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Observation"]
    names = {p["name"] for p in observation["searchParam"]}
    assert {"subject", "patient", "date", "code", "identifier"} == names
