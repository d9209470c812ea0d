"""The summary's facts in one language: every sentence, label and date the renderers place.

HTML, plain text, SMS and PDF all take their words from here, so they cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_decimal, format_percent

from gateway import LEVELS
from plugins.caregiver_summary.content import Facts
from plugins.caregiver_summary.i18n import Language

GSM_7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
"""The GSM 03.38 default alphabet: an SMS in it holds 160 characters; anything else is UCS-2, 70."""


def sms_limit(text: str) -> int:
    return 160 if set(text) <= GSM_7 else 70


@dataclass(frozen=True)
class Row:
    label: str
    time: str
    share: str


@dataclass(frozen=True)
class TrendRow:
    when: str
    level: str


@dataclass(frozen=True)
class Wording:
    lang: str  # BCP 47 tag
    title: str
    notice: str
    review: str
    observed_heading: str
    observed: list[str]
    result: list[str]
    time_heading: str
    time_note: str | None  # after a review: the seconds are the program's, the overall level the clinician's
    columns: tuple[str, str, str]
    rows: list[Row]
    trend_heading: str
    chart_title: str
    trend_text: str
    trend_table: str
    when_column: str
    trend_rows: list[TrendRow]
    axis_levels: list[str]  # short level names, none -> significant
    axis_start: str
    axis_end: str
    meaning_heading: str
    meaning: str
    not_meaning_heading: str
    not_meaning: list[str]
    contact_heading: str
    urgent: str | None
    contact_intro: str
    contact: list[str]
    emergency: str
    footer: str
    sms: str


def _plain(text: str) -> str:
    """CLDR puts narrow no-break spaces in times ("10:00\u202fAM"): plain spaces keep an SMS in GSM-7 and every font happy."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


