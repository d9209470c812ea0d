"""Scoring: landmarks → windows → model → explanations → summary, as one ``Assessment``.

Pure and synchronous (CPU work, run in a thread or a worker process); ``gateway.service.flow`` stores the
result and delivers it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import structlog
from numpy.typing import NDArray

from gateway.contract.domain import (
    DEFAULT_TENANT,
    LANDMARK_COUNT,
    LEVELS,
    WINDOW_FRAMES,
    Assessment,
    InputError,
    LandmarkClip,
    ModelOutput,
    Probabilities,
    WindowResult,
    Windows,
)
from gateway.contract.plugin_manager import Plugins
from gateway.contract.protocols import PainModel
from gateway.pipeline.clip_checks import check_clip
from gateway.pipeline.landmarks import prepare
from gateway.pipeline.quality import quality
from gateway.pipeline.reliability import reliability
from gateway.pipeline.summary import summarise

log = structlog.get_logger(__name__)

ASSESSMENT_NAMESPACE = uuid.UUID("6f1c1f9e-2d7a-5b7e-9a53-0c4e5d2b7a11")


@dataclass
class Scored:
    assessment: Assessment
    model_s: float = 0.0
    total_s: float = 0.0
    decode_s: float = 0.0  # landmarks from the submission, when the same call captured them
    kept_bytes: int = 0  # the kept landmarks' file (gateway.storage.kept_landmarks), accounted when stored


def content_id(clip: LandmarkClip, model_sha256: str, tenant: str, baseline: NDArray[Any] | None = None) -> str:
    """Same clip, patient, model, tenant and baseline the model used → same id, so a retried submission is
    recognised, not duplicated; anything that changes the result (e.g. ``image_size``, a neutral face stored
    since and used) makes a new assessment. Without a baseline the id is what it was before baselines counted."""
    digest = hashlib.sha256()
    digest.update(tenant.encode() + b"\0")
    digest.update(msgspec.json.encode(clip.patient))
    digest.update(f"{clip.image_size}".encode())
    digest.update(clip.captured_at.isoformat().encode())
    digest.update(f"{clip.fps:.6f}".encode())
    digest.update(np.ascontiguousarray(clip.points, dtype=np.float32).tobytes())
    digest.update(model_sha256.encode())
    if baseline is not None:
        digest.update(b"\0baseline\0" + np.ascontiguousarray(baseline, dtype=np.float32).tobytes())
    return str(uuid.uuid5(ASSESSMENT_NAMESPACE, digest.hexdigest()))


@dataclass
class ScoredWindows:
    windows: Windows
    output: ModelOutput
    results: list[WindowResult]  # one per span, scorable or not, each with its quality flags
    model_s: float


def score_windows(clip: LandmarkClip, model: PainModel, *, stride_s: float, max_gap_frames: int, baseline: NDArray[Any] | None) -> ScoredWindows:
    """The clip's windows through the model, each result with the quality of its frames: the one window
    scorer, for uploads (``score_clip``) and live sessions' seconds alike."""
    windows = replace(prepare(clip, stride_s=stride_s, max_gap_frames=max_gap_frames), baseline=baseline)
    started = time.perf_counter()
    output = model.predict(windows)
    model_s = time.perf_counter() - started
    check_output(model, output, len(windows.data))
    return ScoredWindows(windows, output, _results(clip, windows, _rows(output)), model_s)


def check_output(model: PainModel, output: ModelOutput, windows: int) -> None:
    """A model's output is a plugin's: one result per window, typicality (if any) one value in (0, 1] per window."""
    if len(output.probabilities) != windows:
        raise ValueError(f"model {model.info.model_id} returned {len(output.probabilities)} results for {windows} windows")
    if output.typicality is not None:
        typicality = np.asarray(output.typicality, dtype=np.float64)
        if typicality.shape != (windows,) or not ((typicality > 0) & (typicality <= 1)).all():
            raise ValueError(f"model {model.info.model_id} returned typicality of shape {typicality.shape}, not {windows} values in (0, 1]")


def _rows(output: ModelOutput) -> Iterator[tuple[NDArray[Any], float | None]]:
    """Each window's probabilities with its typicality (None when the model does not measure it)."""
    typicality = [None] * len(output.probabilities) if output.typicality is None else [round(float(t), 4) for t in output.typicality]
    return zip(output.probabilities, typicality, strict=True)


def _results(clip: LandmarkClip, windows: Windows, rows: Iterator[tuple[NDArray[Any], float | None]]) -> list[WindowResult]:
    results = []
    for span in windows.spans:
        frames = clip.points[int(span.start_s * clip.fps) : max(int(span.end_s * clip.fps), 1)]
        flags = quality(frames, clip.image_size)
        if span.scorable:
            row, typicality = next(rows)
            level = LEVELS[int(np.argmax(row))]
            results.append(WindowResult(span.index, span.start_s, span.end_s, True, level, Probabilities.from_row(row), quality=flags, typicality=typicality))
        else:
            results.append(WindowResult(span.index, span.start_s, span.end_s, False, reason=span.reason, quality=flags))
    return results


