"""GET /fhir/Observation: the searches an EMR runs, and clear errors for the ones we do not support."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain import InputError
from plugins.fhir_observation.search import parse_search

ID_SYSTEM = "urn:pain-gateway/assessment"


@pytest.mark.parametrize(
    ("params", "start_from", "start_before"),
    [
        ([("date", "2026-11-23")], datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)),
        ([("date", "ge2026-11")], datetime(2026, 11, 1, tzinfo=UTC), None),
        ([("date", "lt2026")], None, datetime(2026, 1, 1, tzinfo=UTC)),
        ([("date", "gt2026-11-23"), ("date", "le2026-12")], datetime(2026, 11, 24, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ([("date", "ge2026-11-23T10:00:00Z")], datetime(2026, 11, 23, 10, tzinfo=UTC), None),
    ],
)
def test_date_prefixes_and_precision(params, start_from, start_before):
    query, _ = parse_search(params, ID_SYSTEM, "default")
    assert (query.start_from, query.start_before) == (start_from, start_before)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("date", "last tuesday")], "date"),
        ([("date", "2026-11-23T10:00:00")], "date"),
        ([("subject", "MRN-1")], "subject"),
        ([("patient.identifier", "Patient/1")], "patient.identifier"),
        ([("_count", "-1")], "_count"),
        ([("status", "final")], "status"),
    ],
)
def test_bad_search_parameters_name_themselves(params, field):
    with pytest.raises(InputError) as err:
        parse_search(params, ID_SYSTEM, "default")
    assert err.value.field == field


def test_identifier_of_another_system_matches_nothing():
    query, _ = parse_search([("identifier", "urn:other|abc")], ID_SYSTEM, "default")
    assert query.assessment_id == ""
    query, _ = parse_search([("identifier", f"{ID_SYSTEM}|abc")], ID_SYSTEM, "default")
    assert query.assessment_id == "abc"


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
    bundle = search(api, **{"patient.identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"})
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 2 and ids(bundle) == [second["id"], first["id"]]
    assert ids(search(api, subject="Patient/other")) == [other["id"]]


def test_search_by_date_and_code(api, two_clips):
    first, second, _ = two_clips
    patient = {"patient.identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}
    assert ids(search(api, **patient, date="2026-11-23")) == [second["id"]]
    assert ids(search(api, **patient, date="lt2026-11-21")) == [first["id"]]
    code = search(api, **patient)["entry"][0]["resource"]["code"]["coding"][0]
    assert search(api, **patient, code=f"{code['system']}|{code['code']}")["total"] == 2
    assert search(api, **patient, code="http://loinc.org|8867-4")["total"] == 0


def test_search_paging_and_identifier(api, two_clips):
    first, second, _ = two_clips
    patient = {"patient.identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"}
    page = search(api, **patient, _count="1", _offset="1")
    assert page["total"] == 2 and ids(page) == [first["id"]]
    assert ids(search(api, identifier=f"urn:pain-gateway/assessment|{second['id']}")) == [second["id"]]


def test_unsupported_parameter_is_422(api):
    response = api.get("/fhir/Observation", params={"status": "final"})
    assert response.status_code == 422 and response.json()["field"] == "status"


def test_capability_statement(api):
    statement = api.get("/fhir/metadata").json()
    assert statement["fhirVersion"] == "4.0.1"
    names = {p["name"] for p in statement["rest"][0]["resource"][0]["searchParam"]}
    assert {"subject", "patient.identifier", "date", "code"} <= names
