"""FHIR push into a real FHIR R4 server (sekmet-fhir on loopback), through the gateway's API and ledger.

The gateway runs with the shipped delivery settings (retry schedule 5 s, 5 min, ...); an EMR "down" is the
network to it cut (tests/support/proxy.py: connections refused) and restored at once, so the first retry
finds it back however long the server itself would take to restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import PATIENT_SYSTEM


def test_the_observation_lands_in_the_emr_once_and_is_found_by_subject_identifier(emr, gateway_for, keypoints_json):
    gateway = gateway_for(fhir_delivery={"base_url": emr.base})
    created = gateway.submit(keypoints_json())
    assert created.status_code == 201, created.text
    delivery = gateway.wait(created.json()["id"], "delivered")
    assert delivery["destination"] == "fhir" and delivery["attempt_log"][0]["status_code"] == "200"
    found = emr.observations(**{"subject:identifier": f"{PATIENT_SYSTEM}|MRN-1234"})
    assert [o["identifier"][0]["value"] for o in found] == [created.json()["id"]]
    assert found[0]["status"] == "preliminary" and found[0]["meta"]["security"][0]["code"] == "AIAST"

    assert gateway.submit(keypoints_json()).status_code == 200  # a retried submission queues nothing new
    assert len(gateway.deliveries(created.json()["id"])) == 1
    redelivered = gateway.client.post(f"/v1/deliveries/{delivery['id']}/redeliver", headers=gateway.headers)
    assert redelivered.status_code == 202
    time.sleep(0.5)
    again = gateway.wait(created.json()["id"], "delivered")
    assert len(again["attempt_log"]) == 2
    assert len(emr.observations(**{"subject:identifier": f"{PATIENT_SYSTEM}|MRN-1234"})) == 1


def test_an_emr_down_for_a_while_gets_the_result_once_after_it_recovers(emr, emr_link, gateway_for, keypoints_json):
    gateway = gateway_for(fhir_delivery={"base_url": emr_link.via(emr.base)})
    emr_link.off()
    created = gateway.submit(keypoints_json(patient={"reference": "Patient/emr-77"}))
    assert created.status_code == 201
    waiting = gateway.wait(created.json()["id"], "retrying")
    assert waiting["attempt_log"][0]["outcome"] == "retry" and "Connect" in waiting["last_error"]
    emr_link.on()
    delivered = gateway.wait(created.json()["id"], "delivered", timeout_s=30)
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry", "delivered"]  # the shipped first retry, 5 s later
    assert len(emr.observations(subject="Patient/emr-77")) == 1


def test_a_refusing_emr_dead_letters_the_delivery_with_its_operation_outcome(emr, gateway_for, keypoints_json):
    gateway = gateway_for(fhir_delivery={"base_url": f"{emr.base}/Patient"})  # a misconfigured base URL: the server refuses the Bundle
    created = gateway.submit(keypoints_json())
    dead = gateway.wait(created.json()["id"], "dead")
    assert dead["attempts"] == 1 and "does not match URL type" in dead["last_error"]
    assert dead["attempt_log"][0]["status_code"] == "400"
    listed = gateway.client.get("/v1/deliveries", params={"status": "dead"}, headers=gateway.headers).json()
    assert [d["id"] for d in listed["items"]] == [dead["id"]]


def test_resolving_the_patient_references_the_emr_patient_and_fails_closed_when_unknown(emr, gateway_for, keypoints_json):
    with emr.client() as client:
        patient = client.post("Patient", json={"resourceType": "Patient", "identifier": [{"system": PATIENT_SYSTEM, "value": "MRN-1234"}]})
        assert patient.status_code == 201, patient.text
    gateway = gateway_for(fhir_delivery={"base_url": emr.base, "resolve_patient": True})
    known = gateway.submit(keypoints_json()).json()
    unknown = gateway.submit(keypoints_json(patient={"identifier": {"system": PATIENT_SYSTEM, "value": "MRN-NOT-HERE"}})).json()
    gateway.wait(known["id"], "delivered")
    dead = gateway.wait(unknown["id"], "dead")
    assert "no Patient in the EMR" in dead["last_error"] and "MRN-NOT-HERE" not in dead["last_error"]
    [observation] = emr.observations(subject=f"Patient/{patient.json()['id']}")
    assert observation["identifier"][0]["value"] == known["id"]


def test_outputs_test_probes_the_emr(emr, sqlite_url):
    cli = Path(sys.executable).parent / "pain-gateway"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_DATABASE_URL": sqlite_url,
        "PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL": emr.base,
    }
    ok = subprocess.run([str(cli), "outputs", "test", "fhir"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "delivered 200 CapabilityStatement fhirVersion 4.0.1" in ok.stdout, ok.stderr
    emr.stop()
    down = subprocess.run([str(cli), "outputs", "test", "fhir"], capture_output=True, text=True, env=env, timeout=120)
    assert down.returncode == 1 and "retry" in down.stdout
