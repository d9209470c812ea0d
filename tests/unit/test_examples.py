"""``examples/synthetic-pain-8s.npz``, the README's first keypoint request: what the README says it shows.

The file is synthetic (the training generator's pain expression on the astronaut's real Face Mesh
landmarks, ``scripts/make_examples.py``). The README promises that the shipped model scores it mild, then
significant, so the first assessment page has a heatmap with a region that stands out and seconds that
drove the result. Whatever checkpoint ships (it is retrained from time to time), this holds it to that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "examples" / "synthetic-pain-8s.npz"
FORM = {  # as the README's curl sends them
    "patient_system": "urn:oid:1.2.36.146.595.217.0.1",
    "patient_value": "MRN-EXAMPLE-1",
    "captured_at": "2026-11-23T10:00:00Z",
    "fps": "30",
    "image_size": "480,480",
}


def test_the_pain_example_is_small_synthetic_keypoints_only():
    assert CLIP.stat().st_size < 700 * 1024
    with np.load(CLIP) as npz:
        assert npz.files == ["points"] and npz["points"].shape == (240, 468, 3)
    assert "synthetic" in CLIP.name
    readme = (ROOT / "README.md").read_text()
    assert "examples/synthetic-pain-8s.npz" in readme and "synthetic" in readme.split("examples/synthetic-pain-8s.npz")[0][-600:]


def test_the_shipped_model_scores_the_pain_example_mild_then_significant(api):
    response = api.post("/v1/assessments", role="integrator", data=FORM, files={"keypoints": ("synthetic-pain-8s.npz", CLIP.read_bytes())})
    assert response.status_code == 201, response.text
    body = response.json()
    levels = [w["level"] for w in body["windows"] if w["scorable"]]
    assert len(levels) == 8, levels
    assert levels[:4].count("mild") >= 3 and levels[4:].count("significant") >= 3, levels  # mild first, then significant
    assert body["summary"]["level"] == "significant"
    assert body["ai_asserted"] is True and "synthetic" in body["disclaimer"]
    importance = next(e for e in body["explanations"] if e["kind"] == "region_occlusion")
    assert importance["mesh"], "a heatmap needs the mesh"
    weights = sorted((r["weight"] for r in importance["regions"]), reverse=True)
    assert importance["threshold"] is not None and weights[0] > importance["threshold"], (weights, importance["threshold"])  # a region stands out
    assert any(s["importance"] > 0 for s in importance["seconds"]), "seconds that drove the result"


def test_the_pain_example_is_a_first_visit_on_windows_the_model_finds_typical(api):
    """The README's first result is an ordinary one: scored without a baseline (it says so, with the model's
    measured reliability for that case) on seconds like the model's calibration data (none flagged)."""
    response = api.post("/v1/assessments", role="integrator", data=FORM, files={"keypoints": ("synthetic-pain-8s.npz", CLIP.read_bytes())})
    body = response.json()
    assert all(w["typicality"] >= 0.01 for w in body["windows"] if w["scorable"]), [w.get("typicality") for w in body["windows"]]
    reliability = body["reliability"]
    assert reliability["baseline"] == "none" and reliability["unfamiliar_windows"] == 0 and reliability["typicality_below"] == 0.01
    assert "without a stored neutral face" in reliability["measured"] and "never measured on real pain" in reliability["measured"]
