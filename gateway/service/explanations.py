"""Why the model scored an assessment as it did: region occlusion first, attention beside it when it earned it.

The explainers ran at scoring time and their ``Explanation``s are stored with the assessment; this
module reads them back for one tenant and puts them side by side: the occlusion importance of each
face region (the primary, model-agnostic explanation), the model's attention share of the same
region only when that model's attention passed its sanity checks (``Explanation.passed_checks``),
how far the two agree, and the seconds that drove the result. ``heatmap_png`` draws the regions on
the clip's mean normalised mesh: points and outlines, never a photograph.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import cv2
import msgspec
import numpy as np
from litestar.exceptions import NotFoundException
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.contract.domain import ATTENTION_KIND, IMPORTANCE_KIND, Assessment, Explanation, MeshRegion
from gateway.storage import audit
from gateway.storage.assessments import AssessmentStore

NOTICE = (
    "Model-internal signal, not a clinical finding: it shows what moved this model's output, not what "
    "the patient feels. The model was trained on synthetic data only and is not clinically validated."
)
"""Shown with every explanation, wherever it surfaces (API, FHIR, review UI)."""


class RegionExplanation(msgspec.Struct, frozen=True):
    """A face region: how much occluding it lowered the pain probability, and the model's attention share
    there (``None`` unless the model's attention passed its sanity checks)."""

    region: str
    importance: float
    attention_share: float | None = None


class SecondExplanation(msgspec.Struct, frozen=True):
    """A scored window (one second at the default stride): its pain probability above a neutral face, and
    per region the drop in that window when the region is occluded (the per-window occlusion)."""

    start: float
    end: float
    importance: float
    regions: dict[str, float] = msgspec.field(default_factory=dict)


class Agreement(msgspec.Struct, frozen=True):
    """Occlusion against attention over the seven regions: Spearman rank correlation and top-region match
    (given only when attention is shown and a region stands out)."""

    rank_correlation: float
    top_region_match: bool


class AssessmentExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why the model scored an assessment as it did (``GET /v1/assessments/{id}/explanation``)."""

    assessment_id: str
    model_id: str
    model_version: str
    method: str
    regions: list[RegionExplanation]
    seconds: list[SecondExplanation]
    top_region: str | None
    verdict: str
    threshold: float | None
    agreement: Agreement | None
    attention: str
    notice: str = NOTICE


EXAMPLE = AssessmentExplanation(
    assessment_id="2f0e4c1a-8a55-5d3e-9d7b-3c8a0f3f1b42",
    model_id="sta-lstm-synthetic",
    model_version="0.3.0",
    method="region_occlusion",
    regions=[RegionExplanation("brow", 0.41, 0.32), RegionExplanation("eyes", 0.06, 0.18)],
    seconds=[SecondExplanation(0.0, 1.0, 0.02, {"brow": 0.01, "eyes": 0.0}), SecondExplanation(1.0, 2.0, 0.71, {"brow": 0.55, "eyes": 0.04})],
    top_region="brow",
    verdict="brow stands out: occluding it lowers the pain probability by 0.41 on average.",
    threshold=0.05,
    agreement=Agreement(0.86, True),
    attention="Share of the model's spatial attention per face region...",
)


def _ranks(values: NDArray[Any]) -> NDArray[Any]:
    return np.argsort(np.argsort(values)).astype(float)


def agreement(importance: Mapping[str, float], shares: Mapping[str, float]) -> Agreement | None:
    """How well attention follows occlusion; None when there is nothing to compare."""
    names = [n for n in importance if n in shares]
    if len(names) < 2:
        return None
    a, b = _ranks(np.array([importance[n] for n in names])), _ranks(np.array([shares[n] for n in names]))
    rho = float(np.corrcoef(a, b)[0, 1]) if a.std() and b.std() else 0.0
    return Agreement(round(rho, 3), max(names, key=lambda n: importance[n]) == max(names, key=lambda n: shares[n]))


def _find(assessment: Assessment, kind: str) -> Explanation | None:
    return next((e for e in assessment.explanations if e.kind == kind), None)


def _verdict(occlusion: Explanation | None) -> tuple[str | None, str]:
    if occlusion is None:
        return None, "No occlusion explanation: the assessment was scored without the region occlusion explainer."
    if not occlusion.regions:
        return None, "No window was scored, so nothing can be explained."
    top, threshold = occlusion.regions[0], occlusion.threshold or 0.0
    if top.weight < threshold:
        return None, f"No region stands out: occluding any one region lowers the pain probability by less than {threshold:.2f}."
    return top.region, f"{top.region} stands out: occluding it lowers the pain probability by {top.weight:.2f} on average."


def explain(assessment: Assessment) -> AssessmentExplanation:
    """The stored explanations of an assessment, side by side (pure: no I/O)."""
    occlusion, attention = _find(assessment, IMPORTANCE_KIND), _find(assessment, ATTENTION_KIND)
    shares = {r.region: r.weight for r in attention.regions} if attention is not None and attention.passed_checks else {}
    regions = [RegionExplanation(r.region, r.weight, shares.get(r.region)) for r in (occlusion.regions if occlusion else [])]
    top, verdict = _verdict(occlusion)
    return AssessmentExplanation(
        assessment_id=assessment.id,
        model_id=assessment.model.model_id,
        model_version=assessment.model.version,
        method=IMPORTANCE_KIND if occlusion else "none",
        regions=regions,
        seconds=[
            SecondExplanation(s.start_s, s.end_s, s.importance, {r.region: r.weight for r in s.regions}) for s in (occlusion.seconds if occlusion else [])
        ],
        top_region=top,
        verdict=verdict,
        threshold=occlusion.threshold if occlusion else None,
        # Ranking noise against attention says nothing: agreement only when a region stands out.
        agreement=agreement({r.region: r.importance for r in regions}, shares) if shares and top else None,
        attention=(attention.note if attention else "This model reported no attention."),
    )


async def _assessment(engine: AsyncEngine, tenant: str, assessment_id: str, what: str) -> Assessment:
    assessment = await AssessmentStore(engine).get(assessment_id, tenant)
    if assessment is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    await audit.record(engine, "read", what, assessment_id, patient=assessment.patient)
    return assessment


async def explanation_for(engine: AsyncEngine, tenant: str, assessment_id: str) -> AssessmentExplanation:
    """The tenant's assessment explained (audited as a read); ``NotFoundException`` for another tenant's."""
    return explain(await _assessment(engine, tenant, assessment_id, "explanation"))


async def explanation_png_for(engine: AsyncEngine, tenant: str, assessment_id: str) -> bytes:
    """The heatmap of the tenant's assessment (audited); ``NotFoundException`` when it has no occlusion mesh."""
    assessment = await _assessment(engine, tenant, assessment_id, "explanation")
    occlusion = _find(assessment, IMPORTANCE_KIND)
    if occlusion is None or not occlusion.mesh:
        raise NotFoundException(f"assessment {assessment_id!r} has no region occlusion explanation to draw (scored before it existed, or no window was scored)")
    return await asyncio.to_thread(explanation_png, assessment)  # ~0.1 s of drawing: off the event loop


def explanation_png(assessment: Assessment) -> bytes:
    """``heatmap_png`` of an assessment's stored occlusion explanation (which must have a mesh)."""
    occlusion = _find(assessment, IMPORTANCE_KIND)
    if occlusion is None or not occlusion.mesh:
        raise ValueError(f"assessment {assessment.id} has no region occlusion mesh to draw")
    title = f"Region occlusion, {assessment.model.model_id} {assessment.model.version}"
    return heatmap_png(occlusion.mesh, {r.region: r.weight for r in occlusion.regions}, title=title, threshold=occlusion.threshold or 0.0)


def explanation_svg(assessment: Assessment) -> str | None:
    """``heatmap_svg`` of an assessment's stored occlusion explanation; None when it has no mesh to draw."""
    occlusion = _find(assessment, IMPORTANCE_KIND)
    if occlusion is None or not occlusion.mesh:
        return None
    title = f"Region occlusion, {assessment.model.model_id} {assessment.model.version}"
    return heatmap_svg(occlusion.mesh, {r.region: r.weight for r in occlusion.regions}, title=title, threshold=occlusion.threshold or 0.0)


WIDTH, HEIGHT, FACE, LEGEND = 720, 740, 600, 250
SCALE_MIN = 0.25
"""Colour scale's top: the top importance, at least 0.25, so an explanation where nothing stands out stays pale."""


STOPS = np.array([[235, 235, 235], [60, 190, 250], [30, 30, 200]], dtype=float)
"""BGR colour stops at 0, 0.5 and 1 of the scale: pale grey (no effect) through amber to deep red."""


def _colour(value: float, scale: float) -> tuple[int, int, int]:
    """BGR for ``value / scale`` clipped to [0, 1] (negative drops count as 0)."""
    t = 2 * min(max(value / scale, 0.0), 1.0)
    low = min(int(t), 1)
    mixed = STOPS[low] + (t - low) * (STOPS[low + 1] - STOPS[low])
    b, g, r = (int(round(c)) for c in mixed)
    return b, g, r


def _text(image: NDArray[Any], text: str, at: tuple[int, int], size: float = 0.45, bold: int = 1) -> None:
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, size, (20, 20, 20), bold, cv2.LINE_8)  # no anti-aliasing: a third of the PNG size


