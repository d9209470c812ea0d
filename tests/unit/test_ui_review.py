"""Review UI pages: a clinician finds assessments in the worklist, opens one (charts, explanation,
quality, model card) and confirms or overrides it; the history shows every review, the AI's level stays.
"""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from support.gateway import tokens_for
from support.ui import post_form, sign_in

from gateway.ops.settings import Settings
from gateway.web.app import create_app
from gateway.web.ui.worklist import PAGE_SIZE


def secret(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


@pytest.fixture
def ward(sqlite_url, plugins, keypoints_json):
    """Tenant a's gateway with assessments of two patients on two days; a clinician signed in."""
    settings = Settings(database_url=sqlite_url)
    with TestClient(create_app(settings, plugins)) as client:
        a = tokens_for(sqlite_url, "a")
        ids = {}
        for mrn, day in (("MRN-1", "2026-11-20"), ("MRN-2", "2026-11-21"), ("MRN-2", "2026-11-22")):
            body = keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.3", "value": mrn}}, captured_at=f"{day}T10:00:00Z")
            response = client.post("/v1/assessments", headers=a["integrator"], json=body)
            assert response.status_code == 201, response.text
            ids[(mrn, day)] = response.json()["id"]
        assert sign_in(client, secret(a["clinician"])).status_code == 303
        yield client, a, ids


def listed(html: str) -> list[str]:
    return re.findall(r'href="/ui/assessments/([0-9a-f-]{36})"', html)


def test_the_worklist_filters_by_patient_date_and_level(ward):
    client, _, ids = ward
    assert listed(client.get("/ui/worklist").text) == [ids[("MRN-2", "2026-11-22")], ids[("MRN-2", "2026-11-21")], ids[("MRN-1", "2026-11-20")]]
    assert listed(client.get("/ui/worklist", params={"patient": "MRN-1"}).text) == [ids[("MRN-1", "2026-11-20")]]
    assert listed(client.get("/ui/worklist", params={"patient": "urn:oid:1.2.3|MRN-2", "to": "2026-11-21"}).text) == [ids[("MRN-2", "2026-11-21")]]
    assert listed(client.get("/ui/worklist", params={"from": "2026-11-21", "to": "2026-11-21"}).text) == [ids[("MRN-2", "2026-11-21")]]
    level = client.get(f"/ui/assessments/{ids[('MRN-1', '2026-11-20')]}").text
    ai_level = re.search(r'class="level level-(\w+)"', level).group(1)
    assert len(listed(client.get("/ui/worklist", params={"level": ai_level}).text)) == 3  # the same face three times
    other = next(level for level in ("none", "mild", "significant") if level != ai_level)
    assert listed(client.get("/ui/worklist", params={"level": other}).text) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "severe"}, "level"),
        ({"from": "21/11/2026"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"page": "0"}, "page"),
        ({"page": "x" * 50}, "page"),
        ({"needs_review": "yes"}, "needs_review"),
        ({"patient": "M" * 301}, "patient"),
    ],
)
def test_a_bad_filter_is_a_page_naming_the_field(ward, params, field):
    client, _, _ = ward
    response = client.get("/ui/worklist", params=params)
    assert response.status_code == 422 and f"{field}: must" in response.text


def test_the_worklist_pages(ward, keypoints_json, sqlite_url):
    client, a, _ = ward
    for n in range(PAGE_SIZE):
        body = keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.3", "value": f"MRN-P{n}"}})
        assert client.post("/v1/assessments", headers=a["integrator"], json=body).status_code == 201
    first = client.get("/ui/worklist")
    assert len(listed(first.text)) == PAGE_SIZE and "page 1 of 2" in first.text and 'rel="next"' in first.text
    second = client.get("/ui/worklist", params={"page": 2})
    assert len(listed(second.text)) == 3 and 'rel="prev"' in second.text and not set(listed(first.text)) & set(listed(second.text))


def test_the_assessment_page_shows_fig_4_the_explanation_quality_and_model(ward):
    client, _, ids = ward
    assessment_id = ids[("MRN-1", "2026-11-20")]
    page = client.get(f"/ui/assessments/{assessment_id}")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") >= 2 and "Level distribution" in html and "Probabilities per second" in html
    assert html.count("<polyline") >= 3  # one line per level
    assert "Not clinically validated" in html and "synthetic" in html and "AI-asserted" in html
    assert 'href="/ui/models/sta-lstm-synthetic/card"' in html and "needs review" in html
    assert "Input quality" in html and "Why the model scored it this way" in html and "not a clinical finding" in html
    card = client.get("/ui/models/sta-lstm-synthetic/card")
    assert card.status_code == 200 and "synthetic" in card.text and "license:" not in card.text
    assert client.get("/ui/models/no-such-model/card").status_code == 404


