"""Live sessions feed the *sustained* rule while they run: significant held for ``sustained_minutes``
within one session opens an episode at once (the ward need not wait for the session to end), and the
live page shows the alert. State is per session in memory (a restart loses only the current stretch;
the session's assessment is evaluated when it ends, like any other)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway import LiveWindow, Publisher
from plugins.pain_alerts import PainAlertsSettings
from plugins.pain_alerts import rules as R
from plugins.pain_alerts.episodes import open_episode, patient_key, save_check
from plugins.pain_alerts.evaluator import announce

MAX_SESSIONS = 10_000
"""Sessions tracked at most (the oldest are forgotten first): bounded memory."""


@dataclass
class Stretch:
    start: datetime
    end: datetime
    max_p: float | None
    alerted: bool = False


class LiveAlerts:
    name = "pain_alerts"

    def __init__(self, settings: PainAlertsSettings) -> None:
        self.settings = settings
        self.stretches: dict[str, Stretch | None] = {}

    async def window_scored(self, window: LiveWindow, publisher: Publisher) -> str | None:
        rules = self.settings.rules_for(window.tenant)
        if not rules.enabled or "sustained" not in rules.enabled_rules:
            return None
        stretch = self.stretches.get(window.session_id)
        if window.level != R.SIGNIFICANT:
            self.stretches[window.session_id] = None  # an unscorable or lower second ends the stretch
            return None
        p = window.probabilities.significant if window.probabilities else None
        if stretch is None or window.start - stretch.end > timedelta(seconds=5):
            stretch = Stretch(window.start, window.end, p)
        else:
            stretch.end, stretch.max_p = window.end, max(x for x in (stretch.max_p, p, 0.0) if x is not None)
        self.stretches.pop(window.session_id, None)
        self.stretches[window.session_id] = stretch
        while len(self.stretches) > MAX_SESSIONS:
            self.stretches.pop(next(iter(self.stretches)))
        held = (stretch.end - stretch.start).total_seconds() / 60
        if stretch.alerted or held < rules.sustained_minutes:
            return None
        stretch.alerted = True
        check = R.Check(
            f"live:{window.session_id}:{int(stretch.start.timestamp())}", stretch.start, stretch.end, R.SIGNIFICANT, R.SIGNIFICANT, stretch.max_p, "live"
        )
        finding = R.Finding("sustained", (check,), f"significant held for {held:.0f} min in a live session (rule: at least {rules.sustained_minutes:g} min)")
        model = {
            "model_id": window.model.model_id,
            "version": window.model.version,
            "name": window.model.name,
            "sha256": getattr(window.model, "sha256", "") or "",
        }
        async with publisher.engine.begin() as connection:
            await save_check(connection, window.tenant, patient_key(window.patient), check)
            event = await open_episode(connection, publisher, window.tenant, window.patient, finding, model, datetime.now(UTC))
        if event is not None:
            await announce(publisher, publisher.engine, [event], window.tenant)
        return f"Alert (AI-derived decision support): significant pain held for {held:.0f} min in this session; the ward is notified. A clinician decides."
