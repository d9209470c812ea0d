"""One builder for ``gateway.contract.domain.Assessment`` and its parts, so tests stop hand-writing
the fifteen required fields.

    make_assessment()                                  # a completed, unreviewed 5 s "mild" result
    make_assessment(id="a-2", level="significant")     # keyword overrides for any Assessment field
    make_assessment(level=None)                        # nothing scorable: no peaks, 0 scored windows
    make_assessment(start=T0, seconds=2.0, peaks={...}, windows=[make_window()])

``start`` and ``seconds`` place the clip (captured_at = effective_start = start, effective_end =
start + seconds, created_at = 1 s after the clip, frames = seconds * fps); ``level`` and ``peaks``
shape the default summary. Anything passed by name (``summary=``, ``model=``, ``created_at=``...)
wins over what the builder would derive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.contract.domain import Assessment, ModelInfo, PatientRef, Probabilities, Summary, WindowResult

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
PATIENT = PatientRef(system="urn:oid:1.2.3", value="MRN-1")
PEAKS = {"none": 0.1, "mild": 0.7, "significant": 0.2}


def make_model(**overrides: Any) -> ModelInfo:
    """The synthetic STA-LSTM the FHIR/HL7 tests describe; override any ModelInfo field."""
    fields: dict[str, Any] = {
        "model_id": "sta-lstm-synth",
        "version": "1.0.0",
        "sha256": "cd" * 32,
        "name": "STA-LSTM",
        "training_data": "synthetic landmark sequences",
    }
    return ModelInfo(**fields | overrides)


def make_summary(level: str | None = "mild", peaks: dict[str, float] | None = None, **overrides: Any) -> Summary:
    """A summary at ``level`` (None: nothing scorable, so no peaks and no scored windows)."""
    fields: dict[str, Any] = {
        "level": level,
        "rule": "test",
        "time_share": {},
        "peak_probability": {} if level is None else dict(PEAKS if peaks is None else peaks),
        "scored_windows": 0 if level is None else 5,
        "unscorable_windows": 0,
    }
    return Summary(**fields | overrides)


def make_window(
    index: int = 0,
    start_s: float | None = None,
    end_s: float | None = None,
    level: str | None = "mild",
    probabilities: Probabilities | tuple[float, float, float] | None = (0.2, 0.7, 0.1),
    **overrides: Any,
) -> WindowResult:
    """One window, scored at ``level`` unless ``level`` is None (then unscorable); one second long by default."""
    start_s = float(index) if start_s is None else start_s
    scored = level is not None
    fields: dict[str, Any] = {
        "index": index,
        "start_s": start_s,
        "end_s": start_s + 1.0 if end_s is None else end_s,
        "scorable": scored,
        "level": level,
        "probabilities": None
        if not scored or probabilities is None
        else probabilities
        if isinstance(probabilities, Probabilities)
        else Probabilities(*probabilities),
        "reason": None if scored else "no face",
    }
    return WindowResult(**fields | overrides)


def make_assessment(
    *, start: datetime = START, seconds: float = 5.0, level: str | None = "mild", peaks: dict[str, float] | None = None, **overrides: Any
) -> Assessment:
    """A stored (``completed``), unreviewed assessment; keyword overrides for any Assessment field."""
    fps = overrides.get("fps", 30.0)
    fields: dict[str, Any] = {
        "id": "asm-1",
        "status": "completed",
        "patient": PATIENT,
        "captured_at": start,
        "created_at": start + timedelta(seconds=seconds + 1),
        "source": "keypoints",
        "fps": fps,
        "frames": int(seconds * fps),
        "effective_start": start,
        "effective_end": start + timedelta(seconds=seconds),
        "model": make_model(),
        "windows": [],
        "summary": make_summary(level, peaks),
    }
    return Assessment(**fields | overrides)
