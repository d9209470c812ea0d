"""The plugin contract, shown with an example third-party plugin that is registered, not installed."""

from __future__ import annotations

import time
from pathlib import Path

import click
import msgspec
import numpy as np
import pytest
from litestar import get
from litestar.testing import TestClient

from gateway.contract.domain import DeliveryResult, Explanation, LandmarkClip, ModelInfo, ModelOutput, OutputDocument, PatientRef, RegionAttention
from gateway.contract.hookspecs import hookimpl
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings, SettingsError
from gateway.web.app import create_app
from gateway.web.openapi import Form

EXAMPLE_MEDIA_TYPE = "application/vnd.example.keypoints+json"


class ExampleSettings(msgspec.Struct):
    greeting: str = "hello"
    archive_dir: str = ""


class ExampleCapture:
    """Accepts a site's own JSON dialect: {"ref": "Patient/x", "points": [...], "start": ISO}."""

    name = "example_capture"
    deferred = False
    forms = (
        Form(
            EXAMPLE_MEDIA_TYPE,
            {"type": "object", "required": ["ref", "points", "start"]},
            summary="The site's own dialect",
            example={"ref": "Patient/x", "points": [], "start": "2026-11-23T09:00:00+00:00"},
        ),
    )

    def accepts(self, request):
        return request.media_type == EXAMPLE_MEDIA_TYPE

    def check(self, request):
        pass

    def capture(self, request, progress=None):
        raw = msgspec.json.decode(request.body)
        from datetime import datetime

        points = np.array(raw["points"], dtype=float)
        return LandmarkClip(PatientRef(reference=raw["ref"]), datetime.fromisoformat(raw["start"]), 30.0, points, source="example")


class MotionModel:
    """Scores pain by how much the normalised face moves: a toy, but a real PainModel."""

    info = ModelInfo(model_id="example-motion", version="1.0", sha256="0" * 64, name="Motion heuristic", training_data="none (heuristic)")

    def predict(self, windows):
        motion = np.abs(np.diff(windows.data, axis=1)).mean(axis=(1, 2, 3)) if len(windows.data) else np.zeros(0)
        significant = np.clip(motion * 50, 0, 0.9)
        probabilities = np.stack([1 - significant - 0.05, np.full_like(significant, 0.05), significant], axis=1)
        n = len(windows.data)
        return ModelOutput(probabilities, np.full((n, 30, 468), 1 / 468), np.full((n, 30), 1 / 30))

    def model_card(self):
        return "# Motion heuristic\nNot a clinical model."


class ExampleExplainer:
    name = "example_explainer"

    def explain(self, windows, output, predict):
        """Scores the windows again with ``predict``: explainers get the model that scored them."""
        same = bool(np.allclose(predict(windows).probabilities, output.probabilities))
        return Explanation("example_explainer", "rescored", [RegionAttention("whole_face", 1.0)], f"rescored identically: {same}")


class CaregiverNote:
    """An output that is not JSON: a small HTML page."""

    name = "caregiver_note"
    media_type = "text/html; charset=utf-8"

    def __init__(self, greeting):
        self.greeting = greeting

    def render(self, assessment):
        return OutputDocument(self.name, self.media_type, f"<p>{self.greeting}: pain level {assessment.summary.level}</p>".encode())


class SiteArchive:
    """A destination that files each caregiver note in a directory, refusing while the directory is missing."""

    name = "site_archive"
    output = "caregiver_note"

    def __init__(self, directory):
        self.directory = Path(directory)

    async def targets(self, event, connection):
        return [""] if event.type == "assessment.completed" else []

    async def send(self, request):
        if not self.directory.is_dir():
            return DeliveryResult.retry_later(f"{self.directory} is not mounted")
        (self.directory / f"{request.delivery_id}.html").write_bytes(request.document.content)
        return DeliveryResult.delivered("filed")

    async def probe(self, engine):
        return DeliveryResult.delivered("mounted") if self.directory.is_dir() else DeliveryResult.retry_later("not mounted")


EVENTS_SEEN = []


@get("/v1/example/greeting", opt={"roles": {"clinician"}})
async def greeting_route() -> dict:
    return {"greeting": "hello from a plugin route"}


class ExamplePlugin:
    @hookimpl
    def register_settings(self, register):
        register("example_site", ExampleSettings)

    @hookimpl
    def register_capture_sources(self, register, settings):
        register(ExampleCapture())

    @hookimpl
    def register_models(self, register, settings):
        register(MotionModel())

    @hookimpl
    def register_explainers(self, register, settings):
        register(ExampleExplainer())

    @hookimpl
    def register_outputs(self, register, settings):
        register(CaregiverNote(settings.plugin_config("example_site").greeting))

    @hookimpl
    def register_destinations(self, register, settings):
        if settings.plugin_config("example_site").archive_dir:
            register(SiteArchive(settings.plugin_config("example_site").archive_dir))

    @hookimpl
    def handle_event(self, event):
        EVENTS_SEEN.append(event)

    @hookimpl
    def register_routes(self, register, settings):
        register(greeting_route)

    @hookimpl
    def register_commands(self, register, settings):
        register(site_report)


