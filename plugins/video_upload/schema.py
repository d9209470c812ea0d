"""The video upload form as an OpenAPI request body (``gateway.web.openapi.Form``), with an example."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway import FILE, Form

METADATA_KEYS = ("patient", "captured_at")


class VideoForm(msgspec.Struct):
    """``video``: MP4/H.264, MOV, WebM/Matroska or AVI. ``metadata``: JSON with ``patient`` (as in the keypoint
    form) and ``captured_at`` (with a time zone)."""

    video: Annotated[str, FILE]
    metadata: Annotated[
        str,
        msgspec.Meta(
            description='JSON {"patient": {...}, "captured_at": "..."}',
            examples=['{"patient": {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-1234"}}, "captured_at": "2026-11-23T10:05:00Z"}'],
        ),
    ]


FORMS = (
    Form(
        "multipart/form-data",
        VideoForm,
        summary="A face video, scored by a background job (202 and a Location to poll)",
        example={
            "video": "(binary MP4)",
            "metadata": '{"patient": {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}}, "captured_at": "2026-11-23T10:05:00Z"}',
        },
        encoding={"video": "video/mp4, video/quicktime, video/webm, video/x-matroska, video/x-msvideo", "metadata": "application/json"},
    ),
)