def _wrapped(image: NDArray[Any], text: str, x: int, y: int, width_chars: int) -> int:
    line = ""
    for word in text.split():
        if len(line) + len(word) + 1 > width_chars:
            _text(image, line, (x, y))
            y, line = y + 18, ""
        line = f"{line} {word}".strip()
    _text(image, line, (x, y))
    return y + 18


def heatmap_png(
    mesh: Sequence[MeshRegion],
    importance: Mapping[str, float],
    *,
    title: str,
    threshold: float = 0.0,
    notice: str = NOTICE,
) -> bytes:
    """A PNG (720 x 740) of the clip's mean normalised mesh, each region's points and outline coloured by
    its occlusion importance, with a colour bar, the regions' values and ``notice``.

    ``mesh``: regions with points and outlines in model coordinates (``Explanation.mesh`` of the
    occlusion explainer); ``importance``: region name to pain-probability drop; ``threshold``: the
    drop below which no region stands out (drawn on the colour bar). Drawn, never photographed.
    """
    image: NDArray[Any] = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)  # cv2.addWeighted gives back a wider dtype than uint8 in its stubs
    _text(image, title, (14, 28), 0.6, 2)
    scale = max([SCALE_MIN, *importance.values()])
    everything = np.array([p for r in mesh for p in r.points] or [(0.0, 0.0)])
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    span = float(max(hi - lo)) or 1.0
    pixel = (FACE - 60) / span

    def to_pixels(points: Sequence[tuple[float, float]]) -> NDArray[np.int32]:
        xy = (np.asarray(points, dtype=np.float64) - lo) * pixel + 30
        xy[:, 1] += 40  # below the title
        xy[:, 0] += (WIDTH - LEGEND - (hi[0] - lo[0]) * pixel - 60) / 2
        pixels: NDArray[np.int32] = np.round(xy).astype(np.int32)
        return pixels

    overlay = image.copy()
    polygons = [(region.region, to_pixels(o)) for region in mesh for o in region.outlines if len(o) >= 3]
    for name, polygon in sorted(polygons, key=lambda p: -cv2.contourArea(p[1])):  # large outlines first: small ones stay visible
        cv2.fillPoly(overlay, [polygon], _colour(importance.get(name, 0.0), scale), cv2.LINE_AA)
    image = cv2.addWeighted(overlay, 0.5, image, 0.5, 0)
    for region in mesh:
        colour = tuple(int(c * 0.6) for c in _colour(importance.get(region.region, 0.0), scale))  # darker: visible on pale fills
        for outline in region.outlines:
            if len(outline) >= 2:
                cv2.polylines(image, [to_pixels(outline)], True, colour, 2, cv2.LINE_AA)
        for x, y in to_pixels(region.points):
            cv2.circle(image, (int(x), int(y)), 2, colour, -1, cv2.LINE_8)
    _legend(image, importance, scale, threshold)
    _wrapped(image, notice, 14, FACE + 60, 95)
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def _legend(image: NDArray[Any], importance: Mapping[str, float], scale: float, threshold: float) -> None:
    """Colour bar (drop in pain probability, 0 to ``scale``, threshold marked) and the regions ranked."""
    x0, y0, height = WIDTH - LEGEND + 20, 70, 260
    _text(image, "Drop in pain probability", (x0 - 10, y0 - 20), 0.45, 1)
    _text(image, "when the region is neutral", (x0 - 10, y0 - 4), 0.45, 1)
    for i in range(height):
        value = scale * (1 - i / (height - 1))
        cv2.line(image, (x0, y0 + 10 + i), (x0 + 24, y0 + 10 + i), _colour(value, scale), 1)
    _text(image, f"{scale:.2f}", (x0 + 32, y0 + 20))
    _text(image, "0.00", (x0 + 32, y0 + 10 + height))
    if 0 < threshold < scale:
        y = y0 + 10 + int((1 - threshold / scale) * (height - 1))
        cv2.line(image, (x0 - 4, y), (x0 + 28, y), (60, 60, 60), 1)
        _text(image, f"{threshold:.2f} stands out", (x0 + 32, y + 5), 0.4)
    y = y0 + height + 50
    for name, value in sorted(importance.items(), key=lambda kv: kv[1], reverse=True):
        cv2.rectangle(image, (x0, y - 10), (x0 + 14, y + 2), _colour(value, scale), -1)
        cv2.rectangle(image, (x0, y - 10), (x0 + 14, y + 2), (120, 120, 120), 1)
        _text(image, f"{name:<9} {_plain(value)}", (x0 + 22, y))
        y += 20


