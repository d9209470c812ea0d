"""Landmark preprocessing: the study's pipeline from raw Face Mesh points to model windows.

Order matters: resample to the model's 30 fps first (so gap lengths and windows are counted in model
frames), then bridge short detector drop-outs, then remove pose and scale with a similarity transform
on three stable anchors, then cut 1-second windows. Everything is vectorised over frames because
clips are thousands of frames and this runs on every submission.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import (
    LANDMARK_COUNT,
    MODEL_FPS,
    WINDOW_FRAMES,
    InputError,
    LandmarkClip,
    Windows,
    WindowSpan,
)

ANCHORS = (226, 446, 2)
"""Lateral canthi (subject's right, left) and subnasale: the study's deformation-resistant anchors."""

TARGET = np.array([[-0.585, -0.352], [0.585, -0.352], [0.0, 0.172]])
"""Where the anchors land, in image orientation (x right, y down).

Taken from MediaPipe's canonical face model (226/446 at x = ∓5.17, y = 2.54 cm; 2 at y = −2.09 cm),
centred and scaled by 1/8.83 cm so forehead (10) to chin (152) spans [-1, 1]. A front-facing face
therefore keeps its proportions and lies roughly within [-1, 1]².
"""


def umeyama(src: NDArray[Any], dst: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Similarity transform ``dst ≈ scale * src @ R.T + t`` as the study describes it.

    Works on ``(..., N, 2)`` point sets (``dst`` broadcasts), so one call fits every frame of a clip.
    Scale is the ratio of mean distances to the centroids; R comes from the SVD of the cross-covariance
    with the last singular direction flipped when needed, so a mirror image is never returned.
    Returns ``scale (...)``, ``R (..., 2, 2)``, ``t (..., 2)``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.broadcast_to(np.asarray(dst, dtype=np.float64), src.shape)
    mu_src, mu_dst = src.mean(axis=-2), dst.mean(axis=-2)
    src_c, dst_c = src - mu_src[..., None, :], dst - mu_dst[..., None, :]
    scale = np.linalg.norm(dst_c, axis=-1).mean(axis=-1) / np.linalg.norm(src_c, axis=-1).mean(axis=-1)
    u, _, vt = np.linalg.svd(np.swapaxes(dst_c, -1, -2) @ src_c)
    u[..., :, -1] *= np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)[..., None]
    rot = u @ vt
    t = mu_dst - scale[..., None] * (rot @ mu_src[..., None])[..., 0]
    return scale, rot, t


def _missing(points: NDArray[Any]) -> NDArray[np.bool_]:
    """Frames with any non-finite coordinate: MediaPipe found no (usable) face there."""
    missing: NDArray[np.bool_] = ~np.isfinite(points).all(axis=(1, 2))
    return missing


def _check_points(points: NDArray[Any]) -> NDArray[Any]:
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[1] != LANDMARK_COUNT or points.shape[2] not in (2, 3):
        raise InputError("frames", f"expected shape (frames, {LANDMARK_COUNT}, 2 or 3), got {points.shape}")
    return points


def normalise_frames(points: NDArray[Any], image_size: tuple[int, int] | None = None) -> NDArray[np.float32]:
    """Map every frame's anchors onto ``TARGET`` with one similarity transform per frame.

    Uses x, y only. MediaPipe divides x by width and y by height, so with ``image_size=(w, h)`` the
    points are first put back into pixels; otherwise a non-square video would distort rotations.
    Frames without a face (or with coincident anchors) come back as NaN. Returns (F, 468, 2) float32.
    """
    xy = _check_points(points)[..., :2].astype(np.float64)  # contiguous copy: viewable as complex
    if image_size is not None:
        xy[..., 0] *= image_size[0]
        xy[..., 1] *= image_size[1]
    ok = ~_missing(xy)
    # A proper 2-D similarity is multiplication by one complex number: ~3x faster than batched 2x2
    # matmuls. Frames without a fit get NaN parameters, so their output is NaN without masking.
    a, b = np.full((2, len(xy), 1), complex(np.nan, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):  # coincident anchors give NaN, i.e. missing
        scale, rot, t = umeyama(xy[ok][:, ANCHORS], TARGET)
        a[ok, 0] = scale * (rot[:, 0, 0] + 1j * rot[:, 1, 0])
        b[ok, 0] = t[:, 0] + 1j * t[:, 1]
        out = a * xy.view(np.complex128)[..., 0] + b
    normalised: NDArray[np.float32] = out.view(np.float64).reshape(xy.shape).astype(np.float32)
    return normalised


def resample(points: NDArray[Any], fps: float, target_fps: float = MODEL_FPS) -> NDArray[np.float64]:
    """Linear resampling in time to ``target_fps``, keeping the clip's duration.

    A target frame that falls between a missing frame and another frame is missing too (NaN
    propagates); one that lands exactly on a source frame copies it. Past the last source frame the
    last frame is held.
    """
    source = points
    points = np.asarray(points, dtype=np.float64)
    if not (np.isfinite(fps) and fps > 0):
        raise InputError("fps", f"must be a positive number, got {fps}")
    if fps == target_fps:  # the identity (each target frame lands on its source frame): a live second, a 30 fps upload
        return points.copy() if points is source else points
    n_src = points.shape[0]
    n_out = int(np.floor(n_src * target_fps / fps + 1e-9))
    pos = np.minimum(np.round(np.arange(n_out) * (fps / target_fps), 9), max(n_src - 1, 0))
    i0 = np.floor(pos).astype(int)
    w = pos - i0
    i1 = np.where(w > 0, np.minimum(i0 + 1, n_src - 1), i0)
    w = w[:, None, None]
    resampled: NDArray[np.float64] = points[i0] + w * (points[i1] - points[i0])
    return resampled


def fill_gaps(points: NDArray[Any], max_gap_frames: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Linearly bridge interior runs of missing frames no longer than ``max_gap_frames``.

    Short drop-outs (blinks of the detector, motion blur) would otherwise discard a whole window.
    Runs touching the clip's start or end are left missing: there is nothing to interpolate towards.
    Returns the filled copy and a boolean mask of the frames that were interpolated.
    """
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    missing = _missing(points)
    idx = np.arange(n)
    prev = np.maximum.accumulate(np.where(missing, -1, idx))
    nxt = np.minimum.accumulate(np.where(missing, n, idx)[::-1])[::-1]
    fill = missing & (prev >= 0) & (nxt < n) & (nxt - prev - 1 <= max_gap_frames)
    out = points.copy()
    p, q = prev[fill], nxt[fill]
    w = ((idx[fill] - p) / (q - p))[:, None, None]
    out[fill] = points[p] + w * (points[q] - points[p])
    return out, fill


def prepare(clip: LandmarkClip, stride_s: float = 1.0, max_gap_frames: int = 5) -> Windows:
    """Turn a clip into 1-second model windows (30 frames at 30 fps) every ``stride_s`` seconds.

    A window that still has a missing frame after gap filling is reported, with the reason, but not
    scored; a trailing partial window is dropped. ``Windows.data`` holds only scorable windows.
    """
    if not (np.isfinite(stride_s) and stride_s > 0):
        raise InputError("stride_s", f"must be a positive number of seconds, got {stride_s}")
    resampled = resample(_check_points(clip.points)[..., :2], clip.fps)
    if resampled.shape[0] < WINDOW_FRAMES:
        needed = WINDOW_FRAMES / MODEL_FPS
        raise InputError("frames", f"clip is {clip.duration_s:.2f} s; at least {needed:g} s is needed")
    filled, interpolated = fill_gaps(resampled, max_gap_frames)
    norm = normalise_frames(filled, clip.image_size)
    stride = stride_s * MODEL_FPS
    n_windows = int((norm.shape[0] - WINDOW_FRAMES) // stride) + 1
    starts = np.rint(np.arange(n_windows) * stride).astype(int)
    frames = starts[:, None] + np.arange(WINDOW_FRAMES)
    no_face = _missing(norm)[frames].sum(axis=1)
    n_interp = interpolated[frames].sum(axis=1)
    spans = [
        WindowSpan(
            index=i,
            start_s=round(start / MODEL_FPS, 6),
            end_s=round((start + WINDOW_FRAMES) / MODEL_FPS, 6),
            scorable=bool(k == 0),
            reason=None
            if k == 0
            else f"no face in {k} of {WINDOW_FRAMES} frames (gaps longer than {max_gap_frames} frames, or at the start or end of the clip, are not filled)",
            interpolated_frames=int(m),
        )
        for i, (start, k, m) in enumerate(zip(starts.tolist(), no_face.tolist(), n_interp.tolist(), strict=True))
    ]
    return Windows(spans=spans, data=norm[frames[no_face == 0]])
