"""Steps for the concordance story (tests/features/reference_scales.feature): 60 synthetic clips at known
intensities scored by the real bundled model through ``POST /v1/assessments``, nurses' PAINAD scores
drawn from a known relation, and every figure on the page checked against a reference computation done
here with scikit-learn and SciPy (the bootstrap redone with the same seed, patients in sorted order)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pytest_bdd import given, scenarios, then, when
from scipy import stats
from sklearn.metrics import cohen_kappa_score, recall_score
from support.ui import sign_in

from plugins.reference_scales.statistics import SEED

scenarios("reference_scales.feature")

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
PATIENTS, CLIPS = 12, 5
LEVEL_OF = {"none": 0, "mild": 1, "significant": 2}
RESAMPLES = 1000
CLI = Path(sys.executable).parent / "pain-gateway"


def clip_body(patient: int, clip: int, intensity: int, captured_at: datetime) -> dict:
    from plugins.sta_lstm.lab.synthetic import SynthConfig, generate_clip

    synthetic = generate_clip(patient, clip, SynthConfig(seed=24, seconds=3), levels=np.array([intensity] * 3))
    frames = [None if np.isnan(f).all() else np.c_[f, np.zeros(len(f))].round(5).tolist() for f in synthetic.landmarks]
    return {
        "patient": {"identifier": {"system": SYSTEM, "value": f"MRN-CONC-{patient:02d}"}},
        "fps": synthetic.fps,
        "captured_at": captured_at.isoformat(),
        "frames": frames,
        "image_size": list(synthetic.image_size),
    }


def painad_for(rng: np.random.Generator, intensity: int) -> dict[str, int]:
    """The known relation: a total of 0 (none), 1-3 (mild) or 5-8 (significant), spread over the items."""
    total = int(rng.choice([[0], [1, 2, 3], [5, 6, 7, 8]][intensity]))
    items = dict.fromkeys(("breathing", "vocalisation", "facial_expression", "body_language", "consolability"), 0)
    keys = list(items)
    while sum(items.values()) < total:
        key = keys[int(rng.integers(len(keys)))]
        if items[key] < 2:
            items[key] += 1
    return items


@given("60 synthetic clips of 12 patients at known pain intensities, scored by the bundled model")
def clips(api, story):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)
    story["clips"] = []
    for patient in range(PATIENTS):
        for clip in range(CLIPS):
            intensity = (patient + clip) % 3
            captured = start + timedelta(hours=patient * 6 + clip)
            response = api.post("/v1/assessments", json=clip_body(patient, clip, intensity, captured))
            assert response.status_code == 201, response.text
            story["clips"].append({"patient": f"MRN-CONC-{patient:02d}", "intensity": intensity, "captured": captured, "assessment": response.json()})


@given("a nurse's PAINAD score for each clip, drawn from a known relation to its intensity, minutes after it")
def scores(api, story):
    rng = np.random.default_rng(2024)
    for c in story["clips"]:
        observed = c["captured"] + timedelta(minutes=int(rng.integers(1, 8)))
        body = {
            "patient": {"identifier": {"system": SYSTEM, "value": c["patient"]}},
            "scale": "painad",
            "items": painad_for(rng, c["intensity"]),
            "observed_at": observed.isoformat(),
            "assessor": "RN Concordance",
        }
        response = api.post("/v1/patients/scale-scores", role="clinician", json=body)
        assert response.status_code == 201, response.text
        c["score"] = response.json()


@when("the governance lead opens the concordance page")
def open_page(api, story):
    assert sign_in(api.client, api.tokens["clinician"]).status_code in (302, 303)
    page = api.client.get("/ui/concordance", params={"scale": "painad"})
    assert page.status_code == 200, page.text
    story["page"] = page.text


def shown(html: str, figure: str) -> tuple[float | None, ...]:
    """A figure's value and CI as the page prints them (``—``: not estimable, None here)."""
    row = re.search(rf'data-figure="{figure}"[^>]*>.*?class="value">([-0-9.—]+)</td><td class="ci">([-0-9.—]+) – ([-0-9.—]+)</td>', html, flags=re.S)
    assert row, f"{figure} is not on the page"
    return tuple(None if g == "—" else float(g) for g in row.groups())


