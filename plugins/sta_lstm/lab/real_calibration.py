"""Calibration on held-out real people (issue 25): why the real-identity ECE is high, and whether it can be fitted away.

Why: the bundled model's probabilities are calibrated on synthetic patients (top-label ECE 0.02 on its
synthetic test split) but not on the real-identity set of ``real_identities`` (0.13 with a baseline,
0.11 without; the issue asks for <= 0.05 there while staying <= 0.03 on the synthetic test split). This
module measures, on a checkpoint, three things:

1. **Where the error sits**: mean probabilities and the share of windows called right per PSPI dose,
   with the stored calibration, on the *evaluation* people.
2. **Why**: the same model on the generator's own test patients with the action-unit intensities held
   at a dose for every second (``BOUNDARY``), once with the generator's distractors (head pose, turns,
   jitter, talking, smiles) and once frontal and steady (``CALM``, the real-identity clips' setting).
   Eyes are open in the real-identity doses, so the same doses with the eyes closed (AU43, in most
   synthetic significant seconds) are held too. The mild/significant boundary moves with the
   recording conditions and with eye closure, which a temperature and a class bias cannot follow.
3. **What a calibration fitted on real people would do**: the real people held out from training are
   split by person (``people_split``: the bank's ``calibration`` people and, with a fixed seed, half of
   each site's ``test`` people fit; the other half only evaluates). A temperature τ and a class bias b
   (``softmax(z / τ + log(π / π_train) + b)``, the stored prior correction kept) are fitted by minimising
   the mean of two negative log-likelihoods, the synthetic calibration patients' and the real
   calibration people's, because a τ fitted on either domain alone breaks the other. ``CANDIDATES``: one
   calibration for both input cases ("shared"), or one per case ("per_case": scoring with and without a
   stored baseline are different inputs, and serving knows which it has). Each is judged first by a
   5-fold cross-validation over the calibration people (windows of held-out folds pooled), then, once,
   on the evaluation people and the synthetic test split. Nothing is fitted on the evaluation people.

Synthetic expressions on real faces throughout: these figures say how the model's probabilities carry
across identities and recording conditions, nothing about real pain.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gateway import LEVELS
from plugins.sta_lstm.lab.identity_bank import load_bank
from plugins.sta_lstm.lab.metrics import classification_metrics
from plugins.sta_lstm.lab.real_identities import DOSES, SMILE, TrainedScorer, _ece, expected_level, score, summary

SPLIT_SEED = 0
CASES = {"with_baseline": True, "without_baseline": False}
CANDIDATES = ("shared", "per_case")
FOLDS = 5
TARGETS = {"real": 0.05, "synthetic": 0.03}
"""The issue's ECE bounds: the real-identity set, and the synthetic test split (scored with the baseline)."""
BOUNDARY = {
    "PSPI 3 (1, 1, 1)": (1, 1, 1, 0),
    "PSPI 5 (2, 2, 1)": (2, 2, 1, 0),
    "PSPI 6 (2, 2, 2)": (2, 2, 2, 0),
    "PSPI 8 (3, 3, 2)": (3, 3, 2, 0),
    "PSPI 6 (2, 2, 1) + eyes closed": (2, 2, 1, 1),
    "PSPI 9 (3, 3, 2) + eyes closed": (3, 3, 2, 1),
}
"""AU4, AU6/7, AU9/10, AU43 intensities held for every second: both sides of the mild/significant boundary, eyes open
(as in the real-identity doses) and closed (as in most synthetic significant seconds)."""
BOUNDARY_PATIENTS = 24


