"""Server-side SVG charts for the assessment page, after the study's Fig. 4: the distribution of the
per-second levels and the per-second time graph of the three probabilities.

Plain SVG markup with presentation attributes (no script, no inline CSS), so the strict
Content-Security-Policy holds and the page works offline. Each scales with its container; its text is
``TEXT`` user units high (ui.css sets the same), so at a tablet's narrowest column (a 768 px screen shows a
chart about 690 px wide) the 720-unit charts still print it at 12 CSS px or more. Each line has its own dash pattern as well as
its colour, so the levels stay apart without colour vision; the page also lists the values as a table.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from gateway.contract.domain import LEVELS, WindowResult

COLOURS = {"none": "#2e7d32", "mild": "#a35c00", "significant": "#b3261e"}
DASHES = {"none": "", "mild": "6 4", "significant": "2 3"}
UNSCORABLE = "#d5d9df"
TEXT = 14
"""Chart text height in user units (see the module's docstring)."""


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" font-size="{TEXT}">'
        + "".join(body)
        + "</svg>"
    )


def level_distribution(windows: list[WindowResult]) -> Markup:
    """Horizontal bars: how many scored seconds the model put at each level, with their share."""
    scored = [w for w in windows if w.scorable and w.level]
    counts = {level: sum(w.level == level for w in scored) for level in LEVELS}
    unscorable = len(windows) - len(scored)
    rows = [*((level, counts[level], COLOURS[level]) for level in LEVELS), ("unscorable", unscorable, UNSCORABLE)]
    width, left, bar_h, gap = 600, 120, 26, 10
    most = max((n for _, n, _ in rows), default=0) or 1
    body = []
    for i, (name, n, colour) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        share = n / len(windows) if windows else 0.0
        length = (width - left - 110) * n / most
        body.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{name}</text>')
        bar = f'x="{left}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{colour}" stroke="#1b1f24" stroke-width="0.5"'
        body.append(f"<rect {bar}><title>{name}: {n} s</title></rect>")
        body.append(f'<text x="{left + length + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{n} s ({share:.0%})</text>')
    label = "Seconds at each AI level: " + ", ".join(f"{name} {n}" for name, n, _ in rows)
    return _svg(width, 10 + len(rows) * (bar_h + gap), label, body)


def probability_timeline(windows: list[WindowResult]) -> Markup:
    """Per-second probability of each level (window start on x), unscorable seconds shaded."""
    width, height, left, right, top, bottom = 720, 300, 48, 16, 16, 64
    end = max((w.end_s for w in windows), default=1.0) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(seconds: float) -> float:
        return left + plot_w * seconds / end

    def y(p: float) -> float:
        return top + plot_h * (1 - p)

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#6b7480"/>']
    for w in windows:
        if not w.scorable:
            reason = escape(w.reason or "not scorable")
            band = f'x="{x(w.start_s):.1f}" y="{top}" width="{x(w.end_s) - x(w.start_s):.1f}" height="{plot_h}" fill="{UNSCORABLE}"'
            body.append(f"<rect {band}><title>{w.start_s:g}–{w.end_s:g} s: {reason}</title></rect>")
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#c9ced6" stroke-width="0.5"/>')
        body.append(f'<text x="{left - 6}" y="{y(p) + 4:.1f}" text-anchor="end">{p:.2g}</text>')
    step = _tick_step(end)
    tick = 0.0
    while tick <= end + 1e-9:
        body.append(f'<text x="{x(tick):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{tick:g}</text>')
        tick += step
    body.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 34}" text-anchor="middle">seconds into the clip</text>')
    body.append(f'<text x="12" y="{top + plot_h / 2}" text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2})">probability</text>')
    scored = [w for w in windows if w.scorable and w.probabilities is not None]
    for i, level in enumerate(LEVELS):
        colour, dash = COLOURS[level], DASHES[level]
        for run in _runs(scored):
            points = " ".join(f"{x((w.start_s + w.end_s) / 2):.1f},{y(getattr(w.probabilities, level)):.1f}" for w in run)
            body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/>')
        for w in scored:
            p = getattr(w.probabilities, level)
            dot = f'cx="{x((w.start_s + w.end_s) / 2):.1f}" cy="{y(p):.1f}" r="3" fill="{colour}"'
            body.append(f"<circle {dot}><title>{w.start_s:g}–{w.end_s:g} s: {level} {p:.2f}</title></circle>")
        lx = left + i * 150
        body.append(f'<line x1="{lx}" x2="{lx + 28}" y1="{height - 10}" y2="{height - 10}" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/>')
        body.append(f'<text x="{lx + 34}" y="{height - 6}">P({level})</text>')
    body.append(
        f'<rect x="{left + 450}" y="{height - 18}" width="16" height="12" fill="{UNSCORABLE}"/><text x="{left + 472}" y="{height - 6}">not scorable</text>'
    )
    label = f"Probability of each pain level per second over {end:g} s; {len(scored)} scored, {len(windows) - len(scored)} unscorable seconds"
    return _svg(width, height, label, body)


