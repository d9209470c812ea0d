"""Pain over time: a patient's trajectory, sustained-pain alerts that reach the ward, reassessment after treatment.

Every stored assessment (and its review) reaches this plugin's ``pain_alerts`` destination through the
core's delivery ledger, so evaluating the alert rules is retried like a delivery and never loses the
assessment that triggered it. A rule that holds opens an **episode**: an episode Observation and a
``Flag`` for the EMR (``EventDocuments``, sent by the FHIR destination), ``pain_alert.opened`` for
webhooks; when the condition is gone (or a clinician acknowledges it) ``pain_alert.resolved`` closes it.
Live sessions feed the same rules second by second (``LiveObserver``). Alerts are AI-derived decision
support from a model trained on synthetic data: every message says so.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway import Migrations, hookimpl

PLUGIN = "pain_alerts"
RULES = ("sustained", "rising", "no-relief")
"""Rules that open episodes; *not reassessed* (an overdue reassessment) is shown on the worklist and patient page."""


class Rules(msgspec.Struct, forbid_unknown_fields=True):
    """One tenant's alert rules (the reasons are in docs/guides/pain-alerts.md).

    ``sustained_minutes``: consecutive significant checks spanning at least this long (first capture start
    to last end), or significant held this long within one live session, open a *sustained* alert.
    ``max_gap_minutes``: checks further apart than this never form one run (yesterday's pain is not today's).
    ``rising_hours``: a worst level one step or more above the previous check within this many hours opens
    *rising*. ``reset_minutes``: how long a rule's condition must be absent before its episode closes
    (0: at the first check without it). ``reassess_minutes`` (oral and non-drug) and
    ``reassess_parenteral_minutes``: when the reassessment after an intervention is due.
    """

    enabled: bool = False
    """Evaluate the rules and send alerts (off until a site's clinical governance turns it on; the trajectory,
    interventions and reassessment timers work either way)."""
    sustained_minutes: float = 10.0
    """Minutes of consecutive significant checks (or of significant held in one live session) that open a sustained alert."""
    max_gap_minutes: float = 30.0
    """Checks further apart than this never form one run."""
    rising_hours: float = 4.0
    """A worst level one step or more above the previous check within this many hours opens a rising alert."""
    reset_minutes: float = 0.0
    """How long a rule's condition must be absent before its episode closes (0: at the first scorable check without it)."""
    reassess_minutes: int = 60
    """Minutes after an oral analgesic, non-drug or other intervention when its reassessment is due."""
    reassess_parenteral_minutes: int = 30
    """Minutes after a parenteral analgesic when its reassessment is due."""
    enabled_rules: list[str] = msgspec.field(default_factory=lambda: list(RULES))
    """The rules that open episodes: sustained, rising, no-relief."""

    def __post_init__(self) -> None:
        checks = [
            ("sustained_minutes", 1 <= self.sustained_minutes <= 24 * 60, "must be between 1 and 1440 minutes"),
            ("max_gap_minutes", 1 <= self.max_gap_minutes <= 24 * 60, "must be between 1 and 1440 minutes"),
            ("rising_hours", 0.1 <= self.rising_hours <= 72, "must be between 0.1 and 72 hours"),
            ("reset_minutes", 0 <= self.reset_minutes <= 24 * 60, "must be between 0 and 1440 minutes"),
            ("reassess_minutes", 5 <= self.reassess_minutes <= 24 * 60, "must be between 5 and 1440 minutes"),
            ("reassess_parenteral_minutes", 5 <= self.reassess_parenteral_minutes <= 24 * 60, "must be between 5 and 1440 minutes"),
            ("enabled_rules", set(self.enabled_rules) <= set(RULES), f"may name only {', '.join(RULES)}"),
        ]
        for field, ok, message in checks:
            if not ok:
                raise ValueError(f"{field}: {message} (got {getattr(self, field)!r})")


class PainAlertsSettings(Rules, forbid_unknown_fields=True):
    """The rules for every tenant, and per-tenant overrides from the settings file's
    ``[plugins.pain_alerts.tenants.<tenant>]`` tables (each a full ``Rules``: unset fields take the defaults).
    ``fhir_base_url``: prefixes the episode resources' identifier systems (empty: the FHIR output's ``base_url``)."""

    tenants: dict[str, Rules] = msgspec.field(default_factory=dict)
    """Per-tenant rules (settings file only): ``[plugins.pain_alerts.tenants.<tenant>]`` tables."""
    fhir_base_url: str = ""
    """Prefix of the episode resources' identifier systems (empty: the FHIR output's ``base_url``)."""

    def rules_for(self, tenant: str) -> Rules:
        return self.tenants.get(tenant) or Rules(**{f: getattr(self, f) for f in Rules.__struct_fields__})


EVENT_TYPES = {
    "pain_alert.opened": "an AI-derived pain alert opened an episode for a patient (sustained, rising or no relief)",
    "pain_alert.updated": "an open pain alert episode grew: later (or late-arriving) significant checks extend its period",
    "pain_alert.resolved": "a pain alert episode closed: its condition reset, or a clinician acknowledged it",
}


def config(settings) -> PainAlertsSettings:
    return settings.plugin_config(PLUGIN)


def fhir_base(settings) -> str:
    own = config(settings).fhir_base_url
    if own:
        return own.rstrip("/")
    try:
        return str(settings.plugin_config("fhir_observation").base_url).rstrip("/")
    except Exception:  # the FHIR output disabled: the same default it has
        return "urn:pain-gateway"


@hookimpl
def register_settings(register):
    register(PLUGIN, PainAlertsSettings)


@hookimpl
def register_event_types(register, settings):
    for name, description in EVENT_TYPES.items():
        register(name, description)


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


@hookimpl
def register_event_documents(register, settings):
    from plugins.pain_alerts.documents import EpisodeDocuments

    try:
        hl7 = settings.plugin_config("hl7v2")
    except Exception:  # the hl7v2 plugin is disabled: episodes are FHIR documents only
        hl7 = None
    register(EpisodeDocuments(fhir_base(settings), hl7))


@hookimpl
def register_destinations(register, settings):
    from plugins.pain_alerts.evaluator import AlertEvaluator

    register(AlertEvaluator(config(settings)))


@hookimpl
def register_live_observers(register, settings):
    from plugins.pain_alerts.live import LiveAlerts

    register(LiveAlerts(config(settings)))


@hookimpl
def register_trajectory_sources(register, settings):
    from plugins.pain_alerts.interventions import InterventionEntries

    register(InterventionEntries())


@hookimpl
def register_worklist_priorities(register, settings):
    from plugins.pain_alerts.urgency import AlertUrgency

    register(AlertUrgency())


@hookimpl
def register_routes(register, settings):
    from plugins.pain_alerts.routes import ROUTES

    for route in ROUTES:
        register(route)


@hookimpl
async def ui_sections(page, context):
    from plugins.pain_alerts.ui import sections

    return await sections(page, context)
