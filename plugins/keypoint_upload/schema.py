"""The keypoint forms as OpenAPI request bodies (``gateway.web.openapi.Form``), with examples.

Parsing stays in ``parsing.py`` and ``binary.py`` (bounded, field-naming errors); these Structs only
describe the same forms to clients and API fuzzers. Key names are shared with the parser, so a key
documented here is a key the parser takes (``tests/unit/test_openapi.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from gateway import FILE, LANDMARK_COUNT, Form

PATIENT_EXAMPLE = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}}


class Identifier(msgspec.Struct, forbid_unknown_fields=True):
    system: Annotated[str, msgspec.Meta(min_length=1, max_length=256, examples=["urn:oid:1.2.36.146.595.217.0.1"])]
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=256, examples=["MRN-1234"])]


class Patient(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of ``identifier`` (a business identifier) or ``reference`` (``Patient/<id>``)."""

    identifier: Identifier | None = None
    reference: Annotated[str, msgspec.Meta(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")] | None = None


Point = Annotated[list[float], msgspec.Meta(min_length=2, max_length=3, description="[x, y] or [x, y, z], normalised to the image")]
Frame = Annotated[list[Point], msgspec.Meta(min_length=LANDMARK_COUNT, max_length=LANDMARK_COUNT)] | None


class KeypointSubmission(msgspec.Struct, forbid_unknown_fields=True):
    """MediaPipe Face Mesh landmarks: ``null`` for a frame without a face; at least 1 s and 30 face frames."""

    patient: Patient
    fps: Annotated[float, msgspec.Meta(ge=5, le=120)]
    captured_at: Annotated[datetime, msgspec.Meta(description="with a time zone, e.g. 2026-11-23T10:00:00Z")]
    frames: Annotated[list[Frame], msgspec.Meta(min_length=30)]
    image_size: Annotated[list[int], msgspec.Meta(min_length=2, max_length=2, description="[width, height] in pixels")] | None = None


class KeypointArrayForm(msgspec.Struct):
    """``keypoints``: ``.npy`` (or ``.npz`` with ``points``) of shape (frames, 468, 2|3), NaN rows for frames
    without a face. The patient as ``patient_system`` + ``patient_value``, or ``patient_reference``."""

    keypoints: Annotated[str, FILE]
    fps: Annotated[str, msgspec.Meta(examples=["30"])]
    captured_at: Annotated[str, msgspec.Meta(examples=["2026-11-23T10:00:00Z"])]
    patient_system: str | None = None
    patient_value: str | None = None
    patient_reference: str | None = None
    image_size: Annotated[str, msgspec.Meta(examples=["640,480"])] | None = None


FORMS = (
    Form(
        "application/json",
        KeypointSubmission,
        summary="Keypoints as JSON (abridged: a frame has 468 points, a clip 30+ frames)",
        example={
            "patient": PATIENT_EXAMPLE,
            "fps": 30,
            "captured_at": "2026-11-23T10:00:00Z",
            "image_size": [640, 480],
            "frames": [[[0.518, 0.5578, -0.02533], [0.51803, 0.52389, -0.06422]], None],
        },
    ),
    Form(
        "multipart/form-data",
        KeypointArrayForm,
        summary="Keypoints as a .npy/.npz array",
        example={
            "keypoints": "(binary .npy)",
            "patient_system": "urn:oid:1.2.36.146.595.217.0.1",
            "patient_value": "MRN-1234",
            "fps": "30",
            "captured_at": "2026-11-23T10:00:00Z",
            "image_size": "640,480",
        },
        encoding={"keypoints": "application/octet-stream"},
    ),
    Form(
        "application/x-pain-keypoints",
        {"type": "string", "format": "binary", "description": "layout in plugins/keypoint_upload/binary.py"},
        summary="The compact binary form for edge devices",
        example=None,
    ),
)
