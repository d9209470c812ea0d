"""Renders caregiver summaries in a language and format, and checks the caller's choices of both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway import Assessment, InputError, OutputDocument, SettingsError, parse_duration
from plugins.caregiver_summary import CaregiverSettings
from plugins.caregiver_summary.content import Facts, for_assessment
from plugins.caregiver_summary.i18n import Language, load_languages
from plugins.caregiver_summary.pdf import BUNDLED_FONT, pdf
from plugins.caregiver_summary.render import html, text
from plugins.caregiver_summary.wording import word

OUTPUT = "caregiver-summary"
FORMATS = {
    "html": "text/html",  # UTF-8 (the response says so)
    "text": "text/plain",
    "sms": "text/plain",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Summaries:
    config: CaregiverSettings
    languages: dict[str, Language]
    tz: ZoneInfo
    base_url: str
    font: Path

    @classmethod
    def from_settings(cls, config: CaregiverSettings, base_url: str) -> Summaries:
        languages = load_languages(config.catalogue_dir)
        if config.default_lang not in languages:
            raise SettingsError(
                f"PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_DEFAULT_LANG: no catalogue {config.default_lang!r}; available: {', '.join(sorted(languages))}"
            )
        font = Path(config.pdf_font) if config.pdf_font else BUNDLED_FONT
        if not font.is_file():
            raise SettingsError(f"PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_PDF_FONT: {font} is not a file (a TrueType .ttf font)")
        return cls(config, languages, ZoneInfo(config.timezone), base_url, font)

    def language(self, lang: str | None) -> Language:
        code = lang or self.config.default_lang
        if code not in self.languages:
            raise InputError("lang", f"must be one of {', '.join(sorted(self.languages))} (a catalogue per language), got {code[:20]!r}")
        return self.languages[code]

    @staticmethod
    def check_format(fmt: str | None) -> str:
        fmt = fmt or "html"
        if fmt not in FORMATS:
            raise InputError("format", f"must be one of {', '.join(FORMATS)}, got {fmt[:20]!r}")
        return fmt

    def lifetime(self, text: str | None) -> timedelta:
        """How long a share link lives: ``expires_in`` such as 72h or 7d, bounded by ``share_max_h``."""
        if text is None:
            return timedelta(hours=self.config.share_default_h)
        return parse_duration(text, "expires_in", timedelta(hours=self.config.share_max_h))

    def period(self, text: str | None) -> timedelta:
        return parse_duration(text or "24h", "period", timedelta(hours=self.config.max_period_h))

    def render(self, facts: Facts, lang: str | None, fmt: str | None, made_at: datetime) -> OutputDocument:
        language, fmt = self.language(lang), self.check_format(fmt)
        wording = word(facts, language, self.tz, made_at)
        if fmt == "pdf":
            content = pdf(facts, wording, made_at, self.font)
        elif fmt == "html":
            content = html(facts, wording).encode()
        else:
            content = (wording.sms if fmt == "sms" else text(wording)).encode()
        return OutputDocument(OUTPUT, FORMATS[fmt], content, {"lang": language.code, "format": fmt})


@dataclass(frozen=True)
class CaregiverOutput:
    """The summary of one assessment as HTML in the default language, as an ``Output`` (for destinations
    and the assessment's links); the routes add languages, formats, periods and share links."""

    summaries: Summaries
    name: str = OUTPUT
    media_type: str = FORMATS["html"]

    def render(self, assessment: Assessment) -> OutputDocument:
        return self.summaries.render(for_assessment(assessment), None, "html", assessment.created_at)
