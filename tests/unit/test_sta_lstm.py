"""STA-LSTM plugin: network contract, calibration, checkpoint integrity, bundled weights, torch-free metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gateway.contract.domain import LEVELS, Windows
from gateway.contract.protocols import PainModel
from gateway.pipeline.face import REGIONS
from gateway.pipeline.landmarks import ANCHORS
from plugins.sta_lstm import BUNDLED_CHECKPOINT, StaLstmModel, StaLstmSettings, register_models, register_settings
from plugins.sta_lstm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from plugins.sta_lstm.lab.evaluation import unresponsive_windows
from plugins.sta_lstm.lab.synthetic import SynthConfig, generate_clip
from plugins.sta_lstm.lab.training import PRESETS, build_network, region_index
from plugins.sta_lstm.lab.windows import window_set
from plugins.sta_lstm.network import STALSTM, PlainLSTM, sta_lstm_loss
from plugins.sta_lstm.serving import parse_prevalence

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


def _trained_looking(model: STALSTM, seed: int = 0) -> STALSTM:
    """Non-zero attention scores, as after training (they start at zero)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.attention_out.weight.normal_(0.0, 0.05, generator=generator)
        model.attention_out.bias.normal_(0.0, 0.05, generator=generator)
    return model


def test_forward_shapes_and_attention_ranges(small_model):
    x = torch.randn(5, 30, 468, 2)
    logits, alpha, beta = small_model(x)
    assert logits.shape == (5, 3) and alpha.shape == (5, 30, 468) and beta.shape == (5, 30)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(5, 30))
    assert (alpha[..., list(ANCHORS)] == 0).all(), "anchors carry no information and must get no attention"
    torch.testing.assert_close(beta.sum(-1), torch.ones(5))  # a softmax over frames, never all zero
    assert (beta > 0).all()


def test_untrained_attention_is_exactly_uniform_so_attention_starts_as_the_identity():
    model = build_network("sta-lstm", PRESETS["default"]).eval()
    _, alpha, beta = model(torch.randn(2, 30, 468, 2))
    torch.testing.assert_close(alpha[..., 10], torch.full((2, 30), 1 / 465))
    torch.testing.assert_close(beta, torch.full((2, 30), 1 / 30))


def test_region_attention_gives_one_weight_per_region_and_moves_whole_regions():
    torch.manual_seed(0)
    model = _trained_looking(build_network("sta-lstm", PRESETS["default"]).eval())
    alpha = model(torch.randn(1, 30, 468, 2))[1][0, 0].detach()
    for name, members in REGIONS.items():
        weights = alpha[[k for k in members if k not in ANCHORS]]
        torch.testing.assert_close(weights, weights[:1].expand_as(weights), msg=name)
    assert len(np.unique(np.round(alpha.numpy()[alpha.numpy() > 0] * 465, 4))) == len(REGIONS)
    assert model.architecture["regions"] == region_index()


def test_output_depends_on_the_input_for_every_window():
    """The old ReLU gate output exactly (1/3, 1/3, 1/3) whenever all β were 0, whatever the face."""
    torch.manual_seed(2)
    model = _trained_looking(STALSTM(hidden=8, masked=ANCHORS)).eval()
    windows = window_set([generate_clip(p, 0, SynthConfig(seconds=2)) for p in FRESH_PATIENTS[:2]])
    assert unresponsive_windows(model, windows) == 0


def test_prior_correction_shifts_logits_by_the_log_prevalence_ratio(small_model):
    x = torch.randn(2, 30, 468, 2)
    raw = small_model(x, calibrated=False)[0]
    small_model.set_calibration(2.0, (1 / 3, 1 / 3, 1 / 3), (0.6, 0.3, 0.1))
    try:
        expected = raw / 2 + torch.log(torch.tensor([0.6, 0.3, 0.1]) * 3)
        torch.testing.assert_close(small_model(x)[0], expected)
    finally:
        small_model.set_calibration(1.0, (1 / 3, 1 / 3, 1 / 3), (1 / 3, 1 / 3, 1 / 3))


def test_site_prevalence_is_parsed_normalised_and_validated():
    assert parse_prevalence("") is None
    assert parse_prevalence("6, 3, 1") == pytest.approx((0.6, 0.3, 0.1))
    for bad in ("0.5,0.5", "0.7,0.3,0"):
        with pytest.raises(ValueError, match="prevalence"):
            parse_prevalence(bad)


def test_plain_lstm_has_same_width_and_interface_with_uniform_attention(small_model):
    plain = PlainLSTM(hidden=8, masked=ANCHORS)
    logits, alpha, beta = plain(torch.randn(2, 30, 468, 2))
    assert logits.shape == (2, 3) and plain.main.hidden_size == small_model.main.hidden_size
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 30))
    assert (alpha[..., list(ANCHORS)] == 0).all() and torch.allclose(beta, torch.full((2, 30), 1 / 30))


def test_temperature_scales_logits(small_model):
    x = torch.randn(2, 30, 468, 2)
    logits = small_model(x)[0]
    small_model.temperature.fill_(2.0)
    try:
        torch.testing.assert_close(small_model(x)[0], logits / 2)
    finally:
        small_model.temperature.fill_(1.0)


def test_gradients_reach_the_attention_branch():
    torch.manual_seed(1)
    model = STALSTM(hidden=8, masked=ANCHORS, regions=region_index())
    logits, alpha, beta = model(torch.randn(4, 30, 468, 2))
    sta_lstm_loss(logits, alpha, beta, torch.tensor([0, 1, 2, 0]), model).backward()
    assert model.attention_out.weight.grad.abs().sum() > 0, "zero-initialised scores must still learn"
    model.zero_grad()
    _trained_looking(model)  # once the scores have moved, the gradient flows on into the attention LSTM
    logits, alpha, beta = model(torch.randn(4, 30, 468, 2))
    sta_lstm_loss(logits, alpha, beta, torch.tensor([0, 1, 2, 0]), model).backward()
    for module in (model.attention_in, model.attention_lstm, model.attention_out):
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
    for a, b in zip(small_model(x), loaded(x), strict=True):
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
    np.testing.assert_allclose(out.beta.sum(-1), 1.0, rtol=1e-4)
    assert out.attention_informative is True  # the bundled checkpoint passed its attention checks


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
    assert ((probs[extreme, 2] > probs[extreme, 0]) == (windows.labels[extreme] == 2)).mean() > 0.9


def test_site_prevalence_replaces_the_checkpoints_prior(bundled):
    data = window_set([generate_clip(p, 0, SynthConfig(seconds=2)) for p in FRESH_PATIENTS[:2]]).data()[:4]
    default = bundled.predict(_windows(data)).probabilities
    rare_pain = StaLstmModel(StaLstmSettings(prevalence="0.98,0.01,0.01")).predict(_windows(data)).probabilities
    assert (rare_pain[:, 0] > default[:, 0]).all()
    # Each level's odds against none move by exactly the ratio of the two priors (a window called mild can gain
    # P(significant) when mild loses more, so the odds, not each probability, are what the prior sets).
    stored = np.asarray(json.loads((BUNDLED_CHECKPOINT / "model.json").read_text())["calibration"]["prevalence"])
    expected = np.log(np.array([0.98, 0.01, 0.01]) / stored)
    moved = np.log(rare_pain) - np.log(default)
    np.testing.assert_allclose(moved[:, 1:] - moved[:, :1], np.broadcast_to(expected[1:] - expected[0], (len(data), 2)), atol=2e-3)


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
