"""Capture source for landmarks computed elsewhere (an edge device or the EMR's own MediaPipe run).

Two forms, same metadata:

* JSON: ``{"patient": {...}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z",
  "frames": [[[x, y, z?] x 468] | null, ...], "image_size": [w, h]?}``
* multipart: a ``keypoints`` file part (``.npy`` array or ``.npz`` with a ``points`` array) of shape
  (frames, 468, 2|3), NaN rows for frames without a face, plus form fields ``patient_system`` and
  ``patient_value`` (or ``patient_reference``), ``fps``, ``captured_at`` and optional ``image_size``
  as ``"w,h"``.
"""

from __future__ import annotations

from gateway.contracts import CaptureRequest
from gateway.domain import LandmarkClip
from gateway.hookspecs import hookimpl
from plugins.keypoint_upload.parsing import clip_from_arrays_form, clip_from_json

JSON_TYPES = {"application/json"}
FORM_TYPES = {"multipart/form-data"}


class KeypointUpload:
    name = "keypoint_upload"
    deferred = False

    def accepts(self, request: CaptureRequest) -> bool:
        return request.media_type in JSON_TYPES or (request.media_type in FORM_TYPES and "keypoints" in request.files)

    def check(self, request: CaptureRequest) -> None:
        """Keypoints are parsed in full when captured, synchronously; nothing to check ahead."""

    def capture(self, request: CaptureRequest, progress=None) -> LandmarkClip:
        if request.media_type in JSON_TYPES:
            return clip_from_json(request.body)
        return clip_from_arrays_form(request.fields, request.files["keypoints"])


@hookimpl
def register_capture_sources(register, settings):
    register(KeypointUpload())
