"""Renders caregiver summaries in a language and format, and checks the caller's choices of both; finds
what a summary or a share link covers in the store. ``routes.py`` is the HTTP side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar.exceptions import ClientException, NotFoundException

from gateway import Assessment, AssessmentQuery, AssessmentStore, InputError, OutputDocument, PatientRef, SettingsError, parse_duration
from plugins.caregiver_summary import CaregiverSettings, share
from plugins.caregiver_summary.content import Facts, for_assessment, for_period
from plugins.caregiver_summary.i18n import Language, load_languages
from plugins.caregiver_summary.pdf import BUNDLED_FONT, LATIN_FONT, pdf
from plugins.caregiver_summary.render import html, text
from plugins.caregiver_summary.wording import word

OUTPUT = "caregiver-summary"
SHARED_PATH = f"/v1/shared/{OUTPUT}"
MAX_IDENTIFIER = 255
NO_CHECKS = "this patient has no assessments in that period; try a longer period"
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
    def from_settings(cls, config: CaregiverSettings, base_url: str, site_timezone: str = "UTC") -> Summaries:
        languages = load_languages(config.catalogue_dir)
        if config.default_lang not in languages:
            raise SettingsError(
                f"PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_DEFAULT_LANG: no catalogue {config.default_lang!r}; available: {', '.join(sorted(languages))}"
            )
        font = Path(config.pdf_font) if config.pdf_font else BUNDLED_FONT
        if not font.is_file():
            raise SettingsError(f"PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_PDF_FONT: {font} is not a file (a TrueType .ttf font)")
        return cls(config, languages, ZoneInfo(config.timezone or site_timezone), base_url, font)

    def language(self, lang: str | None) -> Language:
        code = lang or self.config.default_lang
        if code not in self.languages:
            raise InputError("lang", f"must be one of {', '.join(sorted(self.languages))} (a catalogue per language), got {code[:20]!r}")
        return self.languages[code]

    def zone(self, tz: str | None) -> ZoneInfo:
        """The zone times are shown in: the request's ``tz``, else the site's."""
        if tz is None:
            return self.tz
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError("tz", f"must be an IANA time zone such as Europe/London or Asia/Shanghai, got {tz[:64]!r}") from None

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

    def render(self, facts: Facts, lang: str | None, fmt: str | None, made_at: datetime, tz: str | None = None) -> OutputDocument:
        language, fmt, zone = self.language(lang), self.check_format(fmt), self.zone(tz)
        wording = word(facts, language, zone, made_at)
        if fmt == "pdf":
            content = pdf(facts, wording, made_at, self.font, latin=None if language.cjk or self.config.pdf_font else LATIN_FONT)
        elif fmt == "html":
            content = html(facts, wording).encode()
        else:
            content = (wording.sms if fmt == "sms" else text(wording)).encode()
        return OutputDocument(OUTPUT, FORMATS[fmt], content, {"lang": language.code, "format": fmt})

    # what a summary covers

    async def period_facts(self, store: AssessmentStore, tenant: str, patient: PatientRef, length: timedelta, end: datetime) -> Facts:
        """The patient's assessments over ``length`` up to ``end`` (at most ``max_checks``); 404 when none."""
        start = end - length
        query = AssessmentQuery(
            tenant=tenant,
            reference=patient.reference,
            system=None if patient.reference else patient.system,
            value=None if patient.reference else patient.value,
            start_from=start,
            start_before=end,
            limit=self.config.max_checks,
        )
        found, total = await store.search(query)
        if not found:
            raise NotFoundException(NO_CHECKS)
        return for_period(found, start, end, total)

    # share links

    def require_sharing(self) -> None:
        """409 unless the operator has set a ``share_secret``."""
        if not self.config.share_secret:
            raise ClientException(
                "sharing is off on this gateway: an operator sets PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_SHARE_SECRET (at least 32 characters) to turn it on",
                status_code=409,
            )

    def share_url(self, shared: share.Shared) -> str:
        return f"{self.base_url}{SHARED_PATH}/{share.sign(shared, self.config.share_secret)}"

    def share_assessment(self, found: Assessment, lang: str | None, expires_in: str | None) -> share.Shared:
        """What a link to one assessment's summary carries; 409 when sharing is off, 422 for a bad choice."""
        self.require_sharing()
        language, lifetime = self.language(lang), self.lifetime(expires_in)
        return share.Shared(found.tenant, found.id, language.code, share.expiry(datetime.now(UTC), lifetime))

    async def share_patient(
        self, store: AssessmentStore, tenant: str, identifier: str, period: str, lang: str | None, expires_in: str | None
    ) -> tuple[PatientRef, share.Shared]:
        """What a link to a patient's summary over ``period`` up to now carries: the period as it is now,
        anchored on one of their assessments so no identifier appears in the URL."""
        self.require_sharing()
        patient, language = parse_identifier(identifier), self.language(lang)
        length, lifetime, now = self.period(period), self.lifetime(expires_in), datetime.now(UTC)
        facts_end = int(now.timestamp())
        found, _ = await store.search(
            AssessmentQuery(tenant=tenant, system=patient.system, value=patient.value, start_from=now - length, start_before=now, limit=1)
        )
        if not found:
            raise NotFoundException(NO_CHECKS)
        anchor = found[0]
        return patient, share.Shared(anchor.tenant, anchor.id, language.code, share.expiry(now, lifetime), int(length.total_seconds()), facts_end)

    async def shared_facts(self, store: AssessmentStore, shared: share.Shared) -> tuple[Assessment, Facts, datetime]:
        """What a verified link shows: its anchor assessment, the facts and the moment they end (404 when
        the anchor is gone)."""
        anchor = await store.get(shared.assessment_id, shared.tenant)
        if anchor is None:
            raise NotFoundException("what this link showed is no longer available; ask the care team")
        if shared.period_s:
            end = datetime.fromtimestamp(shared.end, UTC)
            return anchor, await self.period_facts(store, shared.tenant, anchor.patient, timedelta(seconds=shared.period_s), end), end
        return anchor, for_assessment(anchor), datetime.now(UTC)


def parse_identifier(text: str | None) -> PatientRef:
    """A patient by ``SYSTEM|VALUE``."""
    system, bar, value = (text or "").partition("|")
    if not bar or not system or not value or len(text) > 2 * MAX_IDENTIFIER:
        raise InputError("identifier", "must be SYSTEM|VALUE, e.g. urn:oid:1.2.36.146.595.217.0.1|MRN-1234")
    return PatientRef(system=system, value=value)


async def find_assessment(store: AssessmentStore, assessment_id: str, tenant: str) -> Assessment:
    """The assessment in ``tenant``; another tenant's is the same 404 as none."""
    found = await store.get(assessment_id, tenant)
    if found is None:
        raise NotFoundException(f"no assessment {assessment_id[:64]!r}")
    return found


@dataclass(frozen=True)
class CaregiverOutput:
    """The summary of one assessment as HTML in the default language, as an ``Output`` (for destinations
    and the assessment's links); the routes add languages, formats, periods and share links."""

    summaries: Summaries
    name: str = OUTPUT
    media_type: str = FORMATS["html"]

    def render(self, assessment: Assessment) -> OutputDocument:
        return self.summaries.render(for_assessment(assessment), None, "html", assessment.created_at)
