"""A reviewed assessment in FHIR: a new Observation version (final or amended) with the clinician's
value and the AI's original beside it, a Provenance naming the clinician and the revised version,
and a transaction that updates the EMR's Observation; all pass the independent R4 validator."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from support.assessments import START, make_assessment, make_model
from support.fhir_r4 import validate

from fhir_mappings import load_mappings
from gateway.storage.reviews import Review, versions
from plugins.fhir_observation.resources import (
    build_bundle,
    history_bundle,
    observation_resource,
    review_provenance_resource,
)
from plugins.fhir_observation.validation import validate_bundle, validate_resource

BASE = "urn:pain-gateway"
MAPPINGS = load_mappings()
MODEL = make_model(sha256="ab" * 32, training_data="synthetic")
AI = make_assessment(id="a-1", model=MODEL, peaks={"none": 0.2, "mild": 0.7, "significant": 0.1})
REVIEWS = [
    Review("r1", "a-1", 2, "confirm", "mild", "mild", None, "", "dr-lee", START + timedelta(hours=1)),
    Review("r2", "a-1", 3, "override", "significant", "mild", "patient-report", "NRS 8", "dr-kim", START + timedelta(hours=2)),
]
V1, CONFIRMED, OVERRIDDEN = versions(AI, REVIEWS)


def codes(concept: dict) -> set[str]:
    return {c["code"] for c in concept.get("coding", [])}


def ai_original(observation: dict) -> dict:
    [component] = [c for c in observation["component"] if "ai-original-class" in codes(c["code"])]
    return component


def test_versions_replay_the_reviews():
    assert [(v.clinical_status, v.clinical_version, v.clinician_level, v.reviewed_by) for v in (V1, CONFIRMED, OVERRIDDEN)] == [
        ("preliminary", 1, None, None),
        ("final", 2, "mild", "dr-lee"),
        ("amended", 3, "significant", "dr-kim"),
    ]
    assert {v.summary.level for v in (V1, CONFIRMED, OVERRIDDEN)} == {"mild"}


def test_confirmed_observation_is_final_ai_asserted_and_verified():
    obs = observation_resource(CONFIRMED, MAPPINGS, BASE)
    assert (obs["status"], obs["meta"]["versionId"], obs["meta"]["security"][0]["code"]) == ("final", "2", "AIAST")
    assert "mild-pain" in codes(obs["valueCodeableConcept"]) and "mild-pain" in codes(ai_original(obs)["valueCodeableConcept"])
    assert "confirmed by clinician dr-lee" in obs["text"]["div"]
    provenance = review_provenance_resource(CONFIRMED, MAPPINGS, BASE)
    agents = {a["type"]["coding"][0]["code"]: a["who"] for a in provenance["agent"]}
    assert agents["verifier"]["display"] == "clinician dr-lee" and agents["author"]["reference"].startswith("Device/")
    assert provenance["target"][0]["reference"] == f"Observation/{obs['id']}/_history/2"
    assert provenance["entity"] == [{"role": "revision", "what": {"reference": f"Observation/{obs['id']}/_history/1", "display": "Observation version 1"}}]
    assert provenance["activity"]["coding"][0]["code"] == "UPDATE"


def test_overridden_observation_is_amended_clinician_asserted_with_the_ai_value_kept():
    obs = observation_resource(OVERRIDDEN, MAPPINGS, BASE)
    assert (obs["status"], obs["meta"]["versionId"], obs["meta"]["security"][0]["code"]) == ("amended", "3", "CLINAST")
    assert "significant-pain" in codes(obs["valueCodeableConcept"]) and obs["issued"].startswith("2026-01-01T14:00")  # the review's time
    assert "mild-pain" in codes(ai_original(obs)["valueCodeableConcept"])  # the AI's value is never lost
    assert "the AI had asserted Mild pain" in obs["text"]["div"] and "synthetic" in obs["note"][0]["text"]
    provenance = review_provenance_resource(OVERRIDDEN, MAPPINGS, BASE)
    agents = {a["type"]["coding"][0]["code"]: a["who"] for a in provenance["agent"]}
    assert agents["author"]["display"] == "clinician dr-kim" and agents["informant"]["reference"].startswith("Device/")
    assert provenance["entity"][0]["what"]["reference"].endswith("/_history/2")


@pytest.mark.parametrize("reviewed", [CONFIRMED, OVERRIDDEN], ids=["final", "amended"])
def test_reviewed_resources_pass_both_validators(reviewed):
    for resource in (observation_resource(reviewed, MAPPINGS, BASE), review_provenance_resource(reviewed, MAPPINGS, BASE)):
        assert validate(resource) == [] and validate_resource(resource) == [], resource["resourceType"]
    for bundle_type in ("transaction", "collection"):
        bundle = build_bundle(reviewed, MAPPINGS, BASE, bundle_type)
        assert validate(bundle) == [] and validate_bundle(bundle) == [], bundle_type
    history = history_bundle([observation_resource(v, MAPPINGS, BASE) for v in reversed(versions(AI, REVIEWS))], "urn:x/_history", "urn:x")
    assert validate(history) == [] and validate_bundle(history) == []
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]


def test_the_reviewed_transaction_updates_the_observation_and_adds_the_review_provenance():
    bundle = build_bundle(OVERRIDDEN, MAPPINGS, BASE, "transaction")
    requests = [(e["request"]["method"], e["request"]["url"].split("?")[0], e["resource"]["resourceType"]) for e in bundle["entry"]]
    assert [r[0] for r in requests] == ["POST", "PUT", "PUT", "PUT"]
    assert requests[1][1:] == ("Observation", "Observation") and "id" not in bundle["entry"][1]["resource"]
    review = bundle["entry"][3]["resource"]
    assert review["target"][0]["reference"] == bundle["entry"][1]["fullUrl"]  # the server rewrites it to its own id
    first = build_bundle(V1, MAPPINGS, BASE, "transaction")
    assert first["entry"][1]["request"]["method"] == "POST" and len(first["entry"]) == 3
    assert msgspec.json.encode(build_bundle(OVERRIDDEN, MAPPINGS, BASE, "transaction")) == msgspec.json.encode(bundle)  # deterministic