@then("it shows 60 pairs from 12 patients for PAINAD against the model's version, not marked unreliable")
def counts(story):
    html = story["page"]
    version = story["clips"][0]["assessment"]["model"]["version"]
    assert "PAINAD" in html and version in html
    assert '<strong class="pairs">60 pairs</strong> from <strong class="patients">12 patients</strong>' in html
    assert "Unreliable" not in html and "Reliability diagram" in html and "synthetic" in html.lower()


def reference_figures(clips: list[dict]) -> dict[str, tuple[float, float, float]]:
    """Every headline figure and its CI, computed here from the assessments and scores themselves."""
    ai, ref, totals, expected, patients = [], [], [], [], []
    for c in clips:
        a = c["assessment"]
        probabilities = np.mean([[w["probabilities"][k] for k in LEVEL_OF] for w in a["windows"] if w["scorable"]], axis=0)
        ai.append(LEVEL_OF[a["summary"]["level"]])
        ref.append(LEVEL_OF[c["score"]["level"]])
        totals.append(c["score"]["total"])
        expected.append(probabilities[1] + 2 * probabilities[2])
        patients.append(c["patient"])
    ai, ref, totals, expected = map(np.asarray, (ai, ref, totals, expected))
    keys = sorted(set(patients))
    members = [np.flatnonzero(np.asarray(patients) == k) for k in keys]

    def figures(rows: np.ndarray) -> np.ndarray:
        a, r = ai[rows], ref[rows]
        return np.array(
            [
                cohen_kappa_score(r, a, weights="quadratic", labels=[0, 1, 2]),
                stats.spearmanr(expected[rows], totals[rows]).statistic,
                recall_score(r == 2, a == 2, zero_division=np.nan),
                recall_score(r != 2, a != 2, zero_division=np.nan),
                recall_score(r >= 1, a >= 1, zero_division=np.nan),
                recall_score(r == 0, a == 0, zero_division=np.nan),
            ]
        )

    def resampled(chosen: np.ndarray) -> np.ndarray:
        return figures(np.concatenate([members[int(k)] for k in chosen]))

    point = figures(np.arange(len(ai)))
    ci = stats.bootstrap((np.arange(len(keys)),), resampled, vectorized=False, n_resamples=RESAMPLES, method="percentile", rng=np.random.default_rng(SEED))
    names = ("kappa", "spearman", "sensitivity_significant", "specificity_significant", "sensitivity_any", "specificity_any")
    return {name: (point[i], ci.confidence_interval.low[i], ci.confidence_interval.high[i]) for i, name in enumerate(names)}


@then("kappa, rho, sensitivity and specificity with their 95 % CIs match scikit-learn and SciPy on the same pairs")
def figures_match(story):
    reference = reference_figures(story["clips"])
    story["reference"] = reference
    for figure, expected in reference.items():
        page = shown(story["page"], figure)
        assert [p is None for p in page] == [not np.isfinite(e) for e in expected], (figure, page, expected)
        assert [p for p in page if p is not None] == pytest.approx([e for e in expected if np.isfinite(e)], abs=6e-4), figure
    assert reference["kappa"][0] > 0  # the known relation holds through the real model: it agrees more than chance


@then("the pairs the API lists are the clips and scores the nurses paired")
def pairs_listed(api, story):
    pairs = api.get("/v1/concordance/pairs", role="integrator", params={"scale": "painad"}).json()["pairs"]
    listed = {(p["score"]["id"], p["ai"]["assessment_id"]) for p in pairs}
    assert listed == {(c["score"]["id"], c["assessment"]["id"]) for c in story["clips"]}


@then('"pain-gateway concordance report" writes the same kappa into an HTML and a PDF report')
def report(api, story, tmp_path, sqlite_url):
    import pypdfium2

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")} | {"PAIN_GATEWAY_DATABASE_URL": sqlite_url}
    kappa = f"{story['reference']['kappa'][0]:.3f}"
    for name in ("report.html", "report.pdf"):
        done = subprocess.run(
            [str(CLI), "concordance", "report", "--out", str(tmp_path / name), "--scale", "painad"], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
    html = (tmp_path / "report.html").read_text()
    assert shown(html, "kappa")[0] == pytest.approx(float(kappa), abs=6e-4) and "60 pairs" in html
    pdf = pypdfium2.PdfDocument(str(tmp_path / "report.pdf"))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "Quadratic weighted kappa" in text and kappa in text and "60 pairs from 12 patients" in text
