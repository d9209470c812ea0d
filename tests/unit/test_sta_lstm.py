"""STA-LSTM plugin: network contract, checkpoint integrity, bundled weights, torch-free metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gateway.contracts import PainModel
from gateway.domain import LEVELS, Windows
from gateway.landmarks import ANCHORS
from plugins.sta_lstm import BUNDLED_CHECKPOINT, StaLstmModel, StaLstmSettings, register_models, register_settings
from plugins.model_lab.synthetic import SynthConfig, generate_clip
from plugins.model_lab.windows import window_set
from plugins.sta_lstm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from plugins.sta_lstm.network import STALSTM, PlainLSTM, sta_lstm_loss

REPO = Path(__file__).resolve().parents[2]
FRESH_PATIENTS = range(5000, 5030)  # never in the bundled model's synthetic dataset (0-119)


@pytest.fixture(scope="module")
def small_model() -> STALSTM:
    torch.manual_seed(0)
    return STALSTM(hidden=8, masked=ANCHORS).eval()


@pytest.fixture(scope="module")
def bundled() -> StaLstmModel:
    return StaLstmModel()


def _windows(data: np.ndarray) -> Windows:
    return Windows(spans=[], data=data)


def test_forward_shapes_and_attention_ranges(small_model):
    x = torch.randn(5, 30, 468, 2)
    logits, alpha, beta = small_model(x)
    assert logits.shape == (5, 3) and alpha.shape == (5, 30, 468) and beta.shape == (5, 30)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(5, 30))
    assert (alpha[..., list(ANCHORS)] == 0).all(), "anchors carry no information and must get no attention"
    assert (beta >= 0).all()


def test_plain_lstm_has_same_width_and_interface_with_uniform_attention(small_model):
    plain = PlainLSTM(hidden=8, masked=ANCHORS)
    logits, alpha, beta = plain(torch.randn(2, 30, 468, 2))
    assert logits.shape == (2, 3) and plain.main.hidden_size == small_model.main.hidden_size
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 30))
    assert (alpha[..., list(ANCHORS)] == 0).all() and (beta == 1).all()


def test_temperature_scales_logits(small_model):
    x = torch.randn(2, 30, 468, 2)
    logits = small_model(x)[0]
    small_model.temperature.fill_(2.0)
    try:
        torch.testing.assert_close(small_model(x)[0], logits / 2)
    finally:
        small_model.temperature.fill_(1.0)


def test_gradients_reach_both_attention_branches():
    torch.manual_seed(1)
    model = STALSTM(hidden=8, masked=ANCHORS)
    model.temporal_x.bias.data.fill_(1.0)  # keep the ReLU gates open so the check cannot pass vacuously
    logits, alpha, beta = model(torch.randn(4, 30, 468, 2))
    sta_lstm_loss(logits, alpha, beta, torch.tensor([0, 1, 2, 0]), model).backward()
    for module in (model.spatial_lstm, model.spatial_x, model.spatial_out, model.temporal_lstm, model.temporal_x):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), module


def test_concentration_penalty_prefers_uniform_attention():
    model = STALSTM(hidden=4)
    logits, target, beta = torch.zeros(1, 3), torch.tensor([0]), torch.zeros(1, 30)
    uniform = torch.full((1, 30, 468), 1 / 468)
    peaked = torch.zeros(1, 30, 468)
    peaked[..., 10] = 1.0
    assert sta_lstm_loss(logits, peaked, beta, target, model) > sta_lstm_loss(logits, uniform, beta, target, model)


def _save(model: STALSTM, directory: Path) -> dict:
    manifest = {"model_id": "sta-lstm-test", "version": "9.9.9", "name": "test", "training_data": "noise", "metrics": {"accuracy": 0.5}}
    return save_checkpoint(directory, model, manifest, lambda m: f"card for {m['sha256']}: only a test")


def test_checkpoint_round_trip(tmp_path, small_model):
    small_model.set_standardisation(torch.full((468, 2), 0.5), torch.full((468, 2), 2.0))
    manifest = _save(small_model, tmp_path)
    loaded, read = load_checkpoint(tmp_path)
    assert read == manifest and read["architecture"]["masked"] == list(ANCHORS)
    x = torch.randn(3, 30, 468, 2)
    for a, b in zip(small_model(x), loaded(x)):
        torch.testing.assert_close(a, b)
    assert (tmp_path / "MODEL_CARD.md").read_text() == f"card for {manifest['sha256']}: only a test"


def test_checkpoint_rejects_tampered_weights(tmp_path, small_model):
    _save(small_model, tmp_path)
    weights = tmp_path / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(tmp_path)


def test_bundled_checkpoint_is_small_and_described():
    manifest = json.loads((BUNDLED_CHECKPOINT / "model.json").read_text())
    assert (BUNDLED_CHECKPOINT / "model.safetensors").stat().st_size < 5 * 2**20
    assert manifest["model_id"] == "sta-lstm-synthetic"
    assert {"accuracy", "macro_auc", "macro_f1", "kappa_quadratic", "brier", "ece_top_label"} <= set(manifest["metrics"])


def test_model_satisfies_contract_and_reports_info(bundled):
    assert isinstance(bundled, PainModel)
    info = bundled.info
    assert info.model_id == "sta-lstm-synthetic" and len(info.sha256) == 64
    assert info.model_card_url == "/v1/models/sta-lstm-synthetic/card"  # where the FHIR Device points
    assert "synthetic" in info.training_data.lower()
    assert "not clinically validated" in bundled.model_card()


def test_predict_outputs_probabilities_and_attention(bundled):
    data = window_set([generate_clip(p, 0, SynthConfig(seconds=2)) for p in FRESH_PATIENTS[:3]]).data()[:6]
    out = bundled.predict(_windows(data))
    assert out.probabilities.shape == (6, len(LEVELS))
    np.testing.assert_allclose(out.probabilities.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out.alpha.sum(-1), 1.0, rtol=1e-4)
    assert out.beta.shape == (6, 30) and (out.beta >= 0).all()


def test_predict_on_no_windows_returns_empty_arrays(bundled):
    out = bundled.predict(_windows(np.zeros((0, 30, 468, 2), np.float32)))
    assert out.probabilities.shape == (0, 3) and out.alpha.shape == (0, 30, 468) and out.beta.shape == (0, 30)


def test_predict_rejects_wrong_shape(bundled):
    with pytest.raises(ValueError, match="shape"):
        bundled.predict(_windows(np.zeros((1, 30, 478, 2), np.float32)))


def test_bundled_weights_separate_significant_from_none_on_unseen_patients(bundled):
    config = SynthConfig(prevalence=(0.5, 0.0, 0.5), seconds=4)
    windows = window_set([generate_clip(p, 0, config) for p in FRESH_PATIENTS])
    probs = bundled.predict(_windows(windows.data())).probabilities
    extreme = windows.labels != 1
    assert ((probs[extreme, 2] > probs[extreme, 0]) == (windows.labels[extreme] == 2)).mean() > 0.8


def test_hooks_register_settings_and_model():
    schemas, models = {}, []
    register_settings(register=lambda name, schema: schemas.__setitem__(name, schema))
    assert schemas == {"sta_lstm": StaLstmSettings}

    class Settings:
        def plugin_config(self, name):
            assert name == "sta_lstm"
            return StaLstmSettings(checkpoint=str(BUNDLED_CHECKPOINT))

    register_models(register=models.append, settings=Settings())
    assert [m.info.model_id for m in models] == ["sta-lstm-synthetic"]


def test_missing_checkpoint_fails_at_construction(tmp_path):
    with pytest.raises(CheckpointError, match="model.json"):
        StaLstmModel(StaLstmSettings(checkpoint=str(tmp_path)))


def test_info_does_not_import_torch():
    code = (
        "import sys; from plugins.sta_lstm import StaLstmModel; m = StaLstmModel(); "
        "assert m.info.model_id == 'sta-lstm-synthetic'; m.model_card(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
