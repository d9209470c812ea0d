"""The explanation as a clinician and an EMR see it: occlusion first, attention only when it earned it,
a heatmap that is a drawing of the mean mesh, and a valid FHIR DocumentReference tied to the Observation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from support.assessments import make_assessment, make_summary

from fhir_mappings import load_mappings
from gateway.contract.domain import Assessment, Explanation, RegionAttention, TimeWeight
from gateway.pipeline.face import REGIONS
from gateway.service.explanations import FACE, LEGEND, NOTICE, WIDTH, agreement, explain, explanation_png, heatmap_png
from plugins.fhir_observation.resources import build_bundle, document_reference_resource
from plugins.fhir_observation.validation import validate_bundle, validate_resource
from plugins.occlusion_regions import STANDS_OUT, mesh_regions
from plugins.occlusion_regions.occlusion import population_neutral_face
from tests.support.fhir_r4 import validate

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
MESH = mesh_regions(population_neutral_face().astype(float))
BROW = {"brow": 0.58, "eyes": 0.02, "mouth": 0.003, "forehead": -0.004, "jaw": -0.02, "nose": -0.03, "cheeks": -0.04}


def occlusion(weights: dict[str, float]) -> Explanation:
    regions = sorted((RegionAttention(r, w) for r, w in weights.items()), key=lambda r: r.weight, reverse=True)
    seconds = [TimeWeight(0.0, 1.0, 0.01), TimeWeight(1.0, 2.0, 0.64)]
    return Explanation("occlusion_regions", "region_occlusion", regions, "note", seconds, MESH, STANDS_OUT)


def attention(shares: dict[str, float], passed: bool | None) -> Explanation:
    return Explanation("attention_regions", "spatial_attention", [RegionAttention(r, w) for r, w in shares.items()], "attention note", passed_checks=passed)


def assessment(*explanations: Explanation) -> Assessment:
    return make_assessment(
        id="5b1c0d1e-0000-5000-8000-000000000001",
        start=START,
        seconds=2.0,
        created_at=START + timedelta(seconds=3),
        summary=make_summary("significant", {"none": 0.1, "mild": 0.2, "significant": 0.7}, time_share={"significant": 1.0}, scored_windows=2),
        explanations=list(explanations),
    )


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_heatmap_is_a_deterministic_drawing_with_the_signal_region_in_red():
    png = heatmap_png(MESH, BROW, title="Region occlusion", threshold=STANDS_OUT)
    assert png == heatmap_png(MESH, BROW, title="Region occlusion", threshold=STANDS_OUT)  # rendered again for every delivery
    image = decode(png)
    assert image.shape == (740, 720, 3)
    # A drawing, not a photograph: mostly the white page, few distinct colours (anti-aliased edges included).
    assert (image == 255).all(axis=2).mean() > 0.5 and len(np.unique(image.reshape(-1, 3), axis=0)) < 3000
    assert len(MESH) == len(REGIONS) and sum(len(r.points) for r in MESH) == 468


def test_the_brow_is_drawn_hotter_than_the_jaw():
    hot = decode(heatmap_png(MESH, BROW, title="t"))
    calm = decode(heatmap_png(MESH, dict.fromkeys(BROW, 0.0), title="t"))
    face = slice(40, FACE), slice(0, WIDTH - LEGEND)  # below the title, left of the legend
    changed = np.abs(hot[face].astype(int) - calm[face].astype(int)).sum(axis=2) > 60
    rows = np.nonzero(changed.any(axis=1))[0] + 40
    # Only the brow changed colour: the recoloured rows are the brow band in the upper third of the face.
    assert changed.sum() > 2000 and rows.max() < 260, (changed.sum(), rows.min(), rows.max())


def test_attention_is_shown_beside_occlusion_only_when_the_model_passed_its_checks():
    shares = {"brow": 0.4, "eyes": 0.2, "mouth": 0.1, "forehead": 0.1, "jaw": 0.1, "nose": 0.05, "cheeks": 0.05}
    passed = explain(assessment(occlusion(BROW), attention(shares, True)))
    assert passed.method == "region_occlusion" and passed.top_region == "brow" and "brow stands out" in passed.verdict
    assert [r.region for r in passed.regions][0] == "brow" and passed.regions[0].attention_share == 0.4
    assert passed.agreement is not None and passed.agreement.top_region_match and passed.agreement.rank_correlation > 0.5
    assert [(s.start, s.end, s.importance) for s in passed.seconds] == [(0.0, 1.0, 0.01), (1.0, 2.0, 0.64)]
    assert passed.notice == NOTICE and "not a clinical finding" in NOTICE and "synthetic" in NOTICE
    for verdict in (False, None):  # failed, or never checked
        hidden = explain(assessment(occlusion(BROW), attention(shares, verdict)))
        assert all(r.attention_share is None for r in hidden.regions) and hidden.agreement is None


def test_no_region_stands_out_below_the_threshold_and_without_the_explainer():
    shares = {r: 1 / 7 for r in REGIONS}
    flat = explain(assessment(occlusion({r: 0.01 for r in REGIONS}), attention(shares, True)))
    assert flat.top_region is None and flat.verdict.startswith("No region stands out")
    assert flat.agreement is None and flat.regions[0].attention_share == pytest.approx(1 / 7)  # shown, but nothing to agree on
    missing = explain(assessment())
    assert missing.method == "none" and missing.regions == [] and missing.top_region is None


@pytest.mark.parametrize(
    ("shares", "rho", "match"),
    [
        ({"a": 3.0, "b": 2.0, "c": 1.0}, 1.0, True),
        ({"a": 1.0, "b": 2.0, "c": 3.0}, -1.0, False),
    ],
)
def test_agreement_is_the_rank_correlation_and_top_match(shares, rho, match):
    result = agreement({"a": 0.3, "b": 0.2, "c": 0.1}, shares)
    assert (result.rank_correlation, result.top_region_match) == (rho, match)


def test_fhir_bundle_carries_the_explanation_as_a_valid_document_reference():
    explained = assessment(occlusion(BROW), attention({"brow": 1.0}, False))
    bundle = build_bundle(explained, load_mappings(), "urn:pain-gateway", bundle_type="transaction")
    assert validate_bundle(bundle) == [] and validate(bundle) == []
    by_type = {e["resource"]["resourceType"]: e for e in bundle["entry"]}
    document, observation = by_type["DocumentReference"], by_type["Observation"]["resource"]
    assert document["request"]["method"] == "POST" and "ifNoneExist" in document["request"]
    assert observation["extension"][0]["valueReference"]["reference"] == document["fullUrl"]
    assert document["resource"]["context"]["related"][0]["reference"] == by_type["Observation"]["fullUrl"]
    resource = document["resource"]
    assert "not a clinical finding" in resource["description"] and "synthetic" in resource["description"]
    attachments = {c["attachment"]["contentType"]: base64.b64decode(c["attachment"]["data"]) for c in resource["content"]}
    assert attachments["image/png"] == explanation_png(explained)
    assert json.loads(attachments["application/json"])["top_region"] == "brow"
    read = document_reference_resource(explained, load_mappings(), "urn:pain-gateway")
    assert validate_resource(read) == [] and validate(read) == []


def test_without_an_occlusion_explanation_the_bundle_has_no_document_reference():
    bundle = build_bundle(assessment(), load_mappings(), "urn:pain-gateway", bundle_type="transaction")
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Device", "Observation", "Provenance"}
    assert "extension" not in next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")["resource"]