SVG_WIDTH, SVG_FACE, SVG_HEIGHT = 600, 340, 400
"""The SVG heatmap's user units: the face in the left ``SVG_FACE`` units, the legend to its right. Its text is
14 units high, so it stays at least 12 CSS px wherever the page shows it 515 px wide or more."""
SVG_TEXT = 14


def _hex(value: float, scale: float) -> str:
    b, g, r = _colour(value, scale)
    return f"#{r:02x}{g:02x}{b:02x}"


def _plain(value: float, digits: int = 2) -> str:
    """``value`` signed to ``digits`` places, never ``-0.00`` (a drop that rounds to nothing has no sign)."""
    text = f"{value:+.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0 else text


def heatmap_svg(mesh: Sequence[MeshRegion], importance: Mapping[str, float], *, title: str, threshold: float = 0.0) -> str:
    """The heatmap of ``heatmap_png`` as SVG markup for a page: it scales with its container, so its
    text is as large as the page's (``heatmap_png`` is a fixed 720 x 740 image, for the API and the EMR).

    The same drawing: each region's outline filled and its points dotted in the colour of its occlusion
    importance, a colour bar from 0 to the scale with ``threshold`` marked, and the regions ranked with
    their values. Presentation attributes only (no script, no inline CSS), so a strict Content-Security-
    Policy holds; every value is escaped. Each region's outline carries ``data-region`` and
    ``data-importance`` for whoever reads the drawing back.
    """
    scale = max([SCALE_MIN, *importance.values()])
    everything = np.array([p for r in mesh for p in r.points] or [(0.0, 0.0)])
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    span = float(max(hi - lo)) or 1.0
    margin = 12.0
    pixel = (SVG_FACE - 2 * margin) / span
    offset = np.array([margin + (SVG_FACE - 2 * margin - (hi[0] - lo[0]) * pixel) / 2, margin])

    def path(points: Sequence[tuple[float, float]], closed: bool) -> str:
        xy = (np.asarray(points, dtype=np.float64) - lo) * pixel + offset
        return "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in xy) + (" Z" if closed else "")

    def dots(points: Sequence[tuple[float, float]]) -> str:
        xy = (np.asarray(points, dtype=np.float64) - lo) * pixel + offset
        return "".join(f"M{x:.1f} {y:.1f}h0" for x, y in xy)  # round caps turn each zero-length line into a dot

    ranked = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)
    standing_out = [name for name, value in ranked if threshold > 0 and value >= threshold]
    label = f"{title}: " + (f"{standing_out[0]} stands out. " if standing_out else "no region stands out. ")
    label += "; ".join(f"{name} {_plain(value)}" for name, value in ranked)
    body = [f"<title>{escape(label)}</title>"]
    outlines = [(region.region, outline) for region in mesh for outline in region.outlines if len(outline) >= 3]
    for name, outline in sorted(outlines, key=lambda o: -float(cv2.contourArea(np.asarray(o[1], dtype=np.float32)))):  # large outlines first
        value = importance.get(name, 0.0)
        fill, edge = _hex(value, scale), _hex(value, scale)
        body.append(
            f'<path d="{path(outline, True)}" fill="{fill}" fill-opacity="0.55" stroke="{edge}" stroke-width="1.5" '
            f'data-region="{escape(name)}" data-importance="{value:.4f}"/>'
        )
    for region in mesh:
        shade = "#{:02x}{:02x}{:02x}".format(*(int(c * 0.6) for c in reversed(_colour(importance.get(region.region, 0.0), scale))))
        body.append(f'<path d="{dots(region.points)}" stroke="{shade}" stroke-width="3" stroke-linecap="round" fill="none"/>')
    body.extend(_svg_legend(ranked, scale, threshold))
    return (
        f'<svg class="chart heatmap" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="{SVG_TEXT}">' + "".join(body) + "</svg>"
    )


