"""Caregiver summaries over HTTP: formats and languages, a patient's period, tenants, share links, audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import create_tokens
from litestar.testing import TestClient

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.storage.audit import AuditQuery, AuditStore
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app
from plugins.caregiver_summary import share

SECRET = "caregiver-share-secret-for-tests-0123456789"
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
IDENTIFIER = f"{SYSTEM}|MRN-CARE"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def gateway(gateway_for):
    return gateway_for(caregiver_summary={"share_secret": SECRET, "timezone": "Europe/London"})


@pytest.fixture
def checks(gateway, keypoints_json):
    """The same patient checked 2 hours and 30 hours ago; another patient 1 hour ago."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    for hours, mrn in ((2, "MRN-CARE"), (30, "MRN-CARE"), (1, "MRN-OTHER")):
        body = keypoints_json(patient={"identifier": {"system": SYSTEM, "value": mrn}}, captured_at=iso(now - timedelta(hours=hours)))
        response = gateway.submit(body)
        assert response.status_code == 201, response.text
        made.append(response.json())
    return made


def audit_rows(database_url: str, **criteria) -> list:
    async def read():
        engine = create_engine(database_url)
        try:
            return (await AuditStore(engine).search(AuditQuery(limit=500, **criteria)))[0]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_one_assessment_in_every_format_and_language(gateway, checks):
    assessment = checks[0]
    assert assessment["links"]["caregiver-summary"].endswith(f"/v1/assessments/{assessment['id']}/caregiver-summary")
    path = f"/v1/assessments/{assessment['id']}/caregiver-summary"
    expected = {"html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8", "sms": "text/plain; charset=utf-8", "pdf": "application/pdf"}
    for lang, notice in (("en", "synthetic, computer-made examples"), ("zh", "计算机合成的示例数据")):
        for fmt, media_type in expected.items():
            response = gateway.client.get(path, params={"lang": lang, "format": fmt}, headers=gateway.headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == media_type
            assert response.headers["cache-control"] == "no-store" and response.headers["referrer-policy"] == "no-referrer"
            if fmt == "pdf":
                assert response.content.startswith(b"%PDF-") and len(response.content) > 5_000
            elif fmt != "sms":
                assert notice in response.text and ("Not yet reviewed" in response.text or "尚未经临床医生审核" in response.text)
    default = gateway.client.get(path, headers=gateway.headers)
    assert default.headers["content-type"].startswith("text/html") and '<html lang="en">' in default.text


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("assessment", {"lang": "fr"}, "lang"),
        ("assessment", {"format": "docx"}, "format"),
        ("patient", {"identifier": "MRN-CARE"}, "identifier"),
        ("patient", {}, "identifier"),
        ("patient", {"identifier": IDENTIFIER, "period": "forever"}, "period"),
        ("patient", {"identifier": IDENTIFIER, "period": "40d"}, "period"),
        ("patient", {"identifier": IDENTIFIER, "lang": "xx"}, "lang"),
    ],
)
def test_bad_choices_are_refused_naming_the_field(gateway, checks, path, params, field):
    url = f"/v1/assessments/{checks[0]['id']}/caregiver-summary" if path == "assessment" else "/v1/patients/caregiver-summary"
    response = gateway.client.get(url, params=params, headers=gateway.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json" and response.json()["field"] == field


def test_a_patients_period_gathers_only_that_patients_checks_in_it(gateway, checks):
    def summary(period: str):
        params = {"identifier": IDENTIFIER, "period": period, "format": "text"}
        return gateway.client.get("/v1/patients/caregiver-summary", params=params, headers=gateway.headers)

    day, two_days = summary("24h"), summary("2d")
    assert day.status_code == two_days.status_code == 200
    assert "1 checks between" in day.text and "2 checks between" in two_days.text
    assert "0 of 2 checks have been reviewed by a clinician." in two_days.text
    assert summary("30m").status_code == 404  # nothing in the last half hour: said, not an empty summary


def test_another_tenant_sees_neither_the_assessment_nor_the_patient(gateway, checks, sqlite_url):
    async def foreign():
        engine = create_engine(sqlite_url)
        try:
            return (await TokenStore(engine).create("b-nurse", "clinician", "tenant-b"))[1]
        finally:
            await engine.dispose()

    headers = {"Authorization": f"Bearer {asyncio.run(foreign())}"}
    client = gateway.client
    assert client.get(f"/v1/assessments/{checks[0]['id']}/caregiver-summary", headers=headers).status_code == 404
    assert client.get("/v1/patients/caregiver-summary", params={"identifier": IDENTIFIER, "period": "7d"}, headers=headers).status_code == 404
    assert client.post(f"/v1/assessments/{checks[0]['id']}/caregiver-summary/share", json={}, headers=headers).status_code == 404
    shared = client.post("/v1/patients/caregiver-summary/share", json={"identifier": IDENTIFIER, "period": "7d"}, headers=headers)
    assert shared.status_code == 404


def test_a_caregiver_opens_a_shared_summary_without_an_account_until_it_expires(gateway, checks, sqlite_url):
    assessment = checks[0]
    client = gateway.client
    clinician = {"Authorization": f"Bearer {gateway.tokens['clinician']}"}
    before = datetime.now(UTC)
    made = client.post(f"/v1/assessments/{assessment['id']}/caregiver-summary/share", json={"lang": "zh", "expires_in": "2h"}, headers=clinician)
    assert made.status_code == 201, made.text
    link = made.json()
    expires = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=2) - timedelta(seconds=5) <= expires - before <= timedelta(hours=2, seconds=5)
    assert link["lang"] == "zh" and "MRN" not in link["url"]
    path = link["url"].removeprefix("http://127.0.0.1:8000")
    opened = client.get(path)  # no Authorization header: a caregiver's browser
    assert opened.status_code == 200 and '<html lang="zh-Hans-CN">' in opened.text and "疼痛评估摘要" in opened.text
    assert "default-src 'none'" in opened.headers["content-security-policy"] and opened.headers["referrer-policy"] == "no-referrer"
    assert client.get(path, params={"format": "pdf"}).content.startswith(b"%PDF-")
    token = path.rsplit("/", 1)[1]
    tampered = client.get(path[: -len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert tampered.status_code == 403 and "not valid" in tampered.json()["detail"]
    old = share.sign(share.Shared("default", assessment["id"], "en", int((before - timedelta(minutes=1)).timestamp())), SECRET)
    expired = client.get(f"/v1/shared/caregiver-summary/{old}")
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    assert (
        client.post(f"/v1/assessments/{assessment['id']}/caregiver-summary/share", json={"expires_in": "365d"}, headers=clinician).json()["field"]
        == "expires_in"
    )
    exports = audit_rows(sqlite_url, action="export")
    assert any(r.resource_type == "caregiver-summary-link" and r.role == "clinician" and r.patient == IDENTIFIER for r in exports)
    reads = [r for r in audit_rows(sqlite_url, action="read") if r.role == "share-link"]
    opened_rows = [r for r in reads if r.outcome == "success"]
    assert len(opened_rows) == 2 and {r.resource_id for r in opened_rows} == {assessment["id"]} and all(r.token_id is None for r in reads)
    assert len([r for r in reads if r.outcome == "failure"]) == 2  # the altered and the expired link


def test_a_share_link_lives_72_hours_unless_expires_in_says_otherwise(gateway, checks):
    clinician = {"Authorization": f"Bearer {gateway.tokens['clinician']}"}
    made = [
        gateway.client.post(f"/v1/assessments/{checks[0]['id']}/caregiver-summary/share", json={}, headers=clinician),
        gateway.client.post("/v1/patients/caregiver-summary/share", json={"identifier": IDENTIFIER, "period": "2d"}, headers=clinician),
    ]
    now = datetime.now(UTC)
    for response in made:
        assert response.status_code == 201, response.text
        expires = datetime.fromisoformat(response.json()["expires_at"].replace("Z", "+00:00"))
        assert timedelta(hours=72) - timedelta(seconds=30) <= expires - now <= timedelta(hours=72), response.json()


def test_a_shared_period_shows_what_was_shared(gateway, checks):
    made = gateway.client.post("/v1/patients/caregiver-summary/share", json={"identifier": IDENTIFIER, "period": "2d", "lang": "en"}, headers=gateway.headers)
    assert made.status_code == 201, made.text
    opened = gateway.client.get(made.json()["url"].removeprefix("http://127.0.0.1:8000"), params={"format": "text"})
    assert opened.status_code == 200 and "2 checks between" in opened.text and "MRN-OTHER" not in opened.text


def test_sharing_is_off_until_an_operator_sets_a_secret(gateway_for, keypoints_json):
    plain = gateway_for()
    assessment = plain.submit(keypoints_json()).json()
    refused = plain.client.post(f"/v1/assessments/{assessment['id']}/caregiver-summary/share", json={}, headers=plain.headers)
    assert refused.status_code == 409 and "PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_SHARE_SECRET" in refused.json()["detail"]
    assert plain.client.get("/v1/shared/caregiver-summary/abc.def").status_code == 403


def test_guessing_links_is_throttled_like_failed_logins(gateway_for):
    guesser = gateway_for(core={"auth_failure_burst": 3})
    answers = [guesser.client.get(f"/v1/shared/caregiver-summary/guess{i}.x").status_code for i in range(5)]
    assert answers == [403, 403, 403, 429, 429]


def test_forged_links_never_lock_out_valid_tokens_behind_the_same_address(gateway_for):
    """Behind a ward's NAT everyone shares one address: guessing links spends the links' budget only."""
    ward = gateway_for(core={"auth_failure_burst": 3})
    forged = [ward.client.get(f"/v1/shared/caregiver-summary/forged{i}.x").status_code for i in range(10)]
    assert forged[:3] == [403, 403, 403] and set(forged[3:]) == {429}
    assert ward.client.get("/v1/deliveries", headers=ward.headers).status_code == 200
    bad_token = ward.client.get("/v1/deliveries", headers={"Authorization": "Bearer pgw_wrong"})
    assert bad_token.status_code == 401, "the token budget is untouched by the links' refusals"


def test_after_a_clinicians_override_the_summary_gives_the_clinicians_level(gateway, checks):
    assessment = checks[0]
    clinician = {"Authorization": f"Bearer {gateway.tokens['clinician']}"}
    path = f"/v1/assessments/{assessment['id']}/caregiver-summary"
    before = gateway.client.get(path, params={"format": "text"}, headers=gateway.headers).text
    assert "Not yet reviewed by a clinician." in before and "(AI estimate)" in before
    review = {"decision": "override", "level": "significant", "reason": "patient-report", "comment": "grimacing on movement"}
    assert gateway.client.post(f"/v1/assessments/{assessment['id']}/review", json=review, headers=clinician).status_code == 201
    after = " ".join(gateway.client.get(path, params={"format": "text"}, headers=gateway.headers).text.split())  # lines are wrapped
    assert "A clinician has reviewed this result and changed the level to “signs of significant pain”." in after
    assert "Overall: signs of significant pain (set by a clinician)." in after
    assert "This summary shows signs of significant pain. Please let the care team know today." in after
    sms = gateway.client.get(path, params={"format": "sms", "lang": "zh"}, headers=gateway.headers).text
    assert "有明显疼痛迹象（医生确定）" in sms and "AI" not in sms and len(sms) <= 70  # the clinician's level, never called the AI's
    sms = gateway.client.get(path, params={"format": "sms", "tz": "Asia/Shanghai"}, headers=gateway.headers).text
    assert "signs of significant pain (set by a clinician)" in sms and "(UTC+08:00)" in sms and "AI" not in sms
    period = gateway.client.get(
        "/v1/patients/caregiver-summary", params={"identifier": IDENTIFIER, "period": "2d", "format": "text"}, headers=gateway.headers
    ).text
    assert "1 of 2 checks have been reviewed by a clinician." in period


def test_a_patients_period_on_each_database(database_url, keypoints_json):
    """The period search (timestamps, tenant, identifier) holds on SQLite and on PostgreSQL."""
    settings = Settings(database_url=database_url, plugins={"caregiver_summary": {"share_secret": SECRET}})
    headers = {"Authorization": f"Bearer {create_tokens(database_url)['integrator']}"}
    now = datetime.now(UTC).replace(microsecond=0)
    with TestClient(create_app(settings, build_plugins(settings, environ={}))) as client:
        for hours in (1, 5, 50):
            body = keypoints_json(patient={"identifier": {"system": SYSTEM, "value": "MRN-CARE"}}, captured_at=iso(now - timedelta(hours=hours)))
            assert client.post("/v1/assessments", json=body, headers=headers).status_code == 201
        params = {"identifier": IDENTIFIER, "period": "24h", "format": "text"}
        day = client.get("/v1/patients/caregiver-summary", params=params, headers=headers)
        assert day.status_code == 200 and "2 checks between" in day.text
        made = client.post("/v1/patients/caregiver-summary/share", json={"identifier": IDENTIFIER, "period": "3d"}, headers=headers)
        opened = client.get(made.json()["url"].removeprefix("http://127.0.0.1:8000"), params={"format": "text"})
        assert opened.status_code == 200 and "3 checks between" in opened.text
