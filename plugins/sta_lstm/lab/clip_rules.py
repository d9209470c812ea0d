"""Clip-level rules from measured operating points (issue 25): false alarms against missed episodes.

Why: the gateway's summary rule ("the most severe level held for N consecutive 1-s windows", N = 2)
fired on any brief blip in a long calm clip. Each candidate rule here turns a clip's per-second
probabilities into "pain (mild or worse) or not"; its false-alarm rate is the share of no-pain clips
it flags (real talking video, and long synthetic no-pain clips with the generator's distractors),
its miss rate the share of long synthetic clips with one pain episode of 2, 5, 10 or 30 s that it
does not flag. Rules:

- ``consecutive-N``: N consecutive windows whose most likely level is mild or worse (the shipped rule);
- ``share-S``: at least a share S of the scored seconds mild or worse;
- ``mean-run-N-T``: some run of N consecutive windows whose mean P(mild) + P(significant) is >= T;
- ``hmm-N``: N consecutive seconds of pain in the most likely path of a two-state (pain / no pain)
  hidden Markov smoother whose emissions are the window probabilities over the prior and whose
  state changes at most once every 30 s on average.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Rule = Callable[[np.ndarray], bool]
"""(seconds, 3) window probabilities of one clip -> whether the clip is summarised as pain."""
EPISODES_S = (2, 5, 10, 30)


def _longest(mask: np.ndarray) -> int:
    best = run = 0
    for hit in mask:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best


def consecutive(n: int) -> Rule:
    return lambda p: _longest(p.argmax(1) >= 1) >= min(n, len(p))


def share(s: float) -> Rule:
    return lambda p: bool(len(p)) and float((p.argmax(1) >= 1).mean()) >= s


def mean_run(n: int, threshold: float) -> Rule:
    def rule(p: np.ndarray) -> bool:
        pain = p[:, 1:].sum(1)
        k = min(n, len(pain))
        means = np.convolve(pain, np.ones(k) / k, mode="valid")
        return bool(len(means)) and float(means.max()) >= threshold

    return rule


def hmm_path(p: np.ndarray, prior_pain: float = 0.4, switch: float = 1 / 30) -> np.ndarray:
    """Viterbi path (True = pain) of a two-state chain; emissions are posteriors over the prior."""
    pain = np.clip(p[:, 1:].sum(1), 1e-6, 1 - 1e-6)
    emit = np.log(np.stack([(1 - pain) / (1 - prior_pain), pain / prior_pain], 1))
    trans = np.log(np.array([[1 - switch, switch], [switch, 1 - switch]]))
    score, back = np.log([0.9, 0.1]) + emit[0], []
    for e in emit[1:]:
        candidates = score[:, None] + trans
        back.append(candidates.argmax(0))
        score = candidates.max(0) + e
    state = [int(score.argmax())]
    for pointers in reversed(back):
        state.append(int(pointers[state[-1]]))
    return np.asarray(state[::-1], bool)


def hmm(n: int) -> Rule:
    return lambda p: _longest(hmm_path(p)) >= min(n, len(p))


RULES: dict[str, Rule] = {
    **{f"consecutive-{n}": consecutive(n) for n in (1, 2, 3, 4, 5)},
    **{f"share-{s}": share(s) for s in (0.05, 0.1, 0.2)},
    **{f"mean-run-{n}-{t}": mean_run(n, t) for n in (2, 3, 5) for t in (0.6, 0.8)},
    **{f"hmm-{n}": hmm(n) for n in (1, 2, 3)},
}


def operating_points(no_pain: Sequence[np.ndarray], episodes: dict[int, Sequence[np.ndarray]], rules: dict[str, Rule] = RULES) -> dict[str, Any]:
    """Per rule: false-alarm rate on ``no_pain`` clips and miss rate per episode length."""
    out = {}
    for name, rule in rules.items():
        out[name] = {
            "false_alarm": round(float(np.mean([rule(p) for p in no_pain])), 4) if no_pain else None,
            "miss": {str(d): round(float(np.mean([not rule(p) for p in clips])), 4) for d, clips in episodes.items()},
        }
    return out


def _probabilities(model, clip, baseline: np.ndarray | None) -> np.ndarray:
    from gateway import prepare

    windows = prepare(clip)
    windows = type(windows)(spans=windows.spans, data=windows.data, baseline=baseline)
    return np.asarray(model.predict(windows).probabilities, float)


def _baseline(patient: int, config) -> np.ndarray:
    from gateway import neutral_reference, prepare
    from plugins.sta_lstm.lab.synthetic import generate_clip

    return neutral_reference(prepare(generate_clip(patient, 0, config, neutral=True).landmark_clip()).data)


def synthetic_tracks(model, patients: Sequence[int], config, seconds: int = 40) -> dict[str, tuple[list[np.ndarray], dict[int, list[np.ndarray]]]]:
    """Per-second probabilities of long synthetic clips of held-out patients, scored with the patient's
    baseline and without: per patient one clip with no pain at all, and per episode length one with a
    single mild or significant episode (alternating) at a random place; every clip is recorded as the
    generator records that patient (its distractors: talking, smiles, blinks, head turns; or still, for its
    still patients)."""
    from dataclasses import replace

    from plugins.sta_lstm.lab.synthetic import generate_clip

    long = replace(config, seconds=seconds)
    out: dict[str, tuple[list[np.ndarray], dict[int, list[np.ndarray]]]] = {
        case: ([], {d: [] for d in EPISODES_S}) for case in ("with_baseline", "without_baseline")
    }
    for k, patient in enumerate(patients):
        baselines = {"with_baseline": _baseline(patient, config), "without_baseline": None}
        rng = np.random.default_rng([config.seed, 11, patient])
        calm = generate_clip(patient, 100, long, levels=np.zeros(seconds)).landmark_clip()
        episodes = {}
        for j, d in enumerate(EPISODES_S):
            levels = np.zeros(seconds, np.int64)
            start = int(rng.integers(5, seconds - d - 4))
            levels[start : start + d] = 1 + (k + j) % 2
            episodes[d] = generate_clip(patient, 101 + j, long, levels=levels).landmark_clip()
        for case, baseline in baselines.items():
            out[case][0].append(_probabilities(model, calm, baseline))
            for d, clip in episodes.items():
                out[case][1][d].append(_probabilities(model, clip, baseline))
    return out


def video_tracks(model) -> list[np.ndarray]:
    """Per-second probabilities of the real no-pain videos (no baseline: none was recorded for them)."""
    from plugins.sta_lstm.lab.real_video import clips

    return [_probabilities(model, clip, None) for clip in clips()]


def study(model, patients: Sequence[int], config, seconds: int = 40) -> dict[str, Any]:
    """Operating points of every rule with and without a baseline, and the per-second rates on real video."""
    video = video_tracks(model)
    flagged = np.concatenate([p.argmax(1) >= 1 for p in video])
    record: dict[str, Any] = {
        "patients": len(patients),
        "seconds": seconds,
        "real_video": {
            "clips": len(video),
            "seconds": int(len(flagged)),
            "seconds_mild_or_significant": round(float(flagged.mean()), 4),
            "clips_flagged": {name: round(float(np.mean([rule(p) for p in video])), 4) for name, rule in RULES.items()},
        },
    }
    for case, (calm, episodes) in synthetic_tracks(model, patients, config, seconds).items():
        seconds_flagged = np.concatenate([p.argmax(1) >= 1 for p in calm])
        record[case] = {
            "synthetic_calm_seconds_flagged": round(float(seconds_flagged.mean()), 4),
            "rules": operating_points(calm, episodes),
        }
    return record


SHIPPED_RULE = "consecutive-2"
"""The gateway's rule (``PAIN_GATEWAY_SUSTAINED_WINDOWS`` = 2), whose operating point the card quotes first."""


