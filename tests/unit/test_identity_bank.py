"""The identity bank: >= 60 real people, landmarks only, sources and licences recorded, whole people held out."""

from __future__ import annotations

import re

import numpy as np

from plugins.sta_lstm.lab.identity_bank import BANK_DIR, BANK_FILE, SOURCES, load_bank, rigid_align


def test_the_bank_holds_at_least_60_real_people_split_by_person():
    bank = load_bank()
    assert len(set(bank.people)) == len(bank.people) >= 60
    assert bank.neutral.shape == (len(bank.people), 468, 3) and np.isfinite(bank.neutral).all()
    splits = {s: set(bank.people[bank.of(s)]) for s in ("train", "calibration", "test")}
    assert sum(map(len, splits.values())) == len(bank.people)
    assert not (splits["train"] & splits["test"]) and not (splits["train"] & splits["calibration"])
    assert len(splits["train"]) >= 60 and len(splits["test"]) >= 30
    assert all(p.startswith("canada-") is False for p in splits["train"]), "the second site is test only"


def test_faces_are_frontalised_in_centimetres_like_the_base_face():
    bank = load_bank()
    canthi = np.linalg.norm(bank.neutral[:, 446] - bank.neutral[:, 226], axis=1)
    np.testing.assert_allclose(canthi, 10.34, atol=1e-3)
    assert (bank.neutral[:, 10, 1] < bank.neutral[:, 152, 1]).all(), "forehead above chin (y down)"


def test_real_smiles_move_the_mouth_corners_far_more_than_the_forehead():
    bank = load_bank()
    smiles = bank.smile[np.isfinite(bank.smile).all(axis=(1, 2))]
    assert len(smiles) >= 60
    corners = np.linalg.norm(smiles[:, [61, 291]], axis=2).mean()
    forehead = np.linalg.norm(smiles[:, [10, 151, 9]], axis=2).mean()
    assert corners > 0.4 > 4 * forehead


def test_shape_model_draws_new_plausible_faces():
    bank = load_bank()
    mean, components, sd = bank.shape_model
    assert 2 <= len(sd) < len(bank.of("train"))
    face = bank.sample_shape(np.random.default_rng(0))
    nearest = np.abs(bank.neutral - face).mean(axis=(1, 2)).min()
    spread = np.abs(bank.neutral - mean).mean(axis=(1, 2)).mean()
    assert 0 < nearest and np.abs(face - mean).mean() < 2 * spread


def test_rigid_align_undoes_a_similarity():
    face = load_bank().neutral[0].astype(np.float64)
    angle = 0.2
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    np.testing.assert_allclose(rigid_align(1.3 * face @ rotation.T + 5, face), face, atol=1e-9)


def test_only_landmarks_ship_and_the_card_names_every_source_and_licence():
    assert sorted(p.name for p in BANK_DIR.iterdir()) == ["CARD.md", "bank.npz"]
    with np.load(BANK_FILE) as data:
        assert sorted(data.files) == ["neutral", "people", "smile", "split"]
        assert all(data[k].dtype.kind in "fU" for k in data.files), "numbers and ids only, no image bytes"
    card = (BANK_DIR / "CARD.md").read_text()
    for site in SOURCES:
        assert site in " ".join(load_bank().people)
    for doi in re.findall(r"doi:\S+", " ".join(SOURCES.values())):
        assert doi.rstrip(",;") in card
    assert card.count("CC BY 4.0") >= 2 and "No photograph is shipped" in card