class Words:
    """Formats values for one language and time zone."""

    def __init__(self, language: Language, tz: tzinfo) -> None:
        self.language, self.tz = language, tz

    def __call__(self, key: str, **values: object) -> str:
        return self.language.text(key, **values)

    def zone(self, moment: datetime) -> str:
        """The zone a time is shown in, as its offset then: "UTC" or "UTC+08:00" (a family elsewhere, or
        a reader in summer time, can tell at a glance)."""
        offset = moment.astimezone(self.tz).utcoffset() or timedelta(0)
        if not offset:
            return "UTC"
        minutes = int(abs(offset.total_seconds()) // 60)
        return f"UTC{'+' if offset > timedelta(0) else '-'}{minutes // 60:02d}:{minutes % 60:02d}"

    def date(self, moment: datetime) -> str:
        locale = self.language.locale
        day = format_date(moment.astimezone(self.tz), "medium", locale=locale)
        return _plain(f"{day} {format_time(moment, 'short', tzinfo=self.tz, locale=locale)} ({self.zone(moment)})")

    def short_date(self, moment: datetime, zone: bool = True) -> str:
        """Day, month and time only, in the locale's order (for SMS and chart axes), with the zone unless
        ``zone`` is False (a span's start when its end says the same zone)."""
        locale = self.language.locale
        day = format_skeleton("MMMd", moment, tzinfo=self.tz, locale=locale)
        shown = f"{day} {format_time(moment, 'short', tzinfo=self.tz, locale=locale)}"
        return _plain(f"{shown} ({self.zone(moment)})" if zone else shown)

    def number(self, seconds: float) -> str:
        return _plain(format_decimal(round(seconds, 1), locale=self.language.locale))

    def level(self, level: str | None) -> str:
        return self(f"level.{level or 'unknown'}")

    def short(self, level: str | None) -> str:
        return self(f"short.{level or 'unknown'}")


def _review(facts: Facts, w: Words) -> str:
    if facts.kind == "period":
        return w("review.period", reviewed=facts.reviewed, total=facts.checks)
    if facts.review.status == "amended":
        return w("review.amended", level=w.level(facts.review.level))
    return w("review.confirmed") if facts.review.status == "confirmed" else w("review.none")


def _sms(facts: Facts, w: Words) -> str:
    """Who set the level it states: a reviewed level is the clinician's (confirmed or changed), never
    "AI estimate, reviewed" (which read as the AI having said what the clinician chose)."""
    source = w("sms.by_clinician") if facts.review.status != "none" else w("sms.by_ai")
    if facts.kind == "period":
        text = w(
            "sms.period",
            start=w.short_date(facts.start, zone=w.zone(facts.start) != w.zone(facts.end)),
            end=w.short_date(facts.end),
            level=w.short(facts.level),
            highest=w.short(facts.highest),
            source=source,
        )
    else:
        text = w("sms.assessment", date=w.short_date(facts.start), level=w.level(facts.level), source=source)
    limit = sms_limit(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _less_certain(facts: Facts, w: Words) -> list[str]:
    """Why the program's estimate (of the one check, or the most recent) is less certain; nothing once a
    clinician has reviewed it (their level needs no caveat about the program's input)."""
    if facts.review.status != "none":
        return []
    lines = [w("observed.no_baseline")] if facts.no_baseline else []
    if facts.unfamiliar_s > 0:
        lines.append(w("observed.unfamiliar", unfamiliar=w.number(facts.unfamiliar_s)))
    return lines


def _runs(facts: Facts, w: Words) -> list[TrendRow]:
    """Seconds of one video, consecutive seconds at the same level joined: "0 s – 4 s: None"."""
    rows: list[TrendRow] = []
    runs: list[list] = []
    for point in facts.trend:
        if runs and runs[-1][0] == point.level:
            runs[-1][2] = point.offset_s
        else:
            runs.append([point.level, point.offset_s, point.offset_s])
    step = facts.trend[1].offset_s - facts.trend[0].offset_s if len(facts.trend) > 1 else 1.0
    for level, first, last in runs:
        span = f"{w('unit.seconds', n=w.number(first))} – {w('unit.seconds', n=w.number(last + step))}"
        rows.append(TrendRow(span, w.short(level)))
    return rows


def word(facts: Facts, language: Language, tz: tzinfo, made_at: datetime) -> Wording:
    w = Words(language, tz)
    if facts.kind == "assessment":
        title = w("title.assessment")
        observed = [
            w("observed.assessment", duration=w.number(facts.scored_s + facts.unscorable_s), date=w.date(facts.start)),
            w("observed.scored", scored=w.number(facts.scored_s)),
        ]
        if facts.unscorable_s > 0:
            observed.append(w("observed.unscorable", unscorable=w.number(facts.unscorable_s)))
        result = [w("result.clinician" if facts.review.status != "none" else "result.ai", level=w.level(facts.level))]
        trend_text = w("trend.assessment")
        trend_rows = _runs(facts, w)
        axis_start, axis_end = w("unit.seconds", n=0), w("unit.seconds", n=w.number(facts.scored_s + facts.unscorable_s))
    else:
        title = w("title.period", start=w.date(facts.start), end=w.date(facts.end))
        observed = [w("observed.period", count=facts.checks, start=w.date(facts.start), end=w.date(facts.end), scored=w.number(facts.scored_s))]
        if facts.checks_total > facts.checks:
            observed.append(w("observed.capped", shown=facts.checks, total=facts.checks_total))
        result = [w("result.latest", date=w.date(facts.latest_at), level=w.level(facts.level)), w("result.highest", level=w.level(facts.highest))]
        trend_text = w("trend.period")
        trend_rows = [TrendRow(w.date(p.at), w.short(p.level)) for p in facts.trend if p.at is not None]
        axis_start, axis_end = w.short_date(facts.start), w.short_date(facts.end)
    observed += _less_certain(facts, w)
    shares = facts.share_at
    rows = [Row(w.short(lvl), w("unit.seconds", n=w.number(facts.seconds_at[lvl])), format_percent(shares[lvl], locale=language.locale)) for lvl in LEVELS]
    urgent_level = facts.highest if facts.kind == "period" else facts.level
    return Wording(
        lang=language.tag,
        title=title,
        notice=w("notice.ai"),
        review=_review(facts, w),
        observed_heading=w("heading.observed"),
        observed=observed,
        result=result,
        time_heading=w("heading.time"),
        time_note=w("time.ai_seconds") if facts.kind == "assessment" and facts.review.status != "none" else None,
        columns=(w("col.level"), w("col.time"), w("col.share")),
        rows=rows,
        trend_heading=w("heading.trend"),
        chart_title=w("chart.title"),
        trend_text=trend_text,
        trend_table=w("trend.table"),
        when_column=w("col.when"),
        trend_rows=trend_rows,
        axis_levels=[w.short(lvl) for lvl in LEVELS],
        axis_start=axis_start,
        axis_end=axis_end,
        meaning_heading=w("heading.meaning"),
        meaning=w("meaning.does"),
        not_meaning_heading=w("heading.not_meaning"),
        not_meaning=[w("meaning.not1"), w("meaning.not2"), w("meaning.not3")],
        contact_heading=w("heading.contact"),
        urgent=w("contact.significant") if urgent_level == "significant" else None,
        contact_intro=w("contact.intro"),
        contact=[w("contact.signs"), w("contact.recurring")],
        emergency=w("contact.emergency"),
        footer=w("footer.model", model=facts.model, version=facts.version, date=w.date(made_at)),
        sms=_sms(facts, w),
    )
