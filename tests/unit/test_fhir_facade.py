"""The FHIR facade as a FHIR client uses it: plain HTTP requests, links followed, errors as OperationOutcome.

Everything the facade emits is also checked by the independent R4 validator (``support/fhir_r4.py``).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient
from support.fhir_r4 import validate

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app
from plugins.fhir_observation.search import MAX_COUNT

PUBLIC = "https://gw.example.org"
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
FHIR_JSON = "application/fhir+json"


def token(database_url: str, tenant: str, role: str = "integrator") -> dict[str, str]:
    async def make():
        engine = create_engine(database_url)
        try:
            return (await TokenStore(engine).create(f"{tenant}-{role}", role, tenant))[1]
        finally:
            await engine.dispose()

    return {"Authorization": f"Bearer {asyncio.run(make())}"}


@pytest.fixture
def fhir(sqlite_url, keypoints_json):
    """Three clips of one patient (tenant a) behind a public URL, a FHIR client's headers for a and b."""
    settings = Settings(database_url=sqlite_url, public_url=PUBLIC)
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        a, b = token(sqlite_url, "a"), token(sqlite_url, "b")
        for captured in ("2026-11-20T08:00:00Z", "2026-11-23T10:00:00Z", "2026-11-24T09:00:00Z"):
            response = client.post("/v1/assessments", headers=a, json=keypoints_json(captured_at=captured))
            assert response.status_code in (200, 201, 202), response.text
        yield client, {**a, "Accept": FHIR_JSON}, {**b, "Accept": FHIR_JSON}


def local(url: str) -> str:
    """A link the server handed out, as a path on the test client (it must be under the public base)."""
    assert url.startswith(PUBLIC + "/fhir/"), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def fhir_ok(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert validate(body) == [], validate(body)
    return body


def outcome(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(FHIR_JSON), response.headers["content-type"]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] in ("error", "fatal")
    assert validate(body) == [], validate(body)
    return body


def test_a_client_pages_reads_and_searches(fhir):
    client, a, _ = fhir
    url, seen, previous_links = f"/fhir/Observation?subject:identifier={SYSTEM}|MRN-1234&_count=1", [], []
    while url:
        page = fhir_ok(client.get(url, headers=a))
        assert page["total"] == 3 and len(page["entry"]) == 1
        links = {link["relation"]: link["url"] for link in page["link"]}
        previous_links.append(links.get("previous"))
        seen += [(entry["fullUrl"], entry["resource"]) for entry in page["entry"]]
        url = local(links["next"]) if "next" in links else None
    assert len(seen) == 3 and previous_links[0] is None and all(previous_links[1:])
    starts = [resource["effectivePeriod"]["start"] for _, resource in seen]
    assert starts == sorted(starts, reverse=True)  # newest first, no duplicate, none lost
    for full_url, observation in seen:
        assert full_url == f"{PUBLIC}/fhir/Observation/{observation['id']}"
        read = fhir_ok(client.get(local(full_url), headers=a))
        assert read == observation
        device = fhir_ok(client.get(local(f"{PUBLIC}/fhir/{read['device']['reference']}"), headers=a))
        assert device["resourceType"] == "Device"
    provenance_id = next(iter(_provenance_ids(seen)))
    provenance = fhir_ok(client.get(f"/fhir/Provenance/{provenance_id}", headers=a))
    assert provenance["target"][0]["reference"] == f"Observation/{seen[0][1]['id']}"
    assert provenance["agent"][0]["who"]["reference"] == seen[0][1]["device"]["reference"]
    # patient:identifier is the same search; sorting and a count-only summary
    same = fhir_ok(client.get("/fhir/Observation", params={"patient:identifier": f"{SYSTEM}|MRN-1234"}, headers=a))
    assert [e["resource"]["id"] for e in same["entry"]] == [o["id"] for _, o in seen]
    oldest = fhir_ok(client.get("/fhir/Observation", params={"_sort": "date"}, headers=a))
    assert [e["resource"]["id"] for e in oldest["entry"]] == [o["id"] for _, o in reversed(seen)]
    count = fhir_ok(client.get("/fhir/Observation", params={"_summary": "count", "_total": "accurate"}, headers=a))
    assert count["total"] == 3 and "entry" not in count


def _provenance_ids(seen):
    from plugins.fhir_observation.resources import provenance_id

    return [provenance_id(observation["identifier"][0]["value"], "urn:pain-gateway") for _, observation in seen]


def test_post_search_dates_and_the_chained_identifier(fhir):
    client, a, _ = fhir
    posted = fhir_ok(
        client.post(
            "/fhir/Observation/_search",
            headers={**a, "Content-Type": "application/x-www-form-urlencoded"},
            content=f"subject:identifier={SYSTEM}|MRN-1234&date=ge2026-11-23T10:00:02Z&date=lt2026-11-24",
        )
    )
    assert [e["resource"]["effectivePeriod"]["start"] for e in posted["entry"]] == ["2026-11-23T10:00:00Z"]  # spans 10:00:02
    chained = fhir_ok(client.get("/fhir/Observation", params={"patient.identifier": f"{SYSTEM}|MRN-1234"}, headers=a))
    assert chained["total"] == 0 and chained["entry"][-1]["search"]["mode"] == "outcome"
    capped = fhir_ok(client.get("/fhir/Observation", params={"_count": "1000"}, headers=a))
    assert f"_count={MAX_COUNT}" in capped["link"][0]["url"] and capped["total"] == 3


def test_post_search_takes_a_form_and_refuses_a_body_that_is_not_one(fhir):
    """R4 http.html#search: POST [base]/[type]/_search carries Content-Type application/x-www-form-urlencoded;
    an empty form is a search with the URL's parameters alone, no Content-Type at all is refused."""
    client, a, _ = fhir
    form = {**a, "Content-Type": "application/x-www-form-urlencoded"}
    assert fhir_ok(client.post("/fhir/Observation/_search", headers=form))["total"] == 3
    assert fhir_ok(client.post("/fhir/Observation/_search", params={"_count": "1"}, headers=form, content=b""))["total"] == 3
    absent = outcome(client.post("/fhir/Observation/_search", headers=a), 415)
    assert "got no Content-Type" in absent["issue"][0]["diagnostics"] and "application/x-www-form-urlencoded" in absent["issue"][0]["diagnostics"]
    unlabelled = outcome(client.post("/fhir/Observation/_search", headers=a, content=b"status=final"), 415)
    assert "got no Content-Type" in unlabelled["issue"][0]["diagnostics"]
    as_json = outcome(client.post("/fhir/Observation/_search", headers=a, json={"status": "final"}), 415)
    assert "got 'application/json'" in as_json["issue"][0]["diagnostics"]


def test_errors_are_operation_outcomes(fhir):
    client, a, _ = fhir
    outcome(client.get("/fhir/Observation", params={"date": "yesterday"}, headers=a), 400)
    outcome(client.get("/fhir/Observation", headers={"Accept": FHIR_JSON}), 401)
    outcome(client.get("/fhir/Observation/not-a-known-id", headers=a), 404)
    outcome(client.get("/fhir/Patient/1", headers=a), 404)
    outcome(client.delete("/fhir/Observation", headers=a), 405)
    for method, path in [("GET", "/fhir/Nope"), ("GET", "/fhir/Observation/x/y/z"), ("GET", "/fhir"), ("GET", "/fhir/"), ("PATCH", "/fhir")]:
        outcome(client.request(method, path, headers=a), 404)  # paths no route matches, deeper than the catch-all reaches
    outcome(client.get("/fhir/Observation/x/_history/1/extra", headers=a), 404)
    outcome(client.options("/fhir/Observation/x/y/z"), 404)
    outcome(client.put("/fhir/Observation/x", headers=a, json={}), 405)
    outcome(client.get("/fhir/Observation", params={"_format": "xml"}, headers=a), 406)
    outcome(client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}), 406)
    outcome(client.get("/fhir/Observation", params={"status": "final"}, headers={**a, "Prefer": "handling=strict"}), 400)
    throttled = client.get("/fhir/Observation", headers={"Authorization": "Basic x"})
    outcome(throttled, 401)


