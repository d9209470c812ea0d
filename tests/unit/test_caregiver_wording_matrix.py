"""Every caregiver-summary format x language x review state says who set the level, in the reader's zone.

A family at UTC+8 read UTC times without a zone, 8 hours off; after a clinician changed the AI's "none"
to "mild" the SMS said "mild (AI estimate, reviewed by a clinician)". Here each combination is rendered
as the gateway renders it (PDFs through their text layer) and read back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from support.assessments import make_assessment, make_window

from gateway.contract.domain import Assessment
from gateway.ops.settings import Settings, SettingsError, load_settings
from gateway.pipeline.summary import summarise
from plugins.caregiver_summary import CaregiverSettings
from plugins.caregiver_summary.content import for_assessment
from plugins.caregiver_summary.service import FORMATS, Summaries

CAPTURED = datetime(2026, 11, 23, 2, 5, tzinfo=UTC)  # 10:05 in Shanghai
MADE = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
MADE_AT = {"Asia/Shanghai": {"en": "11:00 AM", "zh": "11:00"}, None: {"en": "3:00 AM", "zh": "03:00"}}  # the footer's "made" time
PROBABILITIES = {"none": (0.9, 0.08, 0.02), "mild": (0.2, 0.7, 0.1), "significant": (0.05, 0.15, 0.8)}
STATES = {  # review state -> (clinical_status, clinician_level) over an AI "none"
    "unreviewed": ("preliminary", None),
    "confirmed": ("final", "none"),
    "changed": ("amended", "mild"),
}
SAYS = {  # language -> state -> (what the SMS says, what the HTML, text and PDF say)
    "en": {
        "unreviewed": ("no signs of pain (AI estimate, not yet reviewed)", "Overall: no signs of pain (AI estimate)."),
        "confirmed": ("no signs of pain (set by a clinician)", "Overall: no signs of pain (set by a clinician)."),
        "changed": ("mild signs of pain (set by a clinician)", "Overall: mild signs of pain (set by a clinician)."),
    },
    "zh": {
        "unreviewed": ("未见疼痛迹象（AI估计，未审核）", "总体结果：未见疼痛迹象（人工智能估计）。"),
        "confirmed": ("未见疼痛迹象（医生确定）", "总体结果：未见疼痛迹象（由临床医生确定）。"),
        "changed": ("有轻度疼痛迹象（医生确定）", "总体结果：有轻度疼痛迹象（由临床医生确定）。"),
    },
}
WHEN = {  # tz= given, or the site's (UTC) -> the clock time each language shows, and the zone
    "Asia/Shanghai": ({"en": "10:05 AM", "zh": "10:05"}, "UTC+08:00"),
    None: ({"en": "2:05 AM", "zh": "02:05"}, "UTC"),
}


def _none_for_three_seconds() -> Assessment:
    windows = [make_window(i, level="none", probabilities=PROBABILITIES["none"]) for i in range(3)]
    return make_assessment(id="matrix-1", start=CAPTURED, seconds=3, windows=windows, summary=summarise(windows), frames=90)


def _read(document: bytes, fmt: str) -> str:
    if fmt != "pdf":
        return document.decode()
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(document)
    return "\n".join(page.get_textpage().get_text_range() for page in pdf).replace("\r", "")


@pytest.fixture(scope="module")
def summaries() -> Summaries:
    return Summaries.from_settings(CaregiverSettings(), "http://127.0.0.1:8000")


@pytest.mark.parametrize("tz", list(WHEN), ids=lambda z: z or "site-utc")
@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_language_and_review_state_says_who_set_the_level_and_when_in_the_zone(summaries, fmt, lang, state, tz):
    status, clinician = STATES[state]
    assessment = msgspec.structs.replace(_none_for_three_seconds(), clinical_status=status, clinician_level=clinician)
    document = summaries.render(for_assessment(assessment), lang, fmt, MADE, tz)
    said = _read(document.content, fmt)
    flat = " ".join(said.split())  # PDF and text wrap lines
    sms, document_says = SAYS[lang][state]
    hours, zone = WHEN[tz]
    assert f"{hours[lang]} ({zone})" in flat, (fmt, lang, state, tz, flat[:400])
    if fmt == "sms":
        assert sms in flat, flat
        assert ("AI" in flat) == (state == "unreviewed"), flat  # a reviewed level is never called the AI's
    else:
        assert document_says in flat, flat
        if state != "unreviewed":  # the seconds stay the AI's, and say so
            assert ("program’s estimates" in flat) if lang == "en" else ("程序的估计" in flat), flat
    other = WHEN[None if tz else "Asia/Shanghai"][0][lang]
    assert f"{other} (" not in flat.replace(f"{MADE_AT[tz][lang]} (", ""), flat  # the other zone's clock time appears nowhere


def test_a_bad_tz_is_refused_naming_it(summaries):
    from gateway.contract.domain import InputError

    with pytest.raises(InputError) as refused:
        summaries.render(for_assessment(_none_for_three_seconds()), "en", "text", MADE, "Mars/Olympus")
    assert refused.value.field == "tz" and "IANA" in refused.value.message


def test_the_site_zone_comes_from_pain_gateway_timezone_and_is_checked_at_start():
    assert Settings().timezone == "UTC"
    assert load_settings({"PAIN_GATEWAY_TIMEZONE": "Asia/Shanghai"}).timezone == "Asia/Shanghai"
    with pytest.raises(SettingsError, match="PAIN_GATEWAY_TIMEZONE"):
        load_settings({"PAIN_GATEWAY_TIMEZONE": "Mars/Olympus"})
    site = Summaries.from_settings(CaregiverSettings(), "http://gw", "Asia/Shanghai")
    text = site.render(for_assessment(_none_for_three_seconds()), "en", "text", MADE).content.decode()
    assert "10:05 AM (UTC+08:00)" in text
    own = Summaries.from_settings(CaregiverSettings(timezone="Europe/London"), "http://gw", "Asia/Shanghai")  # the plugin's own setting wins
    assert "2:05 AM (UTC)" in own.render(for_assessment(_none_for_three_seconds()), "en", "text", MADE).content.decode()


def test_a_zone_with_summer_time_prints_the_offset_of_the_day(summaries):
    july = msgspec.structs.replace(
        _none_for_three_seconds(), effective_start=CAPTURED + timedelta(days=230), effective_end=CAPTURED + timedelta(days=230, seconds=3)
    )
    text = summaries.render(for_assessment(july), "en", "text", MADE, "Europe/London").content.decode()
    assert "3:05 AM (UTC+01:00)" in text
