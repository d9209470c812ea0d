"""Parse keypoint submissions into a ``LandmarkClip``; every error names the field to fix."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import msgspec
import numpy as np

from gateway.contracts import UploadedFile
from gateway.domain import InputError, LandmarkClip
from gateway.metadata import parse_captured_at, parse_patient

def parse_fps(raw: Any) -> float:
    try:
        fps = float(raw)
    except (TypeError, ValueError):
        raise InputError("fps", "is required: frames per second of the clip, a number between 5 and 120") from None
    if not np.isfinite(fps):
        raise InputError("fps", "must be a finite number between 5 and 120")
    return fps


def parse_image_size(raw: Any) -> tuple[int, int] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        raw = raw.replace("x", ",").split(",")
    try:
        width, height = (int(v) for v in raw)
    except (TypeError, ValueError):
        raise InputError("image_size", "must be [width, height] in pixels, e.g. [640, 480] or '640,480' in a form") from None
    if width <= 0 or height <= 0:
        raise InputError("image_size", "width and height must be positive")
    return width, height


class _JsonSubmission(msgspec.Struct):
    patient: Any = None
    fps: Any = None
    captured_at: Any = None
    frames: Any = None
    image_size: Any = None


def _frames_array(frames: Any) -> np.ndarray:
    if not isinstance(frames, list) or not frames:
        raise InputError("frames", "must be a non-empty list of frames, each 468 [x, y] or [x, y, z] points or null")
    first = next((f for f in frames if f is not None), None)
    if first is None:
        raise InputError("frames", "every frame is null: no face was found in the clip")
    try:
        dims = len(first[0])
        template = np.full((len(first), dims), np.nan)
        return np.array([template if f is None else f for f in frames], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        lengths = sorted({len(f) for f in frames if isinstance(f, list)})
        raise InputError(
            "frames",
            f"every frame must be a list of 468 points of equal length ([x, y] or [x, y, z]) or null; found frames with {lengths} points",
        ) from None


def clip_from_json(body: bytes) -> LandmarkClip:
    try:
        raw = msgspec.json.decode(body, type=_JsonSubmission)
    except msgspec.DecodeError as exc:
        if any(token in body for token in (b"NaN", b"Infinity")):
            raise InputError("frames", "contains NaN or Infinity, which JSON does not allow; send null for a frame without a face") from None
        raise InputError("body", f"is not a JSON object of the keypoint form: {exc}") from None
    return LandmarkClip(
        patient=parse_patient(raw.patient),
        captured_at=parse_captured_at(raw.captured_at),
        fps=parse_fps(raw.fps),
        points=_frames_array(raw.frames),
        image_size=parse_image_size(raw.image_size),
        source="keypoints/json",
    )


def _load_array(upload: UploadedFile) -> np.ndarray:
    try:
        loaded = np.load(io.BytesIO(upload.read()), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError("keypoints", f"is not a readable .npy or .npz file ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "points" not in loaded.files:
                raise InputError("keypoints", f".npz must contain an array named 'points'; it has {loaded.files}")
            loaded = loaded["points"]
    if not np.issubdtype(loaded.dtype, np.number):
        raise InputError("keypoints", f"array must be numeric, got dtype {loaded.dtype}")
    return loaded.astype(np.float64)


def clip_from_arrays_form(fields: dict[str, str], upload: UploadedFile) -> LandmarkClip:
    if fields.get("patient_reference"):
        patient = parse_patient({"reference": fields["patient_reference"]})
    elif fields.get("patient_system") or fields.get("patient_value"):
        patient = parse_patient({"identifier": {"system": fields.get("patient_system"), "value": fields.get("patient_value")}})
    else:
        raise InputError("patient", "form needs patient_system and patient_value, or patient_reference")
    return LandmarkClip(
        patient=patient,
        captured_at=parse_captured_at(fields.get("captured_at")),
        fps=parse_fps(fields.get("fps")),
        points=_load_array(upload),
        image_size=parse_image_size(fields.get("image_size")),
        source="keypoints/array",
    )
