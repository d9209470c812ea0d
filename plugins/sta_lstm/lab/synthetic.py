"""Synthetic labelled clips with a known signal (painai §4.2), written in the dataset format.

Why: no pain-labelled landmarks may ship with the gateway, yet training, evaluation and the
explanation checks need data whose truth is known. Recipe per clip, all in centimetres on the real
base face (``face.py``), then projected to MediaPipe image coordinates:

1. identity: a real person's neutral landmarks from the identity bank's train people, or a new face
   drawn from the bank's PCA shape model (``bank_share`` of patients are bank people), then anisotropic
   scale, 4-8 smooth bumps, slight left/right asymmetry and an expressivity gain, with
   ``identity_strength`` multiplying those designed parts (3 makes faces differ far more than
   expressions do). ``identities="base"`` keeps generator 3's single astronaut face. The AU fields are
   carried onto each face by the similarity (scale, rotation) from the base face to it;
2. per second a pain level, drawn with ``prevalence`` and kept with ``persistence``; FACS-like
   intensities (0-5; AU43 0/1) are drawn until their score maps to that level (``Signal``);
3. onset dynamics: each second's intensities are reached from the previous second's after an onset at
   frame 0-6 and a 3-8 frame ramp; micro-motion 0.02 cm per landmark and frame;
4. distractors that are not pain: blinks (100-400 ms), talking (jaw at 3-5 Hz), smiles (half of them a
   real bank person's smile, smiling minus neutral photograph, carried onto the face), head turns
   up to ±30° yaw, pose and position drift, detector jitter 0.4-0.8 % of the inter-ocular distance,
   dropped frames (short runs the pipeline interpolates, and rare long ones it cannot);
5. perspective projection into a 640x480 frame, x and y normalised like MediaPipe.

Labels are PSPI-derived: PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 (0-16; our fused fields
carry the max), none 0-1, mild 2-5, significant >= 6. The thresholds are a design choice loosely
following the study's observer criteria, not a clinical standard. Every clip is fixed by
(seed, patient, clip): a split can be regenerated without the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from gateway import LEVELS, NEUTRAL_ROLE, LabelledClip, save_clip
from plugins.sta_lstm.lab.face import LEFT_EYE, RIGHT_EYE, Face, load_face
from plugins.sta_lstm.lab.identity_bank import load_bank

GENERATOR_VERSION = "5.0.0"
"""5: a share of steady frontal clips, eyes closed in fewer significant seconds, narrower expressivity gain;
4: real identities (bank people and its shape model), real smiles; 3: fields fade at the anchors."""
GRADED_MAX = 5


@dataclass(frozen=True)
class Signal:
    """Which fields carry the label, and the score (sum of intensities) where mild and significant start."""

    aus: tuple[str, ...]
    thresholds: tuple[int, int]

    def level(self, score: float) -> int:
        return int(np.searchsorted(self.thresholds, score, side="right"))


SIGNALS = {
    "pspi": Signal(("AU4", "AU6/7", "AU9/10", "AU43"), (2, 6)),
    # Single-region signals for the explanation sanity checks: intensity 0 none, 1-2 mild, 3-5 significant.
    "brow": Signal(("AU4",), (1, 3)),
    "mouth": Signal(("AU20",), (1, 3)),
}


@dataclass(frozen=True)
class Distractors:
    blink_rate_hz: float = 0.3
    talking: float = 0.3  # probability per clip
    smiling: float = 0.2
    head_turn: float = 0.3
    max_yaw_deg: float = 30.0
    start_pose_deg: tuple[float, float, float] = (15.0, 10.0, 8.0)  # yaw, pitch, roll at the clip's start, ±
    drift_deg: float = 0.3  # random-walk SD per frame
    jitter_iod: tuple[float, float] = (0.004, 0.008)
    drop_rate: float = 0.01  # per frame, runs of 1-3 frames
    long_drop: float = 0.1  # per clip, one run of 8-20 frames


CALM = Distractors(0.0, 0.0, 0.0, 0.0, 2.0, (2.0, 2.0, 2.0), 0.05, (0.0, 0.0), 0.0, 0.0)
"""Frontal, steady, no jitter and no distractor expressions: the explanation checks' setting."""


