"""The concordance report as a file: HTML (the UI page's body, standalone, no external assets) or PDF
(fpdf2: the same figures as tables and the reliability diagram drawn as vectors, text extractable).

It reads the gateway's database directly (``database_url``), for one tenant, with the same pairing and
statistics as ``GET /v1/concordance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fpdf import FPDF
from sqlalchemy.ext.asyncio import create_async_engine

from gateway import LEVELS, AssessmentStore, InputError
from plugins.reference_scales import ReferenceScalesSettings
from plugins.reference_scales.schema import ConcordanceOut, EstimateOut
from plugins.reference_scales.service import Filters, concordance_report

ENV = jinja2.Environment(loader=jinja2.PackageLoader("plugins.reference_scales", "templates"), autoescape=True, undefined=jinja2.StrictUndefined)
FIGURES = {
    "kappa": "Quadratic weighted kappa",
    "spearman": "Spearman rho (expected level vs total)",
    "sensitivity_significant": "Sensitivity, significant",
    "specificity_significant": "Specificity, significant",
    "sensitivity_any": "Sensitivity, any pain",
    "specificity_any": "Specificity, any pain",
}


def html(report: ConcordanceOut, tenant: str) -> str:
    return ENV.get_template("report.html").render(report=report, tenant=tenant, levels=LEVELS)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _text(value: str) -> str:
    """Latin-1 for the core PDF fonts (the report's own words are ASCII; a site's scale name may not be)."""
    return value.replace("–", "-").replace("—", "-").encode("latin-1", "replace").decode("latin-1")


def _para(pdf: FPDF, height: float, text: str) -> None:
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
    pdf.set_font("Helvetica", "B", 9)
    for text, width in zip(header, widths, strict=True):
        pdf.cell(width, 6, _text(text), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for row in rows:
        for text, width in zip(row, widths, strict=True):
            pdf.cell(width, 6, _text(text), border=1)
        pdf.ln()
    pdf.ln(2)


def _reliability(pdf: FPDF, bins: list[Any], size: float = 60.0) -> None:
    """The reliability diagram: axes, the diagonal, a bar and a point per non-empty bin."""
    x0, y0 = pdf.get_x() + 8, pdf.get_y()
    pdf.set_draw_color(150, 150, 150)
    pdf.rect(x0, y0, size, size)
    pdf.set_dash_pattern(dash=1, gap=1)
    pdf.line(x0, y0 + size, x0 + size, y0)
    pdf.set_dash_pattern()
    pdf.set_fill_color(37, 99, 235)
    for b in bins:
        if b.count:
            height = size * b.observed
            pdf.rect(x0 + size * b.lower + 0.5, y0 + size - height, size * (b.upper - b.lower) - 1, height, style="F")
    pdf.set_font("Helvetica", "", 7)
    for t in (0.0, 0.5, 1.0):
        pdf.text(x0 + size * t - 1.5, y0 + size + 4, f"{t:g}")
        pdf.text(x0 - 5, y0 + size - size * t + 1, f"{t:g}")
    pdf.set_y(y0 + size + 8)


def pdf_bytes(report: ConcordanceOut, tenant: str) -> bytes:
    pdf = FPDF()
    pdf.set_title("Concordance report - Pain Gateway")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    _para(pdf, 8, "Concordance of the AI with the reference pain scales")
    pdf.set_font("Helvetica", "", 9)
    _para(pdf, 5, _text(f"Tenant {tenant}, generated {report.generated_at:%Y-%m-%d %H:%M} UTC. Not clinically validated. {report.disclaimer}"))
    _para(pdf, 5, _text(f"Pairing: {report.rule}"))
    _para(pdf, 5, _text(f"Method: {report.method}"))
    if not report.groups:
        _para(pdf, 6, "No pairs yet.")
    for g in report.groups:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        _para(pdf, 7, _text(f"{g.scale.upper()} (mapping {g.mapping_version}) vs {g.model_id} {g.model_version}"))
        pdf.set_font("Helvetica", "", 9)
        _para(pdf, 5, _text(f"{g.pairs} pairs from {g.patients} patients. {g.reliability_note}" + ("" if g.reliable else " Every figure below is unreliable.")))
        rows = []
        for key, label in FIGURES.items():
            e: EstimateOut = getattr(g, key)
            rows.append([label, _num(e.value), f"{_num(e.ci_low)} to {_num(e.ci_high)}"])
        _table(pdf, ["Figure", "Value", "95 % CI (bootstrap over patients)"], rows, [70, 25, 70])
        _table(pdf, ["Scale \\ AI", *LEVELS], [[LEVELS[i], *map(str, row)] for i, row in enumerate(g.confusion)], [30, 30, 30, 30])
        _para(pdf, 5, _text(f"Reliability diagram (one-vs-rest over the levels, tenths), ECE {_num(g.ece)}:"))
        _reliability(pdf, g.calibration_bins)
        ba = g.bland_altman
        _para(
            pdf,
            5,
            _text(f"Bland-Altman (AI expected level minus mapped level): bias {_num(ba.bias)}, limits of agreement {_num(ba.lower)} to {_num(ba.upper)}."),
        )
    return bytes(pdf.output())


async def build_report(
    database_url: str, config: ReferenceScalesSettings, tenant: str, scale: str | None, since: str | None, until: str | None, model_version: str | None
) -> ConcordanceOut:
    engine = create_async_engine(database_url)
    try:
        filters = Filters(config, scale, since, until, model_version)
        return await concordance_report(AssessmentStore(engine), tenant, config, filters)
    finally:
        await engine.dispose()


async def write_report(target: Path, database_url: str, config: ReferenceScalesSettings, tenant: str, **filters: str | None) -> None:
    """Write the report; ``ValueError`` (an ``InputError`` naming the option) for a bad filter."""
    try:
        report = await build_report(
            database_url, config, tenant, filters.get("scale"), filters.get("since"), filters.get("until"), filters.get("model_version")
        )
    except InputError as exc:
        raise ValueError(f"--{exc.field.replace('_', '-')}: {exc.message}") from None
    if target.suffix.lower() == ".pdf":
        target.write_bytes(pdf_bytes(report, tenant))
    else:
        target.write_text(html(report, tenant), encoding="utf-8")
