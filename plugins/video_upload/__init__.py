"""Capture source for face video (telehealth): scored by a background job, not in the request.

Submit ``multipart/form-data`` with a ``video`` file part (MP4/H.264, MOV, WebM) and a ``metadata``
part holding JSON ``{"patient": {...}, "captured_at": "...Z"}`` — the same keys as a keypoint
submission. At submission time only the metadata and the container are checked (cheap); landmark
extraction with MediaPipe Face Mesh runs in the job, reporting progress.
"""

from __future__ import annotations

import msgspec

from gateway import (
    DEFAULT_CLOCK_SKEW_S,
    CaptureRequest,
    InputError,
    LandmarkClip,
    PatientRef,
    Progress,
    hookimpl,
    parse_captured_at,
    parse_patient,
    refuse_unknown,
)
from plugins.video_upload.limits import VideoLimits
from plugins.video_upload.schema import FORMS, METADATA_KEYS

VIDEO_PART, METADATA_PART = "video", "metadata"
PLUGIN = "video_upload"


class VideoUpload:
    name = PLUGIN
    deferred = True
    forms = FORMS

    def __init__(self, limits: VideoLimits | None = None, max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S) -> None:
        self.limits = limits or VideoLimits()
        self.max_clock_skew_s = max_clock_skew_s

    def accepts(self, request: CaptureRequest) -> bool:
        return request.media_type == "multipart/form-data" and VIDEO_PART in request.files

    def _metadata(self, request: CaptureRequest) -> tuple[PatientRef, object]:
        raw = request.fields.get(METADATA_PART)
        if raw is None:
            raise InputError(METADATA_PART, 'part is required: JSON {"patient": {...}, "captured_at": "2026-11-23T10:00:00Z"}')
        try:
            metadata = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise InputError(METADATA_PART, f"is not valid JSON: {exc}") from None
        except RecursionError:
            raise InputError(METADATA_PART, "JSON is nested too deeply; the metadata nests at most 3 levels") from None
        if not isinstance(metadata, dict):
            raise InputError(METADATA_PART, "must be a JSON object with patient and captured_at")
        refuse_unknown(METADATA_PART, metadata, METADATA_KEYS)
        refuse_unknown("", [*request.fields, *request.files], (VIDEO_PART, METADATA_PART))
        return parse_patient(metadata.get("patient")), parse_captured_at(metadata.get("captured_at"), self.max_clock_skew_s)

    def check(self, request: CaptureRequest) -> None:
        from plugins.video_upload.decode import probe

        self._metadata(request)
        probe(request.files[VIDEO_PART].path, self.limits)

    def warm(self) -> None:
        """Import OpenCV and MediaPipe and run one Face Mesh graph on a blank frame, so a worker pays
        that start-up before its first video rather than inside it."""
        import numpy as np

        from gateway import FaceMeshTracker
        from plugins.video_upload.extract import extract_landmarks  # noqa: F401  (imports cv2 and the decoder)

        with FaceMeshTracker() as tracker:
            tracker.process(np.zeros((64, 64, 3), np.uint8))

    def capture(self, request: CaptureRequest, progress: Progress | None = None) -> LandmarkClip:
        from gateway import FAILED_FACE_SHARE, no_face_message
        from plugins.video_upload.extract import extract_landmarks

        patient, captured_at = self._metadata(request)
        landmarks = extract_landmarks(request.files[VIDEO_PART].path, progress, limits=self.limits)
        share = landmarks.face_frames / max(len(landmarks.points), 1)
        if share < FAILED_FACE_SHARE:
            raise InputError(VIDEO_PART, no_face_message(share))
        return landmarks.to_clip(patient, captured_at)


@hookimpl
def register_settings(register):
    register(PLUGIN, VideoLimits)


@hookimpl
def register_capture_sources(register, settings):
    register(VideoUpload(settings.plugin_config(PLUGIN), settings.max_clock_skew_s))
