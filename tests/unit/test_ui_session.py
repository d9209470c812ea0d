"""Review UI sign-in: a clinician's token opens a server-side session cookie; CSRF on every form.

Stories: a clinician signs in and out; a page opened without a session leads to the sign-in form and
back; a forged or missing CSRF token is refused; an expired session or a revoked token ends the
session; an integrator's token signs in for the live page only; another tenant's assessment does not exist.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from support.gateway import tokens_for
from support.ui import csrf_of, post_form, sign_in

from gateway.ops.settings import Settings
from gateway.storage.audit import AuditQuery, AuditStore
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app
from gateway.web.ui.headers import CSP


def secret(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


@pytest.fixture
def ui(sqlite_url, plugins):
    """A gateway with two tenants' tokens; one assessment of tenant a."""

    def make(base_url: str = "http://testserver.local", **core):
        settings = Settings(database_url=sqlite_url, **core)
        return TestClient(create_app(settings, plugins), base_url=base_url)

    return make


@pytest.fixture
def world(ui, sqlite_url, keypoints_json):
    with ui() as client:
        a, b = tokens_for(sqlite_url, "a"), tokens_for(sqlite_url, "b")
        assessment = client.post("/v1/assessments", headers=a["integrator"], json=keypoints_json()).json()
        client.headers.clear()
        yield client, a, b, assessment