def score_window_batch(clips: Sequence[LandmarkClip], model: PainModel, *, max_gap_frames: int, baselines: Sequence[NDArray[Any] | None]) -> list[WindowResult]:
    """Many one-window clips (e.g. the seconds of many live sessions that closed together) through one model
    call per distinct baseline: each clip's result is ``score_windows(clip, ...).results[0]``, the model's fixed
    cost (a call, its threads) paid once for all of them instead of once each (3x less per window at 32)."""
    prepared = [replace(prepare(clip, stride_s=1.0, max_gap_frames=max_gap_frames), baseline=b) for clip, b in zip(clips, baselines, strict=True)]
    rows: list[tuple[NDArray[Any], float | None] | None] = [None] * len(clips)
    groups: dict[int, list[int]] = {}
    for i, b in enumerate(baselines):
        groups.setdefault(id(b), []).append(i)
    for members in groups.values():
        scorable = [i for i in members if len(prepared[i].data)]
        if not scorable:
            continue
        data = np.concatenate([prepared[i].data[:1] for i in scorable])
        started = time.perf_counter()
        output = model.predict(Windows(spans=[prepared[i].spans[0] for i in scorable], data=data, baseline=baselines[scorable[0]]))
        log.debug("window_batch_scored", windows=len(scorable), model_s=round(time.perf_counter() - started, 4))
        check_output(model, output, len(scorable))
        for i, row in zip(scorable, _rows(output), strict=True):
            rows[i] = row
    return [_results(clip, windows, iter([] if row is None else [row]))[0] for clip, windows, row in zip(clips, prepared, rows, strict=True)]


def score_clip(
    clip: LandmarkClip,
    plugins: Plugins,
    *,
    tenant: str = DEFAULT_TENANT,
    assessment_id: str | None = None,
    baseline: NDArray[Any] | None = None,
) -> Scored:
    """Score a clip for a tenant. Background jobs pass their submission's id (else the id derives from
    the content); ``baseline`` is the patient's stored neutral face (``gateway.storage.baselines``), if any."""
    started = time.perf_counter()
    settings = plugins.settings
    check_clip(clip, settings)
    model = plugins.model()
    scored = score_windows(clip, model, stride_s=settings.window_stride_s, max_gap_frames=settings.max_gap_frames, baseline=baseline)
    windows, output, results, model_s = scored.windows, scored.output, scored.results, scored.model_s

    explanations = []
    for explainer in plugins.explainers:
        try:
            if len(windows.data):
                explanations.append(explainer.explain(windows, output, model.predict))
        except Exception as exc:  # an explainer bug must not lose the score
            log.warning("explainer_failed", explainer=explainer.name, error=f"{type(exc).__name__}: {exc}")

    start = _utc(clip.captured_at)
    assessment = Assessment(
        id=assessment_id or content_id(clip, model.info.sha256, tenant, baseline if output.personalised else None),
        tenant=tenant,
        status="completed",
        patient=clip.patient,
        captured_at=start,
        created_at=datetime.now(UTC),
        source=clip.source,
        fps=clip.fps,
        frames=clip.frames,
        effective_start=start,
        effective_end=start + timedelta(seconds=clip.duration_s),
        model=model.info,
        windows=results,
        summary=summarise(results, settings.sustained_windows),
        explanations=explanations,
        quality=quality(clip.points, clip.image_size),
        personalised=output.personalised,
        reliability=reliability(
            results, model.info, personalised=output.personalised, measured_typicality=output.typicality is not None, below=settings.typicality_below
        ),
        disclaimer=model.info.disclaimer,
    )
    return Scored(assessment, model_s=model_s, total_s=time.perf_counter() - started)


def _utc(moment: datetime) -> datetime:
    """``9999-12-31T23:59:59-01:00`` is valid ISO 8601 but past year 9999 in UTC: the client's mistake."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InputError("captured_at", "is out of range once converted to UTC (years 1-9999)") from None


def warm_model(plugins: Plugins) -> None:
    """Load the configured model's weights and run torch's first (slowest) inference on one blank window,
    so the first assessment does not pay for them (seconds). Best effort: a failure is logged and the
    model loads lazily as before (and reports the real error then)."""
    try:
        plugins.model().predict(Windows(spans=[], data=np.zeros((1, WINDOW_FRAMES, LANDMARK_COUNT, 2), np.float32)))
    except Exception as exc:
        log.warning("worker_warm_up_failed", part="model", error=f"{type(exc).__name__}: {exc}")
