"""FHIR output: valid R4 resources, AI labelling, deterministic ids, site code overrides, own validator."""

from __future__ import annotations

import copy
from datetime import datetime

import msgspec
import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given
from hypothesis import strategies as st
from support.assessments import make_assessment, make_model, make_summary

from fhir_mappings import MappingError, load_mappings
from gateway.contract.domain import LEVELS, PatientRef
from gateway.contract.protocols import Output
from plugins.fhir_observation import FhirSettings
from plugins.fhir_observation.resources import (
    FhirObservationOutput,
    build_bundle,
    capability_statement,
    code_matches,
    observation_resource,
    searchset,
)
from plugins.fhir_observation.validation import validate_bundle, validate_resource

BASE = "urn:pain-gateway"
MAPPINGS = load_mappings()
AIAST = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "AIAST")
SNOMED = "http://snomed.info/sct"
MODEL = make_model(sha256="ab" * 32)


def resources(bundle: dict) -> dict[str, dict]:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def codes(concept: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


@pytest.mark.parametrize("bundle_type", ["collection", "transaction"])
def test_bundle_is_valid_r4_with_ai_label_device_and_provenance(bundle_type):
    bundle = build_bundle(make_assessment(status="scored", model=MODEL), MAPPINGS, BASE, bundle_type)

    assert validate_bundle(bundle) == []
    get_fhir_model_class("Bundle").model_validate(bundle)
    found = resources(bundle)
    assert set(found) == {"Device", "Observation", "Provenance"}
    for resource in found.values():
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    obs, device, prov = found["Observation"], found["Device"], found["Provenance"]
    assert AIAST in {(s["system"], s["code"]) for s in obs["meta"]["security"]}
    assert obs["status"] == "preliminary"
    assert ("http://loinc.org", "LA15111-0") in codes(obs["valueCodeableConcept"])
    assert [c["valueQuantity"]["value"] for c in obs["component"]] == [0.1, 0.7, 0.2]
    assert obs["identifier"] == [{"system": f"{BASE}/assessment", "value": "asm-1"}]
    assert obs["device"]["reference"] == f"urn:uuid:{device['id']}"
    assert prov["target"] == [{"reference": f"urn:uuid:{obs['id']}"}]
    assert prov["agent"][0]["who"]["reference"] == f"urn:uuid:{device['id']}"
    assert device["identifier"][0]["value"] == MODEL.sha256
    assert "/v1/models/sta-lstm-synth/card" in device["note"][0]["text"]
    assert "synthetic data" in device["note"][0]["text"]
    assert all(("request" in e) == (bundle_type == "transaction") for e in bundle["entry"])


def test_same_assessment_gives_the_same_bundle_and_one_device_per_model():
    first, again = (
        build_bundle(make_assessment(status="scored", model=MODEL), MAPPINGS, BASE),
        build_bundle(make_assessment(status="scored", model=MODEL), MAPPINGS, BASE),
    )
    other = resources(build_bundle(make_assessment(id="asm-2", status="scored", model=MODEL), MAPPINGS, BASE))

    assert first == again
    assert other["Observation"]["id"] != resources(first)["Observation"]["id"]
    assert other["Device"]["id"] == resources(first)["Device"]["id"]


def test_no_scored_level_gives_data_absent_reason_and_no_value():
    obs = resources(build_bundle(make_assessment(status="scored", level=None, peaks={}, model=MODEL), MAPPINGS, BASE))["Observation"]

    assert "valueCodeableConcept" not in obs and "component" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "unknown"
    assert validate_resource(obs) == []


def test_site_file_overrides_one_code_and_can_drop_a_coding(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("values:\n  significant:\n    codings:\n      snomed: {code: '24484000', display: Severe}\n  mild:\n    codings:\n      loinc: null\n")
    mappings = load_mappings(str(site))

    significant = codes(mappings.values["significant"].fhir())
    assert (SNOMED, "24484000") in significant and (SNOMED, "371924009") not in significant
    assert mappings.values["significant"].codings["snomed"].system == SNOMED
    assert set(mappings.values["mild"].codings) == {"gateway", "snomed"}
    assert mappings.values["none"] == MAPPINGS.values["none"]
    obs = observation_resource(make_assessment(status="scored", level="significant", model=MODEL), mappings, BASE)
    assert (SNOMED, "24484000") in codes(obs["valueCodeableConcept"])


@pytest.mark.parametrize(
    ("site", "key"),
    [
        ("ai_asserted: null\n", "ai_asserted"),
        ("values: {mild: null}\n", "mild"),
        ("observation: {code: {codings: {gateway: {code: null}}}}\n", "code"),
        ("observation: {category: {codngs: {}}}\n", "codngs"),
    ],
)
def test_missing_or_unknown_key_names_the_key(tmp_path, site, key):
    path = tmp_path / "site.yaml"
    path.write_text(site)

    with pytest.raises(MappingError, match=f"`{key}`"):
        load_mappings(str(path))


def test_validator_catches_what_pydantic_lets_through():
    obs = observation_resource(make_assessment(status="scored", model=MODEL), MAPPINGS, BASE)
    cases = {
        "obs-7": lambda o: o["component"][0].update(code=copy.deepcopy(o["code"])),
        "obs-6": lambda o: o.update(dataAbsentReason=MAPPINGS.observation.data_absent_reason.fhir()),
        "observation-status": lambda o: o.update(status="bogus"),
        "observation-category": lambda o: o["category"][0]["coding"][0].update(code="bogus"),
        "AIAST": lambda o: o.pop("meta"),
        "per-1": lambda o: o.update(effectivePeriod={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
        "literal reference": lambda o: o.update(subject={"reference": "patient 12"}),
    }
    for expected, break_it in cases.items():
        broken = copy.deepcopy(obs)
        break_it(broken)
        get_fhir_model_class("Observation").model_validate(broken)  # pydantic alone accepts it
        assert any(expected in e for e in validate_resource(broken)), expected


def test_validator_checks_device_provenance_and_bundle_references():
    bundle = build_bundle(make_assessment(status="scored", model=MODEL), MAPPINGS, BASE, "transaction")
    found = resources(bundle)
    device = copy.deepcopy(found["Device"])
    del device["type"]
    prov = copy.deepcopy(found["Provenance"])
    prov["reason"] = []
    prov["entity"][0]["role"] = "input"
    assert any("Device.type" in e for e in validate_resource(device))
    assert any("AIReason" in e for e in validate_resource(prov))
    assert any("provenance-entity-role" in e for e in validate_resource(prov))

    dangling = copy.deepcopy(bundle)
    dangling["entry"] = [e for e in dangling["entry"] if e["resource"]["resourceType"] != "Device"]
    assert any("does not resolve" in e for e in validate_bundle(dangling))
    no_request = copy.deepcopy(bundle)
    del no_request["entry"][0]["request"]
    assert any("bdl-3" in e for e in validate_bundle(no_request))


def test_patient_reference_is_used_literally():
    obs = observation_resource(make_assessment(status="scored", patient=PatientRef(reference="Patient/123"), model=MODEL), MAPPINGS, BASE)

    assert obs["subject"] == {"reference": "Patient/123"}
    assert obs["device"]["reference"].startswith("Device/")
    assert validate_resource(obs) == []


def test_naive_timestamps_are_refused():
    naive = make_assessment(status="scored", model=MODEL)
    naive = msgspec.structs.replace(naive, created_at=datetime(2026, 1, 1))

    with pytest.raises(ValueError, match="created_at"):
        build_bundle(naive, MAPPINGS, BASE)


def test_search_bundle_capability_statement_and_code_token():
    obs = observation_resource(make_assessment(status="scored", model=MODEL), MAPPINGS, BASE)
    found = searchset([obs], 1, {"self": "http://gw/fhir/Observation?subject=Patient/1"}, "http://gw/fhir")
    system = MAPPINGS.observation.code.codings["gateway"].system

    assert validate_bundle(found) == []
    assert found["entry"][0]["fullUrl"] == f"http://gw/fhir/Observation/{obs['id']}"
    served = {"Observation": {"interactions": ["read", "search-type"], "search_params": [("date", "date", "period")]}}
    capability = capability_statement("http://gw/fhir", served, "1.2.3")
    assert validate_resource(capability) == [] and capability["fhirVersion"] == "4.0.1"
    assert capability["software"]["version"] == "1.2.3" and capability["rest"][0]["security"]["description"]
    params = {p["name"] for p in capability["rest"][0]["resource"][0]["searchParam"]}
    assert params == {"date"}
    assert code_matches(MAPPINGS, "ai-facial-pain-class")
    assert code_matches(MAPPINGS, f"{system}|ai-facial-pain-class")
    assert not code_matches(MAPPINGS, "|ai-facial-pain-class")
    assert not code_matches(MAPPINGS, "http://loinc.org|ai-facial-pain-class")


def test_output_renders_a_transaction_bundle():
    output = FhirObservationOutput(FhirSettings())

    document = output.render(make_assessment(status="scored", model=MODEL))

    assert isinstance(output, Output)
    assert (document.output, document.media_type) == ("fhir", "application/fhir+json")
    assert document.decoded()["type"] == "transaction" and validate_bundle(document.decoded()) == []


probability = st.floats(0, 1, allow_nan=False).map(lambda p: round(p, 6))
token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)  # a FHIR string


@given(
    level=st.sampled_from((*LEVELS, None)),
    peaks=st.dictionaries(st.sampled_from(LEVELS), probability),
    seconds=st.floats(1, 3600, allow_nan=False),
    patient=st.one_of(
        st.builds(PatientRef, system=st.just("urn:oid:1.2.3"), value=token),
        st.from_regex(r"\APatient/[A-Za-z0-9\-.]{1,64}\Z").map(lambda r: PatientRef(reference=r)),
    ),
    assessment_id=token,
    bundle_type=st.sampled_from(("collection", "transaction")),
)
def test_any_assessment_gives_a_valid_bundle(level, peaks, seconds, patient, assessment_id, bundle_type):
    bundle = build_bundle(
        make_assessment(id=assessment_id, status="scored", patient=patient, seconds=seconds, model=MODEL, summary=make_summary(level, peak_probability=peaks)),
        MAPPINGS,
        BASE,
        bundle_type,
    )

    assert validate_bundle(bundle) == []
    assert ("valueCodeableConcept" in resources(bundle)["Observation"]) == (level is not None)
