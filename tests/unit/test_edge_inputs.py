"""Inputs at the edges of the calendar and of integers are the caller's mistake: 4xx, never 5xx.

Found by an adversarial review: each of these was a 500 (datetime/int overflow, '²' passing isdigit)."""

from __future__ import annotations

import pytest

FHIR_QUERIES = [
    "date=9999",
    "date=9999-12",
    "date=9999-12-31",
    "date=0001-01-01T00:00%2B01:00",
    "date=ap0001",
    "date=ap9999-12-31T23:59:59Z",
    "_offset=%C2%B2",
    "_count=%C2%B2",
    "_offset=99999999999999999999999",
]


@pytest.mark.parametrize("query", FHIR_QUERIES)
def test_fhir_search_edges_are_an_operation_outcome_not_a_server_error(api, query):
    response = api.get(f"/fhir/Observation?{query}")
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_ledger_offset_past_the_integers_is_4xx(api):
    response = api.get("/v1/deliveries?offset=99999999999999999999999", role="integrator")
    assert 400 <= response.status_code < 500, response.text  # no status is documented for it


@pytest.mark.parametrize(("query", "field"), [("since=0001-01-01T00:00:00%2B01:00", "since"), ("until=9999-12-31T23:59:59-01:00", "until")])
def test_an_audit_date_out_of_range_in_utc_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/audit?{query}", role="admin")  # docs/operations.md: "a date out of range once in UTC a 422 naming the field"
    assert response.status_code == 422 and response.json()["field"] == field, response.text
