"""Caregiver summaries below the API: what they say, in which words, in which languages, and share links.

Assessments are real (the astronaut clip scored by the bundled model); where a story needs a given
course of pain, its windows are planted and the gateway's own summary rule recomputes the level.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from fontTools.ttLib import TTFont
from hypothesis import given, settings
from hypothesis import strategies as st
from support.assessments import make_window

from gateway.contract.domain import Assessment, LandmarkClip, PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings, SettingsError
from gateway.pipeline.scoring import score_clip
from gateway.pipeline.summary import summarise
from plugins.caregiver_summary import CaregiverSettings, share
from plugins.caregiver_summary.content import for_assessment, for_period, review_of
from plugins.caregiver_summary.i18n import BUNDLED, catalogue_keys, load_languages
from plugins.caregiver_summary.pdf import BUNDLED_FONT
from plugins.caregiver_summary.render import html, text
from plugins.caregiver_summary.service import Summaries
from plugins.caregiver_summary.wording import GSM_7, sms_limit, word

SECRET = "s" * 40
LANGUAGES = load_languages()
UTC_ZONE = ZoneInfo("UTC")
MADE = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PROBABILITIES = {"none": (0.9, 0.08, 0.02), "mild": (0.2, 0.7, 0.1), "significant": (0.05, 0.15, 0.8)}


@pytest.fixture(scope="module")
def scored(face_points) -> Assessment:
    plugins = build_plugins(Settings(), environ={})
    clip = LandmarkClip(PatientRef(system="urn:oid:1.2.3", value="MRN-CARE"), datetime(2026, 11, 28, 10, 0, tzinfo=UTC), 30.0, face_points)
    return score_clip(clip, plugins).assessment


def planted(assessment: Assessment, levels: list[str | None], at: datetime | None = None) -> Assessment:
    """The assessment with one 1-second window per entry (None: unscorable), summarised by the real rule."""
    windows = [make_window(i, level=lvl, probabilities=PROBABILITIES[lvl] if lvl else None) for i, lvl in enumerate(levels)]
    start = at or assessment.effective_start
    return msgspec.structs.replace(
        assessment,
        id=f"planted-{start:%H%M}-{len(levels)}",
        windows=windows,
        summary=summarise(windows),
        frames=len(levels) * 30,
        effective_start=start,
        effective_end=start + timedelta(seconds=len(levels)),
    )


def reviewed(assessment: Assessment, status: str, level: str | None) -> Assessment:
    return msgspec.structs.replace(assessment, clinical_status=status, clinician_level=level)


# --- catalogues -----------------------------------------------------------------------------------


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.po")), ids=lambda p: p.stem)
def test_every_catalogue_translates_every_key_with_the_same_placeholders(path):
    reference, catalogue = catalogue_keys(BUNDLED / "en.po"), catalogue_keys(path)
    assert set(catalogue) == set(reference)
    for key, english in reference.items():
        assert catalogue[key].strip(), f"{path.name}: {key} is empty"
        assert placeholders(catalogue[key]) == placeholders(english), f"{path.name}: {key}"


def test_the_bundled_pdf_font_draws_every_character_of_every_catalogue():
    cmap = TTFont(BUNDLED_FONT)["cmap"].getBestCmap()
    for path in BUNDLED.glob("*.po"):
        missing = {c for text in catalogue_keys(path).values() for c in text if ord(c) not in cmap}
        assert not missing, f"{path.name}: {sorted(missing)}; run scripts/subset_caregiver_font.py"
    assert BUNDLED_FONT.stat().st_size < 1_500_000  # a subset, not the 16 MB collection


def test_a_site_adds_a_language_by_dropping_a_catalogue(tmp_path, scored):
    (tmp_path / "fr.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "title.assessment"\nmsgstr "Résumé du contrôle de la douleur"\n',
        encoding="utf-8",
    )
    summaries = Summaries.from_settings(CaregiverSettings(catalogue_dir=str(tmp_path)), "http://gw")
    document = summaries.render(for_assessment(scored), "fr", "html", MADE).content.decode()
    assert '<html lang="fr">' in document and "Résumé du contrôle de la douleur" in document
    assert "What this does not mean" in document  # untranslated keys fall back to English
    assert "22 nov. 2026" not in document and "28 nov. 2026" in document  # dates in the catalogue's locale


def test_settings_that_cannot_work_stop_start_up_with_the_setting_named():
    for bad, named in (
        ({"share_secret": "short"}, "share_secret"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"share_default_h": 800}, "share_default_h"),
        ({"max_checks": 0}, "max_checks"),
    ):
        with pytest.raises(SettingsError, match=named):
            build_plugins(Settings(plugins={"caregiver_summary": bad}), environ={})
    with pytest.raises(SettingsError, match="DEFAULT_LANG"):
        Summaries.from_settings(CaregiverSettings(default_lang="xx"), "http://gw")


# --- what a summary says ----------------------------------------------------------------------------


def test_time_at_each_level_and_the_gaps_come_from_the_windows(scored):
    facts = for_assessment(planted(scored, ["none", "none", "mild", "mild", "mild", None, "significant", "significant"]))
    assert facts.seconds_at == {"none": 2.0, "mild": 3.0, "significant": 2.0}
    assert facts.unscorable_s == 1.0 and facts.level == "significant"
    assert [p.level for p in facts.trend][5] is None
    w = word(facts, LANGUAGES["en"], UTC_ZONE, MADE)
    assert [r.share for r in w.rows] == ["29%", "43%", "29%"]
    assert "1 seconds could not be checked" in " ".join(w.observed)
    assert w.urgent == "This summary shows signs of significant pain. Please let the care team know today."
    assert [r.when for r in w.trend_rows] == ["0 s – 2 s", "2 s – 5 s", "5 s – 6 s", "6 s – 8 s"]


def test_no_urgent_line_without_significant_pain_and_the_trend_breaks_at_gaps(scored):
    facts = for_assessment(planted(scored, ["none", None, "mild", "mild"]))
    w = word(facts, LANGUAGES["en"], UTC_ZONE, MADE)
    assert w.urgent is None and w.result == ["Overall: mild signs of pain (AI estimate)."]
    svg = html(facts, w)
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 3  # one point alone, then a joined run of two


def test_a_clinicians_level_replaces_the_ai_level_once_reviewed(scored):
    assessment = planted(scored, ["mild", "mild", "mild"])
    assert review_of(assessment).status == "none"
    assert word(for_assessment(assessment), LANGUAGES["en"], UTC_ZONE, MADE).review == "Not yet reviewed by a clinician."
    confirmed = word(for_assessment(reviewed(assessment, "final", "mild")), LANGUAGES["en"], UTC_ZONE, MADE)
    assert confirmed.review == "A clinician has reviewed this result and agreed with it."
    amended = for_assessment(reviewed(assessment, "amended", "significant"))
    w = word(amended, LANGUAGES["zh"], UTC_ZONE, MADE)
    assert amended.level == "significant"
    assert w.review == "临床医生已审核此结果，并将等级更改为“有明显疼痛迹象”。"
    assert w.result == ["总体结果：有明显疼痛迹象（由临床医生确定）。"]


def test_a_period_shows_each_check_the_latest_and_the_highest(scored):
    day = datetime(2026, 11, 28, tzinfo=UTC)
    checks = [
        planted(scored, ["none"] * 4, day + timedelta(hours=2)),
        planted(scored, ["significant"] * 3, day + timedelta(hours=8)),
        planted(scored, ["mild"] * 5, day + timedelta(hours=20)),
    ]
    facts = for_period(list(reversed(checks)), day, day + timedelta(hours=24), total=3)
    assert (facts.checks, facts.level, facts.highest) == (3, "mild", "significant")
    assert [round(p.x, 3) for p in facts.trend] == [round(2 / 24, 3), round(8 / 24, 3), round(20 / 24, 3)]
    w = word(facts, LANGUAGES["en"], ZoneInfo("Asia/Shanghai"), MADE)
    assert w.result == ["Most recent check, Nov 29, 2026 4:00 AM (UTC+08:00): mild signs of pain.", "Highest level seen: signs of significant pain."]
    assert w.urgent is not None  # significant pain earlier in the period still asks to tell the care team
    assert w.review == "0 of 3 checks have been reviewed by a clinician."


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
@pytest.mark.parametrize("level", ["none", "mild", "significant", None])
@pytest.mark.parametrize("status", ["preliminary", "amended"])
def test_the_sms_fits_one_message_untruncated(scored, lang, level, status):
    assessment = planted(scored, [level] * 3 if level else [None, None])
    one = for_assessment(reviewed(assessment, status, "significant" if status == "amended" else None))
    period = for_period([assessment], assessment.effective_start - timedelta(hours=23), assessment.effective_start + timedelta(hours=1), 1)
    for facts, zone in [(f, z) for f in (one, period) for z in ("Europe/London", "Asia/Kolkata")]:  # UTC, and the longest offset: UTC+05:30
        sms = word(facts, LANGUAGES[lang], ZoneInfo(zone), MADE).sms
        assert not sms.endswith("…") and len(sms) <= sms_limit(sms), (len(sms), sms)
        if lang == "en":
            assert set(sms) <= GSM_7 and sms_limit(sms) == 160
        if lang == "zh":
            assert sms_limit(sms) == 70


def test_text_and_html_say_the_same_things(scored):
    facts = for_assessment(planted(scored, ["mild", "significant", "significant"]))
    w = word(facts, LANGUAGES["zh"], UTC_ZONE, MADE)
    page, plain = html(facts, w), text(w)
    for sentence in [w.title, w.notice, w.review, *w.result, w.urgent, w.meaning, *w.not_meaning, *w.contact, w.emergency]:
        assert sentence in plain
        assert sentence.replace("“", "&#8220;") in page or sentence in page
    assert '<html lang="zh-Hans-CN">' in page and "@media print" in page
    assert "训练" in w.notice and "合成" in w.notice  # trained on synthetic data, said in Chinese


def test_values_are_escaped_in_html(scored):
    odd = msgspec.structs.replace(scored, model=msgspec.structs.replace(scored.model, name="<script>alert(1)</script>"))
    facts = for_assessment(odd)
    page = html(facts, word(facts, LANGUAGES["en"], UTC_ZONE, MADE))
    assert "<script>" not in page and "&lt;script&gt;" in page


# --- share links ------------------------------------------------------------------------------------


def test_a_signed_link_round_trips_and_refuses_changes_foreign_keys_and_age():
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    link = share.Shared("st-marys", "a1", "zh", share.expiry(now, timedelta(hours=72)))
    token = share.sign(link, SECRET)
    assert share.verify(token, SECRET, now) == link
    body, mac = token.split(".")
    forged_body = share._b64(share._unb64(body).replace(b'"a1"', b'"a2"'))
    for altered, secret in ((f"{forged_body}.{mac}", SECRET), (token, "t" * 40), (token, ""), (token + "x", SECRET)):
        with pytest.raises(share.LinkRefused) as refused:
            share.verify(altered, secret, now)
        assert refused.value.status == 403
    with pytest.raises(share.LinkRefused, match="expired at 2026-12-01 12:00 UTC") as late:
        share.verify(token, SECRET, now + timedelta(hours=72))
    assert late.value.status == 410


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=800))
def test_any_string_as_a_link_is_refused_cleanly(garbage):
    with pytest.raises(share.LinkRefused):
        share.verify(garbage, SECRET)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"tenant":"t","assessment_id":"a1","lang":"en","expires":2000000000.5}',  # a float expiry
        b'{"tenant":"t","assessment_id":"a1","lang":"en","expires":2000000000,"role":"admin"}',  # an unknown field
        b'{"tenant":"t","assessment_id":"a1","lang":"en","expires":-99999999999999}',  # before year 1
        b'{"tenant":"t","assessment_id":"a1","lang":"en","expires":2000000000,"period_s":86400,"end":99999999999999}',  # after 9999
        b'{"tenant":"t","assessment_id":"a1","lang":"en","expires":2000000000,"period_s":-86400,"end":1900000000}',  # a negative period
        b"not json at all",
    ],
)
def test_a_link_signed_with_our_secret_but_malformed_is_refused_403_not_a_crash(payload):
    """A leaked or reused secret, an older format: the signature holds, the content must still be ours."""
    token = f"{share._b64(payload)}.{share._b64(share._mac(SECRET, payload))}"
    with pytest.raises(share.LinkRefused) as refused:
        share.verify(token, SECRET, datetime(2026, 11, 28, 12, tzinfo=UTC))
    assert refused.value.status == 403


def test_a_link_carries_no_patient_identifier(scored):
    token = share.sign(share.Shared(scored.tenant, scored.id, "en", 2_000_000_000, 86400, 1_900_000_000), SECRET)
    assert "MRN" not in share._unb64(token.split(".")[0]).decode() and len(token) < share.MAX_TOKEN_CHARS


def test_the_pdf_font_is_the_bundled_one_unless_a_site_names_another(tmp_path):
    assert Summaries.from_settings(CaregiverSettings(), "http://gw").font == BUNDLED_FONT
    with pytest.raises(SettingsError, match="PDF_FONT"):
        Summaries.from_settings(CaregiverSettings(pdf_font=str(tmp_path / "none.ttf")), "http://gw")
    assert Path(BUNDLED_FONT.parent / "LICENSE-OFL.txt").read_text().count("SIL OPEN FONT LICENSE") >= 1