def second_importance(seconds: list) -> Markup:
    """Columns per scored second: how much it drove the result (its pain probability above a neutral
    face, from the occlusion explainer); ``seconds`` have ``start``, ``end`` and ``importance``."""
    width, height, left, top, bottom = 720, 180, 48, 12, 40
    end = max((s.end for s in seconds), default=1.0) or 1.0
    top_value = max([0.25, *(s.importance for s in seconds)])
    plot_w, plot_h = width - left - 16, height - top - bottom
    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#6b7480"/>']
    for s in seconds:
        x0, x1 = left + plot_w * s.start / end, left + plot_w * s.end / end
        h = plot_h * max(s.importance, 0.0) / top_value
        column = f'x="{x0 + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" height="{h:.1f}" fill="{COLOURS["significant"]}"'
        body.append(f"<rect {column}><title>{s.start:g}–{s.end:g} s: {s.importance:.2f}</title></rect>")
    body.append(f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{top_value:.2g}</text>')
    body.append(f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>')
    step = _tick_step(end)
    tick = 0.0
    while tick <= end + 1e-9:
        body.append(f'<text x="{left + plot_w * tick / end:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{tick:g}</text>')
        tick += step
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">seconds into the clip</text>')
    strongest = max(seconds, key=lambda s: s.importance, default=None)
    label = f"How much each second drove the result; strongest {strongest.start:g}–{strongest.end:g} s" if strongest else "No scored seconds"
    return _svg(width, height, label, body)


def override_trend(points: list, period: str) -> Markup:
    """Override rate per ``period`` (columns, 0 to 100 %) with the number of reviews written above each;
    ``points`` have ``start`` (a date), ``reviewed`` and ``override_rate``; 600 units wide, as it shares a
    row with the confusion matrix on a wide screen."""
    width, height, left, top, bottom = 600, 200, 48, 20, 48
    plot_w, plot_h = width - left - 16, height - top - bottom
    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#6b7480"/>']
    for p in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - p)
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{p:.0%}</text>')
    slot = plot_w / max(len(points), 1)
    for i, point in enumerate(points):
        h = plot_h * point.override_rate
        x0 = left + i * slot
        column = f'x="{x0 + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{COLOURS["mild"]}"'
        body.append(f"<rect {column}><title>{point.start}: {point.override_rate:.0%} of {point.reviewed} overridden</title></rect>")
        body.append(f'<text x="{x0 + slot / 2:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle">{point.reviewed}</text>')
        if len(points) <= 14 or i % max(1, len(points) // 10) == 0:
            body.append(f'<text x="{x0 + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{point.start:%m-%d}</text>')
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{period} of review (numbers: reviews)</text>')
    label = f"Override rate per {period}: " + ", ".join(f"{p.start} {p.override_rate:.0%} of {p.reviewed}" for p in points[-10:])
    return _svg(width, height, label, body)


def _runs(scored: list[WindowResult]) -> list[list[WindowResult]]:
    """Consecutive windows (the line breaks over unscorable seconds rather than bridging them)."""
    runs: list[list[WindowResult]] = []
    for w in scored:
        if runs and w.index == runs[-1][-1].index + 1:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


def _tick_step(end: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if end / step <= 12:
            return float(step)
    return 3600.0
