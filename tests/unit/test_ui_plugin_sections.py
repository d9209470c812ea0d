"""Plugins on the review UI: sections on the core pages (``ui_sections``), links in the navigation
(``register_ui_links``), a plugin's own page in the UI's layout (``ui_page``), and the patient page."""

from __future__ import annotations

import re

import pytest
from litestar import Request, Response, get
from litestar.testing import TestClient
from markupsafe import Markup
from support.gateway import tokens_for
from support.ui import sign_in

from gateway import UI_PAGES, UiContext, UiSection, hookimpl, ui_opt, ui_page
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.web.app import create_app

SEEN: list[tuple[str, UiContext]] = []


@get("/site-page", opt=ui_opt())
async def site_page(request: Request) -> Response:
    return ui_page(request, "site_page.html", package="uisite_templates", tenant=request.user.tenant)


class SectionsSite:
    @hookimpl
    async def ui_sections(self, page, context):
        SEEN.append((page, context))
        about = context.assessment.id if context.assessment else context.patient.value if context.patient else "nothing"
        return [UiSection(id="site-note", title="Site note", html=Markup("<p class='site'>about {}</p>").format(about), order=5)]

    @hookimpl
    def register_ui_links(self, register, settings):
        register("Site page", "/ui/site-page")

    @hookimpl
    def register_routes(self, register, settings):
        register(site_page)  # opt=ui_opt(): served at /ui/site-page


class PlainText:
    @hookimpl
    def ui_sections(self, page, context):
        return [UiSection(id="plain", title="Plain", html="<script>alert(1)</script>", order=1)]


class Broken:
    @hookimpl
    async def ui_sections(self, page, context):
        raise RuntimeError("site service down")


class BadLink:
    @hookimpl
    def register_ui_links(self, register, settings):
        register("Elsewhere", "https://example.org/")


@pytest.fixture
def ward(sqlite_url, keypoints_json, tmp_path, monkeypatch):
    """Tenant a's gateway with these plugins, two patients' assessments and a clinician signed in; tenant b has one too."""
    package = tmp_path / "uisite_templates"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "templates" / "site_page.html").write_text('{% extends "base.html" %}{% block main %}<h1>Site page of {{ tenant }}</h1>{% endblock %}')
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings(database_url=sqlite_url)
    plugins = build_plugins(settings, extra=[("site", SectionsSite()), ("plain", PlainText()), ("broken", Broken()), ("bad_link", BadLink())], environ={})
    SEEN.clear()
    with TestClient(create_app(settings, plugins)) as client:
        a, b = tokens_for(sqlite_url, "a"), tokens_for(sqlite_url, "b")
        ids = {}
        for tokens, mrn in ((a, "MRN-1"), (a, "MRN-2"), (b, "MRN-1")):
            body = keypoints_json(patient={"identifier": {"system": "urn:oid:1.2.3", "value": mrn}})
            response = client.post("/v1/assessments", headers=tokens["integrator"], json=body)
            assert response.status_code == 201, response.text
            ids[(tokens is a, mrn)] = response.json()["id"]
        assert sign_in(client, a["clinician"]["Authorization"].split(" ", 1)[1]).status_code == 303
        yield client, ids, plugins


def test_hook_ui_sections(ward):
    client, ids, _ = ward
    own = ids[(True, "MRN-1")]
    pages = {
        "assessment": f"/ui/assessments/{own}",
        "patient": "/ui/patients?patient=urn:oid:1.2.3|MRN-1",
        "worklist": "/ui/worklist",
        "live": "/ui/live",
    }
    assert set(pages) == set(UI_PAGES)
    for page, path in pages.items():
        response = client.get(path)
        assert response.status_code in (200, 503), (path, response.text[:300])  # live answers 503 where Face Mesh files are not installed
        if response.status_code == 503:
            continue
        html = response.text
        assert '<section class="card plugin-section" id="site-note"' in html, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html  # a plain str is text, never markup
        assert html.index('id="plain"') < html.index('id="site-note"')  # in order
    contexts = {page: context for page, context in SEEN}
    assert contexts["assessment"].assessment.id == own and contexts["assessment"].tenant == "a"
    assert contexts["patient"].patient.value == "MRN-1" and contexts["patient"].assessment is None
    assert "about MRN-1" in client.get(pages["patient"]).text


def test_a_failing_section_is_left_out_and_the_page_still_renders(ward, caplog):
    client, ids, plugins = ward
    response = client.get("/ui/worklist")
    assert response.status_code == 200 and 'id="site-note"' in response.text
    assert "broken" in {s.name for s in plugins.statuses if s.status == "loaded"}  # logged, never unregistered


def test_hook_register_ui_links(ward):
    client, _, plugins = ward
    html = client.get("/ui/worklist").text
    assert '<a href="/ui/site-page">Site page</a>' in html
    statuses = {s.name: s for s in plugins.statuses}
    assert statuses["bad_link"].status == "failed" and "a path under /ui/" in statuses["bad_link"].error
    page = client.get("/ui/site-page")
    assert page.status_code == 200 and "<h1>Site page of a</h1>" in page.text
    assert "Not clinically validated" in page.text and 'aria-current="page">Site page</a>' in page.text


def test_the_patient_page_lists_that_patients_assessments_of_this_tenant_only(ward):
    client, ids, _ = ward
    html = client.get("/ui/patients", params={"patient": "urn:oid:1.2.3|MRN-1"}).text
    assert re.findall(r'href="/ui/assessments/([0-9a-f-]{36})"', html) == [ids[(True, "MRN-1")]]  # not MRN-2's, not tenant b's MRN-1
    assert "1 assessment of this patient" in html
    none = client.get("/ui/patients", params={"patient": "urn:oid:1.2.3|MRN-9"})
    assert none.status_code == 200 and "No assessments of this patient" in none.text


def test_the_worklist_and_the_assessment_page_link_to_the_patient_page(ward):
    client, ids, _ = ward
    link = 'href="/ui/patients?patient=urn%3Aoid%3A1.2.3%7CMRN-1"'
    assert link in client.get("/ui/worklist").text
    assert link in client.get(f"/ui/assessments/{ids[(True, 'MRN-1')]}").text


@pytest.mark.parametrize(
    ("params", "message"), [({}, "patient: is required"), ({"patient": "x" * 301}, "at most 300"), ({"patient": "urn:a|"}, "no identifier value")]
)
def test_a_patient_page_without_a_usable_patient_names_the_field(ward, params, message):
    client, _, _ = ward
    response = client.get("/ui/patients", params=params)
    assert response.status_code == 422 and message in response.text and response.headers["content-type"].startswith("text/html")
