"""Explainer plugin: region occlusion, the gateway's primary explanation (model-agnostic).

Per scored window, each of the seven face regions (``gateway.pipeline.face``) is replaced
by the neutral face and the window scored again (``occlusion.py`` defines the numbers). The
explanation lists the regions by importance, the seconds by importance, and the clip's mean mesh per
region for the heatmap. A region *stands out* only when occluding it lowers the pain probability by
at least ``STANDS_OUT`` (5 percentage points); a model with randomised weights stays below it.
"""

from __future__ import annotations

import cv2
import numpy as np

from gateway import IMPORTANCE_KIND, REGIONS, Explanation, MeshRegion, ModelOutput, Predict, RegionAttention, TimeWeight, Windows, hookimpl
from plugins.occlusion_regions.occlusion import mean_mesh, occlude, pain_probability

STANDS_OUT = 0.05
"""Least pain-probability drop (weighted mean over windows) for a region to be named as driving the result."""

NOTE = (
    "Region occlusion: how much the model's pain probability (P(mild) + P(significant)) drops when each "
    "face region is replaced by the neutral face ({neutral}), weighted towards the seconds the model "
    "scored as painful. A model-internal signal, not a clinical finding; the model was trained on "
    "synthetic data only."
)


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull vertices (OpenCV, counter-clockwise in x right / y down); the outline drawn around a region.

    Part of every scored assessment, so it is C, not a Python loop (which cost 30 ms of a 5-s clip's 45 ms)."""
    if len(points) < 3:
        return np.asarray(points, dtype=np.float64)
    # + 0 turns -0.0 into 0.0: OpenCV returns no hull at all for points equal up to the sign of a zero
    return cv2.convexHull(np.asarray(points, dtype=np.float32) + np.float32(0), clockwise=False)[:, 0].astype(np.float64)


def _pairs(points: np.ndarray) -> list[tuple[float, float]]:
    return [(round(float(x), 4), round(float(y), 4)) for x, y in points]


def mesh_regions(mesh: np.ndarray) -> list[MeshRegion]:
    """The mean mesh split by region, each with its outline. Regions whose landmarks are split across
    the face (brow, eyes, cheeks) get one outline per side so the outline does not cover the nose."""
    out = []
    centre = float(np.median(mesh[:, 0]))
    for name, members in REGIONS.items():
        points = mesh[list(members)]
        sides = [points[points[:, 0] < centre], points[points[:, 0] >= centre]] if name in ("brow", "eyes", "cheeks") else [points]
        out.append(MeshRegion(name, _pairs(points), [_pairs(_hull(side)) for side in sides if len(side)]))
    return out


class OcclusionRegions:
    name = "occlusion_regions"

    def explain(self, windows: Windows, output: ModelOutput, predict: Predict) -> Explanation:
        neutral = "the patient's stored baseline" if windows.baseline is not None else "the population neutral face"
        pain = pain_probability(output.probabilities)
        occlusion = occlude(windows, predict, pain)
        importance = occlusion.region_importance()
        regions = sorted(
            (RegionAttention(name, round(float(w), 6)) for name, w in zip(REGIONS, importance, strict=True)),
            key=lambda r: r.weight,
            reverse=True,
        )
        spans = windows.scorable
        seconds = [
            TimeWeight(
                span.start_s,
                span.end_s,
                round(float(whole), 6),
                [RegionAttention(name, round(float(d), 6)) for name, d in zip(REGIONS, drops, strict=True)],
            )
            for span, whole, drops in zip(spans, occlusion.whole_face, occlusion.drops, strict=True)
        ]
        mesh = mesh_regions(mean_mesh(windows)) if len(windows.data) else []
        return Explanation(self.name, IMPORTANCE_KIND, regions, NOTE.format(neutral=neutral), seconds, mesh, STANDS_OUT)


@hookimpl
def register_explainers(register, settings):
    register(OcclusionRegions())
