"""Reliability: every result says whether the patient's neutral face was used, what the model measured for
that case, and how many of its seconds looked unlike the model's calibration data, in every output.

Built once (``gateway.pipeline.reliability``) from the model's own output and evidence; the FHIR
Observation, the review page, the caregiver summary and the API all quote that one record.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec
import numpy as np
import pytest
from support.assessments import make_assessment, make_model, make_window
from support.ui import post_form, sign_in

from fhir_mappings import load_mappings
from gateway.contract.domain import ModelInfo, ModelOutput, Reliability
from gateway.contract.hookspecs import hookimpl
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings, SettingsError
from gateway.pipeline.reliability import reliability, reliability_notes
from gateway.web.ui.assessment import quality_flags
from plugins.caregiver_summary.content import for_assessment
from plugins.caregiver_summary.i18n import load_languages
from plugins.caregiver_summary.wording import word
from plugins.fhir_observation.resources import observation_resource

MEASURED = {"stored": "Measured with a stored face: fine.", "none": "Measured without one: PSPI 8 significant for 93%."}
MODEL = msgspec.structs.replace(make_model(), reliability=MEASURED)
NONE_CASE = Reliability(baseline="none", measured=MEASURED["none"], unfamiliar_windows=2, typicality_below=0.01)


def windows(typicality: list[float | None]) -> list:
    return [msgspec.structs.replace(make_window(i, level="mild"), typicality=t) for i, t in enumerate(typicality)]


@pytest.mark.parametrize(
    ("uses_baseline", "personalised", "case"),
    [(True, False, "none"), (True, True, "stored"), (False, False, "unused"), (False, True, "stored")],
)
def test_the_baseline_case_comes_from_what_the_model_uses_and_used(uses_baseline, personalised, case):
    model = msgspec.structs.replace(MODEL, uses_baseline=uses_baseline)
    record = reliability(windows([0.5]), model, personalised=personalised, measured_typicality=True, below=0.01)
    assert record.baseline == case and record.measured == MEASURED.get(case)


def test_unfamiliar_windows_are_those_below_the_sites_threshold():
    scored = windows([0.001, 0.009, 0.01, 0.5, None])
    assert reliability(scored, MODEL, personalised=False, measured_typicality=True, below=0.01).unfamiliar_windows == 2
    assert reliability(scored, MODEL, personalised=False, measured_typicality=True, below=0.0).unfamiliar_windows == 0
    silent = reliability(windows([None]), MODEL, personalised=False, measured_typicality=False, below=0.01)
    assert silent.typicality_below is None and silent.unfamiliar_windows == 0


def test_the_notes_say_the_case_the_measured_figures_and_the_unfamiliar_seconds():
    notes = reliability_notes(NONE_CASE, scored_windows=5)
    assert notes[0].startswith("No neutral baseline was stored for this patient") and MEASURED["none"] in notes[0]
    assert notes[1].startswith("2 of 5 scored windows looked unlike the data the model was calibrated on (typicality below 0.01)")
    assert reliability_notes(None, 5) == []  # stored before reliability was recorded: nothing invented
    assert reliability_notes(Reliability(baseline="unused"), 5) == []


def test_the_fhir_observation_notes_and_narrative_carry_the_reliability():
    obs = observation_resource(make_assessment(model=MODEL, reliability=NONE_CASE), load_mappings(), "urn:pain-gateway")
    notes = [n["text"] for n in obs["note"]]
    assert "synthetic" in notes[0]  # the disclaimer stays first
    assert any(n.startswith("No neutral baseline was stored") for n in notes[1:])
    assert "No neutral baseline was stored" in obs["text"]["div"]


def test_the_review_page_flags_a_first_visit_and_unfamiliar_seconds():
    flags = quality_flags(make_assessment(model=MODEL, reliability=NONE_CASE))
    assert any("No neutral baseline" in f for f in flags) and any("looked unlike the data" in f for f in flags)
    stored = quality_flags(make_assessment(model=MODEL, personalised=True, reliability=Reliability(baseline="stored", measured=MEASURED["stored"])))
    assert stored == [f"Scored against this patient's stored neutral face (personalised). {MEASURED['stored']}"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_caregiver_summary_says_less_certain_until_a_clinician_reviews(lang):
    languages = load_languages()
    first_visit = make_assessment(model=MODEL, reliability=NONE_CASE, windows=windows([0.001, 0.001, 0.5, 0.5, 0.5]))
    made = datetime(2026, 12, 1, tzinfo=UTC)
    observed = word(for_assessment(first_visit), languages[lang], UTC, made).observed
    expected = {"en": ("usual resting face", "For 2 seconds"), "zh": ("平时放松时的面容", "有2秒")}[lang]
    assert any(expected[0] in line for line in observed) and any(expected[1] in line for line in observed), observed
    confirmed = msgspec.structs.replace(first_visit, clinical_status="final", clinician_level="mild")
    assert not any(expected[0] in line for line in word(for_assessment(confirmed), languages[lang], UTC, made).observed)


class NoBaselineModel:
    """Scores every window mild with a fixed typicality; never uses a baseline."""

    info = ModelInfo(model_id="typical-probe", version="1", sha256="1" * 64, name="probe", training_data="none", reliability=MEASURED)

    def __init__(self, typicality=None):
        self.typicality = typicality

    def predict(self, windows):
        n = len(windows.data)
        typicality = np.linspace(0.001, 0.9, n) if self.typicality is None else self.typicality[:n]
        return ModelOutput(np.tile([0.2, 0.7, 0.1], (n, 1)), np.full((n, 30, 468), 1 / 468), np.full((n, 30), 1 / 30), typicality=typicality)

    def model_card(self):
        return "probe"


class ProbePlugin:
    def __init__(self, model=None):
        self.model = model or NoBaselineModel()

    @hookimpl
    def register_models(self, register, settings):
        register(self.model)


def probe_client(sqlite_url, model=None):
    from litestar.testing import TestClient

    from gateway.web.app import create_app

    settings = Settings(database_url=sqlite_url, model="typical-probe")
    return TestClient(create_app(settings, build_plugins(settings, extra=[("probe", ProbePlugin(model))], environ={})))


def test_the_api_answers_with_the_reliability_and_each_windows_typicality(sqlite_url, api_tokens_for, keypoints_json):
    with probe_client(sqlite_url) as client:
        headers = api_tokens_for(sqlite_url)
        body = client.post("/v1/assessments", json=keypoints_json(), headers=headers("integrator")).json()
        assert [w["typicality"] for w in body["windows"]] == [round(float(t), 4) for t in np.linspace(0.001, 0.9, 5)]
        assert body["reliability"] == {"baseline": "unused", "measured": None, "unfamiliar_windows": 1, "typicality_below": 0.01}
        client.put("/v1/patients/baseline", json=keypoints_json(frames=keypoints_json()["frames"][:60]), headers=headers("clinician"))
        again = client.post("/v1/assessments", json=keypoints_json(), headers=headers("integrator"))
        assert again.status_code == 200 and again.json()["id"] == body["id"]  # a baseline this model ignores changes nothing


@pytest.mark.parametrize("typicality", [[0.5] * 4, [0.5, 0.5, 0.5, 0.5, 1.5], [0.5, 0.5, 0.0, 0.5, 0.5], [0.5, np.nan, 0.5, 0.5, 0.5]])
def test_a_model_returning_typicality_that_is_not_one_value_in_0_to_1_per_window_is_named(sqlite_url, api_tokens_for, keypoints_json, typicality):
    """A third-party model's bad output is its bug, named in the error, never stored as a result."""
    from gateway.pipeline.scoring import check_output

    model = NoBaselineModel(np.asarray(typicality))
    output = model.predict(type("W", (), {"data": np.zeros((5, 30, 468, 2))})())
    with pytest.raises(ValueError, match=r"model typical-probe returned typicality of shape \(\d+,\), not 5 values in \(0, 1\]"):
        check_output(model, output, 5)


