"""Steps for the webhook story (tests/features/telehealth_webhooks.feature): a real receiver, the
reference Standard Webhooks verifier, the bundled model and the shipped retry schedule."""

from __future__ import annotations

from pytest_bdd import given, parsers, scenarios, then, when
from standardwebhooks.webhooks import Webhook
from support.receiver import Reply

scenarios("telehealth_webhooks.feature")


@given("the platform's webhook receiver runs on an address the gateway is allowed to reach")
def allowed(story, receiver, gateway_for):
    story["gateway"] = gateway_for(core={"webhook_allowlist": ["127.0.0.1"]})
    story["telehealth"] = {"Authorization": f"Bearer {story['gateway'].tokens['telehealth']}"}


@given(parsers.parse('the platform registers its receiver for "{event}"'))
def registered(story, receiver, event):
    response = story["gateway"].client.post(
        "/v1/webhook-endpoints", headers=story["telehealth"], json={"url": receiver.url(), "events": [event], "description": "visits"}
    )
    assert response.status_code == 201, response.text
    story["endpoint"] = response.json()
    assert story["endpoint"]["secret"].startswith("whsec_")


@given(parsers.parse('MediaPipe keypoints of a real 5-second face clip for patient "{reference}"'))
def clip(story, keypoints_json, reference):
    story["body"] = keypoints_json(patient={"reference": reference})


@given("the receiver will answer 503 once")
def fails_once(receiver):
    receiver.reply(Reply(503, b"maintenance"))


@when("the platform submits the keypoints")
def submit(story):
    response = story["gateway"].client.post("/v1/assessments", json=story["body"], headers=story["telehealth"])
    assert response.status_code == 201, response.text
    story["assessment"] = response.json()


@then(parsers.parse('a webhook "{event}" arrives for the assessment'))
def arrives(story, receiver, event):
    [story["webhook"]] = receiver.wait(1)
    assert story["webhook"].headers["content-type"] == "application/json"
    story["event"] = event


@then("it verifies with the Standard Webhooks reference library and the endpoint's secret")
def verifies(story):
    webhook = story["webhook"]
    story["payload"] = Webhook(story["endpoint"]["secret"]).verify(webhook.body, webhook.headers)
    assert story["payload"]["type"] == story["event"]
    assert story["payload"]["data"]["assessment_id"] == story["assessment"]["id"]


@then("it carries the summary, the links and the AI-asserted FHIR Observation")
def carries(story):
    data = story["payload"]["data"]
    assert data["summary"]["level"] == story["assessment"]["summary"]["level"]
    assert data["links"]["self"].endswith(f"/v1/assessments/{story['assessment']['id']}")
    assert data["observation"]["resourceType"] == "Observation" and data["observation"]["meta"]["security"][0]["code"] == "AIAST"
    assert "synthetic" in data["disclaimer"]


@then(parsers.parse("{count:d} webhooks arrive with the same webhook id"))
def same_id(receiver, count):
    webhooks = receiver.wait(count, timeout_s=30)
    assert len({w.headers["webhook-id"] for w in webhooks}) == 1


@then("the endpoint's attempt log shows a retry, then a delivery")
def attempt_log(story):
    import time

    deadline = time.monotonic() + 10
    while True:
        response = story["gateway"].client.get(f"/v1/webhook-endpoints/{story['endpoint']['id']}/attempts", headers=story["telehealth"])
        assert response.status_code == 200, response.text
        outcomes = [a["outcome"] for a in reversed(response.json()["attempts"])]
        if outcomes == ["retry", "delivered"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert outcomes == ["retry", "delivered"]
    assert response.json()["attempts"][-1]["status_code"] == "503"