def _svg_legend(ranked: list[tuple[str, float]], scale: float, threshold: float) -> list[str]:
    """Colour bar (0 to ``scale``, ``threshold`` marked) and the regions ranked, right of the face."""
    x0, top, height = SVG_FACE + 24, 56, 170
    stops = "".join(f'<stop offset="{t:.2f}" stop-color="{_hex(scale * (1 - t), scale)}"/>' for t in np.linspace(0, 1, 9))
    body = [
        f'<defs><linearGradient id="heatmap-scale" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient></defs>',
        f'<text x="{x0 - 8}" y="18">Drop in pain probability</text>',
        f'<text x="{x0 - 8}" y="38">when the region is neutral</text>',
        f'<rect x="{x0}" y="{top}" width="22" height="{height}" fill="url(#heatmap-scale)" stroke="#6b7480"/>',
        f'<text x="{x0 + 30}" y="{top + 12}">{scale:.2f}</text>',
        f'<text x="{x0 + 30}" y="{top + height}">0.00</text>',
    ]
    if 0 < threshold < scale:
        y = top + (1 - threshold / scale) * height
        body.append(f'<line x1="{x0 - 4}" x2="{x0 + 26}" y1="{y:.1f}" y2="{y:.1f}" stroke="#1b1f24" stroke-width="1.5"/>')
        body.append(f'<text x="{x0 + 30}" y="{min(y + 5, top + height - 18):.1f}">{threshold:.2f} stands out</text>')  # clear of "0.00"
    y = top + height + 34
    for name, value in ranked:
        body.append(f'<rect x="{x0}" y="{y - 12}" width="14" height="14" fill="{_hex(value, scale)}" stroke="#6b7480"/>')
        body.append(f'<text x="{x0 + 22}" y="{y}">{escape(name)}</text><text x="{SVG_WIDTH - 8}" y="{y}" text-anchor="end">{_plain(value)}</text>')
        y += 20
    return body
