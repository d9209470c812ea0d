"""The delivery promise across every destination: with the EMR's FHIR server, the webhook receiver
and the MLLP listener all down, a result waits; once they are back it is delivered to each, once.
Shipped settings (first retry after 5 s ± 20 %), real servers on loopback; the EMR stays up behind a link
that is cut and restored (tests/support/proxy.py), so it is back at once, before that first retry."""

from __future__ import annotations

from support.mllp import MllpListener
from support.ports import free_port
from support.receiver import Receiver


def test_every_destination_gets_the_result_once_after_an_outage(emr, emr_link, gateway_for, keypoints_json):
    webhook_port, mllp_port = free_port(), free_port()
    gateway = gateway_for(
        core={"webhook_allowlist": ["127.0.0.1"]}, fhir_delivery={"base_url": emr_link.via(emr.base)}, hl7v2={"host": "127.0.0.1", "port": mllp_port}
    )
    endpoint = gateway.client.post(
        "/v1/webhook-endpoints", headers=gateway.headers, json={"url": f"http://127.0.0.1:{webhook_port}/hook", "events": ["assessment.completed"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    emr_link.off()

    created = gateway.submit(keypoints_json())
    assert created.status_code == 201, created.text
    assessment_id = created.json()["id"]
    for destination in ("fhir", "webhooks", "hl7v2"):
        gateway.wait(assessment_id, "retrying", destination=destination)
    ready = gateway.client.get("/ready").json()
    assert set(ready["destinations"]) == {"fhir", "webhooks", "hl7v2", "pain_alerts"}  # the alert rules read the ledger too (off by default)

    receiver, listener = Receiver(webhook_port).start(), MllpListener(mllp_port).start()
    try:
        emr_link.on()
        for destination in ("fhir", "webhooks", "hl7v2"):
            delivered = gateway.wait(assessment_id, "delivered", destination=destination, timeout_s=30)
            assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry", "delivered"], destination  # the first retry
        assert len(emr.observations(**{"subject:identifier": "urn:oid:1.2.36.146.595.217.0.1|MRN-1234"})) == 1
        assert len(receiver.requests) == 1 and len(listener.messages) == 1
        assert "ORU^R01" in listener.messages[0]
    finally:
        receiver.stop()
        listener.stop()
