"""On-disk format for labelled clips: what a site trains on and what clinician review will export.

A dataset is a directory of ``.npz`` files, one clip each (``numpy.savez_compressed``). Keys:

=================  ========  ==========================================================================
key                required  content
=================  ========  ==========================================================================
``format``         yes       the string ``pain-gateway-clip/1``
``landmarks``      yes       float (frames, 468, 2 or 3): MediaPipe Face Mesh output, x and y normalised
                             by image width and height (z optional); a frame without a face is all NaN
``fps``            yes       frames per second, 5-120
``labels``         yes       int (seconds,), one per whole second of the clip (``floor(frames / fps)``):
                             0 none, 1 mild, 2 significant (``gateway.contract.domain.LEVELS``), -1 unlabelled
``patient_id``     yes       non-empty string; splits and confidence intervals are by patient
``nrs``            no        self-reported NRS 0-10 for the clip, NaN when not asked
``image_size``     no        int (2,) width, height in pixels; makes the normalisation aspect-correct
``metadata``       no        JSON object as a string (``{"role": "neutral_baseline"}`` marks a
                             patient's neutral clip for personalised scoring; anything else is kept)
``signal_mask``    no        float (468,) where the label's signal lives, for synthetic data only
=================  ========  ==========================================================================

Second ``s`` covers frames ``[s * fps, (s + 1) * fps)``; a trailing part-second is unlabelled. The
format is deliberately flat (no nesting, no pickles) so it stays readable from any language.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import LANDMARK_COUNT, LEVELS, LandmarkClip, PatientRef

FORMAT = "pain-gateway-clip/1"
REQUIRED = ("format", "landmarks", "fps", "labels", "patient_id")
OPTIONAL = ("nrs", "image_size", "metadata", "signal_mask")
UNLABELLED = -1
"""The label of a clip nobody labelled (a baseline, an unreviewed export)."""

NEUTRAL_ROLE = "neutral_baseline"
"""The role of a patient's neutral-face clip in a dataset: the baseline a personalised model scores against."""


class DatasetError(ValueError):
    """One or more clips break the format; the message names each file and key."""


