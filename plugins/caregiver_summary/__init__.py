"""Caregiver summaries: plain-language summaries of pain checks for families and carers.

For one assessment or a patient's assessments over a period, as HTML (accessible, printable), plain
text, an SMS-length text or PDF, in any language with a gettext catalogue (English and Simplified
Chinese bundled), and as signed, expiring links a caregiver opens without an account. Every summary
says it is AI decision support from a model trained on synthetic data, and whether a clinician has
reviewed it.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from gateway import FailureThrottle, hookimpl

PLUGIN = "caregiver_summary"
MIN_SECRET_CHARS = 32


class CaregiverSettings(msgspec.Struct):
    """``share_secret``: signs share links (at least 32 characters, e.g. ``openssl rand -hex 32``; empty:
    sharing is off; changing it revokes every link). ``timezone``: IANA zone of the dates shown (empty: the
    site's, ``PAIN_GATEWAY_TIMEZONE``; a request may pass ``tz=``).
    ``catalogue_dir``: a folder of extra ``<lang>.po`` catalogues. ``pdf_font``: a TrueType font for
    languages the bundled Noto Sans CJK SC subset does not cover."""

    default_lang: str = "en"
    timezone: str = ""
    catalogue_dir: str = ""
    share_secret: str = ""
    share_default_h: float = 72.0
    share_max_h: float = 720.0
    max_period_h: float = 744.0
    max_checks: int = 500
    pdf_font: str = ""

    def __post_init__(self) -> None:
        try:
            self.timezone and ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone must be an IANA time zone such as Europe/London or Asia/Shanghai, got {self.timezone!r}") from None
        if self.share_secret and len(self.share_secret) < MIN_SECRET_CHARS:
            raise ValueError(f"share_secret must be at least {MIN_SECRET_CHARS} characters (e.g. the output of 'openssl rand -hex 32')")
        if not 0 < self.share_default_h <= self.share_max_h <= 24 * 90:
            raise ValueError("share_default_h must be more than 0 and at most share_max_h, which is at most 2160 hours (90 days)")
        if not 0 < self.max_period_h <= 24 * 366:
            raise ValueError("max_period_h must be between 0 and 8784 hours (a year)")
        if not 1 <= self.max_checks <= 5000:
            raise ValueError("max_checks must be between 1 and 5000 assessments")


@hookimpl
def register_settings(register):
    register(PLUGIN, CaregiverSettings)


def _summaries(settings):
    from plugins.caregiver_summary.service import Summaries

    return Summaries.from_settings(settings.plugin_config(PLUGIN), settings.base_url, settings.timezone)


@hookimpl
def register_outputs(register, settings):
    from plugins.caregiver_summary.service import CaregiverOutput

    register(CaregiverOutput(_summaries(settings)))


@hookimpl
def register_routes(register, settings):
    from plugins.caregiver_summary.routes import caregiver_controller

    refused = FailureThrottle(settings.auth_failure_burst, settings.auth_failure_window_s)
    register(caregiver_controller(_summaries(settings), refused))