@pytest.mark.parametrize("value", [-0.01, 1.0, 2.0])
def test_a_typicality_threshold_outside_0_to_1_stops_start_up_naming_it(value):
    with pytest.raises(SettingsError, match="PAIN_GATEWAY_TYPICALITY_BELOW: must be at least 0"):
        Settings(typicality_below=value)


def test_a_first_visits_page_offers_to_make_its_clip_the_patients_neutral_face(api, keypoints_json):
    """The review page of a result scored without a baseline offers to record the clip's face as the patient's
    neutral face, once the clinician confirms the patient was at rest; the same clip then scores personalised."""
    first = api.post("/v1/assessments", json=keypoints_json()).json()
    assert first["reliability"]["baseline"] == "none" and first["personalised"] is False
    client = api.client
    assert sign_in(client, api.tokens["clinician"]).status_code == 303
    page = f"/ui/assessments/{first['id']}"
    html = client.get(page).text
    assert 'id="baseline-form"' in html and "No neutral baseline was stored for this patient" in html
    refused = post_form(client, f"{page}/baseline", {}, page=page)
    assert refused.status_code == 422
    assert re.search(r'<form class="baseline"[^>]*>\s*<p class="error" id="baseline-error" role="alert" tabindex="-1">Tick the box', refused.text)
    stored = post_form(client, f"{page}/baseline", {"at_rest": "yes"}, page=page)
    assert stored.status_code == 303 and stored.headers["location"] == f"{page}?baseline=stored#quality"
    assert "Neutral face stored" in client.get(stored.headers["location"]).text
    again = api.post("/v1/assessments", json=keypoints_json()).json()
    assert again["id"] != first["id"] and again["personalised"] is True and again["reliability"]["baseline"] == "stored"
    assert again["reliability"]["unfamiliar_windows"] == 0, again["windows"]  # against their own neutral face the clip is typical
    assert 'id="baseline-form"' not in client.get(f"/ui/assessments/{again['id']}").text