@dataclass(frozen=True)
class LabelledClip:
    """One clip of the dataset in memory."""

    landmarks: NDArray[Any]  # (frames, 468, 2|3) float32
    fps: float
    labels: NDArray[Any]  # (seconds,) int8
    patient_id: str
    nrs: float = math.nan
    image_size: tuple[int, int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    signal_mask: NDArray[Any] | None = None
    name: str = ""

    @property
    def is_neutral_baseline(self) -> bool:
        return self.metadata.get("role") == NEUTRAL_ROLE

    def landmark_clip(self) -> LandmarkClip:
        """The clip as the scoring pipeline takes it (``gateway.pipeline.landmarks.prepare``)."""
        return LandmarkClip(
            patient=PatientRef(value=self.patient_id),
            captured_at=datetime(2000, 1, 1, tzinfo=UTC),
            fps=self.fps,
            points=self.landmarks,
            image_size=self.image_size,
            source="dataset",
        )


def clip_problems(data: dict[str, Any]) -> list[str]:
    """Everything wrong with one clip's arrays, as ``key: what`` strings (empty when valid)."""
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        return [f"{k}: missing (required keys: {', '.join(REQUIRED)})" for k in missing]
    problems = [f"{k}: unknown key (known: {', '.join(REQUIRED + OPTIONAL)})" for k in data if k not in REQUIRED + OPTIONAL]
    if str(data["format"]) != FORMAT:
        problems.append(f"format: {str(data['format'])!r}, expected {FORMAT!r}")
    points = np.asarray(data["landmarks"])
    if points.ndim != 3 or points.shape[1] != LANDMARK_COUNT or points.shape[2] not in (2, 3):
        return problems + [f"landmarks: shape {points.shape}, expected (frames, {LANDMARK_COUNT}, 2 or 3)"]
    if not np.issubdtype(points.dtype, np.floating):
        problems.append(f"landmarks: dtype {points.dtype}, expected float")
    else:
        face = np.isfinite(points).all(axis=(1, 2))
        partial = ~face & ~np.isnan(points).all(axis=(1, 2))
        if partial.any():
            problems.append(f"landmarks: frame {int(np.argmax(partial))} is partly NaN/inf; a frame without a face must be all NaN")
    fps = float(np.asarray(data["fps"]))
    if not 5 <= fps <= 120:
        return problems + [f"fps: {fps}, expected 5-120"]
    labels = np.asarray(data["labels"])
    seconds = int(points.shape[0] // fps)
    if labels.shape != (seconds,) or not np.issubdtype(labels.dtype, np.integer):
        problems.append(f"labels: shape {labels.shape} dtype {labels.dtype}, expected ({seconds},) int: one per whole second")
    elif not np.isin(labels, [UNLABELLED, *range(len(LEVELS))]).all():
        problems.append(f"labels: values {sorted(set(labels.tolist()))}, expected 0 none, 1 mild, 2 significant or -1")
    if not str(data["patient_id"]).strip():
        problems.append("patient_id: empty")
    if "nrs" in data and not (np.isnan(nrs := float(np.asarray(data["nrs"]))) or 0 <= nrs <= 10):
        problems.append(f"nrs: {nrs}, expected 0-10 or NaN")
    if "image_size" in data and (np.shape(data["image_size"]) != (2,) or (np.asarray(data["image_size"]) <= 0).any()):
        problems.append(f"image_size: {np.asarray(data['image_size']).tolist()}, expected [width, height] > 0")
    if "metadata" in data:
        try:
            if not isinstance(json.loads(str(data["metadata"])), dict):
                problems.append("metadata: not a JSON object")
        except json.JSONDecodeError as exc:
            problems.append(f"metadata: not JSON ({exc})")
    if "signal_mask" in data and np.shape(data["signal_mask"]) != (LANDMARK_COUNT,):
        problems.append(f"signal_mask: shape {np.shape(data['signal_mask'])}, expected ({LANDMARK_COUNT},)")
    return problems


def save_clip(path: str | Path, clip: LabelledClip) -> Path:
    """Write one clip; refuses (``DatasetError``) to write something ``load_clip`` would reject."""
    data: dict[str, Any] = {
        "format": np.str_(FORMAT),
        "landmarks": np.asarray(clip.landmarks, dtype=np.float32),
        "fps": np.float64(clip.fps),
        "labels": np.asarray(clip.labels, dtype=np.int8),
        "patient_id": np.str_(clip.patient_id),
        "nrs": np.float64(clip.nrs),
        "metadata": np.str_(json.dumps(clip.metadata, sort_keys=True)),
    }
    if clip.image_size is not None:
        data["image_size"] = np.asarray(clip.image_size, dtype=np.int32)
    if clip.signal_mask is not None:
        data["signal_mask"] = np.asarray(clip.signal_mask, dtype=np.float32)
    problems = clip_problems(data)
    if problems:
        raise DatasetError(f"{path}: " + "; ".join(problems))
    path = Path(path)
    np.savez_compressed(path, **data)
    return path


def load_clip(path: str | Path) -> LabelledClip:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable .npz without pickles ({exc})") from None
    problems = clip_problems(data)
    if problems:
        raise DatasetError(f"{path}: " + "; ".join(problems))
    return LabelledClip(
        landmarks=data["landmarks"].astype(np.float32),
        fps=float(data["fps"]),
        labels=data["labels"].astype(np.int8),
        patient_id=str(data["patient_id"]),
        nrs=float(data.get("nrs", math.nan)),
        # clip_problems checked its shape is (2,)
        image_size=cast("tuple[int, int]", tuple(int(v) for v in data["image_size"])) if "image_size" in data else None,
        metadata=json.loads(str(data["metadata"])) if "metadata" in data else {},
        signal_mask=data["signal_mask"].astype(np.float32) if "signal_mask" in data else None,
        name=path.stem,
    )


def load_dataset(directory: str | Path, patients: Iterable[str] | None = None) -> list[LabelledClip]:
    """All clips in ``directory`` (sorted by file name), optionally only those of ``patients``.

    Reports every bad file at once, so a site fixes its export in one pass.
    """
    files = sorted(Path(directory).glob("*.npz"))
    if not files:
        raise DatasetError(f"{directory}: no .npz clips")
    wanted = None if patients is None else set(patients)
    clips, errors = [], []
    for path in files:
        try:
            clip = load_clip(path)
        except DatasetError as exc:
            errors.append(str(exc))
            continue
        if wanted is None or clip.patient_id in wanted:
            clips.append(clip)
    if errors:
        raise DatasetError(f"{len(errors)} of {len(files)} clips are invalid:\n" + "\n".join(errors))
    return clips
