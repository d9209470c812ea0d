"""Checks every landmark clip must pass, whichever capture source produced it.

Beyond "can it be scored", a clip must be *plausible*: MediaPipe's normalised coordinates (pixels or
garbage such as 1e300 would be scored as a face), a capture time that is neither in the future nor
decades old, and patient identifiers that are short, printable text (they are re-emitted into FHIR,
whose strings forbid control characters, and into HL7 v2).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import LANDMARK_COUNT, WINDOW_FRAMES, InputError, LandmarkClip, PatientRef

if TYPE_CHECKING:
    from gateway.ops.settings import Settings

FPS_RANGE = (5.0, 120.0)

XY_RANGE = (-0.5, 1.5)
"""Normalised x (÷ width) and y (÷ height) may stray this far outside the image: MediaPipe extrapolates
landmarks of a face cut by the frame edge, but never by more than about half a frame."""

Z_LIMIT = 2.0
"""|z| at most this: MediaPipe's relative depth is on the scale of x (a face spans roughly ±0.2)."""

CAPTURED_AT_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
"""Earliest accepted capture time: no clip scored here was recorded with MediaPipe before 2000, and an
epoch-zero or year-1 time is a missing clock, not a capture."""

DEFAULT_CLOCK_SKEW_S = 300.0
"""How far in the future ``captured_at`` may lie (the device's clock runs ahead); PAIN_GATEWAY_MAX_CLOCK_SKEW_S."""

MAX_IDENTIFIER_CHARS = 256
"""Patient identifier system and value: FHIR puts no limit, but MRNs and system URIs are short; 5 MB
identifiers only serve to bloat every document that repeats them."""

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction marks, embeddings, overrides and isolates: invisible, and they make a displayed identifier
read differently from the stored one (the "Trojan Source" trick)."""

_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories never in an identifier: controls, format characters (zero-width space and joiners,
soft hyphen, bidi marks), surrogates, private use, unassigned, line and paragraph separators. Two MRNs
that look the same on screen must be the same MRN."""


def check_clip(clip: LandmarkClip, settings: Settings | None = None, now: datetime | None = None) -> None:
    """Raise ``InputError`` naming the field when a clip cannot be scored as submitted.

    ``settings`` supplies the clock skew (defaults when None); ``now`` is for tests.
    """
    points = clip.points
    check_patient_ref(clip.patient)
    check_captured_at(clip.captured_at, _skew(settings), now)
    if not FPS_RANGE[0] <= clip.fps <= FPS_RANGE[1]:
        raise InputError("fps", f"must be between {FPS_RANGE[0]:g} and {FPS_RANGE[1]:g} frames per second, got {clip.fps:g}")
    if points.ndim != 3 or points.shape[1] != LANDMARK_COUNT or points.shape[2] not in (2, 3):
        raise InputError(
            "frames",
            f"expected shape (frames, {LANDMARK_COUNT}, 2 or 3) — {LANDMARK_COUNT} Face Mesh landmarks of [x, y] or "
            f"[x, y, z] per frame — got {tuple(points.shape)}",
        )
    face = ~np.isnan(points).all(axis=(1, 2))
    partial = np.isnan(points[face]).any(axis=(1, 2))
    if partial.any():
        first = int(np.flatnonzero(face)[np.argmax(partial)])
        raise InputError("frames", f"frame {first} has missing coordinates; send null for a whole frame without a face")
    if not np.isfinite(points[face]).all():
        first = int(np.flatnonzero(face)[np.argmax(~np.isfinite(points[face]).all(axis=(1, 2)))])
        raise InputError("frames", f"frame {first} contains an infinite coordinate; coordinates must be finite numbers")
    check_coordinates(points, face)
    usable = int(face.sum())
    if usable < WINDOW_FRAMES:
        raise InputError(
            "frames",
            f"only {usable} frames contain a face; at least {WINDOW_FRAMES} are needed to score one window",
        )
    if clip.duration_s < 1.0:
        raise InputError("frames", f"clip lasts {clip.duration_s:.2f} s at {clip.fps:g} fps; at least 1 second is needed")
    if clip.image_size is not None and (len(clip.image_size) != 2 or min(clip.image_size) <= 0):
        raise InputError("image_size", "must be [width, height] in pixels, both positive")


