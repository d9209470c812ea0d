"""The clip-level summary rule.

A single noisy second should not put "significant pain" in a patient's chart, so the clip level is
the most severe level that is *sustained*:

    the clip level is the highest level L such that at least N consecutive scorable windows have a
    level of L or higher (N = ``sustained_windows``, default 2).

Unscorable windows break a run. When the longest run of scorable windows is shorter than N (a short
or patchy clip), N shrinks to that run, so a clip with any scorable window always gets a level; a clip
with none gets no level (and the FHIR output says why, with a dataAbsentReason).

Alongside the level: the share of scored time at each level, the peak probability of each level over
the scored windows, and the counts of scored and unscorable windows.
"""

from __future__ import annotations

import numpy as np

from gateway.contract.domain import LEVELS, Summary, WindowResult

RULE = "most severe level held (at that level or higher) for at least {n} consecutive scorable 1-second windows; unscorable windows break a run"


def _longest_run(mask: list[bool]) -> int:
    best = run = 0
    for hit in mask:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best


def held_s(windows: list[WindowResult], level: str | None) -> float:
    """Seconds spanned by the longest run of consecutive scorable windows at ``level`` or higher (what "held"
    means in the rule), from the first window's start to the last one's end, whatever the stride."""
    if level is None:
        return 0.0
    rank = LEVELS.index(level)
    start, best = None, 0.0
    for w in windows:
        if w.scorable and w.level is not None and LEVELS.index(w.level) >= rank:
            start = w.start_s if start is None else start
            best = max(best, w.end_s - start)
        else:
            start = None
    return round(best, 1)


def summarise(windows: list[WindowResult], sustained_windows: int = 2) -> Summary:
    scored = [w for w in windows if w.scorable and w.level is not None]
    ranks = [LEVELS.index(w.level) if w.scorable and w.level is not None else -1 for w in windows]
    needed = min(sustained_windows, _longest_run([r >= 0 for r in ranks]))
    level = None
    if scored:
        level = next(lvl for i, lvl in reversed(list(enumerate(LEVELS))) if _longest_run([r >= i for r in ranks]) >= needed)
    probs = np.array([w.probabilities.as_tuple() for w in scored]) if scored else np.zeros((0, len(LEVELS)))
    return Summary(
        level=level,
        rule=RULE.format(n=sustained_windows),
        time_share={lvl: round(sum(w.level == lvl for w in scored) / len(scored), 4) if scored else 0.0 for lvl in LEVELS},
        peak_probability={lvl: round(float(probs[:, i].max()), 6) if scored else 0.0 for i, lvl in enumerate(LEVELS)},
        scored_windows=len(scored),
        unscorable_windows=len(windows) - len(scored),
    )