def test_a_clinician_overrides_and_the_history_keeps_the_ai_level(ward):
    client, _, ids = ward
    assessment_id = ids[("MRN-1", "2026-11-20")]
    page = f"/ui/assessments/{assessment_id}"
    ai_level = re.search(r'class="level level-(\w+)"', client.get(page).text).group(1)
    observed = "significant" if ai_level != "significant" else "none"
    done = post_form(client, f"{page}/review", {"decision": "override", "level": observed, "reason": "patient-report", "comment": "NRS 8/10"}, page=page)
    assert done.status_code == 303 and done.headers["location"] == f"{page}?reviewed=1#history"
    shown = client.get(done.headers["location"]).text
    assert "Review recorded" in shown and "amended" in shown and "NRS 8/10" in shown and f"(AI: {ai_level})" in shown
    confirmed = post_form(client, f"{page}/review", {"decision": "confirm", "reason": "clinical-judgement"}, page=page)
    assert confirmed.status_code == 303
    history = re.search(r'<ol class="history">(.*?)</ol>', client.get(page).text, re.S).group(1)
    assert history.count("<li>") == 2 and "version 2" in history and "version 3" in history
    assert assessment_id not in listed(client.get("/ui/worklist", params={"needs_review": "1"}).text)
    assert assessment_id in listed(client.get("/ui/worklist").text)
    api = client.get(f"/v1/assessments/{assessment_id}", headers=ward[1]["clinician"]).json()
    assert api["clinical_status"] == "final" and api["summary"]["level"] == ai_level


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"decision": "override", "reason": "other"}, "level"),
        ({"decision": "override", "level": "NOT-THE-AI-LEVEL", "reason": ""}, "reason"),
        ({"decision": "maybe"}, "decision"),
        ({"decision": "confirm", "comment": "x" * 2001}, "comment"),
    ],
)
def test_an_incomplete_review_shows_the_form_again_with_what_to_fix(ward, fields, field):
    client, a, ids = ward
    page = f"/ui/assessments/{ids[('MRN-1', '2026-11-20')]}"
    if fields.get("level") == "NOT-THE-AI-LEVEL":
        ai_level = re.search(r'class="level level-(\w+)"', client.get(page).text).group(1)
        fields = {**fields, "level": "significant" if ai_level != "significant" else "none"}
    response = post_form(client, f"{page}/review", fields, page=page)
    assert response.status_code == 422 and re.search(rf'role="alert" id="review-error">{field}: ', response.text), response.text[-3000:]
    assert "Not reviewed yet" in response.text


def test_only_a_clinician_reviews(ward, sqlite_url):
    client, a, ids = ward
    page = f"/ui/assessments/{ids[('MRN-1', '2026-11-20')]}"
    sign_in(client, secret(a["admin"]))
    assert "Only a clinician can confirm or override" in client.get(page).text
    refused = post_form(client, f"{page}/review", {"decision": "confirm"}, page=page)
    assert refused.status_code == 403 and "clinician" in refused.text
    assert "Not reviewed yet" in client.get(page).text


def test_another_tenants_clinician_cannot_review(ward, sqlite_url):
    client, _, ids = ward
    b = tokens_for(sqlite_url, "b")
    sign_in(client, secret(b["clinician"]))
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/worklist").text).group(1)
    response = client.post(f"/ui/assessments/{ids[('MRN-1', '2026-11-20')]}/review", data={"csrf": csrf, "decision": "confirm"})
    assert response.status_code == 404 and "MRN-1" not in response.text
    assert client.get(f"/ui/assessments/{ids[('MRN-1', '2026-11-20')]}/explanation.png").status_code == 404


def test_model_monitoring_shows_the_override(ward):
    client, _, ids = ward
    assert "No reviews yet" in client.get("/ui/monitoring").text
    page = f"/ui/assessments/{ids[('MRN-1', '2026-11-20')]}"
    ai_level = re.search(r'class="level level-(\w+)"', client.get(page).text).group(1)
    observed = "significant" if ai_level != "significant" else "none"
    post_form(client, f"{page}/review", {"decision": "override", "level": observed, "reason": "clinical-judgement"}, page=page)
    shown = client.get("/ui/monitoring", params={"period": "week"})
    assert shown.status_code == 200
    html = shown.text
    assert "1 (0 confirmed, 1 overridden)" in html and "100 %" in html and "not clinical validation" in html
    row = re.search(rf"<th scope=\"row\">AI: {ai_level}</th>(.*?)</tr>", html, re.S).group(1)
    cells = [int(n) for n in re.findall(r">(\d+)</td>", row)]
    assert sum(cells) == 1 and cells[["none", "mild", "significant"].index(observed)] == 1
    assert "<svg" in html and "Override rate per week" in html
    assert client.get("/ui/monitoring", params={"period": "year"}).status_code == 422
