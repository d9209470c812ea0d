"""Typicality: each window's conformal p-value of the network's feature density, and what it flags.

A model's probabilities stay confident on faces unlike its training faces; typicality is what rises (falls,
as a p-value) off-distribution. Beneath: the density and its conformal reference; above: the bundled
checkpoint, served as the gateway serves it, on faces it was measured on.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import LANDMARK_COUNT, WINDOW_FRAMES, LandmarkClip, PatientRef, Windows, prepare
from plugins.sta_lstm import BUNDLED_CHECKPOINT
from plugins.sta_lstm.checkpoint import CheckpointError, read_manifest, sha256_file
from plugins.sta_lstm.serving import CheckpointModel
from plugins.sta_lstm.typicality import FILE, FeatureDensity

ROOT = Path(__file__).resolve().parents[2]
BLANK = Windows(spans=[], data=np.zeros((1, WINDOW_FRAMES, LANDMARK_COUNT, 2), np.float32))


def _levels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three levels as unit Gaussians around 0, 3 and 6 on the first of four features."""
    labels = rng.integers(0, 3, n)
    features = rng.normal(size=(n, 4))
    features[:, 0] += 3.0 * labels
    return features, labels


@pytest.fixture(scope="module")
def density() -> FeatureDensity:
    rng = np.random.default_rng(0)
    features, labels = _levels(rng, 3000)
    return FeatureDensity.fit(features, labels, {"raw": _levels(rng, 500)[0]})


def test_windows_like_the_reference_are_flagged_at_about_the_threshold(density):
    """Conformal: fresh windows from the reference's distribution fall below 0.05 about 5 % of the time."""
    fresh = _levels(np.random.default_rng(1), 4000)[0]
    flagged = (density.typicality(fresh, "raw") < 0.05).mean()
    assert 0.03 < flagged < 0.07, flagged


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 30.0), st.floats(0.5, 30.0), st.integers(1, 3))
def test_typicality_stays_in_range_and_falls_as_a_window_moves_away(density, start, further, axis):
    """Moving off the levels' line (axes 1-3 carry no level) never raises typicality."""
    near, far = np.zeros((1, 4)), np.zeros((1, 4))
    near[0, axis], far[0, axis] = start, start + further
    t_near, t_far = density.typicality(near, "raw")[0], density.typicality(far, "raw")[0]
    assert 0.0 < t_far <= t_near <= 1.0


def test_a_window_beyond_every_reference_or_not_measurable_gets_the_lowest_value(density):
    """Fail closed: a window whose features are not finite is as atypical as it gets, never typical."""
    lowest = 1 / (1 + len(density.references["raw"]))
    assert density.typicality(np.full((1, 4), 1e3), "raw")[0] == pytest.approx(lowest)
    assert density.typicality(np.asarray([[np.nan, 0, 0, 0], [np.inf, 0, 0, 0]]), "raw") == pytest.approx([lowest, lowest])


def test_each_view_is_compared_with_its_own_reference():
    """Calibration windows seen with a baseline and raw differ; each case's false-flag rate is held to the
    threshold only against its own (a pooled reference flagged 0.8 % with a baseline and 2.2 % without)."""
    rng = np.random.default_rng(4)
    features, labels = _levels(rng, 3000)
    wide = _levels(rng, 500)[0] * 2.0  # the raw view is more spread out
    density = FeatureDensity.fit(features, labels, {"personalised": _levels(rng, 500)[0], "raw": wide})
    fresh_wide = _levels(np.random.default_rng(5), 4000)[0] * 2.0
    assert 0.03 < (density.typicality(fresh_wide, "raw") < 0.05).mean() < 0.07
    assert (density.typicality(fresh_wide, "personalised") < 0.05).mean() > 0.3
    with pytest.raises(ValueError, match="references are keyed by view"):
        FeatureDensity.fit(features, labels, {"pooled": wide})


