"""The review UI as a tablet shows it and as a nurse meets it, in process: every refused form comes back
with its reason first and the entries kept, the heatmap is SVG that scales with the page, numbers never
read ``-0.000``, the model has a clinician's summary, monitoring says when too few reviews mean nothing,
a mistyped address is the UI's own page, and the sign-in page's command works as printed.

The same pages in Chromium at 768-834 px: tests/integration/test_ui_tablet_browser.py.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from support.assessments import make_assessment
from support.gateway import tokens_for
from support.ui import csrf_of, post_form, sign_in

from gateway.cli import main as cli
from gateway.contract.domain import Explanation, RegionAttention, TimeWeight
from gateway.ops.settings import Settings
from gateway.service.explanations import SVG_TEXT, SVG_WIDTH, heatmap_svg
from gateway.storage.assessments import AssessmentStore
from gateway.storage.engine import create_engine
from gateway.storage.reviews import ReviewRequest, record_review
from gateway.storage.tokens import TokenInfo
from gateway.web.app import create_app
from gateway.web.ui import STATIC, charts
from gateway.web.ui.monitoring_page import MIN_RELIABLE_REVIEWS
from gateway.web.ui.render import fixed
from plugins.occlusion_regions import STANDS_OUT, mesh_regions
from plugins.occlusion_regions.occlusion import population_neutral_face

SVG = "{http://www.w3.org/2000/svg}"
MESH = mesh_regions(population_neutral_face().astype(float))
TINY = {"brow": 0.41, "eyes": 0.02, "mouth": 0.0, "forehead": -0.0004, "jaw": -0.0002, "nose": -0.03, "cheeks": -0.04}
"""Region importances as the occlusion explainer gives them: two drops round to zero from below."""
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CLINICIAN = TokenInfo("tok-ui", "dr-ui", "clinician", "default", START, None)


def secret(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


def explained(assessment_id: str, start: datetime):
    regions = sorted((RegionAttention(r, w) for r, w in TINY.items()), key=lambda r: r.weight, reverse=True)
    occlusion = Explanation("occlusion_regions", "region_occlusion", regions, "note", [TimeWeight(0.0, 1.0, 0.3)], MESH, STANDS_OUT)
    return make_assessment(id=assessment_id, tenant="default", start=start, created_at=start, explanations=[occlusion])


def store(url: str, count: int, reviewed: int = 0) -> list[str]:
    """``count`` assessments of tenant default (the AI said mild), the first ``reviewed`` confirmed by a clinician."""

    async def act() -> list[str]:
        engine = create_engine(url)
        try:
            ids = []
            for n in range(count):
                a = explained(f"tablet-{n:03d}", START + timedelta(minutes=n))
                assert await AssessmentStore(engine).add(a)
                if n < reviewed:
                    await record_review(engine, "default", a.id, ReviewRequest("confirm"), CLINICIAN)
                ids.append(a.id)
            return ids
        finally:
            await engine.dispose()

    return asyncio.run(act())


@pytest.fixture
def ward(sqlite_url, plugins):
    """A gateway with one stored, explained assessment; a clinician of its tenant signed in."""
    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:
        tokens = tokens_for(sqlite_url, "default")
        [assessment_id] = store(sqlite_url, 1)
        assert sign_in(client, secret(tokens["clinician"])).status_code == 303
        yield client, tokens, assessment_id


def test_a_value_that_rounds_to_zero_has_no_sign():
    assert fixed(-0.0004, 3) == "0.000" and fixed(-0.0, 2) == "0.00" and fixed(0.0004, 3) == "0.000"
    assert fixed(-0.0006, 3) == "-0.001" and fixed(0.41, 3) == "0.410" and fixed(2.5) == "2.50"


def test_the_heatmap_is_svg_that_scales_with_the_page_and_names_its_regions():
    svg = heatmap_svg(MESH, TINY, title="Region occlusion", threshold=STANDS_OUT)
    root = ElementTree.fromstring(svg)
    assert root.get("viewBox") == f"0 0 {SVG_WIDTH} 400" and root.get("width") is None and root.get("height") is None  # the page sizes it
    assert root.get("font-size") == str(SVG_TEXT) and "chart" in root.get("class")
    assert SVG_TEXT * 515 / SVG_WIDTH >= 12  # 12 CSS px or more wherever it is shown 515 px wide or wider
    fills = {p.get("data-region"): p.get("fill") for p in root.iter(f"{SVG}path") if p.get("data-region")}
    assert set(fills) == set(TINY)

    def redness(colour: str) -> int:
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return r - (g + b) // 2

    assert redness(fills["brow"]) > 100 > redness(fills["jaw"]) + 90, fills  # the brow drawn hot, the jaw pale
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "+0.41" in texts and "-0.00" not in texts and texts.count("0.00") >= 3  # forehead, jaw, mouth and the scale's foot
    assert "brow stands out" in root.get("aria-label") and not re.search(r"\sstyle=|\son\w+=|<script", svg)


def test_a_hostile_region_name_is_escaped_in_the_heatmap():
    svg = heatmap_svg(MESH, {"<script>x</script>": 0.3, **TINY}, title='"><img src=x onerror=alert(1)>', threshold=STANDS_OUT)
    assert "<script>" not in svg and "<img" not in svg and "&lt;script&gt;" in svg
    ElementTree.fromstring(svg)


def test_every_chart_prints_its_text_at_the_size_the_stylesheet_names():
    css = (STATIC / "ui.css").read_text()
    assert re.search(rf"svg\.chart text \{{[^}}]*font-size: {charts.TEXT}px", css)
    for svg in (charts.level_distribution([]), charts.probability_timeline([]), charts.second_importance([]), charts.override_trend([], "day")):
        root = ElementTree.fromstring(str(svg))
        width = float(root.get("viewBox").split()[2])
        assert root.get("font-size") == str(charts.TEXT) and charts.TEXT * 690 / width >= 12, root.get("aria-label")


def test_the_assessment_page_draws_the_heatmap_in_the_page_and_never_prints_minus_zero(ward):
    client, _, assessment_id = ward
    html = client.get(f"/ui/assessments/{assessment_id}").text
    assert '<svg class="chart heatmap"' in html and f'href="/ui/assessments/{assessment_id}/explanation.png"' in html
    shown = re.sub(r"<[^>]+>", " ", html)  # what a reader sees (data-importance keeps the exact drop for machines)
    assert not re.search(r"-0\.0+(?![0-9])", shown), re.findall(r".{40}-0\.0+(?![0-9]).{10}", shown)
    rows = dict(re.findall(r"<tr><td>(\w+)(?: <span class=\"tag\">stands out</span>)?</td><td>([-0-9.]+)</td>", html))
    assert rows["forehead"] == "0.000" and rows["jaw"] == "0.000" and rows["nose"] == "-0.030" and rows["brow"] == "0.410"
    assert 'href="/ui/models/sta-lstm-synth"' in html or re.search(r'href="/ui/models/[\w.-]+"', html)


def test_a_refused_review_comes_back_at_the_form_with_the_reason_first_and_the_choices_kept(ward):
    client, _, assessment_id = ward
    page = f"/ui/assessments/{assessment_id}"
    fields = {"decision": "override", "level": "", "reason": "patient-report", "comment": "NRS 7/10, kept"}
    refused = post_form(client, f"{page}/review", fields, page=page)
    assert refused.status_code == 422
    form = re.search(r'<form class="review" id="review-form" method="post" action="([^"]+)" novalidate>(.*?)</form>', refused.text, re.S)
    assert form and form.group(1) == f"{page}/review#review-error"  # a refusal comes back at its error (focusable: the browser focuses it)
    first = re.match(r'\s*<p class="error" tabindex="-1" role="alert" id="review-error">level: ', form.group(2))
    assert first, form.group(2)[:300]  # the first thing in the form, focusable (ui.js focuses it)
    assert 'value="override" checked' in form.group(2) and 'value="patient-report" selected' in form.group(2) and "NRS 7/10, kept</textarea>" in form.group(2)
    assert 'aria-invalid="true" aria-describedby="review-error"' in form.group(2)


def test_ui_js_brings_a_refused_forms_error_into_view_and_focuses_it():
    script = (STATIC / "ui.js").read_text()
    assert ".error[role=alert][tabindex]" in script and "scrollIntoView" in script and ".focus(" in script


def test_the_sign_in_pages_command_creates_a_clinician_token(sqlite_url, plugins, monkeypatch):
    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:
        html = client.get("/ui/sign-in").text
    command = re.search(r"<code[^>]*>(pain-gateway tokens create [^<]+)</code>", html).group(1)
    args = command.replace("NAME", "ward-7-nurse").split()[1:]
    monkeypatch.setenv("PAIN_GATEWAY_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("pgw_")  # the token, shown once


def test_a_refused_sign_in_shows_the_form_again_with_the_reason_at_its_top(sqlite_url, plugins):
    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:
        tokens = tokens_for(sqlite_url, "default")
        client.get("/ui/sign-in")
        stale = client.post("/ui/sign-in", data={"token": secret(tokens["clinician"]), "csrf": "from-an-old-tab", "next": "/ui/monitoring"})
        assert stale.status_code == 403
        form = re.search(r'<form method="post" action="/ui/sign-in">\s*<p class="error" role="alert" id="sign-in-error" tabindex="-1">([^<]+)</p>', stale.text)
        assert form and "expired" in form.group(1), stale.text[-1500:]
        assert 'name="next" value="/ui/monitoring"' in stale.text and csrf_of(stale.text)  # where to go, and a fresh form to send


def test_monitoring_shows_counts_and_marks_agreement_from_few_reviews_unreliable(sqlite_url, plugins):
    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:
        tokens = tokens_for(sqlite_url, "default")
        store(sqlite_url, MIN_RELIABLE_REVIEWS + 2, reviewed=2)
        sign_in(client, secret(tokens["clinician"]))
        few = client.get("/ui/monitoring").text
        counts = [re.sub(r"<[^>]+>", "", li).split() for li in re.findall(r"<li>(.*?)</li>", re.search(r'<ul class="figures".*?</ul>', few, re.S).group(0))]
        assert [c[0] for c in counts] == [str(MIN_RELIABLE_REVIEWS + 2), str(MIN_RELIABLE_REVIEWS), "2"], counts  # scored, awaiting, reviewed
        assert "Too few reviews to judge agreement" in few and "2 of the\n    20 needed" in few
        assert "100 % (0 of 2)" not in few and '0 % (0 of 2) <span class="tag">unreliable</span>' in few  # the override rate, marked
        assert "not defined yet" in few  # κ of two confirmed mild reviews: one level on both sides

    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:

        async def review_the_rest():
            engine = create_engine(sqlite_url)
            try:
                for n in range(2, MIN_RELIABLE_REVIEWS):
                    await record_review(engine, "default", f"tablet-{n:03d}", ReviewRequest("confirm"), CLINICIAN)
            finally:
                await engine.dispose()

        asyncio.run(review_the_rest())
        sign_in(client, secret(tokens["clinician"]))
        enough = client.get("/ui/monitoring").text
        assert f"{MIN_RELIABLE_REVIEWS} (20 confirmed, 0 overridden)" in enough and "unreliable" not in enough and "Too few reviews" not in enough


def test_a_bad_monitoring_period_shows_the_form_with_the_reason_first(ward):
    client, _, _ = ward
    refused = client.get("/ui/monitoring", params={"period": "year"})
    assert refused.status_code == 422
    first = r'<form class="card filters" method="get" action="/ui/monitoring"[^>]*>\s*<p class="error" role="alert" id="period-error" tabindex="-1">'
    form = re.search(first + "period: must", refused.text)
    assert form, refused.text[-2000:]


def test_the_model_summary_says_what_it_was_trained_on_what_it_cannot_do_and_its_figures(ward, plugins):
    client, _, _ = ward
    model_id = next(iter(plugins.models))
    info = plugins.models[model_id].info
    summary = client.get(f"/ui/models/{model_id}")
    assert summary.status_code == 200
    html = summary.text
    assert "What it was trained on" in html and info.training_data.split(":")[0] in html
    assert "What it cannot do" in html and "performance on real patients is unknown" in html  # the card's own limitations
    assert "What it is for" in html and "Out of scope" in html
    assert f"{100 * info.metrics['accuracy']:.0f} %" in html and f"{info.metrics['kappa_quadratic']:.2f}" in html
    assert f'href="/ui/models/{model_id}/card">Full model card</a>' in html and "Not clinically validated" in html
    assert client.get(f"/ui/models/{model_id}/card").status_code == 200
    missing = client.get("/ui/models/no-such-model")
    assert missing.status_code == 404 and "no-such-model" in missing.text


def test_a_mistyped_ui_address_is_the_uis_own_not_found_page_with_a_favicon(ward):
    client, _, _ = ward
    typo = client.get("/ui/assesments/oops")
    assert typo.status_code == 404 and typo.headers["content-type"].startswith("text/html")
    assert "Page not found" in typo.text and "There is no page at /ui/assesments/oops" in typo.text and 'href="/ui/worklist"' in typo.text
    assert 'rel="icon" href="/ui/static/favicon.svg"' in typo.text
    icon = client.get("/ui/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    ElementTree.fromstring(icon.text)


def test_every_worklist_row_is_one_link_to_its_assessment(ward):
    client, _, assessment_id = ward
    html = client.get("/ui/worklist").text
    rows = re.findall(r'<tr class="row-link">(.*?)</tr>', html, re.S)
    assert len(rows) == 1 and re.findall(r'<a class="row-open" href="([^"]+)"', rows[0]) == [f"/ui/assessments/{assessment_id}"]
    assert html.count('<th scope="col">') == len(re.findall(r"<td[ >]", rows[0]))  # a column per cell, no hidden "Open" column


def test_a_ui_page_names_its_charset_once(ward):
    client, _, _ = ward
    for path in ("/ui/worklist", "/ui/assesments/oops", "/ui/sign-in"):
        assert client.get(path).headers["content-type"] == "text/html; charset=utf-8", path


def test_the_landing_page_names_the_same_favicon_which_needs_no_session(api):
    landing = api.client.get("/")  # no token, no session
    assert 'rel="icon" href="/ui/static/favicon.svg"' in landing.text
    assert api.client.get("/ui/static/favicon.svg").status_code == 200


def test_a_bad_worklist_filter_shows_the_form_with_the_reason_first_and_the_other_filters_kept(ward):
    client, _, _ = ward
    refused = client.get("/ui/worklist", params={"level": "severe", "patient": "MRN-9", "needs_review": "1"})
    assert refused.status_code == 422
    first = r'aria-label="Filter the worklist" novalidate>\s*<p class="error" tabindex="-1" role="alert" id="filter-error">level: must'
    assert re.search(first, refused.text), refused.text[-2500:]
    assert 'value="MRN-9"' in refused.text and re.search(r'id="needs_review" name="needs_review" type="checkbox" value="1" checked', refused.text)
    assert "Fix the filter above" in refused.text and 'class="row-link"' not in refused.text  # no list that ignores the bad filter


def test_the_clinicians_guide_states_what_the_ui_tests_pin():
    from support.browser import MIN_TEXT_PX
    from support.serve import ROOT

    guide = " ".join((ROOT / "docs" / "guides" / "clinicians.md").read_text().split())
    assert "every page fits 768-834 px wide" in guide and f"is under {MIN_TEXT_PX:g} px" in guide  # tests/integration/test_ui_tablet_browser.py
    assert f"fewer than {MIN_RELIABLE_REVIEWS} reviews has its override rate and κ marked *unreliable*" in guide
    assert "(`/ui/models/{id}`: what it was trained on, what it is for, what it cannot do and its measured figures)" in guide
