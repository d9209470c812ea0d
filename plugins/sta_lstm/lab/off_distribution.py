"""``pain-gateway typicality``: fit a checkpoint's typicality reference and measure what it flags.

Fitted on the checkpoint's own training patients (their windows as the network sees them: with their
baseline, and raw when it was trained to score patients without one) and referenced on its calibration
patients, the same people the temperature was fitted on. Measured, at the gateway's default threshold
(``PAIN_GATEWAY_TYPICALITY_BELOW``, 0.01): the share of windows flagged unfamiliar on the held-out test
patients (should be about 1 %), on held-out real people and photographs (with and without a baseline),
on the real no-pain video, and on distorted faces; and how well low typicality and low top probability
pick out the windows the model got wrong. Method and its reasons: ``plugins.sta_lstm.typicality``.

    pain-gateway typicality CHECKPOINT [DATA_DIR]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gateway import REGIONS, LabelledClip, load_dataset, neutral_reference, prepare

THRESHOLD = 0.01
"""The gateway's default ``typicality_below``, at which every figure here is measured."""

DISTORTIONS: dict[str, tuple[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]]] = {
    "jitter_0.03": ("Gaussian jitter, SD 0.03 (normalised units; about 8 % of the eye distance)", lambda x, rng: x + rng.normal(0, 0.03, x.shape)),
    "jitter_0.1": ("Gaussian jitter, SD 0.1", lambda x, rng: x + rng.normal(0, 0.1, x.shape)),
    "squashed": ("squashed sideways to 60 % (a face seen from about 50° without pose correction)", lambda x, rng: x * [0.6, 1.0]),
    "stretched": ("stretched 1.3x vertically", lambda x, rng: x * [1.0, 1.3]),
    "upside_down": ("upside down", lambda x, rng: x * [1.0, -1.0]),
    "shuffled": ("landmarks shuffled (a tracker that lost the face's topology)", lambda x, rng: x[:, :, rng.permutation(x.shape[2])]),
    "mouth_forced": ("mouth points pushed 0.15 apart vertically (a wide-open mouth beyond any training face)", lambda x, rng: _open_mouth(x)),
}


def _open_mouth(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    mouth = list(REGIONS["mouth"])
    y = x[..., mouth, 1]
    x[..., mouth, 1] = y + 0.15 * np.sign(y - y.mean(-1, keepdims=True))
    return x


def split_clips(manifest: dict[str, Any], data_dir: str | Path | None, split: str) -> list[LabelledClip]:
    """The split's clips from ``data_dir``, or regenerated from a synthetic checkpoint's recorded settings."""
    ids = manifest["training"]["splits"][split]
    if data_dir is None:
        from plugins.sta_lstm.lab.synthetic import regenerate

        return regenerate(manifest["training"]["dataset"]["synthetic"], ids)
    wanted = set(ids)
    return [c for c in load_dataset(data_dir) if c.patient_id in wanted]


def views(manifest: dict[str, Any]) -> list[bool]:
    """How the network saw patients in training: personalised, and raw too when trained without baselines."""
    if not manifest.get("personalisation"):
        return [False]
    return [True, False] if manifest["training"]["config"].get("without_baseline") else [True]


def split_features(network, manifest: dict[str, Any], clips: list[LabelledClip], personalised: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, calibrated probabilities, labels) of a split's 1-second windows, with or without baselines."""
    from plugins.sta_lstm.lab.evaluation import evaluation_windows
    from plugins.sta_lstm.network import infer
    from plugins.sta_lstm.personal import personalise

    windows = evaluation_windows(clips, manifest if personalised else {**manifest, "personalisation": None}, "all")
    data = windows.data(np.arange(len(windows)))
    if manifest.get("personalisation") and not personalised:  # serving feeds the raw face, the template cancelling out
        template = np.asarray(manifest["personalisation"]["template"], np.float32)
        data = personalise(data, template, template)
    probabilities, _, _, features = infer(network, data)
    return features, probabilities, windows.labels


def fit(checkpoint: str | Path, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Fit and write ``typicality.npz``; returns the manifest record (without the evaluation)."""
    from plugins.sta_lstm.checkpoint import load_checkpoint, sha256_file
    from plugins.sta_lstm.typicality import FILE, FeatureDensity

    network, manifest = load_checkpoint(checkpoint)
    seen = views(manifest)
    train = [split_features(network, manifest, split_clips(manifest, data_dir, "train"), v) for v in seen]
    calibration = split_clips(manifest, data_dir, "calibration")
    references = {view_name(v): split_features(network, manifest, calibration, v)[0] for v in seen}
    features, labels = (np.concatenate([part[i] for part in train]) for i in (0, 2))
    density = FeatureDensity.fit(features, labels, references)
    density.save(Path(checkpoint) / FILE)
    return {
        "file": FILE,
        "sha256": sha256_file(Path(checkpoint) / FILE),
        "method": (
            "class-conditional Gaussians on the classifier's input features (training patients), conformal p-value against "
            "the calibration patients' windows seen the same way"
        ),
        "fitted_on": f"training patients' windows ({'with and without baseline' if len(seen) == 2 else 'as trained'}), {len(features)} windows",
        "reference": " and ".join(f"{len(r)} windows {SEEN[view]}" for view, r in density.references.items())
        + f", of {len(manifest['training']['splits']['calibration'])} calibration patients",
        "dataset": str(data_dir) if data_dir else f"regenerated: {manifest['training']['dataset']['synthetic']['command']}",
    }


SEEN = {"personalised": "seen with their baseline", "raw": "raw"}


def view_name(personalised: bool) -> str:
    return "personalised" if personalised else "raw"


def _auroc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative), ties half: no sklearn needed at serving time."""
    if not len(positive) or not len(negative):
        return None
    both = np.concatenate([positive, negative])
    ranks = np.argsort(np.argsort(both, kind="stable"), kind="stable").astype(float) + 1
    for value in np.unique(both):  # average ranks of ties
        tied = both == value
        ranks[tied] = ranks[tied].mean()
    return round(float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative))), 4)