def test_a_level_without_training_windows_is_refused_by_name():
    features, labels = _levels(np.random.default_rng(2), 50)
    with pytest.raises(ValueError, match="every level needs at least 2 training windows"):
        FeatureDensity.fit(features[labels != 2], labels[labels != 2], {"raw": features})


def test_the_reference_survives_a_round_trip_to_disk(density, tmp_path):
    density.save(tmp_path / FILE)
    loaded = FeatureDensity.load(tmp_path / FILE)
    probe = _levels(np.random.default_rng(3), 20)[0]
    np.testing.assert_array_equal(loaded.typicality(probe, "raw"), density.typicality(probe, "raw"))


@pytest.fixture(scope="module")
def bundled() -> CheckpointModel:
    return CheckpointModel(BUNDLED_CHECKPOINT)


def test_the_bundled_model_flags_a_face_turned_upside_down_but_not_the_readme_example(bundled):
    example = np.load(ROOT / "examples" / "synthetic-pain-8s.npz")["points"].astype(np.float32)
    clip = LandmarkClip(PatientRef(reference="Patient/x"), datetime(2026, 1, 1, tzinfo=UTC), 30.0, example, (480, 480))
    windows = prepare(clip)
    typical = bundled.predict(windows).typicality
    upside_down = bundled.predict(replace(windows, data=windows.data * np.asarray([1.0, -1.0], np.float32))).typicality
    assert typical.shape == (8,) and (typical >= 0.01).all(), typical
    assert (upside_down < 0.01).all(), upside_down


def test_a_modified_typicality_reference_is_refused(tmp_path):
    copy = tmp_path / "checkpoint"
    shutil.copytree(BUNDLED_CHECKPOINT, copy)
    with np.load(copy / FILE) as data:
        arrays = dict(data)
    arrays["reference_raw"] = arrays["reference_raw"] - 1.0  # every window would look more typical
    np.savez(copy / FILE, **arrays)
    model = CheckpointModel(copy)
    with pytest.raises(CheckpointError, match="typicality.npz: SHA-256"):
        model.predict(BLANK)


def test_the_measured_reliability_quotes_the_checkpoints_own_figures(bundled):
    record = read_manifest(BUNDLED_CHECKPOINT)["real_identities"]
    reliability = bundled.info.reliability
    assert set(reliability) == {"stored", "none"}
    for case, key in (("stored", "with_baseline"), ("none", "without_baseline")):
        figures = record[key]
        assert f"PSPI 8 significant for {figures['pspi8_significant']:.0%}" in reliability[case]
        assert f"{figures['people']} held-out real people" in reliability[case] and "never measured on real pain" in reliability[case]


def test_a_checkpoint_without_a_reference_reports_no_typicality(tmp_path):
    """A site's checkpoint trained before typicality existed still serves, and says nothing about it."""
    copy = tmp_path / "checkpoint"
    shutil.copytree(BUNDLED_CHECKPOINT, copy)
    manifest = json.loads((copy / "model.json").read_text())
    del manifest["typicality"]
    (copy / "model.json").write_text(json.dumps(manifest))
    (copy / FILE).unlink()
    output = CheckpointModel(copy).predict(BLANK)
    assert output.typicality is None and len(output.probabilities) == 1


def test_a_reference_file_from_before_the_views_is_refused_at_load_naming_the_fix(tmp_path):
    copy = tmp_path / "checkpoint"
    shutil.copytree(BUNDLED_CHECKPOINT, copy)
    with np.load(copy / FILE) as data:
        arrays = {"means": data["means"], "precisions": data["precisions"], "offsets": data["offsets"], "reference": data["reference_raw"]}
    np.savez(copy / FILE, **arrays)
    manifest = json.loads((copy / "model.json").read_text())
    manifest["typicality"]["sha256"] = sha256_file(copy / FILE)
    (copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="no reference_\\* arrays .* re-run pain-gateway typicality"):
        CheckpointModel(copy).predict(BLANK)