def test_a_clip_whose_landmarks_are_gone_cannot_become_a_baseline_and_says_why(api, keypoints_json, plugins):
    from gateway.storage import kept_landmarks

    first = api.post("/v1/assessments", json=keypoints_json()).json()
    kept_landmarks.remove(plugins.settings.data_dir, first["id"])  # as retention does
    assert sign_in(api.client, api.tokens["clinician"]).status_code == 303
    page = f"/ui/assessments/{first['id']}"
    refused = post_form(api.client, f"{page}/baseline", {"at_rest": "yes"}, page=page)
    assert refused.status_code == 422 and "Its landmarks are no longer kept (retention): record a new neutral clip" in refused.text


PAIN_EXAMPLE = {"patient_system": "urn:oid:1.2.3", "patient_value": "MRN-PAIN", "captured_at": "2026-11-23T10:00:00Z", "fps": "30", "image_size": "480,480"}


def test_a_clip_in_which_the_ai_saw_pain_is_never_offered_as_a_neutral_face(api):
    """Stored as "neutral", a grimace would lower every later result: the page offers nothing and the form is refused."""
    from pathlib import Path

    example = (Path(__file__).resolve().parents[2] / "examples" / "synthetic-pain-8s.npz").read_bytes()
    pain = api.post("/v1/assessments", data=PAIN_EXAMPLE, files={"keypoints": ("pain.npz", example)}).json()
    assert pain["summary"]["level"] == "significant" and pain["reliability"]["baseline"] == "none"
    assert sign_in(api.client, api.tokens["clinician"]).status_code == 303
    page = f"/ui/assessments/{pain['id']}"
    assert 'id="baseline-form"' not in api.client.get(page).text
    refused = post_form(api.client, f"{page}/baseline", {"at_rest": "yes"}, page=page)
    assert refused.status_code == 422 and "only if the AI scored every second none or a reviewing clinician set the level to none" in refused.text


def test_an_old_first_visit_never_replaces_a_neutral_face_stored_since(api, keypoints_json):
    first = api.post("/v1/assessments", json=keypoints_json()).json()
    stored = api.client.put("/v1/patients/baseline", json=keypoints_json(frames=keypoints_json()["frames"][:60]), headers=api.headers("clinician"))
    assert stored.status_code == 200
    assert sign_in(api.client, api.tokens["clinician"]).status_code == 303
    page = f"/ui/assessments/{first['id']}"
    html = api.client.get(page).text
    assert 'id="baseline-form"' not in html
    assert post_form(api.client, f"{page}/baseline", {"at_rest": "yes"}, page=page).status_code == 422  # the stored one is kept


