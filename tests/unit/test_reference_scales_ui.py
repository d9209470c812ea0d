"""The review UI: the scale form on the assessment and patient pages records a score (CSRF, 422 page
naming the item), the concordance page shows the figures and is linked from the navigation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from support.assessments import make_assessment, make_window
from support.ui import csrf_of, sign_in

from gateway import PatientRef
from gateway.storage.assessments import AssessmentStore
from gateway.storage.engine import create_engine

PATIENT = PatientRef(system="urn:oid:1.2.3", value="MRN-UI-1")
NOW = datetime.now(UTC).replace(microsecond=0)


def store(url, *assessments):
    async def add():
        engine = create_engine(url)
        try:
            for a in assessments:
                assert await AssessmentStore(engine).add(a)
        finally:
            await engine.dispose()

    asyncio.run(add())


def painad_form(html: str, **items: str) -> dict[str, str]:
    scores = {"breathing": "1", "vocalisation": "0", "facial_expression": "2", "body_language": "1", "consolability": "0"} | items
    return {
        "csrf": csrf_of(html),
        "scale": "painad",
        "patient_system": PATIENT.system,
        "patient_value": PATIENT.value,
        "back": "/ui/assessments/ui-1?scale=painad",
        "observed_at": (NOW - timedelta(minutes=1)).isoformat(),
        "assessor": "RN Example",
        **{f"item_{k}": v for k, v in scores.items() if v is not None},
    }


def test_a_clinician_records_a_painad_score_from_the_assessment_page(api, sqlite_url):
    store(sqlite_url, make_assessment(id="ui-1", start=NOW - timedelta(minutes=3), patient=PATIENT, windows=[make_window(0, level="mild")]))
    client = api.client
    assert sign_in(client, api.tokens["clinician"]).status_code in (302, 303)
    page = client.get("/ui/assessments/ui-1", params={"scale": "painad"})
    assert page.status_code == 200, page.text
    assert 'id="reference-scales"' in page.text and 'name="item_breathing"' in page.text
    assert "Facial grimacing" in page.text and 'href="/ui/concordance"' in page.text
    done = client.post("/ui/reference-scales/scores", data=painad_form(page.text), follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/ui/assessments/ui-1?scale=painad&recorded=")
    back = client.get(done.headers["location"])
    assert "Recorded: painad total 4 (moderate), mapped to significant" in back.text
    pairs = api.get("/v1/concordance/pairs", role="clinician").json()["pairs"]
    assert [p["ai"]["assessment_id"] for p in pairs] == ["ui-1"]


def test_the_form_refuses_a_missing_item_with_a_page_naming_it(api, sqlite_url):
    store(sqlite_url, make_assessment(id="ui-1", start=NOW - timedelta(minutes=3), patient=PATIENT))
    sign_in(api.client, api.tokens["clinician"])
    page = api.client.get("/ui/assessments/ui-1", params={"scale": "painad"})
    refused = api.client.post("/ui/reference-scales/scores", data=painad_form(page.text, consolability=None), follow_redirects=False)
    assert refused.status_code == 422
    assert "items.consolability" in refused.text and "Nothing was written" in refused.text
    assert api.get("/v1/concordance/pairs", role="clinician").json()["pairs"] == []


def test_the_form_needs_the_sessions_csrf_token(api, sqlite_url):
    store(sqlite_url, make_assessment(id="ui-1", start=NOW - timedelta(minutes=3), patient=PATIENT))
    sign_in(api.client, api.tokens["clinician"])
    page = api.client.get("/ui/assessments/ui-1")
    assert api.client.post("/ui/reference-scales/scores", data=painad_form(page.text) | {"csrf": "forged"}).status_code == 403


def test_the_patient_page_has_the_form_and_the_concordance_page_its_figures(api, sqlite_url):
    store(sqlite_url, make_assessment(id="ui-1", start=NOW - timedelta(minutes=3), patient=PATIENT, windows=[make_window(0, level="mild")]))
    sign_in(api.client, api.tokens["clinician"])
    patient = api.client.get("/ui/patients", params={"patient": f"{PATIENT.system}|{PATIENT.value}"})
    assert patient.status_code == 200 and 'name="item_intensity"' in patient.text  # NRS first
    api.client.post("/ui/reference-scales/scores", data=painad_form(patient.text))
    page = api.client.get("/ui/concordance")
    assert page.status_code == 200, page.text
    assert "1 pairs" in page.text and "Unreliable" in page.text and "Reliability diagram" in page.text
    assert "synthetic" in page.text.lower()
    bad = api.client.get("/ui/concordance", params={"since": "last week"})
    assert bad.status_code == 422 and "since" in bad.text