def steady(d: Distractors) -> Distractors:
    """``d`` with the patient still and facing the camera: no talking, smiles, turns or long drops, pose within 1°;
    blinks, detector jitter and short drops stay. Generator 4 had no such clip and its model placed the
    mild/significant boundary for moving heads: a held PSPI 5 was called significant in 8 % of moving windows
    but 34 % of steady ones, and the held-out real people's clips are steady (``real_calibration``)."""
    return replace(
        d, talking=0.0, smiling=0.0, head_turn=0.0, max_yaw_deg=min(d.max_yaw_deg, 1.0),
        start_pose_deg=tuple(min(v, 1.0) for v in d.start_pose_deg), drift_deg=min(d.drift_deg, 0.02), long_drop=0.0,
    )  # fmt: skip


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    seconds: int = 8
    fps: float = 30.0
    prevalence: tuple[float, float, float] = (0.6, 0.25, 0.15)
    persistence: float = 0.6
    identity_strength: float = 1.0
    signal: str = "pspi"
    identities: str = "bank"  # "bank": real people and their shape model; "base": generator 3's astronaut only
    bank_share: float = 0.5  # of patients who are a bank person rather than a shape-model face
    real_smile: float = 0.5  # of smiles that are a bank person's real smile
    steady_share: float = 0.3  # of patients recorded ``steady(distractors)``, their neutral clip too
    closed_eyes: tuple[float, float, float] = (0.02, 0.1, 0.3)  # P(AU43) per level; generator 4 had 0.7 for significant
    expressivity: tuple[float, float] = (0.9, 1.1)  # range of the per-patient gain on every action unit
    none_zero: float = 0.8  # of none seconds with every action unit at 0 (pain-free video is mostly PSPI 0)
    mild_decay: float = 0.75  # see ``_intensities``
    distractors: Distractors = field(default_factory=Distractors)
    image_size: tuple[int, int] = (640, 480)

    def describe(self) -> dict:
        return {"generator": "plugins.sta_lstm.lab.synthetic", "generator_version": GENERATOR_VERSION, **asdict(self)}

    @classmethod
    def from_description(cls, described: dict) -> SynthConfig:
        """Inverse of ``describe``; refuses a description from another generator version (its data differs)."""
        if described["generator_version"] != GENERATOR_VERSION:
            raise ValueError(f"data from generator {described['generator_version']}, this is {GENERATOR_VERSION}")
        values = {k: v for k, v in described.items() if k not in ("generator", "generator_version")}
        distractors = Distractors(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.pop("distractors").items()})
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, distractors=distractors)


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and rotation of the least-squares similarity ``dst ≈ s R src + t`` (Umeyama 1991)."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    u, sigma, vt = np.linalg.svd(b.T @ a)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return float((sigma * np.diag(flip)).sum() / (a**2).sum()), u @ flip @ vt


