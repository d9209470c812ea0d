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


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/deliveries?offset=99999999999999999999999", "integrator"),
        ("/v1/audit?since=0001-01-01T00:00:00%2B01:00", "admin"),
        ("/v1/audit?until=9999-12-31T23:59:59-01:00", "admin"),
    ],
)
def test_ledger_and_audit_edges_are_4xx(api, path, role):
    response = api.get(path, role=role)
    assert 400 <= response.status_code < 500, response.text