def check_checkpoint(checkpoint, patients: int = 12, seconds: int = 40) -> dict[str, Any]:
    """``pain-gateway clip-rules``: the study on the checkpoint's own test patients, stored in ``model.json`` and card."""
    import json
    from pathlib import Path

    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint
    from plugins.sta_lstm.lab.synthetic import SynthConfig, patient_number
    from plugins.sta_lstm.serving import CheckpointModel

    manifest = json.loads((Path(checkpoint) / "model.json").read_text())
    config = SynthConfig.from_description(manifest["training"]["dataset"]["synthetic"]["config"])
    ids = [patient_number(p) for p in manifest["training"]["splits"]["test"][:patients]]
    record = study(CheckpointModel(checkpoint), ids, config, seconds)
    record["note"] = (
        f"Long synthetic clips ({seconds} s, the generator's distractors throughout, or still for its still patients) of {len(ids)} test patients: one with "
        f"no pain, and one per episode length ({', '.join(map(str, EPISODES_S))} s) with a single mild or significant "
        "episode; real no-pain video scored without a baseline (none was recorded). A rule flags a clip when it would "
        "summarise it as mild or worse."
    )
    record_in_checkpoint(checkpoint, "clip_rules", record)
    return record


def table(record: dict[str, Any]) -> str:
    """Markdown: per-second rates, then every rule's false alarms against misses."""
    video = record["real_video"]
    lines = [
        record.get("note", ""),
        "",
        f"Real no-pain video ({video['clips']} clips, {video['seconds']} s): {video['seconds_mild_or_significant']:.1%} of seconds "
        f"mild or significant. Long synthetic no-pain clips: {record['with_baseline']['synthetic_calm_seconds_flagged']:.1%} of "
        f"seconds with a baseline, {record['without_baseline']['synthetic_calm_seconds_flagged']:.1%} without.",
        "",
        "| rule | baseline | false alarm, real video clips | false alarm, synthetic calm clips | " + " | ".join(f"miss {d} s" for d in EPISODES_S) + " |",
        "|---|---|---|---|" + "---|" * len(EPISODES_S),
    ]
    for name in RULES:
        for case, label in (("with_baseline", "stored"), ("without_baseline", "none")):
            point = record[case]["rules"][name]
            misses = " | ".join(f"{point['miss'][str(d)]:.0%}" for d in EPISODES_S)
            shipped = " (shipped)" if name == SHIPPED_RULE else ""
            lines.append(f"| {name}{shipped} | {label} | {video['clips_flagged'][name]:.0%} | {point['false_alarm']:.0%} | {misses} |")
    return "\n".join(lines)