def test_metadata_is_public_and_true(fhir):
    """Every interaction and search parameter the CapabilityStatement advertises answers (no 404/422/400)."""
    client, a, _ = fhir
    statement = fhir_ok(client.get("/fhir/metadata", headers={"Accept": FHIR_JSON}))
    assert statement["software"]["version"] and statement["rest"][0]["security"]["description"]
    page = fhir_ok(client.get("/fhir/Observation", params={"_count": "1"}, headers=a))
    observation = page["entry"][0]["resource"]
    ids = {
        "Observation": observation["id"],
        "Device": observation["device"]["reference"].split("/")[1],
        "Provenance": _provenance_ids([(None, observation)])[0],
        "DocumentReference": observation["extension"][0]["valueReference"]["reference"].split("/")[1],
    }
    samples = {
        "subject": "Patient/other",
        "patient": "other",
        "subject:identifier": f"{SYSTEM}|MRN-1234",
        "patient:identifier": f"{SYSTEM}|MRN-1234",
        "date": "ge2026-11-23",
        "identifier": observation["identifier"][0]["value"],
        "code": observation["code"]["coding"][0]["code"],
        "_count": "2",
        "_offset": "1",
        "_sort": "-date",
        "_summary": "count",
        "_total": "accurate",
    }
    advertised = 0
    for resource in statement["rest"][0]["resource"]:
        for interaction in resource["interaction"]:
            suffix = {
                "read": f"/{ids[resource['type']]}",
                "vread": f"/{ids[resource['type']]}/_history/1",
                "history-instance": f"/{ids[resource['type']]}/_history",
            }.get(interaction["code"], "")
            path = f"/fhir/{resource['type']}" + suffix
            fhir_ok(client.get(path, headers=a))
            advertised += 1
        for param in resource.get("searchParam", []):
            response = fhir_ok(
                client.get(f"/fhir/{resource['type']}", params={param["name"]: samples[param["name"]]}, headers={**a, "Prefer": "handling=strict"})
            )
            assert not [e for e in response.get("entry", []) if e["search"]["mode"] == "outcome"], param
            advertised += 1
    assert advertised >= 9


def test_another_tenant_reads_nothing(fhir):
    client, a, b = fhir
    page = fhir_ok(client.get("/fhir/Observation", params={"_count": "1"}, headers=a))
    observation = page["entry"][0]["resource"]
    paths = [
        f"/fhir/Observation/{observation['id']}",
        f"/fhir/{observation['device']['reference']}",
        f"/fhir/Provenance/{_provenance_ids([(None, observation)])[0]}",
        f"/fhir/{observation['extension'][0]['valueReference']['reference']}",
    ]
    for path in paths:
        fhir_ok(client.get(path, headers=a))
        refused = outcome(client.get(path, headers=b), 404)
        assert observation["id"] not in str(refused) or path.endswith(observation["id"])
    assert fhir_ok(client.get("/fhir/Observation", headers=b))["total"] == 0