def test_the_baseline_form_is_a_clinicians_of_the_same_tenant_with_the_sessions_csrf(sqlite_url, plugins, keypoints_json):
    from litestar.testing import TestClient
    from support.gateway import tokens_for
    from support.ui import csrf_of

    from gateway.web.app import create_app

    with TestClient(create_app(Settings(database_url=sqlite_url, data_dir=plugins.settings.data_dir), plugins)) as client:
        mine, theirs = tokens_for(sqlite_url, "ward-a"), tokens_for(sqlite_url, "ward-b")
        first = client.post("/v1/assessments", json=keypoints_json(), headers=mine["integrator"]).json()
        page = f"/ui/assessments/{first['id']}"
        assert sign_in(client, theirs["clinician"]["Authorization"].split()[1]).status_code == 303
        assert client.post(f"{page}/baseline", data={"at_rest": "yes", "csrf": csrf_of(client.get("/ui/worklist").text)}).status_code == 404
        assert sign_in(client, mine["admin"]["Authorization"].split()[1]).status_code == 303
        assert client.post(f"{page}/baseline", data={"at_rest": "yes", "csrf": csrf_of(client.get(page).text)}).status_code == 403
        assert sign_in(client, mine["clinician"]["Authorization"].split()[1]).status_code == 303
        assert client.post(f"{page}/baseline", data={"at_rest": "yes"}).status_code == 403  # no CSRF token
        assert client.put("/v1/patients/baseline", json=keypoints_json(), headers=theirs["clinician"]).status_code == 200
        assert post_form(client, f"{page}/baseline", {"at_rest": "yes"}, page=page).status_code == 303  # ward-b's face changes nothing here


def test_a_reviewing_clinicians_none_makes_a_clip_calm_whatever_the_ai_said():
    from gateway.service.flow import calm

    pain = make_assessment(level="mild", windows=windows([0.5, 0.5]))
    assert not calm(pain) and calm(msgspec.structs.replace(pain, clinical_status="amended", clinician_level="none"))
    assert not calm(msgspec.structs.replace(pain, clinical_status="final"))  # confirmed mild
    quiet = make_assessment(level="none", windows=[msgspec.structs.replace(make_window(i, level="none"), typicality=0.5) for i in range(3)])
    assert calm(quiet) and not calm(make_assessment(level="none", windows=[]))  # nothing scored: nothing seen


def test_a_neutral_face_stored_meanwhile_is_kept(sqlite_url):
    """The insert is the check: a first visit's clip never overwrites a baseline stored between its page and its post."""
    import asyncio

    from gateway.contract.domain import PatientRef
    from gateway.storage.baselines import BaselineStore
    from gateway.storage.engine import create_engine

    async def act():
        engine = create_engine(sqlite_url)
        try:
            store, patient = BaselineStore(engine), PatientRef(system="urn:oid:1.2.3", value="MRN-RACE")
            assert await store.add_if_absent(patient, "default", np.zeros((468, 2)), 30)
            assert not await store.add_if_absent(patient, "default", np.ones((468, 2)), 30)
            assert (await store.get(patient, "default") == 0).all()
        finally:
            await engine.dispose()

    asyncio.run(act())


def test_a_period_summary_says_when_its_most_recent_check_had_no_baseline():
    from plugins.caregiver_summary.content import for_period

    first_visit = make_assessment(model=MODEL, reliability=NONE_CASE, windows=windows([0.5, 0.5]))
    made = datetime(2026, 12, 1, tzinfo=UTC)
    start, end = first_visit.effective_start, first_visit.effective_end
    observed = word(for_period([first_visit], start, end, 1), load_languages()["en"], UTC, made).observed
    assert any("usual resting face" in line for line in observed) and not any(line.startswith("For ") for line in observed)
    personal = msgspec.structs.replace(first_visit, reliability=Reliability(baseline="stored"))
    assert not any("usual resting face" in line for line in word(for_period([personal], start, end, 1), load_languages()["en"], UTC, made).observed)
