"""Reference pain scales: the scale files, recording a score (422s naming the item), pairing with the
AI's assessments and the concordance API, tenant by tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.assessments import make_assessment, make_window

from fhir_mappings.scales import LOCAL_SYSTEM, ScaleError, load_scales, parse_scale
from gateway import PatientRef
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings, SettingsError
from gateway.storage.assessments import AssessmentStore
from gateway.storage.engine import create_engine

PATIENT = {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-1"}}
PACKAGED = Path(__file__).resolve().parents[2] / "fhir_mappings" / "scales"
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def painad(**items: int) -> dict:
    scores = {"breathing": 1, "vocalisation": 0, "facial_expression": 2, "body_language": 1, "consolability": 0} | items
    return {"patient": PATIENT, "scale": "painad", "items": scores, "observed_at": "2026-11-23T10:02:00Z", "assessor": "RN Example"}


# the scale files


def test_the_five_published_scales_load_with_their_items_totals_and_codes():
    scales = load_scales()
    assert {s: (len(v.items), v.total.min, v.total.max) for s, v in scales.items()} == {
        "nrs": (1, 0, 10),
        "painad": (5, 0, 10),
        "cpot": (4, 0, 8),
        "abbey": (6, 0, 18),
        "flacc": (5, 0, 10),
    }
    assert (scales["nrs"].code.system, scales["nrs"].code.code) == ("http://loinc.org", "72514-3")
    assert all(scales[s].code.system == LOCAL_SYSTEM for s in ("painad", "cpot", "abbey", "flacc"))
    assert [i.max for i in scales["abbey"].items] == [3] * 6
    assert scales["abbey"].band(8) == "moderate" and scales["abbey"].levels.level(8) == "significant"
    assert scales["cpot"].band(3) == "pain present" and "18599262" in scales["cpot"].bands.source
    assert all(s.bands.source for s in scales.values())


def _broken(name: str, old: str, new: str) -> str:
    text = (PACKAGED / name).read_text()
    assert old in text
    return text.replace(old, new, 1)


def test_overlapping_bands_stop_loading_naming_the_file_and_the_line():
    text = _broken("painad.yaml", "{label: moderate, min: 4", "{label: moderate, min: 3")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "label: moderate" in row)
    with pytest.raises(ScaleError, match=rf"^site/painad.yaml:{line}: band 'moderate' \(3-6\) overlaps"):
        parse_scale(text, "site/painad.yaml")


def test_an_item_without_its_range_stops_loading_naming_the_file_and_the_line():
    text = _broken("flacc.yaml", "  - key: legs\n    label: Legs\n    min: 0\n", "  - key: legs\n    label: Legs\n")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "key: legs" in row)
    with pytest.raises(ScaleError, match=rf"^flacc.yaml:{line}: missing items.1.min"):
        parse_scale(text, "flacc.yaml")


def test_a_mapping_that_leaves_a_total_unmapped_is_refused():
    text = _broken("nrs.yaml", "  mild: {min: 1, max: 4}", "  mild: {min: 1, max: 3}")
    with pytest.raises(ScaleError, match="no level holds the total 4"):
        parse_scale(text, "nrs.yaml")


def test_a_site_adds_its_own_scale_and_replaces_a_mapping_without_code(tmp_path):
    own = (PACKAGED / "nrs.yaml").read_text().replace("id: nrs", "id: vrs").replace("nrs-default-1", "vrs-1")
    (tmp_path / "vrs.yaml").write_text(own)
    (tmp_path / "abbey.yaml").write_text((PACKAGED / "abbey.yaml").read_text().replace("abbey-default-1", "site-abbey-2"))
    scales = load_scales(str(tmp_path))
    assert scales["vrs"].levels.version == "vrs-1"
    assert scales["abbey"].levels.version == "site-abbey-2"


def test_an_inconsistent_site_file_stops_start_up_with_its_name_and_line(tmp_path):
    (tmp_path / "cpot.yaml").write_text(_broken("cpot.yaml", "total: {min: 0, max: 8}", "total: {min: 0, max: 9}"))
    settings = Settings(plugins={"reference_scales": {"scales_dir": str(tmp_path)}})
    with pytest.raises(SettingsError, match=r"cpot.yaml:\d+: the total's range 0-9 is not the items' sum 0-8"):
        build_plugins(settings, environ={})


# recording


def test_the_scales_are_listed_with_items_ranges_bands_and_codes(api):
    body = api.get("/v1/reference-scales", role="clinician").json()
    scales = {s["id"]: s for s in body["scales"]}
    assert list(scales) == ["nrs", "painad", "cpot", "abbey", "flacc"]
    assert scales["nrs"]["code"]["code"] == "72514-3"
    assert scales["painad"]["items"][0] | {"anchors": None} == {
        "key": "breathing",
        "label": "Breathing independent of vocalisation",
        "min": 0,
        "max": 2,
        "anchors": None,
    }
    assert scales["abbey"]["total"] == {"min": 0, "max": 18}
    assert scales["flacc"]["levels"]["version"] == "flacc-default-1"
    assert body["pair_minutes"] == 10


def test_a_score_is_recorded_with_its_total_computed_band_and_mapping_version(api):
    response = api.post("/v1/patients/scale-scores", role="clinician", json=painad())
    assert response.status_code == 201, response.text
    score = response.json()
    assert (score["total"], score["band"], score["level"], score["mapping_version"]) == (4, "moderate", "significant", "painad-default-1")
    assert score["ai_asserted"] is False and score["assessor"] == "RN Example"


def test_a_total_alone_is_recorded_for_a_self_report(api):
    body = {"patient": PATIENT, "scale": "nrs", "total": 3, "observed_at": "2026-11-23T10:02:00Z", "assessor": "Practitioner/rn-1"}
    response = api.post("/v1/patients/scale-scores", role="clinician", json=body)
    assert response.status_code == 201, response.text
    assert (response.json()["items"], response.json()["level"]) == (None, "mild")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"items": {"breathing": 3, "vocalisation": 0, "facial_expression": 2, "body_language": 1, "consolability": 0}}, "items.breathing", "out of range"),
        ({"items": {"breathing": 1, "vocalisation": 0, "facial_expression": 2, "body_language": 1}}, "items.consolability", "is missing"),
        (
            {"items": {"breathing": 1, "vocalisation": 0, "facial_expression": 2, "body_language": 1, "consolability": 0, "grimace": 1}},
            "items.grimace",
            "not an item",
        ),
        ({"total": 7}, "total", "disagrees with the items, which add up to 4"),
        ({"scale": "wong-baker"}, "scale", "unknown scale"),
        ({"observed_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "observed_at", "in the future"),
        ({"observed_at": "2026-11-23T10:02:00"}, "observed_at", "time zone"),
        ({"items": {"breathing": True, "vocalisation": 0, "facial_expression": 2, "body_language": 1, "consolability": 0}}, "items.breathing", "whole number"),
        ({"assessor": " "}, "assessor", "who scored it"),
    ],
)
def test_bad_scores_are_422s_naming_the_field_and_nothing_is_written(api, change, field, words):
    response = api.post("/v1/patients/scale-scores", role="clinician", json=painad() | change)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and words in response.json()["detail"]
    assert api.get("/v1/concordance/pairs", role="clinician").json()["pairs"] == []


def test_only_clinicians_record_scores(api):
    assert api.post("/v1/patients/scale-scores", role="integrator", json=painad()).status_code == 403


# pairing and concordance


def _store_assessments(url: str, assessments) -> None:
    async def add():
        engine = create_engine(url)
        try:
            for a in assessments:
                assert await AssessmentStore(engine).add(a)
        finally:
            await engine.dispose()

    asyncio.run(add())


def _assessment(i: str, start: datetime, level: str, probabilities=(0.1, 0.2, 0.7), patient=PatientRef(system="urn:oid:1.2.3", value="MRN-1"), **kw):
    return make_assessment(id=i, start=start, level=level, patient=patient, windows=[make_window(0, level=level, probabilities=probabilities)], **kw)


def test_a_score_pairs_with_the_nearest_assessment_of_the_patient_within_the_window(api, sqlite_url):
    _store_assessments(
        sqlite_url,
        [
            _assessment("far", T0 - timedelta(minutes=30), "none"),
            _assessment("near", T0 + timedelta(minutes=7), "significant"),
            _assessment("nearer", T0 - timedelta(minutes=2), "mild"),
            _assessment("other-patient", T0, "none", patient=PatientRef(system="urn:oid:1.2.3", value="MRN-2")),
        ],
    )
    assert api.post("/v1/patients/scale-scores", role="clinician", json=painad()).status_code == 201
    body = api.get("/v1/concordance/pairs", role="clinician").json()
    assert "10 min" in body["rule"]
    [pair] = body["pairs"]
    assert pair["ai"]["assessment_id"] == "nearer"
    assert pair["seconds_apart"] == pytest.approx(240 - 5)  # the 5 s clip ends at 09:58:05, the score is 10:02
    assert pair["ai"]["ai_asserted"] is True and pair["ai"]["model_version"] == "1.0.0"
    assert pair["ai"]["expected_level"] == pytest.approx(0.2 + 2 * 0.7)


def test_the_pairs_are_audited_as_a_search_as_json_and_as_csv(api):
    for path in ("/v1/concordance/pairs", "/v1/concordance/pairs.csv"):
        assert api.get(path, role="clinician").status_code == 200
    entries = api.get("/v1/audit", role="admin", params={"resource_type": "scale_score"}).json()["items"]
    assert [(e["action"], e["role"]) for e in entries] == [("search", "clinician"), ("search", "clinician")]


def test_another_tenants_scores_never_pair_or_show(api, sqlite_url):
    from support.gateway import tokens_for

    _store_assessments(sqlite_url, [_assessment("a-1", T0, "mild")])
    other = tokens_for(sqlite_url, "other-site")
    assert api.client.post("/v1/patients/scale-scores", json=painad(), headers=other["clinician"]).status_code == 201
    assert api.get("/v1/concordance/pairs", role="clinician").json()["pairs"] == []
    assert api.client.get("/v1/concordance/pairs", headers=other["clinician"]).json()["pairs"] == []  # a-1 is not theirs


def test_concordance_is_per_scale_and_model_version_and_marked_unreliable_when_small(api, sqlite_url):
    _store_assessments(sqlite_url, [_assessment(f"a-{i}", T0 + timedelta(hours=i), "significant") for i in range(3)])
    for i in range(3):
        at = (T0 + timedelta(hours=i, minutes=1)).isoformat()
        assert api.post("/v1/patients/scale-scores", role="clinician", json=painad() | {"observed_at": at}).status_code == 201
    body = api.get("/v1/concordance", role="integrator", params={"scale": "painad"}).json()
    [g] = body["groups"]
    assert (g["scale"], g["model_version"], g["pairs"], g["patients"], g["reliable"]) == ("painad", "1.0.0", 3, 1, False)
    assert "3 pairs (under 50)" in g["reliability_note"] and "1 patients (under 10)" in g["reliability_note"]
    assert g["confusion"] == [[0, 0, 0], [0, 0, 0], [0, 0, 3]]
    assert g["sensitivity_significant"]["value"] == 1.0 and g["specificity_significant"]["value"] is None
    assert "synthetic" in body["disclaimer"].lower()
    csv = api.get("/v1/concordance.csv", role="integrator")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "painad,painad-default-1,sta-lstm-synth,1.0.0,3,1,no,sensitivity_significant,1," in csv.text


def test_concordance_filters_are_checked(api):
    response = api.get("/v1/concordance", role="clinician", params={"since": "yesterday"})
    assert response.status_code == 422 and response.json()["field"] == "since"
    assert api.get("/v1/concordance", role="clinician", params={"scale": "vas"}).json()["field"] == "scale"


def test_the_documented_environment_variables_set_the_pairing_window_and_the_vitals_server():
    environ = {"PAIN_GATEWAY_PLUGIN_REFERENCE_SCALES_PAIR_MINUTES": "5", "PAIN_GATEWAY_PLUGIN_VITALS_FHIR_BASE_URL": "https://emr.example.org/fhir"}
    plugins = build_plugins(Settings(), environ=environ)
    assert plugins.settings.plugin_config("reference_scales").pair_minutes == 5
    assert plugins.settings.plugin_config("vitals").fhir_base_url == "https://emr.example.org/fhir"
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "reference-scales.md").read_text()
    for name in environ:
        assert name in guide


def test_scores_and_pairs_on_both_databases_stay_within_their_tenant(database_url):
    from fhir_mappings.scales import load_scales
    from plugins.reference_scales.pairing import make_pairs
    from plugins.reference_scales.recording import check_score
    from plugins.reference_scales.scores import ScoreStore

    scales = load_scales()
    mine, theirs = _assessment("mine", T0, "mild"), _assessment("theirs", T0, "significant", tenant="other-site")
    _store_assessments(database_url, [mine, theirs])

    async def run():
        engine = create_engine(database_url)
        try:
            body = painad() | {"observed_at": (T0 + timedelta(minutes=3)).isoformat()}
            for tenant in ("default", "other-site"):
                await ScoreStore(engine, tenant).add(check_score(scales, body), "tok")
            found = {}
            for tenant in ("default", "other-site"):
                store = ScoreStore(engine, tenant)
                scores = await store.search(since=T0, until=T0 + timedelta(hours=1), patient=PatientRef(system="urn:oid:1.2.3", value="MRN-1"))
                pairs = await make_pairs(AssessmentStore(engine), tenant, scores, 10)
                found[tenant] = ([s.observed_at for s in scores], [p.assessment.id for p in pairs], await store.get(scores[0].id))
            other = await ScoreStore(engine, "default").get(found["other-site"][2].id)
            return found, other
        finally:
            await engine.dispose()

    found, other = asyncio.run(run())
    assert found["default"][0] == [T0 + timedelta(minutes=3)] and found["default"][1] == ["mine"]
    assert found["other-site"][1] == ["theirs"]
    assert other is None  # another tenant's score is indistinguishable from none


def test_hook_trajectory_sources_puts_scale_scores_on_the_patients_trajectory(api, sqlite_url):
    now = datetime.now(UTC).replace(microsecond=0)
    _store_assessments(sqlite_url, [_assessment("recent", now - timedelta(hours=1), "mild")])
    body = painad() | {"observed_at": (now - timedelta(minutes=50)).isoformat()}
    assert api.post("/v1/patients/scale-scores", role="clinician", json=body).status_code == 201
    trajectory = api.get("/v1/patients/trajectory", role="clinician", params={"patient": "urn:oid:1.2.3|MRN-1"})
    assert trajectory.status_code == 200, trajectory.text
    [entry] = [e for e in trajectory.json()["entries"] if e["source"] == "reference_scales"]
    assert (entry["kind"], entry["label"], entry["level"], entry["value"]) == ("reference-scale", "PAINAD 4/10", "significant", 4)
    assert entry.get("ai_asserted", False) is False


def test_the_document_lists_the_sites_scales_as_the_scale_filters_values(api):
    """An unknown scale is a 422, so the OpenAPI document names the accepted ones (a client can offer them)."""
    paths = api.get("/schema/openapi.json").json()["paths"]
    for path in ("/v1/concordance", "/v1/concordance.csv", "/v1/concordance/pairs", "/v1/concordance/pairs.csv"):
        (scale,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "scale"]
        assert scale["schema"]["enum"] == ["nrs", "painad", "cpot", "abbey", "flacc", ""], scale  # empty: every scale, as the page's filter sends
    for value in scale["schema"]["enum"]:
        assert api.get("/v1/concordance/pairs", role="clinician", params={"scale": value}).status_code == 200