def _row(name: str, description: str, typicality: np.ndarray, test: np.ndarray | None) -> dict[str, Any]:
    """``test``: the test windows seen the same way, which typical windows should outscore (None: the test rows themselves)."""
    return {
        "set": name,
        "description": description,
        "windows": len(typicality),
        "flagged": round(float((typicality < THRESHOLD).mean()), 4),
        "auroc_vs_test": None if test is None else _auroc(test, typicality),
    }


def _gateway_windows(model, clips_and_baselines) -> np.ndarray:
    """Typicality of clips scored as the gateway scores them (``CheckpointModel.predict``)."""
    out = []
    for clip, baseline in clips_and_baselines:
        windows = prepare(clip)
        windows = type(windows)(spans=windows.spans, data=windows.data, baseline=baseline)
        out.append(model.predict(windows).typicality)
    return np.concatenate(out)


def evaluate(checkpoint: str | Path, data_dir: str | Path | None = None, seed: int = 0) -> dict[str, Any]:
    """What the fitted reference flags, set by set, and how it ranks the model's errors."""
    from plugins.sta_lstm.checkpoint import load_checkpoint, load_typicality
    from plugins.sta_lstm.lab import real_faces, real_identities, real_video
    from plugins.sta_lstm.lab.identity_bank import load_bank
    from plugins.sta_lstm.network import infer
    from plugins.sta_lstm.serving import CheckpointModel

    network, manifest = load_checkpoint(checkpoint)
    model = CheckpointModel(checkpoint)
    density = load_typicality(checkpoint, manifest)
    test_clips = split_clips(manifest, data_dir, "test")
    rows, errors, in_distribution = [], {}, {}
    for personalised in views(manifest):
        features, probabilities, labels = split_features(network, manifest, test_clips, personalised)
        case = "with_baseline" if personalised else "without_baseline"
        in_distribution[case] = (density.typicality(features, view_name(personalised)), probabilities, labels)
    # each set is compared with the test windows seen the same way (a view the model was not trained on: the other)
    test = {True: in_distribution.get("with_baseline", in_distribution.get("without_baseline"))[0]}
    test[False] = in_distribution.get("without_baseline", in_distribution.get("with_baseline"))[0]
    for case, (typicality, probabilities, labels) in in_distribution.items():
        rows.append(_row(f"test_{case}", f"held-out synthetic test patients, {case.replace('_', ' ')}", typicality, None))
        wrong = probabilities.argmax(1) != labels
        errors[case] = {
            "windows": len(labels),
            "wrong": int(wrong.sum()),
            "auroc_typicality": _auroc(typicality[~wrong], typicality[wrong]),
            "auroc_top_probability": _auroc(probabilities.max(1)[~wrong], probabilities.max(1)[wrong]),
            "flagged_wrong": round(float((typicality[wrong] < THRESHOLD).mean()), 4) if wrong.any() else None,
            "flagged_right": round(float((typicality[~wrong] < THRESHOLD).mean()), 4),
        }
    bank = load_bank()
    people = bank.of("test")
    for with_baseline in (True, False):
        pairs = []
        for person in people:
            baseline = neutral_reference(prepare(real_identities.clip_of(person, 0, seed + 1)).data) if with_baseline else None
            pairs += [(real_identities.clip_of(person, dose, seed), baseline) for dose in real_identities.DOSES]
        case = "with" if with_baseline else "without"
        described = f"{len(people)} held-out real people, PSPI 0-10 carried onto them, {case} baseline"
        rows.append(_row(f"real_people_{case}_baseline", described, _gateway_windows(model, pairs), test[with_baseline]))
        pairs = []
        for name in real_faces.PHOTOS:
            baseline = neutral_reference(prepare(real_faces.clip_of(name, 0, seed + 1)).data) if with_baseline else None
            pairs += [(real_faces.clip_of(name, pspi, seed), baseline) for pspi in real_faces.DOSES]
        described = f"the three older photographs, PSPI 0-7, {case} baseline"
        rows.append(_row(f"photos_{case}_baseline", described, _gateway_windows(model, pairs), test[with_baseline]))
    videos = real_video.clips()
    described = f"real no-pain video ({len(videos)} clips of people reading aloud), no baseline"
    rows.append(_row("real_video", described, _gateway_windows(model, [(c, None) for c in videos]), test[False]))
    rng = np.random.default_rng(seed)
    windows = _raw_windows(manifest, test_clips)[:300]
    for name, (description, distort) in DISTORTIONS.items():
        distorted = distort(windows, rng).astype(np.float32)
        typicality = density.typicality(infer(network, _as_served(manifest, distorted))[3], view_name(False))
        rows.append(_row(f"distorted_{name}", f"300 test windows without baseline, {description}", typicality, test[False]))
    return {
        "threshold": THRESHOLD,
        "note": (
            "Share of windows flagged unfamiliar (typicality below the gateway's default threshold), and the AUROC of typicality "
            "between the synthetic test windows seen the same way (with or without baseline) and each set (1: every window of the "
            "set less typical than every test window; 0.5: no difference; below 0.5: more typical). Synthetic-trained model; "
            "expressions on real faces are synthetic."
        ),
        "sets": rows,
        "errors": errors,
    }


