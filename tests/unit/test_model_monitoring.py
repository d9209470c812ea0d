"""Learning from reviews: agreement per model version (confusion matrix, override rate, quadratic
kappa, trend), and the reviewed assessments exported as a dataset that trains and evaluates."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gateway.cli import main
from gateway.contract.domain import LEVELS
from gateway.pipeline.dataset import load_dataset
from gateway.storage.monitoring import quadratic_kappa
from plugins.sta_lstm.lab.commands import evaluate, train

matrices = st.lists(st.lists(st.integers(0, 50), min_size=3, max_size=3), min_size=3, max_size=3)


def test_kappa_is_one_for_agreement_and_penalises_far_disagreement_more():
    assert quadratic_kappa([[5, 0, 0], [0, 3, 0], [0, 0, 2]]) == 1.0
    near = quadratic_kappa([[4, 1, 0], [0, 3, 0], [0, 0, 2]])
    far = quadratic_kappa([[4, 0, 1], [0, 3, 0], [0, 0, 2]])
    assert 1 > near > far
    assert quadratic_kappa([[0] * 3] * 3) is None and quadratic_kappa([[7, 0, 0], [0, 0, 0], [0, 0, 0]]) is None
    # Fleiss & Cohen's worked form: 1 - sum(w*O)/sum(w*E) computed independently with numpy
    o = np.array([[10, 3, 1], [2, 8, 4], [0, 2, 6]], float)
    w = np.array([[(i - j) ** 2 / 4 for j in range(3)] for i in range(3)])
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    assert quadratic_kappa(o.astype(int).tolist()) == pytest.approx(1 - (w * o).sum() / (w * e).sum(), abs=1e-4)


@given(matrices)
def test_kappa_is_symmetric_and_at_most_one(matrix):
    kappa = quadratic_kappa(matrix)
    transposed = quadratic_kappa([list(r) for r in zip(*matrix, strict=True)])
    assert (kappa is None) == (transposed is None)
    if kappa is not None:
        assert kappa <= 1.0 + 1e-9 and kappa == pytest.approx(transposed, abs=1e-3)


def score(api, keypoints_json, mrn: str) -> dict:
    response = api.post("/v1/assessments", json=keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.3", "value": mrn}}))
    assert response.status_code == 201, response.text
    return response.json()


def review(api, assessment: dict, override: bool) -> None:
    ai = assessment["summary"]["level"]
    body = {"decision": "override", "level": next(lv for lv in LEVELS if lv != ai), "reason": "clinical-judgement"} if override else {"decision": "confirm"}
    response = api.post(f"/v1/assessments/{assessment['id']}/review", role="clinician", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
def reviewed(api, keypoints_json):
    """Five patients' assessments: two confirmed; two overridden; one confirmed then overridden (the override is in force)."""
    scored = [score(api, keypoints_json, f"MRN-{n}") for n in range(5)]
    for assessment, override in zip(scored, (False, False, True, True, False), strict=True):
        review(api, assessment, override)
    review(api, scored[4], True)
    return scored


def test_monitoring_counts_the_review_in_force_per_model_version(api, reviewed):
    report = api.get("/v1/model-monitoring", role="clinician").json()
    [model] = report["models"]
    assert (model["reviewed"], model["confirmed"], model["overridden"], model["override_rate"]) == (5, 2, 3, 0.6)
    assert model["model_id"] == reviewed[0]["model"]["model_id"] and model["model_version"] == reviewed[0]["model"]["version"]
    ai = LEVELS.index(reviewed[0]["summary"]["level"])  # the same clip: the same AI level for every patient
    assert model["confusion"][ai][ai] == 2 and sum(map(sum, model["confusion"])) == 5
    assert [(p["reviewed"], p["overridden"]) for p in model["trend"]] == [(5, 3)] and report["period"] == "day"
    assert "not clinical validation" in report["note"] and "synthetic" in report["note"]
    weekly = api.get("/v1/model-monitoring", role="integrator", params={"period": "week"}).json()
    assert weekly["models"][0]["trend"][0]["reviewed"] == 5
    bad = api.get("/v1/model-monitoring", role="clinician", params={"period": "month"})
    assert bad.status_code == 422 and bad.json()["field"] == "period"
    assert api.get("/v1/model-monitoring", role="telehealth").status_code == 403


def test_export_trains_and_evaluates(api, reviewed, tmp_path, sqlite_url, plugins):
    env = {"PAIN_GATEWAY_DATABASE_URL": sqlite_url, "PAIN_GATEWAY_DATA_DIR": plugins.settings.data_dir}
    exported = CliRunner().invoke(main, ["reviews", "export", "--out", str(tmp_path / "clips")], env=env)
    assert exported.exit_code == 0, exported.output
    assert "wrote 5 reviewed clips" in exported.output
    clips = load_dataset(tmp_path / "clips")
    assert len({c.patient_id for c in clips}) == 5 and not any("MRN" in c.patient_id for c in clips)  # pseudonyms
    overridden = [c for c in clips if c.metadata["decision"] == "override"]
    assert overridden and all(set(c.labels.tolist()) == {LEVELS.index(c.metadata["clinician_level"])} for c in overridden)
    names = " ".join(p.name for p in (tmp_path / "clips").iterdir())
    assert not any(r["id"] in names or r["id"] in str(c.metadata) for r in reviewed for c in clips)  # ids lead back to patients

    checkpoint = tmp_path / "ck"
    trained = CliRunner().invoke(train, [str(tmp_path / "clips"), "--out", str(checkpoint), "--epochs", "1", "--hidden", "8", "--threads", "1"])
    assert trained.exit_code == 0, trained.output
    evaluated = CliRunner().invoke(evaluate, [str(checkpoint), str(tmp_path / "clips"), "--split", "all", "--bootstrap", "10"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((checkpoint / "metrics.json").read_text())["confusion_matrix"]

    archive = api.get("/v1/model-monitoring/export", role="integrator")
    assert archive.status_code == 200 and archive.headers["x-exported-clips"] == "5"
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == 5
    assert api.get("/v1/model-monitoring/export", role="clinician").status_code == 403
