"""The alert rules as pure functions over a patient's recent checks (oldest first): no I/O, so each is
tested alone and costs only the rules' window, never the patient's whole history.

A *check* is an assessment (its clinician's level once reviewed, else the AI's) or a live session's
stretch. ``None`` is a check nothing could be scored in: it breaks a run rather than being guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway import LEVELS

SIGNIFICANT = "significant"


@dataclass(frozen=True)
class Check:
    id: str
    start: datetime
    end: datetime
    level: str | None
    worst: str | None
    significant_p: float | None = None
    source: str = "assessment"


@dataclass(frozen=True)
class Finding:
    """A rule's condition holds: from ``first`` to ``last`` (checks), with why."""

    rule: str
    checks: tuple[Check, ...]
    detail: str

    @property
    def first(self) -> Check:
        return self.checks[0]

    @property
    def last(self) -> Check:
        return self.checks[-1]


def rank(level: str | None) -> int:
    """-1 for nothing scorable, then 0, 1, 2 in ``LEVELS`` order."""
    return LEVELS.index(level) if level in LEVELS else -1


def sustained_run(checks: list[Check], max_gap: timedelta) -> list[Check]:
    """The trailing run of consecutive significant checks (the newest one included), no two further apart than ``max_gap``."""
    run: list[Check] = []
    for check in reversed(checks):
        if check.level != SIGNIFICANT:
            break
        if run and run[0].start - check.end > max_gap:
            break
        run.insert(0, check)
    return run


def runs(checks: list[Check], max_gap: timedelta) -> list[list[Check]]:
    """Maximal runs of consecutive significant checks, none further apart than ``max_gap``, oldest first."""
    found: list[list[Check]] = []
    current: list[Check] = []
    for check in checks:
        if check.level == SIGNIFICANT and (not current or check.start - current[-1].end <= max_gap):
            current.append(check)
            continue
        if current:
            found.append(current)
        current = [check] if check.level == SIGNIFICANT else []
    if current:
        found.append(current)
    return found


def latest_sustained(checks: list[Check], minutes: float, max_gap: timedelta) -> Finding | None:
    """The newest run that spans ``minutes``, wherever it lies in ``checks``: checks are evaluated as they
    arrive, not always in time order, so a run completed by a late check still opens its episode."""
    for run in reversed(runs(checks, max_gap)):
        if (finding := sustained(run, minutes, max_gap)) is not None:
            return finding
    return None


def absent_since(checks: list[Check], last_seen: datetime, reset: timedelta) -> Check | None:
    """For an episode last seen at ``last_seen``: the first scorable non-significant check after it, if the
    condition has stayed absent ``reset`` since then (no significant check within it and a check that late).
    Nothing scorable never counts as absence: relief is not assumed."""
    after = [c for c in checks if c.start >= last_seen and rank(c.level) >= 0]
    first = next((c for c in after if c.level != SIGNIFICANT), None)
    if first is None:
        return None
    if any(c.level == SIGNIFICANT and first.start <= c.start < first.start + reset for c in after):
        return None
    return first if after[-1].end - first.start >= reset else None


def sustained(checks: list[Check], minutes: float, max_gap: timedelta) -> Finding | None:
    """Consecutive checks all significant, spanning at least ``minutes`` from the first one's capture start
    to the last one's end (a live session's significant stretch is one check)."""
    run = sustained_run(checks, max_gap)
    if not run:
        return None
    span = (run[-1].end - run[0].start).total_seconds() / 60
    if span + 1e-9 < minutes:
        return None
    return Finding("sustained", tuple(run), f"significant in {len(run)} consecutive check(s) over {span:.0f} min (rule: at least {minutes:g} min)")


def rising(checks: list[Check], hours: float) -> Finding | None:
    """The newest check's worst level at least one step above the previous check's, within ``hours``."""
    if len(checks) < 2:
        return None
    before, after = checks[-2], checks[-1]
    if rank(before.worst) < 0 or rank(after.worst) <= rank(before.worst):
        return None
    if after.start - before.end > timedelta(hours=hours):
        return None
    return Finding("rising", (before, after), f"worst level rose from {before.worst} to {after.worst} between consecutive checks (rule: within {hours:g} h)")


def compare(before: Check, after: Check) -> str:
    """What the pain did between two checks: ``fell``, ``unchanged`` or ``rose`` (by the level each states)."""
    difference = rank(after.level) - rank(before.level)
    return "fell" if difference < 0 else "rose" if difference > 0 else "unchanged"


def no_relief(before: Check, after: Check) -> Finding | None:
    """The reassessment after an intervention is not lower than the check before it."""
    if rank(before.level) < 0 or rank(after.level) < 0 or compare(before, after) == "fell":
        return None
    return Finding("no-relief", (before, after), f"pain {compare(before, after)} after the intervention: {before.level} before, {after.level} after")