def audit_actions(database_url: str) -> list[str]:
    async def read():
        engine = create_engine(database_url)
        try:
            entries, _ = await AuditStore(engine).search(AuditQuery(limit=200))
            return [e.action for e in entries]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_clinician_signs_in_and_lands_where_they_were_going(world, sqlite_url):
    client, a, _, assessment = world
    page = f"/ui/assessments/{assessment['id']}"
    first = client.get(page, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/ui/sign-in?next=%2Fui%2Fassessments%2F{assessment['id']}"
    signed_in = sign_in(client, secret(a["clinician"]), next_path=page)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == page
    cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith("pgw_session="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui"} <= attributes and "secure" not in attributes
    assert secret(a["clinician"]) not in cookie  # the cookie is its own secret, never the API token
    shown = client.get(page)
    assert shown.status_code == 200 and "Not clinically validated" in shown.text and "<svg" in shown.text
    assert "login" in audit_actions(sqlite_url)


def test_over_https_the_cookie_is_secure(ui, sqlite_url):
    with ui(base_url="https://pain.example.org", public_url="https://pain.example.org") as client:
        token = secret(tokens_for(sqlite_url, "a")["clinician"])
        cookie = next(c for c in sign_in(client, token).headers.get_list("set-cookie") if c.startswith("pgw_session="))
    assert "secure" in cookie.lower()


def test_only_a_ui_path_is_a_place_to_go_after_signing_in(world):
    client, a, _, _ = world
    for target in ("https://evil.example/", "//evil.example/ui/", "/v1/assessments", "/ui/\r\nSet-Cookie: x=1"):
        assert sign_in(client, secret(a["clinician"]), next_path=target).headers["location"] == "/ui/worklist"


@pytest.mark.parametrize("role", ["integrator", "telehealth"])
def test_a_token_of_another_role_signs_in_for_the_live_page_only(world, role):
    client, a, _, _ = world
    signed_in = sign_in(client, secret(a[role]))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/live"
    assert client.get("/ui/worklist", follow_redirects=False).status_code == 403  # the review pages stay with clinicians


def test_a_wrong_token_is_refused_audited_and_throttled(ui, sqlite_url):
    with ui(auth_failure_burst=2) as client:
        wrong = sign_in(client, "pgw_not-a-token")
        assert wrong.status_code == 401 and "not a valid token" in wrong.text and 'aria-invalid="true"' in wrong.text
        sign_in(client, "pgw_still-wrong")
        good = secret(tokens_for(sqlite_url, "a")["clinician"])
        throttled = sign_in(client, good)
        assert throttled.status_code == 429 and throttled.headers["retry-after"]
    assert audit_actions(sqlite_url).count("login_failed") == 2


def test_the_sign_in_form_needs_its_own_csrf_cookie(world):
    client, a, _, _ = world
    client.get("/ui/sign-in")
    forged = client.post("/ui/sign-in", data={"token": secret(a["clinician"]), "csrf": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403 and "sign-in form" in forged.text
    client.cookies.clear()  # a cross-site form: no cookie of ours at all
    bare = client.post("/ui/sign-in", data={"token": secret(a["clinician"]), "csrf": ""}, follow_redirects=False)
    assert bare.status_code == 403


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
def test_a_state_change_without_the_sessions_csrf_token_is_refused(world, csrf):
    client, a, _, _ = world
    sign_in(client, secret(a["clinician"]))
    data = {} if csrf is None else {"csrf": csrf}
    refused = client.post("/ui/sign-out", data=data, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.get("/ui/worklist").status_code == 200  # still signed in: nothing happened


def test_another_sessions_csrf_token_is_refused(world):
    client, a, _, _ = world
    sign_in(client, secret(a["clinician"]))
    first_cookie, other_csrf = client.cookies.get("pgw_session"), csrf_of(client.get("/ui/worklist").text)
    sign_in(client, secret(a["admin"]))  # a second sign-in replaces the first session
    assert client.post("/ui/sign-out", data={"csrf": other_csrf}, follow_redirects=False).status_code == 403
    client.cookies.set("pgw_session", first_cookie, path="/ui")
    assert client.get("/ui/worklist", follow_redirects=False).status_code == 303  # the replaced session is closed


def test_signing_out_ends_the_session_on_the_server(world, sqlite_url):
    client, a, _, _ = world
    sign_in(client, secret(a["clinician"]))
    cookie = client.cookies.get("pgw_session")
    out = post_form(client, "/ui/sign-out", {}, page="/ui/worklist")
    assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
    client.cookies.set("pgw_session", cookie, path="/ui")  # a copy of the old cookie is worthless
    assert client.get("/ui/worklist", follow_redirects=False).status_code == 303
    assert "logout" in audit_actions(sqlite_url)


def test_an_expired_session_leads_back_to_the_sign_in_form(world):
    client, a, _, _ = world
    sign_in(client, secret(a["clinician"]))
    sessions = client.app.state.ui_sessions
    assert client.get("/ui/worklist").status_code == 200
    sessions.clock = lambda: datetime.now(UTC) + sessions.lifetime + timedelta(seconds=1)
    assert client.get("/ui/worklist", follow_redirects=False).headers["location"].startswith("/ui/sign-in")


def test_revoking_the_token_ends_its_sessions(world, sqlite_url):
    client, a, _, _ = world
    sign_in(client, secret(a["clinician"]))

    async def revoke():
        engine = create_engine(sqlite_url)
        try:
            store = TokenStore(engine)
            info = await store.verify(secret(a["clinician"]))
            assert await store.revoke(info.id)
        finally:
            await engine.dispose()

    asyncio.run(revoke())
    assert client.get("/ui/worklist", follow_redirects=False).status_code == 303


def test_another_tenants_assessment_does_not_exist(world):
    client, a, b, assessment = world
    sign_in(client, secret(b["clinician"]))
    missing = client.get(f"/ui/assessments/{assessment['id']}")
    assert missing.status_code == 404 and "MRN-1234" not in missing.text
    assert assessment["id"] not in client.get("/ui/worklist").text
    sign_in(client, secret(a["clinician"]))
    assert assessment["id"] in client.get("/ui/worklist").text


def test_every_ui_answer_carries_the_security_headers(world):
    client, a, _, assessment = world
    answers = [client.get("/ui/sign-in"), client.get("/ui/worklist", follow_redirects=False)]
    sign_in(client, secret(a["clinician"]))
    answers += [client.get("/ui/worklist"), client.get("/ui/assessments/nope"), client.get("/ui/worklist?page=0")]
    assert [r.status_code for r in answers] == [200, 303, 200, 404, 422]
    for response in answers:
        assert response.headers["content-security-policy"] == CSP and "frame-ancestors 'none'" in CSP
        assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert "<script>" not in answers[2].text and "style=" not in answers[2].text  # nothing inline for the CSP to block


@pytest.mark.parametrize("method, path", [("GET", "/ui/nope"), ("GET", "/ui/assessments"), ("GET", "/ui/x/y/z"), ("POST", "/ui/nope")])
def test_a_ui_path_no_route_matches_is_the_error_page_with_the_security_headers(ui, method, path):
    with ui() as client:
        response = client.request(method, path, follow_redirects=False)
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CSP and response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["cache-control"] == "no-store"


def test_a_session_opens_and_closes_on_both_databases(database_url, plugins):
    with TestClient(create_app(Settings(database_url=database_url), plugins)) as client:
        a = tokens_for(database_url, "a")
        assert sign_in(client, secret(a["clinician"])).status_code == 303
        assert client.get("/ui/worklist").status_code == 200
        assert post_form(client, "/ui/sign-out", {}, page="/ui/worklist").status_code == 303
        assert client.get("/ui/worklist", follow_redirects=False).status_code == 303