def people_split(seed: int = SPLIT_SEED) -> dict[str, list[int]]:
    """Bank indices: ``calibration`` (the bank's calibration people + half of each site's test people), ``evaluation`` (the rest)."""
    bank = load_bank()
    rng = np.random.default_rng(seed)
    fit, held = list(bank.of("calibration")), []
    for site in ("london", "canada"):
        mine = [i for i in bank.of("test") if str(bank.people[i]).startswith(f"{site}-")]
        order = rng.permutation(mine)
        fit += order[: len(mine) // 2].tolist()
        held += order[len(mine) // 2 :].tolist()
    return {"calibration": sorted(int(i) for i in fit), "evaluation": sorted(int(i) for i in held)}


def uncalibrated(network):
    """A copy of the network whose output is the raw softmax (τ = 1, no prior correction)."""
    raw = copy.deepcopy(network)
    raw.set_calibration(1.0, [1.0] * len(LEVELS), [1.0] * len(LEVELS))
    return raw


def real_log_probabilities(network, template: np.ndarray, people: Sequence[int]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """case -> person -> dose -> raw log-probabilities per window: logits up to a per-window constant, all a calibration needs."""
    scorer = TrainedScorer(uncalibrated(network), template)
    out = {}
    for case, with_baseline in CASES.items():
        scored = score(scorer, np.asarray(people), with_baseline)
        out[case] = {person: {dose: np.log(np.clip(p, 1e-12, None)) for dose, p in row.items()} for person, row in scored.items()}
    return out


def stacked(logits: dict[str, dict[str, np.ndarray]], people: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every dose window of ``people`` (the smile has no PSPI label) with its dose's level."""
    z = [logits[p][str(d)] for p in people for d in DOSES]
    y = [np.full(len(logits[p][str(d)]), expected_level(d)) for p in people for d in DOSES]
    return np.concatenate(z), np.concatenate(y)


def probabilities(z: np.ndarray, temperature: float, shift: np.ndarray) -> np.ndarray:
    v = z / temperature + shift
    e = np.exp(v - v.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def fit_affine(domains: Sequence[tuple[np.ndarray, np.ndarray]], shift: np.ndarray) -> tuple[float, np.ndarray]:
    """τ and a class bias (0 for *none*) minimising the mean over ``domains`` of each one's NLL of
    ``softmax(z / τ + shift + b)``; L-BFGS from τ = 1, b = 0. Averaging per domain keeps the larger one
    from deciding alone."""
    import torch

    data = [(torch.as_tensor(z, dtype=torch.float64), torch.as_tensor(y, dtype=torch.int64)) for z, y in domains]
    base = torch.as_tensor(shift, dtype=torch.float64)
    params = torch.zeros(len(LEVELS), dtype=torch.float64, requires_grad=True)  # log τ, b_mild, b_significant
    optimiser = torch.optim.LBFGS([params], max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def loss():
        optimiser.zero_grad()
        bias = torch.cat([params.new_zeros(1), params[1:]])
        value = sum(torch.nn.functional.cross_entropy(z / params[0].exp() + base + bias, y) for z, y in data) / len(data)
        value.backward()
        return value

    optimiser.step(loss)
    values = params.detach().numpy()
    return float(np.exp(values[0])), np.asarray(shift) + np.r_[0.0, values[1:]]


def _fit(
    candidate: str, synthetic: dict[str, tuple[np.ndarray, np.ndarray]], real: dict[str, Any], people: Sequence[str], shift
) -> dict[str, tuple[float, np.ndarray]]:
    """case -> (τ, shift + b) for ``candidate``, fitted on the synthetic calibration patients and ``people``."""
    domains = {case: [synthetic[case], stacked(real[case], people)] for case in CASES}
    if candidate == "shared":
        fitted = fit_affine([d for case in CASES for d in domains[case]], shift)
        return dict.fromkeys(CASES, fitted)
    return {case: fit_affine(domains[case], shift) for case in CASES}


def cross_validated(candidate: str, synthetic, real, people: Sequence[str], shift, seed: int = SPLIT_SEED) -> dict[str, float]:
    """Real ECE per case of ``FOLDS``-fold person-level cross-validation on the calibration people (held-out windows pooled)."""
    folds = np.array_split(np.random.default_rng([seed, 1]).permutation(list(people)), FOLDS)
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {case: [] for case in CASES}
    for held in folds:
        kept = [p for p in people if p not in set(held.tolist())]
        fitted = _fit(candidate, synthetic, real, kept, shift)
        for case in CASES:
            z, y = stacked(real[case], held.tolist())
            pooled[case].append((probabilities(z, *fitted[case]), y))
    return {case: round(_ece(np.concatenate([p for p, _ in rows]), np.concatenate([y for _, y in rows])), 4) for case, rows in pooled.items()}


def _judged(fitted, synthetic_test, real, people) -> dict[str, Any]:
    """Real-identity criteria and ECE on ``people``, synthetic test ECE / macro-F1 / macro AUC, per case."""
    out: dict[str, Any] = {}
    for case in CASES:
        temperature, shift = fitted[case]
        scored = {p: {dose: probabilities(z, temperature, shift) for dose, z in real[case][p].items()} for p in people}
        criteria = summary(scored)
        z, y = synthetic_test[case]
        synthetic = classification_metrics(probabilities(z, temperature, shift), y)
        out[case] = {
            "temperature": round(temperature, 4),
            "shift": np.round(shift, 4).tolist(),
            "real": {k: v for k, v in criteria.items() if k != "levels"},
            "synthetic_test": {k: round(float(synthetic[k]), 4) for k in ("ece_top_label", "macro_f1", "macro_auc", "kappa_quadratic")},
        }
    return out


def per_dose(real: dict[str, Any], people: Sequence[str], temperature: float, shift: np.ndarray) -> dict[str, Any]:
    """Mean probabilities, share of windows called right and mean top probability per dose, with the stored calibration."""
    out: dict[str, Any] = {}
    for case in CASES:
        rows = {}
        for dose in [*map(str, DOSES), SMILE]:
            parts = [real[case][p][dose] for p in people if dose in real[case][p]]
            p = probabilities(np.concatenate(parts), temperature, shift)
            level = 0 if dose == SMILE else expected_level(int(dose))
            rows[dose] = {
                "level": LEVELS[level],
                "mean": p.mean(0).round(3).tolist(),
                "right": round(float((p.argmax(1) == level).mean()), 3),
                "confidence": round(float(p.max(1).mean()), 3),
            }
        out[case] = rows
    return out


def boundary(network, manifest: dict[str, Any], patients: int = BOUNDARY_PATIENTS) -> dict[str, Any]:
    """P(level) of the generator's own test patients with intensities held at each ``BOUNDARY`` dose, with distractors and calm."""
    from plugins.sta_lstm.lab.synthetic import CALM, Distractors, SynthConfig, generate_clip, patient_number
    from plugins.sta_lstm.lab.training import logits_of, neutral_references, personal_transform
    from plugins.sta_lstm.lab.windows import window_set

    described = manifest["training"]["dataset"]["synthetic"]["config"]
    numbers = [patient_number(p) for p in manifest["training"]["splits"]["test"][:patients]]
    template = np.asarray(manifest["personalisation"]["template"])
    temperature, shift = float(network.temperature), network.prior_shift.numpy().astype(np.float64)
    out: dict[str, Any] = {}
    for setting, distractors in (("distractors", Distractors()), ("calm", CALM)):
        config = SynthConfig(seed=described["seed"], seconds=described["seconds"], distractors=distractors, steady_share=0.0)
        rows = {}
        for name, held in BOUNDARY.items():
            intensities = np.tile(np.asarray(held, np.float64), (config.seconds, 1))
            clips = [generate_clip(n, 0, config, intensities=intensities) for n in numbers]
            clips += [generate_clip(n, 0, config, neutral=True) for n in numbers]
            windows = window_set(clips, transform=personal_transform(neutral_references(clips), template))
            p = probabilities(logits_of(network, windows), temperature, shift)
            rows[name] = {"mean": p.mean(0).round(3).tolist(), "significant": round(float((p.argmax(1) == 2).mean()), 3)}
        out[setting] = rows
    return out


def study(checkpoint: str | Path, seed: int = SPLIT_SEED) -> dict[str, Any]:
    """Everything above on a checkpoint trained personalised with ``--without-baseline`` (the bundled one)."""
    from plugins.sta_lstm.checkpoint import load_checkpoint
    from plugins.sta_lstm.lab.evaluation import evaluation_windows
    from plugins.sta_lstm.lab.synthetic import regenerate
    from plugins.sta_lstm.lab.training import logits_of

    network, manifest = load_checkpoint(checkpoint)
    template = np.asarray(manifest["personalisation"]["template"], np.float32)
    bank = load_bank()
    split = people_split(seed)
    names = {part: [str(bank.people[i]) for i in idx] for part, idx in split.items()}
    real = real_log_probabilities(network, template, split["calibration"] + split["evaluation"])
    splits = manifest["training"]["splits"]
    clips = regenerate(manifest["training"]["dataset"]["synthetic"], splits["calibration"] + splits["test"])
    synthetic: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"calibration": {}, "test": {}}
    for part in synthetic:
        for case, with_baseline in CASES.items():
            windows = evaluation_windows(clips, manifest if with_baseline else {**manifest, "personalisation": None}, part)
            synthetic[part][case] = (logits_of(network, windows).astype(np.float64), windows.labels)
    temperature, shift = float(network.temperature), network.prior_shift.numpy().astype(np.float64)
    candidates: dict[str, Any] = {"stored": {"fitted_on": "synthetic calibration patients only (as shipped)"}}
    candidates["stored"] |= _judged(dict.fromkeys(CASES, (temperature, shift)), synthetic["test"], real, names["evaluation"])
    for candidate in CANDIDATES:
        fitted = _fit(candidate, synthetic["calibration"], real, names["calibration"], shift)
        candidates[candidate] = {"cross_validated_real_ece": cross_validated(candidate, synthetic["calibration"], real, names["calibration"], shift, seed)}
        candidates[candidate] |= _judged(fitted, synthetic["test"], real, names["evaluation"])
    for record in candidates.values():
        record["meets_targets"] = all(record[case]["real"]["ece_top_label"] <= TARGETS["real"] for case in CASES) and (
            record["with_baseline"]["synthetic_test"]["ece_top_label"] <= TARGETS["synthetic"]
        )
    return {
        "split_seed": seed,
        "people": {part: len(v) for part, v in names.items()},
        "evaluation_people": names["evaluation"],
        "per_dose": per_dose(real, names["evaluation"], temperature, shift),
        "boundary": boundary(network, manifest),
        "candidates": candidates,
    }


def check_checkpoint(checkpoint: str | Path, seed: int = SPLIT_SEED) -> dict[str, Any]:
    """``pain-gateway real-calibration``: measured on the checkpoint, stored in its ``model.json`` and card."""
    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint

    record = study(checkpoint, seed)
    record_in_checkpoint(checkpoint, "real_calibration", record)
    return record
