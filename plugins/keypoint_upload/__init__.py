"""Capture source for landmarks computed elsewhere (an edge device or the EMR's own MediaPipe run).

Two forms, same metadata:

* JSON: ``{"patient": {...}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z",
  "frames": [[[x, y, z?] x 468] | null, ...], "image_size": [w, h]?}``
* multipart: a ``keypoints`` file part (``.npy`` array or ``.npz`` with a ``points`` array) of shape
  (frames, 468, 2|3), NaN rows for frames without a face, plus form fields ``patient_system`` and
  ``patient_value`` (or ``patient_reference``), ``fps``, ``captured_at`` and optional ``image_size``
  as ``"w,h"``.
* ``application/x-pain-keypoints``: the compact little-endian form for edge devices (``binary.py``).

Limits (frames, duration, JSON size) are the ``keypoint_upload`` settings section (``limits.py``).
"""

from __future__ import annotations

from gateway import DEFAULT_CLOCK_SKEW_S, CaptureRequest, LandmarkClip, hookimpl, refuse_unknown
from plugins.keypoint_upload.binary import MEDIA_TYPE as BINARY_TYPE
from plugins.keypoint_upload.binary import clip_from_binary
from plugins.keypoint_upload.limits import KeypointLimits
from plugins.keypoint_upload.parsing import clip_from_arrays_form, clip_from_json
from plugins.keypoint_upload.schema import FORMS

JSON_TYPES = {"application/json"}
FORM_TYPES = {"multipart/form-data"}
PLUGIN = "keypoint_upload"


class KeypointUpload:
    name = PLUGIN
    deferred = False
    forms = FORMS

    def __init__(self, limits: KeypointLimits | None = None, max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S) -> None:
        self.limits = limits or KeypointLimits()
        self.max_clock_skew_s = max_clock_skew_s

    def accepts(self, request: CaptureRequest) -> bool:
        return request.media_type in JSON_TYPES or request.media_type == BINARY_TYPE or (request.media_type in FORM_TYPES and "keypoints" in request.files)

    def check(self, request: CaptureRequest) -> None:
        """Keypoints are parsed in full when captured, synchronously; nothing to check ahead."""

    def capture(self, request: CaptureRequest, progress=None) -> LandmarkClip:
        if request.media_type in JSON_TYPES:
            return clip_from_json(request.body, self.limits, self.max_clock_skew_s)
        if request.media_type == BINARY_TYPE:
            return clip_from_binary(request.body, self.limits, self.max_clock_skew_s)
        refuse_unknown("", request.files, ("keypoints",))
        return clip_from_arrays_form(request.fields, request.files["keypoints"], self.limits, self.max_clock_skew_s)


@hookimpl
def register_settings(register):
    register(PLUGIN, KeypointLimits)


@hookimpl
def register_capture_sources(register, settings):
    register(KeypointUpload(settings.plugin_config(PLUGIN), settings.max_clock_skew_s))
