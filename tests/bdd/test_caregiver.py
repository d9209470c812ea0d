"""Steps for the caregiver story (tests/features/caregiver.feature)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from plugins.caregiver_summary import share
from plugins.caregiver_summary.wording import GSM_7

scenarios("caregiver.feature")

SECRET = "caregiver-share-secret-for-the-story-0123456789"
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
BASE = "http://127.0.0.1:8000"


@given("the gateway is running with caregiver sharing turned on", target_fixture="gateway")
def gateway(gateway_for):
    return gateway_for(caregiver_summary={"share_secret": SECRET, "timezone": "Asia/Shanghai"})


@given(parsers.parse('patient "{mrn}" had a pain check {hours:d} hours ago'))
@given(parsers.parse('patient "{mrn}" also had a pain check {hours:d} hours ago'))
def pain_check(gateway, keypoints_json, story, mrn, hours):
    captured = (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = gateway.submit(keypoints_json(patient={"identifier": {"system": SYSTEM, "value": mrn}}, captured_at=captured))
    assert response.status_code == 201, response.text
    story.setdefault("checks", []).append(response.json())
    story["identifier"] = f"{SYSTEM}|{mrn}"


@when(parsers.parse('the nurse shares the summary of that check in "{lang}" for "{lifetime}"'))
def nurse_shares(gateway, story, lang, lifetime):
    nurse = {"Authorization": f"Bearer {gateway.tokens['clinician']}"}
    response = gateway.client.post(
        f"/v1/assessments/{story['checks'][0]['id']}/caregiver-summary/share", json={"lang": lang, "expires_in": lifetime}, headers=nurse
    )
    assert response.status_code == 201, response.text
    story["link"] = response.json()["url"].removeprefix(BASE)


@when("a family member opens the link without a token")
def family_opens(gateway, story):
    story["page"] = gateway.client.get(story["link"])
    assert story["page"].status_code == 200, story["page"].text


@then("the summary is in Simplified Chinese")
def in_chinese(story):
    assert '<html lang="zh-Hans-CN">' in story["page"].text and "<h1>疼痛评估摘要</h1>" in story["page"].text


@then("it says it is AI decision support from a model trained on synthetic data")
def says_ai(story):
    assert "人工智能辅助决策工具" in story["page"].text and "计算机合成的示例数据" in story["page"].text


@then("it says a clinician has not yet reviewed it")
def says_not_reviewed(story):
    assert "尚未经临床医生审核。" in story["page"].text


@then("it says when to contact the care team")
def says_contact(story):
    assert "何时联系医护团队" in story["page"].text and "请拨打当地急救电话" in story["page"].text


@then("the same link gives a PDF with the same title")
def same_pdf(gateway, story):
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extras")
    response = gateway.client.get(story["link"], params={"format": "pdf"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "疼痛评估摘要" in pdfium.PdfDocument(response.content)[0].get_textpage().get_text_range()


@when(parsers.parse('the nurse asks for the last "{period}" of that patient as "{fmt}" in "{lang}"'))
def nurse_asks(gateway, story, period, fmt, lang):
    params = {"identifier": story["identifier"], "period": period, "format": fmt, "lang": lang}
    response = gateway.client.get("/v1/patients/caregiver-summary", params=params, headers=gateway.headers)
    assert response.status_code == 200, response.text
    story["sms"] = response.text


@then("the message fits one SMS of 160 GSM characters")
def fits_sms(story):
    assert len(story["sms"]) <= 160 and set(story["sms"]) <= GSM_7, story["sms"]


@then("it says the result is an AI estimate and not a diagnosis")
def sms_says(story):
    assert "(AI estimate, not yet reviewed)" in story["sms"] and "Not a diagnosis." in story["sms"]


@then("its times are in the site's time zone, which it names")
def sms_zone(story):
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))  # the site's zone (gateway_for above)
    assert "(UTC+08:00)" in story["sms"], story["sms"]
    assert f"{now:%-I}:" in story["sms"] or f"{now - timedelta(hours=1):%-I}:" in story["sms"], story["sms"]  # the period ends now, Shanghai time


@when("someone changes a character of the link and opens it")
def tamper(gateway, story):
    link = story["link"]
    changed = link[:-1] + ("A" if link[-1] != "A" else "B")
    story["refused"] = gateway.client.get(changed)


@then("the gateway answers 403 saying the link is not valid")
def forbidden(story):
    assert story["refused"].status_code == 403 and "not valid" in story["refused"].json()["detail"]


@then("a link that expired an hour ago answers 410 saying it expired")
def gone(gateway, story):
    hour_ago = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    token = share.sign(share.Shared("default", story["checks"][0]["id"], "en", hour_ago), SECRET)
    response = gateway.client.get(f"/v1/shared/caregiver-summary/{token}")
    assert response.status_code == 410 and "expired" in response.json()["detail"]