@click.command("site-report")
@click.option("--days", type=int, default=7)
def site_report(days):
    """Print a site-specific report."""
    click.echo(f"report for {days} days")


class BrokenPlugin:
    @hookimpl
    def register_outputs(self, register, settings):
        register(CaregiverNote("never seen"))
        raise RuntimeError("site database unreachable")


class TypoPlugin:
    @hookimpl
    def register_output(self, register, settings):  # misspelt hook name
        pass


def example_app(sqlite_url, archive_dir="", **settings_kw):
    site = {"greeting": "Hi", "archive_dir": str(archive_dir)}
    settings = Settings(database_url=sqlite_url, model="example-motion", plugins={"example_site": site}, **settings_kw)
    plugins = build_plugins(settings, extra=[("example_site", ExamplePlugin())], environ={})
    return plugins, create_app(settings, plugins)


def example_submission(face_points):
    return {"ref": "Patient/example-1", "start": "2026-11-23T09:00:00+00:00", "points": np.nan_to_num(face_points[:60]).tolist()}


def test_hook_register_settings(sqlite_url):
    plugins, _ = example_app(sqlite_url)
    assert plugins.settings.plugin_config("example_site").greeting == "Hi"


def test_hook_register_capture_sources_and_models(sqlite_url, face_points, api_tokens_for):
    _, app = example_app(sqlite_url)
    with TestClient(app) as client:
        headers = api_tokens_for(sqlite_url)
        response = client.post(
            "/v1/assessments",
            content=msgspec.json.encode(example_submission(face_points)),
            headers={**headers("integrator"), "content-type": EXAMPLE_MEDIA_TYPE},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["source"] == "example" and body["model"]["model_id"] == "example-motion"
        assert body["summary"]["scored_windows"] == 2
        documented = app.openapi_schema.to_schema()["paths"]["/v1/assessments"]["post"]["requestBody"]["content"]
        assert EXAMPLE_MEDIA_TYPE in documented and "application/json" in documented  # the plugin's form sits beside the built-in ones


def test_hook_register_explainers(sqlite_url, face_points):
    plugins, _ = example_app(sqlite_url)
    from gateway.pipeline.scoring import score_clip

    clip = ExampleCapture().capture(type("R", (), {"body": msgspec.json.encode(example_submission(face_points))})())
    scored = score_clip(clip, plugins)
    example = next(e for e in scored.assessment.explanations if e.explainer == "example_explainer")
    assert example.note == "rescored identically: True"


def test_hook_register_outputs(sqlite_url, face_points, api_tokens_for):
    _, app = example_app(sqlite_url)
    with TestClient(app) as client:
        headers = api_tokens_for(sqlite_url)
        created = client.post(
            "/v1/assessments",
            content=msgspec.json.encode(example_submission(face_points)),
            headers={**headers("integrator"), "content-type": EXAMPLE_MEDIA_TYPE},
        ).json()
        note = client.get(created["links"]["caregiver_note"], headers=headers("clinician"))
        assert note.status_code == 200 and note.headers["content-type"] == "text/html; charset=utf-8", "served as the output names it"
        assert note.text.startswith("<p>Hi: pain level ")
        fhir = client.get(f"/v1/assessments/{created['id']}/fhir", headers=headers("integrator")).json()
        devices = [e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Device"]
        assert devices[0]["version"][0]["value"] == "1.0"


def submit_example(client, headers, face_points):
    response = client.post(
        "/v1/assessments", content=msgspec.json.encode(example_submission(face_points)), headers={**headers("integrator"), "content-type": EXAMPLE_MEDIA_TYPE}
    )
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_delivery(client, headers, assessment_id, status="delivered", timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while True:
        items = client.get("/v1/deliveries", params={"assessment_id": assessment_id}, headers=headers("integrator")).json()["items"]
        if items and all(d["status"] == status for d in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.2)


def test_hook_register_destinations(sqlite_url, face_points, api_tokens_for, tmp_path):
    archive = tmp_path / "archive"
    _, app = example_app(sqlite_url, archive_dir=archive)
    with TestClient(app) as client:
        headers = api_tokens_for(sqlite_url)
        created = submit_example(client, headers, face_points)
        [waiting] = wait_for_delivery(client, headers, created["id"], status="retrying")  # the archive is not mounted yet
        assert waiting["destination"] == "site_archive" and "not mounted" in waiting["last_error"]
        archive.mkdir()
        redelivered = client.post(f"/v1/deliveries/{waiting['id']}/redeliver", headers=headers("integrator"))
        assert redelivered.status_code == 202
        [done] = wait_for_delivery(client, headers, created["id"])
        log = client.get(f"/v1/deliveries/{done['id']}", headers=headers("integrator")).json()["attempt_log"]
    assert [a["outcome"] for a in log] == ["retry", "delivered"]
    assert (archive / f"{done['id']}.html").read_text().startswith("<p>Hi: pain level ")


def test_hook_handle_event(sqlite_url, face_points, api_tokens_for):
    _, app = example_app(sqlite_url)
    EVENTS_SEEN.clear()
    with TestClient(app) as client:
        created = submit_example(client, api_tokens_for(sqlite_url), face_points)
    assert [(e.type, e.assessment_id) for e in EVENTS_SEEN] == [("assessment.completed", created["id"])]


class Twin:
    @hookimpl
    def register_outputs(self, register, settings):
        register(CaregiverNote("twin"))


def test_two_plugins_registering_one_name_stop_start_up(sqlite_url):
    with pytest.raises(SettingsError, match="two plugins register the output 'caregiver_note'"):
        build_plugins(Settings(database_url=sqlite_url, plugins={"example_site": {}}), extra=[("example_site", ExamplePlugin()), ("twin", Twin())], environ={})


def test_hook_register_routes(sqlite_url, api_tokens_for):
    _, app = example_app(sqlite_url)
    with TestClient(app) as client:
        headers = api_tokens_for(sqlite_url)
        assert client.get("/v1/example/greeting", headers=headers("clinician")).json() == {"greeting": "hello from a plugin route"}
        assert client.get("/v1/example/greeting", headers=headers("integrator")).status_code == 403


def test_hook_register_commands(sqlite_url):
    from click.testing import CliRunner

    from gateway.cli import PluginCommandGroup

    plugins, _ = example_app(sqlite_url)
    group = PluginCommandGroup()
    group._plugin_commands = {c.name: c for c in plugins.commands}
    result = CliRunner().invoke(group, ["site-report", "--days", "3"])
    assert result.exit_code == 0 and result.output == "report for 3 days\n"
    assert "site-report" in group.list_commands(None)


def test_builtin_plugins_come_through_the_entry_point_group(plugins):
    statuses = {s.name: s for s in plugins.statuses}
    assert {"keypoint_upload", "sta_lstm", "attention_regions", "fhir_observation"} <= set(statuses)
    assert all(s.status == "loaded" and s.source.startswith("entry point") for s in statuses.values()), statuses
    assert "sta-lstm-synthetic" in plugins.models and "fhir" in plugins.outputs
    assert {"/fhir/Observation", "/fhir/metadata"} <= set(statuses["fhir_observation"].provides)


def test_a_failing_plugin_is_reported_and_registers_nothing(sqlite_url):
    settings = Settings(database_url=sqlite_url)
    plugins = build_plugins(settings, extra=[("broken", BrokenPlugin()), ("typo", TypoPlugin())], environ={})
    statuses = {s.name: s for s in plugins.statuses}
    assert statuses["broken"].status == "failed" and "site database unreachable" in statuses["broken"].error
    assert statuses["typo"].status == "failed" and "register_output" in statuses["typo"].error
    assert "caregiver_note" not in plugins.outputs
    assert "fhir" in plugins.outputs and statuses["fhir_observation"].status == "loaded"


def test_a_plugin_that_fails_to_import_does_not_stop_the_gateway(sqlite_url, monkeypatch):
    from gateway.contract import plugin_manager as loader

    def explode():
        raise ImportError("No module named 'site_secrets'")

    installed = loader._entry_point_plugins()
    monkeypatch.setattr(loader, "_entry_point_plugins", lambda: [*installed, ("site", explode, "entry point site", "0.1")])
    plugins = build_plugins(Settings(database_url=sqlite_url), environ={})
    status = next(s for s in plugins.statuses if s.name == "site")
    assert status.status == "failed" and "site_secrets" in status.error
    assert "sta-lstm-synthetic" in plugins.models


def test_plugins_can_be_disabled_and_enabled_by_name(sqlite_url):
    disabled = build_plugins(Settings(database_url=sqlite_url, disabled_plugins=["attention_regions", "occlusion_regions"]), environ={})
    assert next(s for s in disabled.statuses if s.name == "attention_regions").status == "disabled"
    assert disabled.explainers == []
    only = build_plugins(Settings(database_url=sqlite_url, enabled_plugins=["keypoint_upload"]), environ={})
    assert [s.name for s in only.statuses if s.status == "loaded"] == ["keypoint_upload"]