def carry(field: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """A displacement field defined on face ``src`` expressed on face ``dst`` (scaled and rotated as the faces are)."""
    scale, rotation = similarity(src, dst)
    return scale * field @ rotation.T


def real_person(rng: np.random.Generator, config: SynthConfig) -> np.ndarray:
    """A neutral face (468, 3) cm: a train person of the bank or a draw from its shape model."""
    bank = load_bank()
    if rng.random() < config.bank_share:
        return bank.neutral[rng.choice(bank.of("train"))].astype(np.float64)
    return bank.sample_shape(rng)


def identity(face: Face, patient: int, config: SynthConfig) -> tuple[np.ndarray, float]:
    """A patient's neutral face (468, 3) and expressivity gain, fixed by (seed, patient)."""
    rng = np.random.default_rng([config.seed, 1, patient])
    k = config.identity_strength
    start = face.base if config.identities == "base" else real_person(rng, config)
    bumps = 0.15 if config.identities == "base" else 0.05  # real faces already differ; keep a little designed variety
    scale = 1 + k * rng.uniform(-0.08 if config.identities == "base" else -0.03, 0.08 if config.identities == "base" else 0.03, size=3)
    shape = start * scale * (1 + k * rng.uniform(-0.03, 0.03) * np.sign(start[:, :1]) * [1, 0, 0])
    for _ in range(rng.integers(4, 9)):
        centre = shape[rng.integers(len(shape))]
        weight = np.exp(-((shape - centre) ** 2).sum(1) / (2 * rng.uniform(1.0, 3.0) ** 2))[:, None]
        shape = shape + weight * rng.normal(0.0, bumps * k, size=3)
    return shape, float(rng.uniform(*config.expressivity))


def recorded_still(patient: int, config: SynthConfig) -> bool:
    """Whether the patient is recorded ``steady`` (with ``config.steady_share``), in every clip, the neutral one too:
    a still patient's stored baseline is as steady as their scored clips, as on a fixed bedside camera."""
    return bool(np.random.default_rng([config.seed, 3, patient]).random() < config.steady_share)


def _intensities(rng: np.random.Generator, level: int, signal: Signal, config: SynthConfig) -> np.ndarray:
    """FACS-like intensities (0-5; AU43 0/1) of ``signal.aus`` whose score falls in ``level``; the eyes are
    closed with ``config.closed_eyes[level]``. A *none* second is all zeros with ``config.none_zero``; a *mild*
    draw is kept with ``config.mild_decay`` per score point above the level's lowest, so faint mild seconds are
    not rarer than strong ones (uniform intensities made PSPI 2 only 15 % of mild seconds and PSPI 5 30 %)."""
    if level == 0 and rng.random() < config.none_zero:
        return np.zeros(len(signal.aus))
    graded = {0: (0, 2), 1: (0, 4), 2: (1, 6)}[level]
    p_closed = config.closed_eyes[level]
    for _ in range(1000):
        values = np.array([float(rng.random() < p_closed) if au == "AU43" else rng.integers(*graded) for au in signal.aus])
        if signal.level(values.sum()) != level:
            continue
        if level != 1 or rng.random() < config.mild_decay ** (values.sum() - signal.thresholds[0]):
            return values
    raise RuntimeError(f"cannot draw intensities for level {level} of {signal}")


def _levels(rng: np.random.Generator, config: SynthConfig) -> np.ndarray:
    """Per-second levels: a sticky chain whose fresh draws follow ``prevalence``."""
    fresh = rng.choice(len(LEVELS), size=config.seconds, p=config.prevalence)
    keep = rng.random(config.seconds) < config.persistence
    levels = fresh.copy()
    for s in range(1, config.seconds):
        levels[s] = levels[s - 1] if keep[s] else fresh[s]
    return levels


def _ramp(rng: np.random.Generator, frames: int, low: int, high: int) -> np.ndarray:
    """0 before a random onset in [low, high), then a 3-8 frame linear rise to 1."""
    t = np.arange(frames)
    return np.clip((t - rng.integers(low, high)) / rng.integers(3, 9), 0.0, 1.0)


def _signal_track(
    rng: np.random.Generator, levels: np.ndarray, signal: Signal, fps: int, config: SynthConfig, intensities: np.ndarray | None = None
) -> np.ndarray:
    """(frames, len(signal.aus)) amplitudes in [0, 1] with onset dynamics at each second; ``intensities``
    (seconds, len(signal.aus)) replaces the drawn ones."""
    targets = np.stack([_intensities(rng, int(lv), signal, config) for lv in levels]) if intensities is None else np.asarray(intensities, np.float64)
    targets = targets / np.array([1.0 if au == "AU43" else GRADED_MAX for au in signal.aus])
    previous = np.vstack([targets[:1] * (rng.random() < 0.5), targets[:-1]])
    ramps = np.stack([_ramp(rng, fps, 0, 7) for _ in levels])  # (seconds, fps)
    track = previous[:, None] + ramps[..., None] * (targets - previous)[:, None]
    return track.reshape(-1, len(signal.aus))


def _blinks(rng: np.random.Generator, frames: int, fps: float, rate_hz: float) -> np.ndarray:
    t, out = np.arange(frames), np.zeros(frames)
    for _ in range(rng.poisson(rate_hz * frames / fps)):
        mid, half = rng.uniform(0, frames), rng.integers(3, 13) / 2
        out = np.maximum(out, np.clip(1 - np.abs(t - mid) / half, 0, 1))
    return out


def _segment(rng: np.random.Generator, frames: int) -> np.ndarray:
    """1 on a random stretch of the clip (ramped in), 0 elsewhere."""
    start, length = rng.integers(0, frames), rng.integers(frames // 4, frames + 1)
    inside = (np.arange(frames) >= start) & (np.arange(frames) < start + length)
    return inside * _ramp(rng, frames, int(start), int(start) + 1)


def _distractor_tracks(rng: np.random.Generator, frames: int, fps: float, d: Distractors) -> dict[str, np.ndarray]:
    t = np.arange(frames) / fps
    talking = (rng.random() < d.talking) * _segment(rng, frames)
    jaw = talking * rng.uniform(0.2, 0.8) * 0.5 * (1 - np.cos(2 * np.pi * rng.uniform(3, 5) * t))
    smile = (rng.random() < d.smiling) * _segment(rng, frames) * rng.uniform(0.3, 1.0)
    return {"blink": _blinks(rng, frames, fps, d.blink_rate_hz), "AU26": jaw, "AU12": smile}


def _pose(rng: np.random.Generator, frames: int, d: Distractors) -> np.ndarray:
    """(frames, 3) yaw, pitch, roll in degrees: a start pose, maybe one head turn, mean-reverting drift."""
    start = rng.uniform(-1, 1, 3) * np.asarray(d.start_pose_deg)
    turn = np.zeros((frames, 3))
    if rng.random() < d.head_turn:
        turn[:, 0] = _ramp(rng, frames, 0, frames) * (rng.uniform(-d.max_yaw_deg, d.max_yaw_deg) - start[0])
    drift = np.zeros((frames, 3))
    steps = rng.normal(0.0, d.drift_deg, (frames, 3))
    for i in range(1, frames):
        drift[i] = 0.95 * drift[i - 1] + steps[i]
    pose = start + turn + drift
    pose[:, 0] = np.clip(pose[:, 0], -d.max_yaw_deg, d.max_yaw_deg)
    return pose


def _rotations(pose_deg: np.ndarray) -> np.ndarray:
    """(frames, 3, 3) R = Rz(roll) Ry(yaw) Rx(pitch)."""
    yaw, pitch, roll = np.deg2rad(pose_deg).T
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)

    def stack(rows):
        return np.stack([np.stack(r, -1) for r in rows], -2)

    ry = stack([[np.cos(yaw), zero, np.sin(yaw)], [zero, one, zero], [-np.sin(yaw), zero, np.cos(yaw)]])
    rx = stack([[one, zero, zero], [zero, np.cos(pitch), -np.sin(pitch)], [zero, np.sin(pitch), np.cos(pitch)]])
    rz = stack([[np.cos(roll), -np.sin(roll), zero], [np.sin(roll), np.cos(roll), zero], [zero, zero, one]])
    return rz @ ry @ rx


def _project(rng: np.random.Generator, points: np.ndarray, pose: np.ndarray, config: SynthConfig, d: Distractors) -> np.ndarray:
    """Rotate about the face centre, perspective-project, add jitter; returns (frames, 468, 2) in [0, 1]."""
    width, height = config.image_size
    frames = len(points)
    centre = points.mean(axis=(0, 1))
    posed = np.einsum("fij,fkj->fki", _rotations(pose), points - centre)
    distance = rng.uniform(45, 90) + np.cumsum(rng.normal(0, 0.05, frames))[:, None]
    focal = rng.uniform(1.0, 1.5) * width
    position = np.array([width, height]) * rng.uniform([0.35, 0.35], [0.65, 0.6])
    position = position + np.cumsum(rng.normal(0, 0.3, (frames, 2)), axis=0)
    pixels = focal * posed[..., :2] / (distance + posed[..., 2])[..., None] + position[:, None]
    iod = np.linalg.norm(pixels[:, list(RIGHT_EYE)].mean(1) - pixels[:, list(LEFT_EYE)].mean(1), axis=1)
    pixels += rng.normal(size=pixels.shape) * (rng.uniform(*d.jitter_iod) * iod)[:, None, None]
    return pixels / np.array([width, height])


def _drop_frames(rng: np.random.Generator, landmarks: np.ndarray, d: Distractors) -> None:
    frames = len(landmarks)
    for start in np.flatnonzero(rng.random(frames) < d.drop_rate):
        landmarks[start : start + rng.integers(1, 4)] = np.nan
    if rng.random() < d.long_drop:
        start = rng.integers(0, frames)
        landmarks[start : start + rng.integers(8, 21)] = np.nan


def generate_clip(
    patient: int, clip: int, config: SynthConfig, neutral: bool = False, levels: np.ndarray | None = None, intensities: np.ndarray | None = None
) -> LabelledClip:
    """One clip of ``config.seconds``; ``neutral`` makes the patient's no-pain baseline clip; ``levels``
    (one per second) replaces the drawn level sequence (the clip-rule study's pain episodes);
    ``intensities`` (seconds, signal AUs) holds chosen intensities instead of drawn ones, the seconds
    labelled by their score (the real-calibration study's boundary doses)."""
    face = load_face()
    signal = SIGNALS[config.signal]
    rng = np.random.default_rng([config.seed, 2, patient, clip, int(neutral)])
    fps = int(config.fps)
    frames = config.seconds * fps
    shape, gain = identity(face, patient, config)
    fields = {name: carry(f, face.base, shape) for name, f in face.fields.items()}
    if config.identities == "bank" and rng.random() < config.real_smile:
        bank = load_bank()
        person = rng.choice([i for i in bank.of("train") if np.isfinite(bank.smile[i]).all()])
        fields["AU12"] = carry(bank.smile[person].astype(np.float64), bank.neutral[person].astype(np.float64), shape)
    drawn = np.zeros(config.seconds, np.int64) if neutral else _levels(rng, config)
    if intensities is not None:
        levels = np.array([signal.level(v) for v in np.asarray(intensities).sum(1)], np.int64)
    levels = drawn if levels is None else np.asarray(levels, np.int64)
    amplitudes = dict(zip(signal.aus, _signal_track(rng, levels, signal, fps, config, intensities).T, strict=False))
    setting = steady(config.distractors) if recorded_still(patient, config) else config.distractors
    distractors = _distractor_tracks(rng, frames, config.fps, setting)
    amplitudes["AU43"] = np.maximum(amplitudes.get("AU43", 0.0), distractors.pop("blink"))
    for name, track in distractors.items():
        amplitudes[name] = amplitudes.get(name, 0.0) + track
    points = np.repeat(shape[None], frames, axis=0)
    for name, track in amplitudes.items():
        points += gain * np.asarray(track)[:, None, None] * fields[name]
    points += rng.normal(0.0, 0.02, points.shape)
    landmarks = _project(rng, points, _pose(rng, frames, setting), config, setting)
    _drop_frames(rng, landmarks, setting)
    return LabelledClip(
        landmarks=landmarks.astype(np.float32),
        fps=config.fps,
        labels=levels.astype(np.int8),
        patient_id=f"synth-{patient:05d}",
        image_size=config.image_size,
        metadata={"role": NEUTRAL_ROLE} if neutral else {"clip": clip},
        signal_mask=face.mask(signal.aus),
        name=f"synth-{patient:05d}-{'neutral' if neutral else clip}",
    )


def patient_number(patient_id: str) -> int:
    """Inverse of the ``synth-NNNNN`` naming, so a split of patient ids can be regenerated."""
    return int(patient_id.removeprefix("synth-"))


def regenerate(synth: dict, patient_ids: list[str]) -> list[LabelledClip]:
    """The clips a ``synth.json`` record wrote for ``patient_ids``, without generating anyone else's."""
    config = SynthConfig.from_description(synth["config"])
    numbers = [patient_number(p) for p in patient_ids]
    clips = [generate_clip(p, c, config) for p in numbers for c in range(synth["clips"])]
    return clips + ([generate_clip(p, 0, config, neutral=True) for p in numbers] if synth.get("neutral", True) else [])


def write_dataset(out: str | Path, patients: range, clips: int, config: SynthConfig, neutral: bool) -> list[Path]:
    """Write every patient's clips (plus a neutral baseline clip when asked) as ``.npz`` files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in patients:
        made = [generate_clip(p, c, config) for c in range(clips)]
        if neutral:
            made.append(generate_clip(p, 0, config, neutral=True))
        written += [save_clip(out / f"{c.name}.npz", c) for c in made]
    return written