def check_coordinates(points: NDArray[Any], face: NDArray[Any]) -> None:
    """Face frames' x, y within ``XY_RANGE`` and z within ±``Z_LIMIT``; pixel coordinates get told so."""
    low, high = XY_RANGE
    for axis, name in ((0, "x"), (1, "y")):
        values = points[face, :, axis]
        bad = (values < low) | (values > high)
        if bad.any():
            frame, landmark = (int(i) for i in np.argwhere(bad)[0])
            value = float(values[frame, landmark])
            frame = int(np.flatnonzero(face)[frame])
            hint = (
                "; these look like pixel coordinates: divide x by the image width and y by the image height (MediaPipe's normalised landmarks)"
                if np.nanmax(values) > 2.0 and np.nanmin(values) >= -1.0 and np.nanmax(values) < 100_000
                else ""
            )
            raise InputError(
                "frames",
                f"frame {frame}, landmark {landmark}: {name} = {value:g} is outside the image; coordinates are normalised "
                f"to 0..1 by the image size and may lie within {low:g}..{high:g}{hint}",
            )
    if points.shape[2] == 3:
        z = points[face, :, 2]
        bad = np.abs(z) > Z_LIMIT
        if bad.any():
            frame, landmark = (int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                "frames",
                f"frame {int(np.flatnonzero(face)[frame])}, landmark {landmark}: z = {float(z[frame, landmark]):g} is implausible; "
                f"MediaPipe's relative depth lies within ±{Z_LIMIT:g}",
            )


def check_captured_at(moment: datetime, max_skew_s: float = DEFAULT_CLOCK_SKEW_S, now: datetime | None = None) -> None:
    """Not before ``CAPTURED_AT_FLOOR`` nor later than now plus the allowed clock skew.

    Also keeps later arithmetic (the effective period's end) from overflowing on year 9999.
    """
    now = now or datetime.now(UTC)
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InputError("captured_at", "is outside the representable range of dates") from None
    if utc < CAPTURED_AT_FLOOR:
        raise InputError("captured_at", f"{utc:%Y-%m-%d} is before {CAPTURED_AT_FLOOR:%Y-%m-%d}, the earliest accepted capture time")
    if utc > now + timedelta(seconds=max_skew_s):
        raise InputError(
            "captured_at",
            f"{utc:%Y-%m-%dT%H:%M:%SZ} is in the future (the gateway's clock reads {now:%Y-%m-%dT%H:%M:%SZ}; allowed clock skew "
            f"{max_skew_s:g} s, PAIN_GATEWAY_MAX_CLOCK_SKEW_S); check the capturing device's clock",
        )


def check_identifier(field: str, text: str) -> None:
    """At most ``MAX_IDENTIFIER_CHARS`` printable characters: no control or bidi-override characters.

    The message never repeats the text: it may be a patient identifier.
    """
    if len(text) > MAX_IDENTIFIER_CHARS:
        raise InputError(field, f"is {len(text)} characters long; at most {MAX_IDENTIFIER_CHARS} are accepted")
    for i, char in enumerate(text):
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _INVISIBLE:
            raise InputError(
                field,
                f"contains the invisible or control character U+{ord(char):04X} at position {i}; identifiers must be printable "
                "text (no NUL, tabs, line or paragraph separators, zero-width or format characters, bidirectional overrides)",
            )


def check_patient_ref(patient: PatientRef) -> None:
    for name in ("system", "value"):
        text = getattr(patient, name)
        if text is not None:
            check_identifier(f"patient.identifier.{name}", text)
    if patient.reference is not None:
        check_identifier("patient.reference", patient.reference)


def _skew(settings: Settings | None) -> float:
    return DEFAULT_CLOCK_SKEW_S if settings is None else settings.max_clock_skew_s
