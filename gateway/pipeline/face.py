"""The face every plugin shares: seven anatomical regions covering all 468 Face Mesh landmarks, per-region
shares of a per-landmark weight (attention, occlusion), and the base face geometry.

The map follows the recipe in the project's research notes (painai.md §3.2): MediaPipe's official contour
sets (FACEMESH_LEFT/RIGHT_EYEBROW, _EYE, _NOSE, _LIPS, _FACE_OVAL) seed brow, eyes, nose and mouth,
forehead, jaw and cheeks get extra seeds, and every other vertex goes to its nearest seed on the
canonical face model. The canonical model is not in the mediapipe wheel, so the result is stored here
as data (ranges inclusive) rather than recomputed; tests check it against the official sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import LANDMARK_COUNT
from gateway.pipeline.landmarks import ANCHORS

BASE_FACE = Path(__file__).with_name("data") / "base_face.npy"
"""(468, 3) float array in centimetres: a real face (the scikit-image astronaut) as MediaPipe measured it."""

_SPEC = {
    "brow": ("8,9,46,52,53,55,63,65,66,70,71,105,107,124,139,156,223,224,225,276,282,283,285,293,295,296,300,301,334,336,353,368,383,443,444,445"),
    "eyes": (
        "7,22-30,33,47,56,110,112,113,114,120,121,128,130,133,144,145,153,154,155,"
        "157-161,163,173,189,190,221,222,226,229-233,243,244,245,246,247,249,252-260,"
        "263,277,286,339,341,342,343,349,350,357,359,362,373,374,380,381,382,"
        "384-388,390,398,413,414,441,442,446,449-453,463-467"
    ),
    "nose": (
        "1-6,19,20,44,45,48,49,51,59,60,64,75,79,94,97,98,99,102,115,122,125,"
        "126,129,131,134,141,164,166,167,168,174,188,193,195-198,209,217-220,235-242,"
        "248,250,274,275,278,279,281,289,290,294,305,309,326,327,328,331,344,351,"
        "354,355,358,360,363,370,392,393,399,412,417,419,420,429,437-440,455-462"
    ),
    "mouth": (
        "0,11-17,37-43,57,61,62,72-74,76-78,80-92,95,96,106,146,165,178-186,191,202,"
        "204,212,214,216,267-273,287,291,292,302-304,306-308,310-322,324,325,335,375,"
        "391,402-410,415,422,424,432,434,436"
    ),
    "cheeks": (
        "31,34,35,36,50,100,101,111,116-119,123,127,137,142,143,147,177,187,192,"
        "203,205-207,213,227,228,261,264,265,266,280,329,330,340,345-348,352,356,366,"
        "371,372,376,401,411,416,423,425-427,433,447,448"
    ),
    "jaw": (
        "18,32,58,93,132,135,136,138,140,148,149,150,152,169-172,175,176,194,199,"
        "200,201,208,210,211,215,234,262,288,323,361,364,365,367,369,377-379,394-397,"
        "400,418,421,428,430,431,435,454"
    ),
    "forehead": ("10,21,54,67,68,69,103,104,108,109,151,162,251,284,297,298,299,332,333,337,338,389"),
}


def _expand(spec: str) -> tuple[int, ...]:
    """``"7,22-24"`` -> ``(7, 22, 23, 24)``."""
    bounds = [part.partition("-") for part in spec.split(",")]
    return tuple(i for a, _, b in bounds for i in range(int(a), int(b or a) + 1))


REGIONS: dict[str, tuple[int, ...]] = {name: _expand(spec) for name, spec in _SPEC.items()}
"""Region name to landmark indices, in the order regions are listed in the notes."""

MEMBERSHIP = np.stack([np.isin(np.arange(LANDMARK_COUNT), m) for m in REGIONS.values()], axis=1).astype(float)
"""(468, regions) one-hot matrix: ``per_landmark @ MEMBERSHIP`` sums a quantity per region."""


def region_shares(alpha: NDArray[Any], beta: NDArray[Any]) -> NDArray[np.float64]:
    """(regions,) share of attention per region: per window the β-weighted mean of α over frames, anchors
    zeroed and renormalised, summed per region, then averaged over windows.

    A window whose β is all zero counts its frames equally rather than dropping out.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    beta = np.where(beta.sum(axis=1, keepdims=True) > 0, beta, 1.0)
    beta = beta / beta.sum(axis=1, keepdims=True)  # before multiplying, so tiny β cannot underflow
    per_landmark = np.einsum("nt,ntk->nk", beta, alpha)
    per_landmark[:, list(ANCHORS)] = 0.0
    per_landmark /= per_landmark.sum(axis=1, keepdims=True)
    shares: NDArray[np.float64] = (per_landmark @ MEMBERSHIP).mean(axis=0)
    return shares


LANDMARK_SHARES = np.delete(MEMBERSHIP, list(ANCHORS), axis=0).mean(axis=0)
"""Each region's share of the non-anchor landmarks: what uniform attention would give it."""


def mass_ratios(alpha: NDArray[Any], beta: NDArray[Any]) -> dict[str, float]:
    """Region share of attention over region share of landmarks (painai §3.2): uniform attention = 1.0."""
    return {name: float(r) for name, r in zip(REGIONS, region_shares(alpha, beta) / LANDMARK_SHARES, strict=False)}
