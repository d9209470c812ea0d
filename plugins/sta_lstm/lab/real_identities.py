"""Graded transplants on held-out real people, with and without a stored baseline (issue 25).

Why: three photographs (``real_faces``) said little about strangers; a first visit has no stored
neutral clip, and generator 3's model then called a strong grimace *mild* on every unseen face. Here
each held-out person of the identity bank (never seen in training: the bank's ``test`` people, 30 of
the London set and all 40 of a second set from another site) gets the generator's own AU4, AU6/7
and AU9/10 fields carried onto their real MediaPipe landmarks at graded PSPI doses, held for 3 s with
the generator's micro-motion and detector jitter, and is scored as the gateway scores: once with the
neutral transplant stored as the baseline, once with none. A held real smile (the same person's
smiling photograph) must stay *none*. Synthetic expressions on real faces: passing says the model
reads real face geometry across identities, nothing about recognising real pain.

Per person the level is the argmax of the mean window probabilities of the clip. ``summary`` gives the
issue's criteria: neutral -> none, PSPI >= 8 -> significant, PSPI 3 -> mild, expected level
(P(mild) + 2 P(significant)) rising with the dose; ``ece`` is the top-label ECE over every window
(labels from the dose's PSPI level).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import numpy as np

from gateway import LEVELS, LandmarkClip, PatientRef, neutral_reference, prepare
from plugins.sta_lstm.lab.face import load_face
from plugins.sta_lstm.lab.identity_bank import load_bank
from plugins.sta_lstm.lab.synthetic import GRADED_MAX, SIGNALS, carry

DOSES: dict[int, dict[str, int]] = {  # PSPI -> FACS intensities (0-5) of the fused fields; AU43 0, eyes open
    0: {},
    2: {"AU4": 1, "AU6/7": 1},
    3: {"AU4": 1, "AU6/7": 1, "AU9/10": 1},
    5: {"AU4": 2, "AU6/7": 2, "AU9/10": 1},
    8: {"AU4": 3, "AU6/7": 3, "AU9/10": 2},
    10: {"AU4": 4, "AU6/7": 3, "AU9/10": 3},
}
SMILE = "smile"
SECONDS, FPS, SIZE, PX_PER_CM = 3, 30.0, (640, 480), 14.0
JITTER_IOD = 0.006  # the generator's detector jitter, mid-range


def expected_level(pspi: int) -> int:
    return SIGNALS["pspi"].level(pspi)


def face_of(person: int, dose: int | str) -> np.ndarray:
    """(468, 3) cm: the person's neutral face with the dose's AU fields (or their real smile) carried onto it."""
    bank, face = load_bank(), load_face()
    neutral = bank.neutral[person].astype(np.float64)
    if dose == SMILE:
        return neutral + bank.smile[person].astype(np.float64)
    assert isinstance(dose, int)
    field = sum(((v / GRADED_MAX) * face.fields[au] for au, v in DOSES[dose].items()), np.zeros_like(face.base))
    return neutral + carry(field, face.base, neutral)


def clip_of(person: int, dose: int | str, seed: int = 0) -> LandmarkClip:
    """The face held for ``SECONDS``, frontal, in a 640x480 frame, with micro-motion and detector jitter."""
    rng = np.random.default_rng([seed, person, 99 if dose == SMILE else int(dose)])
    frames = face_of(person, dose)[None] + rng.normal(0.0, 0.02, (int(SECONDS * FPS), 468, 3))
    pixels = frames * PX_PER_CM + [SIZE[0] / 2, SIZE[1] / 2, 0.0]
    iod = 10.34 * PX_PER_CM * 0.6
    pixels[..., :2] += rng.normal(0.0, JITTER_IOD * iod, pixels[..., :2].shape)
    normalised = pixels / [SIZE[0], SIZE[1], SIZE[0]]
    patient = PatientRef(system="urn:pain-gateway:identity-bank", value=str(load_bank().people[person]))
    return LandmarkClip(patient, datetime(2026, 1, 1, tzinfo=UTC), FPS, normalised.astype(np.float32), SIZE)


def score(model, people: np.ndarray, with_baseline: bool, seed: int = 0) -> dict[str, Any]:
    """Window probabilities per person and dose (and the real smile where the person has one)."""
    bank = load_bank()
    out: dict[str, Any] = {}
    for person in people:
        baseline = neutral_reference(prepare(clip_of(person, 0, seed + 1)).data) if with_baseline else None
        doses: list[int | str] = [*DOSES, *([SMILE] if np.isfinite(bank.smile[person]).all() else [])]
        row = {}
        for dose in doses:
            windows = prepare(clip_of(person, dose, seed))
            windows = type(windows)(spans=windows.spans, data=windows.data, baseline=baseline)
            row[str(dose)] = model.predict(windows).probabilities.astype(float)
        out[str(bank.people[person])] = row
    return out


def _ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs((predicted[inside] == labels[inside]).mean() - confidence[inside].mean())
    return float(total)


def summary(scored: dict[str, Any]) -> dict[str, Any]:
    """The issue's criteria as shares of people, the per-person levels, and the ECE over all windows."""
    levels, rising, probs, labels = {}, {}, [], []
    for person, row in scored.items():
        means = {dose: p.mean(0) for dose, p in row.items()}
        levels[person] = {dose: LEVELS[int(np.argmax(m))] for dose, m in means.items()}
        expected = [means[str(d)][1] + 2 * means[str(d)][2] for d in DOSES]
        rising[person] = all(a < b for a, b in pairwise(expected))
        for dose in DOSES:
            probs.append(row[str(dose)])
            labels.append(np.full(len(row[str(dose)]), expected_level(dose)))
    n = len(scored)

    def share(dose: int | str, level: str) -> float:
        rows = [lv for lv in levels.values() if str(dose) in lv]
        return round(sum(lv[str(dose)] == level for lv in rows) / max(len(rows), 1), 4)

    return {
        "people": n,
        "neutral_none": share(0, "none"),
        "pspi3_mild": share(3, "mild"),
        "pspi8_significant": share(8, "significant"),
        "pspi10_significant": share(10, "significant"),
        "expected_level_rising": round(sum(rising.values()) / max(n, 1), 4),
        "smile_none": share(SMILE, "none"),
        "smile_people": sum(SMILE in lv for lv in levels.values()),
        "ece_top_label": round(_ece(np.concatenate(probs), np.concatenate(labels)), 4),
        "windows": int(sum(len(p) for p in probs)),
        "levels": levels,
    }


