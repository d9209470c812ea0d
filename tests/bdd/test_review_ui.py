"""Steps for the review UI story (tests/features/review_ui.feature), over HTTP with the real app,
the bundled model and the shipped settings (the browser test drives the same pages in Chromium)."""

from __future__ import annotations

import re

from pytest_bdd import given, parsers, scenarios, then, when
from support.ui import post_form, sign_in

scenarios("review_ui.feature")

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def listed(html: str) -> list[str]:
    return re.findall(r'href="/ui/assessments/([0-9a-f-]{36})"', html)


def ai_level(client, assessment_id: str) -> str:
    return re.search(r'class="level level-(\w+)"', client.get(f"/ui/assessments/{assessment_id}").text).group(1)


@given(parsers.parse('the AI has scored real face clips of patients "{first}" and "{second}"'))
def scored(story, gateway_for, keypoints_json, first, second):
    gateway = gateway_for()
    ids = {}
    for mrn in (first, second):
        response = gateway.submit(keypoints_json(patient={"identifier": {"system": SYSTEM, "value": mrn}}))
        assert response.status_code == 201, response.text
        ids[mrn] = response.json()["id"]
    story |= {"client": gateway.client, "token": gateway.tokens["clinician"], "ids": ids}


@given("the clinician is signed in")
def signed_in(story):
    assert sign_in(story["client"], story["token"]).status_code == 303


@when("the clinician opens the worklist without a session")
def open_worklist(story):
    story["response"] = story["client"].get("/ui/worklist")


@then("the sign-in form is shown")
def sign_in_form(story):
    response = story["response"]
    assert response.status_code == 200 and str(response.url).endswith("/ui/sign-in?next=%2Fui%2Fworklist")
    assert '<label for="token">Access token</label>' in response.text


@when("the clinician signs in with their clinician token")
def signs_in(story):
    response = sign_in(story["client"], story["token"], next_path="/ui/worklist")
    assert response.status_code == 303 and response.headers["location"] == "/ui/worklist"


@then(parsers.parse("the worklist lists {count:d} assessments that need review"))
def needing_review(story, count):
    html = story["client"].get("/ui/worklist", params={"needs_review": "1"}).text
    assert len(listed(html)) == count and html.count("needs review</span>") == count


@when(parsers.parse('the clinician filters the worklist by patient "{mrn}"'))
def filter_patient(story, mrn):
    story["response"] = story["client"].get("/ui/worklist", params={"patient": mrn})


@then(parsers.parse('only the assessment of "{mrn}" is listed'))
def only(story, mrn):
    assert listed(story["response"].text) == [story["ids"][mrn]]


@when(parsers.parse("the clinician overrides the AI's level of \"{mrn}\" because of the patient's report"))
def override(story, mrn):
    client, assessment_id = story["client"], story["ids"][mrn]
    story["ai_level"] = level = ai_level(client, assessment_id)
    observed = "significant" if level != "significant" else "none"
    page = f"/ui/assessments/{assessment_id}"
    response = post_form(client, f"{page}/review", {"decision": "override", "level": observed, "reason": "patient-report", "comment": "NRS 8/10"}, page=page)
    assert response.status_code == 303, response.text


@then(parsers.parse('the assessment of "{mrn}" shows "{status}" with the AI\'s level kept in its history'))
def shows(story, mrn, status):
    html = story["client"].get(f"/ui/assessments/{story['ids'][mrn]}").text
    assert f"{status}: " in html and f"(AI: {story['ai_level']})" in html and "NRS 8/10" in html


@then(parsers.parse('the worklist of assessments that need review lists only "{mrn}"'))
def only_needing_review(story, mrn):
    assert listed(story["client"].get("/ui/worklist", params={"needs_review": "1"}).text) == [story["ids"][mrn]]


@when(parsers.parse('another site posts a review of "{mrn}" with a guessed CSRF token'))
def forged(story, mrn):
    fields = {"csrf": "guessed", "decision": "override", "level": "significant", "reason": "other"}
    story["response"] = story["client"].post(f"/ui/assessments/{story['ids'][mrn]}/review", data=fields, follow_redirects=False)


@then(parsers.parse('it is refused with 403 and the assessment of "{mrn}" still needs review'))
def refused(story, mrn):
    assert story["response"].status_code == 403 and "CSRF" in story["response"].text
    assert "Not reviewed yet" in story["client"].get(f"/ui/assessments/{story['ids'][mrn]}").text


@when(parsers.parse('the clinician overrides the AI\'s level of "{mrn}" without choosing the observed level'))
def override_without_level(story, mrn):
    page = f"/ui/assessments/{story['ids'][mrn]}"
    fields = {"decision": "override", "level": "", "reason": "patient-report", "comment": "Grimacing on turning"}
    story["response"] = post_form(story["client"], f"{page}/review", fields, page=page)


@then(parsers.parse('the form comes back with "{field}" named at its top, announced and focusable'))
def refused_at_the_top(story, field):
    response = story["response"]
    assert response.status_code == 422
    first = r'<form class="review"[^>]*action="[^"]+#review-error"[^>]*>\s*<p class="error" tabindex="-1" role="alert" id="review-error">([^<]+)</p>'
    form = re.search(first, response.text)
    assert form and form.group(1).startswith(f"{field}: "), response.text[-2000:]


@then("the override, the reason and the comment are still chosen")
def choices_kept(story):
    html = story["response"].text
    assert 'value="override" checked' in html and 'value="patient-report" selected' in html and "Grimacing on turning</textarea>" in html


@then(parsers.parse('the assessment of "{mrn}" still needs review'))
def still_needs_review(story, mrn):
    assert "Not reviewed yet" in story["client"].get(f"/ui/assessments/{story['ids'][mrn]}").text