def _raw_windows(manifest: dict[str, Any], clips: list[LabelledClip]) -> np.ndarray:
    from plugins.sta_lstm.lab.evaluation import evaluation_windows

    windows = evaluation_windows(clips, {**manifest, "personalisation": None}, "all")
    return windows.data(np.arange(len(windows)))


def _as_served(manifest: dict[str, Any], data: np.ndarray) -> np.ndarray:
    from plugins.sta_lstm.personal import personalise

    if not manifest.get("personalisation"):
        return data
    template = np.asarray(manifest["personalisation"]["template"], np.float32)
    return personalise(data, template, template)


def check_checkpoint(checkpoint: str | Path, data_dir: str | Path | None = None, command: str = "") -> dict[str, Any]:
    """``pain-gateway typicality``: fit, measure, record in ``model.json`` and the card."""
    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint

    record = fit(checkpoint, data_dir) | {"command": command}
    record_in_checkpoint(checkpoint, "typicality", record)  # the serving model loads the reference through it
    record["evaluation"] = evaluate(checkpoint, data_dir)
    record_in_checkpoint(checkpoint, "typicality", record)
    return record


def table(record: dict[str, Any]) -> str:
    evaluation = record["evaluation"]
    lines = ["| windows | count | flagged unfamiliar | AUROC against the test windows |", "|---|---|---|---|"]
    for row in evaluation["sets"]:
        auroc = "—" if row["auroc_vs_test"] is None else f"{row['auroc_vs_test']:.2f}"
        lines.append(f"| {row['description']} | {row['windows']} | {row['flagged']:.1%} | {auroc} |")
    errors = ["| test windows | wrong | AUROC right vs wrong: typicality | top probability | wrong flagged | right flagged |", "|---|---|---|---|---|---|"]
    for case, e in evaluation["errors"].items():
        flagged_wrong = "—" if e["flagged_wrong"] is None else f"{e['flagged_wrong']:.1%}"
        errors.append(
            f"| {case.replace('_', ' ')} | {e['wrong']} of {e['windows']} | {e['auroc_typicality']:.2f} | {e['auroc_top_probability']:.2f} | "
            f"{flagged_wrong} | {e['flagged_right']:.1%} |"
        )
    probability_better = all(e["auroc_top_probability"] > e["auroc_typicality"] for e in evaluation["errors"].values())
    ranks = (
        "the calibrated top probability ranks them better than typicality"
        if probability_better
        else "typicality ranks them as well as or better than the top probability in some case"
    )
    return (
        f"Method: {record['method']} ({record['fitted_on']}; reference: {record['reference']}). Reproduce: `{record.get('command', '')}`. "
        f"{evaluation['note']} Threshold {evaluation['threshold']:g}.\n\n" + "\n".join(lines) + "\n\n"
        f"The model's errors among the test windows: {ranks}.\n\n" + "\n".join(errors)
    )