class TrainedScorer:
    """A freshly trained network scored as ``CheckpointModel`` scores it (personalised when it has a template),
    so the seed study can measure real identities without writing a checkpoint."""

    def __init__(self, network, template: np.ndarray | None) -> None:
        self.network, self.template = network, template

    def predict(self, windows):
        from plugins.sta_lstm.network import infer
        from plugins.sta_lstm.personal import personalise
        from plugins.sta_lstm.serving import CheckedOutput

        data = np.asarray(windows.data, np.float32)
        if self.template is not None:
            data = personalise(data, self.template if windows.baseline is None else windows.baseline, self.template)
        probabilities, alpha, beta, _ = infer(self.network, data)
        return CheckedOutput(probabilities=probabilities, alpha=alpha, beta=beta)


def headline(record: dict[str, Any]) -> dict[str, float]:
    """The issue's criteria from an ``evaluate_people`` record, flat, for the seed table."""
    keys = ("neutral_none", "pspi3_mild", "pspi8_significant", "expected_level_rising", "smile_none", "ece_top_label")
    return {f"{case}_{k}": record[case][k] for case in ("with_baseline", "without_baseline") for k in keys}


def evaluate_people(model, split: str = "test", seed: int = 0) -> dict[str, Any]:
    """Both cases (stored baseline / none) on the bank's ``split`` people; per-site shares too."""
    bank = load_bank()
    people = bank.of(split)
    sites = sorted({str(p).split("-")[0] for p in bank.people[people]})
    note = (
        f"The generator's AU4, AU6/7 and AU9/10 fields carried onto {len(people)} real people the model never saw "
        f"(identity bank split `{split}`: {', '.join(sites)}), PSPI {', '.join(map(str, DOSES))} and the person's own "
        f"smiling photograph, each held for {SECONDS} s with micro-motion and detector jitter, scored as the gateway "
        "scores: with the neutral transplant stored as the baseline (a follow-up visit) and with none (a first visit). "
        "A person's level is the argmax of the clip's mean probabilities; ECE over every window, labelled by the "
        "dose's PSPI level. Synthetic expressions on real faces: this says the model reads real identities, not that "
        "it recognises real pain."
    )
    record: dict[str, Any] = {"note": note, "split": split, "doses": {str(k): v for k, v in DOSES.items()}}
    for case, with_baseline in (("with_baseline", True), ("without_baseline", False)):
        scored = score(model, people, with_baseline, seed)
        overall = summary(scored)
        sites = {site: summary({p: r for p, r in scored.items() if p.startswith(site)}) for site in ("london", "canada")}
        record[case] = overall | {"sites": {s: {k: v for k, v in m.items() if k != "levels"} for s, m in sites.items() if m["people"]}}
    return record


def check_checkpoint(checkpoint, split: str = "test") -> dict[str, Any]:
    """``pain-gateway real-identities``: measured on the checkpoint, stored in its ``model.json`` and card."""
    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint
    from plugins.sta_lstm.serving import CheckpointModel

    record = evaluate_people(CheckpointModel(checkpoint), split)
    for case in ("with_baseline", "without_baseline"):
        record[case].pop("levels", None)
    record_in_checkpoint(checkpoint, "real_identities", record)
    return record
