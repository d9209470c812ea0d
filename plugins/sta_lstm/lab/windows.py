"""Labelled clips to model windows: the production preprocessing, a 1-s evaluation grid, adaptive stride.

Clips are resampled, gap-filled and normalised exactly as ``gateway.pipeline.landmarks.prepare`` does, then
kept as one frame array with window start indices, so overlapping training windows cost no memory
until a batch is gathered. A window's label is the label of the second holding its centre frame;
windows with a frame that is still missing, or whose second is unlabelled, are skipped. Neutral
baseline clips are not windows: they are the personal reference (``plugins.sta_lstm.personal``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gateway import LEVELS, MODEL_FPS, UNLABELLED, WINDOW_FRAMES, LabelledClip, fill_gaps, normalise_frames, resample

EVAL_STRIDE = int(MODEL_FPS)  # one window per labelled second, as the gateway scores (stride 1 s)
TRAIN_STRIDE = EVAL_STRIDE // 2  # the median level's training stride: 30 frames left only 774 windows of 72 patients
STRIDE_LIMITS = (3, 90)  # frames: densest minority sampling, sparsest majority sampling


@dataclass(frozen=True)
class WindowSet:
    frames: np.ndarray  # (total frames, 468, 2) float32, every clip's normalised frames end to end
    starts: np.ndarray  # (n,) first frame of each window in ``frames``
    labels: np.ndarray  # (n,) int64
    patients: np.ndarray  # (n,) patient id of each window

    def __len__(self) -> int:
        return len(self.starts)

    def data(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(k, 30, 468, 2) windows, gathered on demand."""
        return self.frames[self.starts[index][:, None] + np.arange(WINDOW_FRAMES)]

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(LEVELS))


def normalised(clip: LabelledClip, max_gap_frames: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(model frames, 468, 2) normalised x, y and each model frame's second label."""
    points = resample(clip.landmarks[..., :2], clip.fps)
    frames = normalise_frames(fill_gaps(points, max_gap_frames)[0], clip.image_size)
    second = (np.arange(len(frames)) / MODEL_FPS).astype(int)
    labels = np.full(len(frames), UNLABELLED, np.int64)
    inside = second < len(clip.labels)
    labels[inside] = clip.labels[second[inside]]
    return frames, labels


Transform = Callable[[LabelledClip, np.ndarray], np.ndarray]
"""Maps a clip's normalised frames to model input (e.g. personalisation); identity when absent."""


def window_set(clips: Sequence[LabelledClip], strides: dict[int, int] | int = EVAL_STRIDE, transform: Transform | None = None) -> WindowSet:
    """Windows every ``strides[level]`` frames whose centre lies in a second of that level."""
    per_level = strides if isinstance(strides, dict) else dict.fromkeys(range(len(LEVELS)), strides)
    all_frames, starts, labels, patients, offset = [], [], [], [], 0
    for clip in (c for c in clips if not c.is_neutral_baseline):
        frames, frame_labels = normalised(clip)
        if transform is not None:
            frames = transform(clip, frames)
        missing = ~np.isfinite(frames).all(axis=(1, 2))
        n_windows = len(frames) - WINDOW_FRAMES + 1
        if n_windows <= 0:
            continue
        spoilt = np.convolve(missing, np.ones(WINDOW_FRAMES), "valid")[:n_windows] > 0
        centre = frame_labels[np.arange(n_windows) + WINDOW_FRAMES // 2]
        for level, stride in per_level.items():
            s = np.arange(0, n_windows, stride)
            s = s[(centre[s] == level) & ~spoilt[s]]
            starts.append(s + offset)
            labels.append(np.full(len(s), level))
            patients.append(np.full(len(s), clip.patient_id, dtype=object))
        all_frames.append(frames.astype(np.float32))
        offset += len(frames)
    if not all_frames:
        raise ValueError("no usable clips (every clip is a neutral baseline or shorter than a window)")
    order = np.argsort(np.concatenate(starts), kind="stable")
    return WindowSet(
        frames=np.concatenate(all_frames),
        starts=np.concatenate(starts)[order],
        labels=np.concatenate(labels).astype(np.int64)[order],
        patients=np.concatenate(patients)[order],
    )


def adaptive_strides(clips: Sequence[LabelledClip]) -> dict[int, int]:
    """The study's adaptive-stride resampling: denser windows for rarer levels, sparser for common ones.

    Each level's stride is its share of labelled seconds relative to the median level, times
    ``TRAIN_STRIDE`` frames, so every level yields about as many windows as the median one; no window
    is synthesised. Limits: 3 frames (windows that overlap by 90 % are near-copies) and 90 frames.
    """
    seconds = np.zeros(len(LEVELS))
    for clip in (c for c in clips if not c.is_neutral_baseline):
        labels = clip.labels[clip.labels != UNLABELLED]
        seconds += np.bincount(labels, minlength=len(LEVELS))
    target = np.median(seconds[seconds > 0])
    strides = np.clip(np.rint(TRAIN_STRIDE * seconds / target), *STRIDE_LIMITS).astype(int)
    return {level: int(s) for level, s in enumerate(strides) if seconds[level] > 0}


def concat(sets: Sequence[WindowSet]) -> WindowSet:
    """One WindowSet holding every window of ``sets`` (e.g. the same clips with and without a baseline)."""
    offsets = np.cumsum([0] + [len(w.frames) for w in sets[:-1]])
    return WindowSet(
        frames=np.concatenate([w.frames for w in sets]),
        starts=np.concatenate([w.starts + o for w, o in zip(sets, offsets, strict=False)]),
        labels=np.concatenate([w.labels for w in sets]),
        patients=np.concatenate([w.patients for w in sets]),
    )
