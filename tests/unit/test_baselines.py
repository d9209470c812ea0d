"""Personalised baselines: a patient's neutral face is stored once and handed to the model later."""

from __future__ import annotations

import numpy as np
import pytest
from litestar.testing import TestClient

from gateway.contract.domain import InputError, ModelInfo, ModelOutput, PatientRef
from gateway.contract.hookspecs import hookimpl
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.storage.baselines import neutral_reference, patient_key
from gateway.web.app import create_app


class BaselineProbe:
    """A model that records the baseline it was given and claims to use it."""

    info = ModelInfo(model_id="baseline-probe", version="1", sha256="0" * 64, name="probe", training_data="none")

    def __init__(self):
        self.seen = []

    def predict(self, windows):
        self.seen.append(windows.baseline)
        n = len(windows.data)
        return ModelOutput(np.tile([0.6, 0.3, 0.1], (n, 1)), np.full((n, 30, 468), 1 / 468), np.ones((n, 30)), personalised=windows.baseline is not None)

    def model_card(self):
        return "probe"


class ProbePlugin:
    def __init__(self):
        self.model = BaselineProbe()

    @hookimpl
    def register_models(self, register, settings):
        register(self.model)


@pytest.fixture
def probe_api(sqlite_url, api_tokens_for):
    plugin = ProbePlugin()
    settings = Settings(database_url=sqlite_url, model="baseline-probe")
    with TestClient(create_app(settings, build_plugins(settings, extra=[("probe", plugin)], environ={}))) as client:
        client.headers_for = api_tokens_for(sqlite_url)
        client.probe = plugin.model
        yield client


def test_a_stored_baseline_reaches_the_model_for_that_patient_only(probe_api, keypoints_json):
    neutral = keypoints_json(frames=keypoints_json()["frames"][:60])
    stored = probe_api.put("/v1/patients/baseline", json=neutral, headers=probe_api.headers_for("clinician"))
    assert stored.status_code == 200, stored.text
    assert stored.json()["frames"] == 60

    mine = probe_api.post("/v1/assessments", json=keypoints_json(), headers=probe_api.headers_for("integrator")).json()
    seen_for_mine = list(probe_api.probe.seen)  # the score and the explainers' calls (occlusion scores variants)
    other = probe_api.post(
        "/v1/assessments", json=keypoints_json(patient={"reference": "Patient/someone-else"}), headers=probe_api.headers_for("integrator")
    ).json()
    seen_for_other = probe_api.probe.seen[len(seen_for_mine) :]
    assert mine["personalised"] is True and other["personalised"] is False
    assert seen_for_mine and seen_for_other
    for baseline in seen_for_mine:
        assert baseline.shape == (468, 2) and np.isfinite(baseline).all()
    assert all(baseline is None for baseline in seen_for_other)


def test_a_baseline_needs_a_face(probe_api, keypoints_json):
    body = keypoints_json(frames=[None] * 40)
    response = probe_api.put("/v1/patients/baseline", json=body, headers=probe_api.headers_for("clinician"))
    assert response.status_code == 422 and response.json()["field"] == "frames"


def test_neutral_reference_ignores_frames_without_a_face():
    frames = np.stack([np.full((468, 2), 1.0), np.full((468, 2), np.nan), np.full((468, 2), 3.0)])
    assert np.allclose(neutral_reference(frames), 2.0)
    with pytest.raises(InputError):
        neutral_reference(np.full((2, 468, 2), np.nan))


def test_patient_keys_do_not_collide_between_forms_or_tenants():
    assert patient_key(PatientRef(reference="Patient/1"), "a") != patient_key(PatientRef(system="Patient", value="1"), "a")
    assert patient_key(PatientRef(reference="Patient/1"), "a") != patient_key(PatientRef(reference="Patient/1"), "b")
