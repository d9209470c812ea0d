"""The region map partitions the face; the explainer's shares follow the attention it is given."""

from __future__ import annotations

import numpy as np
import pluggy
import pytest
from hypothesis import given
from hypothesis.extra.numpy import arrays
from hypothesis.strategies import floats
from mediapipe.python.solutions import face_mesh_connections as official

import plugins.attention_regions as plugin
from gateway.contract import hookspecs
from gateway.contract.domain import ModelOutput, Windows
from gateway.contract.protocols import Explainer
from gateway.pipeline.face import MEMBERSHIP, REGIONS
from gateway.pipeline.landmarks import ANCHORS
from plugins.attention_regions import NOT_INFORMATIVE, AttentionRegions
from plugins.sta_lstm.serving import CheckedOutput

NO_WINDOWS = Windows(spans=[], data=np.zeros((0, 30, 468, 2), np.float32))


def explain(alpha: np.ndarray, beta: np.ndarray | None = None) -> dict[str, float]:
    n = alpha.shape[0]
    beta = np.ones((n, 30)) if beta is None else beta
    output = ModelOutput(probabilities=np.full((n, 3), 1 / 3), alpha=alpha, beta=beta)
    explanation = AttentionRegions().explain(NO_WINDOWS, output)
    assert explanation.explainer == "attention_regions" and explanation.kind == "spatial_attention"
    weights = [r.weight for r in explanation.regions]
    assert weights == sorted(weights, reverse=True)
    return {r.region: r.weight for r in explanation.regions}


def uniform(n: int = 2) -> np.ndarray:
    return np.full((n, 30, 468), 1 / 468)


def test_every_landmark_is_in_exactly_one_of_seven_regions():
    assert len(REGIONS) == 7
    assert sorted(i for members in REGIONS.values() for i in members) == list(range(468))
    assert (MEMBERSHIP.sum(axis=1) == 1).all()


@pytest.mark.parametrize(
    ("region", "sets"),
    [
        ("brow", ["FACEMESH_LEFT_EYEBROW", "FACEMESH_RIGHT_EYEBROW"]),
        ("eyes", ["FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE"]),
        ("nose", ["FACEMESH_NOSE"]),
        ("mouth", ["FACEMESH_LIPS"]),
    ],
)
def test_regions_contain_mediapipe_official_sets(region, sets):
    for name in sets:
        vertices = {v for edge in getattr(official, name) for v in edge}
        assert vertices <= set(REGIONS[region]), name


@given(
    arrays(np.float64, (3, 30, 468), elements=floats(0.0, 1.0)),
    arrays(np.float64, (3, 30), elements=floats(0.0, 5.0)),
)
def test_weights_are_shares_that_sum_to_one(alpha, beta):
    alpha = alpha + 1e-6  # softmax output is strictly positive
    weights = explain(alpha, beta)
    assert set(weights) == set(REGIONS)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(w >= 0 for w in weights.values())


def test_attention_concentrated_on_the_mouth_ranks_mouth_first():
    alpha = uniform()
    alpha[:, :, list(REGIONS["mouth"])] *= 20
    weights = explain(alpha / alpha.sum(axis=2, keepdims=True))
    assert next(iter(weights)) == "mouth" and weights["mouth"] > 0.8


def test_anchor_attention_is_excluded_and_the_rest_renormalised():
    alpha = uniform()
    alpha[:, :, list(ANCHORS)] = 100.0  # all the attention on the normalisation anchors
    weights = explain(alpha)
    expected = {name: len(set(m) - set(ANCHORS)) / 465 for name, m in REGIONS.items()}
    assert weights == pytest.approx(expected, abs=1e-6)


def test_frames_without_temporal_attention_do_not_count():
    alpha = uniform(1)
    alpha[:, :15, list(REGIONS["mouth"])] = 1.0
    alpha[:, 15:, list(REGIONS["brow"])] = 1.0
    beta = np.r_[np.zeros(15), np.ones(15)][None]
    assert next(iter(explain(alpha, beta))) == "brow"
    assert next(iter(explain(alpha, 1 - beta))) == "mouth"


def test_no_scored_windows_gives_no_regions():
    assert explain(np.zeros((0, 30, 468)), np.zeros((0, 30))) == {}


def test_plugin_registers_the_explainer_through_pluggy():
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    registered = []
    manager.hook.register_explainers(register=registered.append, settings=None)
    assert [type(e) for e in registered] == [AttentionRegions]
    assert isinstance(registered[0], Explainer) and registered[0].name == "attention_regions"


@pytest.mark.parametrize(("informative", "shown", "says"), [(True, True, "passed the sanity checks"), (None, True, "Not checked")])
def test_regions_are_shown_for_checked_or_unchecked_models_with_the_verdict_in_the_note(informative, shown, says):
    output = CheckedOutput(probabilities=np.full((2, 3), 1 / 3), alpha=uniform(), beta=np.ones((2, 30)), attention_informative=informative)
    explanation = AttentionRegions().explain(NO_WINDOWS, output)
    assert bool(explanation.regions) is shown and says in explanation.note and "synthetic" in explanation.note


def test_a_model_whose_attention_failed_its_checks_gets_not_informative_and_no_regions():
    output = CheckedOutput(probabilities=np.full((2, 3), 1 / 3), alpha=uniform(), beta=np.ones((2, 30)), attention_informative=False)
    explanation = AttentionRegions().explain(NO_WINDOWS, output)
    assert explanation.regions == [] and explanation.note == NOT_INFORMATIVE and explanation.note.startswith("Not informative")
    assert explanation.explainer == "attention_regions" and explanation.kind == "spatial_attention"  # same shape as always
