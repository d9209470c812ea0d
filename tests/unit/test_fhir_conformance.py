"""Every resource and Bundle the FHIR plugin emits passes an independent R4 validator with zero findings.

The validator (``support/fhir_r4.py``) is HL7's R4 JSON schema plus the spec's FHIRPath invariants run
by fhirpathpy: not our own ``validation.py``. Before the facade work it reported dom-6 (no narrative)
on every Observation, Device, Provenance and CapabilityStatement; the schema itself had no finding.
"""

from __future__ import annotations

import pytest
from support.assessments import make_assessment, make_model, make_summary
from support.fhir_r4 import validate

from fhir_mappings import load_mappings
from gateway.contract.domain import PatientRef
from plugins.fhir_observation.resources import (
    build_bundle,
    capability_statement,
    device_resource,
    observation_resource,
    operation_outcome,
    provenance_resource,
    searchset,
)

BASE = "urn:pain-gateway"
MAPPINGS = load_mappings()
MODEL = make_model(sha256="ab" * 32, training_data="synthetic")
PATIENT = PatientRef(system="urn:oid:1.2.3", value="MRN-1 <&>")  # characters the narrative must escape
SCORED = make_assessment(id="asm-1", status="scored", patient=PATIENT, model=MODEL, peaks={"none": 0.1, "mild": 0.7, "significant": 0.2})
ABSENT = make_assessment(id="asm-2", status="scored", patient=PATIENT, model=MODEL, summary=make_summary(None, scored_windows=5))


@pytest.mark.parametrize("bundle_type", ["collection", "transaction"])
@pytest.mark.parametrize("case", [SCORED, ABSENT], ids=["scored", "no-value"])
def test_bundles_pass(case, bundle_type):
    assert validate(build_bundle(case, MAPPINGS, BASE, bundle_type)) == []


def test_resources_searchsets_and_outcomes_pass():
    observations = [observation_resource(a, MAPPINGS, BASE) for a in (SCORED, ABSENT)]
    outcome = operation_outcome([("warning", "not-supported", "ignored unsupported search parameter(s): status")])
    served = {
        "Observation": {"interactions": ["read", "search-type"], "search_params": [("date", "date", "effectivePeriod")]},
        "Device": {"interactions": ["read"], "search_params": []},
    }
    emitted = [
        *observations,
        device_resource(SCORED.model, MAPPINGS, BASE),
        provenance_resource(SCORED, MAPPINGS, BASE),
        outcome,
        capability_statement("https://gw/fhir", served, "0.1.0"),
        searchset(observations, 2, {"self": "https://gw/fhir/Observation?_count=2&_offset=0"}, "https://gw/fhir", outcome),
        searchset([], 0, {"self": "https://gw/fhir/Observation?_summary=count"}, "https://gw/fhir"),
    ]
    for resource in emitted:
        assert validate(resource) == [], resource["resourceType"]


def test_the_validator_is_not_a_rubber_stamp():
    broken = observation_resource(SCORED, MAPPINGS, BASE)
    broken["dataAbsentReason"] = {"text": "x"}  # obs-6: a value and a reason for its absence
    broken["status"] = "done"  # not in the required value set
    broken["component"][0]["code"] = broken["code"]  # obs-7
    del broken["text"]  # dom-6
    broken["note"] = [{}]  # ele-1
    found = " ".join(validate(broken))
    for key in ("obs-6", "obs-7", "dom-6", "ele-1", "schema: status"):
        assert key in found, key
    duplicate = build_bundle(SCORED, MAPPINGS, BASE, "collection")
    duplicate["entry"][2]["fullUrl"] = duplicate["entry"][0]["fullUrl"]  # neither has a versionId (bdl-7 allows distinct versions)
    assert any("bdl-7" in p for p in validate(duplicate))
