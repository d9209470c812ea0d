"""The pain-gateway command, run as users run it: a real subprocess on the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.fhir_observation.validation import validate_bundle

CLI = Path(sys.executable).parent / "pain-gateway"


@pytest.fixture
def cli(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
           "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db", "PAIN_GATEWAY_LOG_FORMAT": "json"}

    def run(*args, **extra_env):
        return subprocess.run([str(CLI), *args], capture_output=True, text=True, env={**env, **extra_env}, timeout=300, cwd=tmp_path)

    return run


def test_score_a_json_keypoints_file(cli, tmp_path, keypoints_json):
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json()))
    result = cli("score", str(source), "--out", str(tmp_path / "bundle.json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["summary"]["scored_windows"] == 5 and "synthetic" in summary["disclaimer"]
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert validate_bundle(bundle) == []
    assert "MRN-1234" not in result.stderr
    assert summary["stored"] == "new"
    again = json.loads(cli("score", str(source)).stdout)
    assert again["stored"] == "already stored" and again["assessment_id"] == summary["assessment_id"]


def test_score_an_npz_file_with_metadata_options(cli, tmp_path, face_points):
    import numpy as np

    np.savez_compressed(tmp_path / "clip.npz", points=face_points)
    result = cli("score", str(tmp_path / "clip.npz"), "--patient-reference", "Patient/p1", "--fps", "30",
                 "--captured-at", "2026-11-23T10:00:00Z", "--image-size", "640,480")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["level"] in ("none", "mild", "significant")


def test_bad_input_exits_2_naming_the_field(cli, tmp_path, keypoints_json):
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json(fps=500)))
    result = cli("score", str(source))
    assert result.returncode == 2 and "fps" in result.stderr


def test_plugins_lists_status_and_hooks(cli):
    result = cli("plugins")
    assert result.returncode == 0, result.stderr
    assert "sta_lstm" in result.stdout and "register_models" in result.stdout and "loaded" in result.stdout


def test_disabled_plugin_is_listed_as_disabled(cli):
    result = cli("plugins", PAIN_GATEWAY_DISABLED_PLUGINS="attention_regions")
    line = next(line for line in result.stdout.splitlines() if line.startswith("attention_regions"))
    assert "disabled" in line


def test_tokens_create_list_revoke(cli):
    created = cli("tokens", "create", "--name", "epic", "--role", "integrator")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("pgw_")
    token_id = cli("tokens", "list").stdout.split()[0]
    assert "active" in cli("tokens", "list").stdout
    assert cli("tokens", "revoke", token_id).returncode == 0
    assert "revoked" in cli("tokens", "list").stdout
    assert secret not in cli("tokens", "list").stdout
    assert cli("tokens", "revoke", token_id).returncode == 1


def test_bad_settings_stop_with_a_message(cli):
    result = cli("plugins", PAIN_GATEWAY_PORT="99999")
    assert result.returncode == 2 and "PAIN_GATEWAY_PORT" in result.stderr


def test_db_upgrade_is_repeatable(cli):
    assert cli("db", "upgrade").returncode == 0
    assert "up to date" in cli("db", "upgrade").stdout


def test_score_a_video_with_progress(cli, tmp_path):
    from support.videos import face_video

    video = face_video(tmp_path / "visit.mp4", seconds=2.0, size=(320, 240))
    result = cli("score", str(video), "--patient-reference", "Patient/v1", "--captured-at", "2026-11-23T10:00:00Z",
                 "--out", str(tmp_path / "bundle.json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["summary"]["scored_windows"] == 2 and summary["quality"]["face_share"] > 0.9
    assert "landmarks" in result.stderr and "100%" in result.stderr
    assert validate_bundle(json.loads((tmp_path / "bundle.json").read_text())) == []


def test_score_a_non_video_exits_2(cli, tmp_path):
    from support.videos import not_a_video

    result = cli("score", str(not_a_video(tmp_path / "clip.mp4")), "--patient-reference", "Patient/v1", "--captured-at", "2026-11-23T10:00:00Z")
    assert result.returncode == 2 and "video" in result.stderr


def test_scored_files_queue_deliveries_that_the_cli_lists_and_redelivers(cli, tmp_path, keypoints_json):
    emr = {"PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL": "http://127.0.0.1:9/fhir"}
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json()))
    scored = cli("score", str(source), **emr)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["deliveries"] == 1  # queued: a running gateway sends it
    listed = cli("deliveries", "list", "--status", "pending", **emr)
    assert listed.returncode == 0 and "1 of 1" in listed.stderr
    delivery_id, status, _, destination, event, *_ = listed.stdout.split()
    assert (status, destination, event) == ("pending", "fhir", "assessment.completed")
    assert cli("deliveries", "redeliver", delivery_id, **emr).returncode == 0
    assert cli("deliveries", "redeliver", "no-such-delivery", **emr).returncode == 1
    assert cli("deliveries", "list", "--status", "dead", **emr).stdout == ""


def test_outputs_test_names_the_configured_destinations(cli):
    result = cli("outputs", "test", "nowhere")
    assert result.returncode == 2 and "no destination 'nowhere'" in result.stderr


def test_version(cli):
    from importlib.metadata import version

    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip().endswith(version("pain-gateway"))
