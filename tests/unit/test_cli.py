"""The pain-gateway command, run as users run it: a real subprocess on the installed console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.fhir_observation.validation import validate_bundle

CLI = Path(sys.executable).parent / "pain-gateway"


@pytest.fixture
def cli(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "PAIN_GATEWAY_LOG_FORMAT": "json",
    }

    def run(*args, **extra_env):
        return subprocess.run([str(CLI), *args], capture_output=True, text=True, env={**env, **extra_env}, timeout=300, cwd=tmp_path)

    return run


def test_score_a_json_keypoints_file(cli, tmp_path, keypoints_json):
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json()))
    result = cli("score", str(source), "--json", "--out", str(tmp_path / "bundle.json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["summary"]["scored_windows"] == 5 and "synthetic" in summary["disclaimer"]
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert validate_bundle(bundle) == []
    assert "MRN-1234" not in result.stderr
    assert summary["stored"] == "new"
    again = json.loads(cli("score", str(source), "--json").stdout)
    assert again["stored"] == "already stored" and again["assessment_id"] == summary["assessment_id"]


def test_score_prints_a_summary_a_person_reads(cli, tmp_path, keypoints_json):
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json()))
    result = cli("score", str(source))
    assert result.returncode == 0, result.stderr
    level, assessment, deliveries, notice = result.stdout.splitlines()
    assert re.fullmatch(r"Level: (none|mild|significant) — held [1-5] s; 5 windows scored", level), level
    assert assessment.startswith("Assessment ") and "(new); model sta-lstm-synthetic" in assessment and "face in 100% of frames" in assessment
    assert deliveries == "Deliveries queued: 0" and "trained on synthetic data" in notice


def test_score_an_npz_file_with_metadata_options(cli, tmp_path, face_points):
    import numpy as np

    np.savez_compressed(tmp_path / "clip.npz", points=face_points)
    result = cli(
        "score",
        str(tmp_path / "clip.npz"),
        "--patient-reference",
        "Patient/p1",
        "--fps",
        "30",
        "--captured-at",
        "2026-11-23T10:00:00Z",
        "--image-size",
        "640,480",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["level"] in ("none", "mild", "significant")
    wrong = cli("score", str(tmp_path / "clip.npz"), "--patient-reference", "Patient/p1", "--fps", "500", "--captured-at", "2026-11-23T10:00:00Z")
    assert wrong.returncode == 2 and "Invalid value for --fps: must be between 5 and 120" in wrong.stderr, wrong.stderr


def test_bad_input_exits_2_naming_the_field(cli, tmp_path, keypoints_json):
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json(fps=500)))
    result = cli("score", str(source))
    assert result.returncode == 2 and "Invalid value for FILE: fps:" in result.stderr, result.stderr


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


def test_a_database_that_ran_a_plugin_now_disabled_still_upgrades(cli, tmp_path):
    """Disabling the built-in webhooks plugin (or any with tables) must not stop serve's migration."""
    assert cli("db", "upgrade").returncode == 0
    disabled = cli("db", "upgrade", PAIN_GATEWAY_DISABLED_PLUGINS="webhooks")
    assert disabled.returncode == 0, disabled.stderr


def test_a_plugin_s_tables_are_dropped_on_request_and_come_back_with_the_next_upgrade(cli, tmp_path):
    import sqlite3

    def tables() -> set[str]:
        with sqlite3.connect(tmp_path / "cli.db") as db:
            return {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}

    assert cli("db", "upgrade").returncode == 0 and "webhook_endpoints" in tables()
    refused = cli("db", "drop-plugin", "webhooks")
    assert refused.returncode == 2 and "--yes" in refused.stderr and "webhook_endpoints" in tables()
    unknown = cli("db", "drop-plugin", "no_such_plugin", "--yes")
    assert unknown.returncode == 2 and "no enabled plugin" in unknown.stderr
    dropped = cli("db", "drop-plugin", "webhooks", "--yes")
    assert dropped.returncode == 0, dropped.stderr
    assert "webhook_endpoints" not in tables() and "assessments" in tables()
    assert cli("db", "upgrade").returncode == 0 and "webhook_endpoints" in tables()


def on_a_terminal(cli_args: list[str], env: dict[str, str], cwd) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal, as in a person's shell: (exit code, stdout, what the terminal showed)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns: a new pty has 0, and tqdm draws nothing
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal side closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = subprocess.run([str(CLI), *cli_args], stdout=subprocess.PIPE, stderr=terminal, text=True, env=env, timeout=300, cwd=cwd)
    os.close(terminal)
    reader.join(10)
    os.close(controller)
    return result.returncode, result.stdout, shown.decode("utf-8", "replace")


def test_score_a_video_with_progress_on_a_terminal_only(cli, tmp_path):
    """The bar shows on a terminal and nowhere else; MediaPipe's native lines reach neither the bar nor the log."""
    from support.videos import face_video

    video = face_video(tmp_path / "visit.mp4", seconds=2.0, size=(320, 240))
    args = ["score", str(video), "--patient-reference", "Patient/v1", "--captured-at", "2026-11-23T10:00:00Z"]
    result = cli(*args, "--json", "--out", str(tmp_path / "bundle.json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["summary"]["scored_windows"] == 2 and summary["quality"]["face_share"] > 0.9
    assert "%|" not in result.stderr and "W0000" not in result.stderr
    assert validate_bundle(json.loads((tmp_path / "bundle.json").read_text())) == []
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}, "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/tty.db"}
    code, stdout, terminal = on_a_terminal(args, env, tmp_path)
    assert code == 0, terminal
    assert "landmarks" in terminal and "100%" in terminal and "W0000" not in terminal and "INFO: Created" not in terminal
    assert stdout.startswith("Level: ") and "synthetic" in stdout


def test_extract_with_json_logs_keeps_native_stderr_inside_the_log(cli, tmp_path):
    """Real MediaPipe writes absl/TFLite lines to fd 2; with JSON logs every stderr line still parses, and
    the native lines are there as debug events."""
    video = Path(__file__).parents[2] / "examples" / "astronaut-3s.mp4"
    result = cli("extract", str(video), "--out", str(tmp_path / "k.json"), "--patient-reference", "Patient/x", PAIN_GATEWAY_LOG_LEVEL="debug")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("90 frames (90 with a face) written to")
    events = [json.loads(line) for line in result.stderr.splitlines()]  # raises on any line that is not JSON
    native = [e["line"] for e in events if e["event"] == "native_stderr"]
    assert any(line.startswith("W0000") for line in native), native
    assert all(e["level"] == "debug" for e in events if e["event"] == "native_stderr")


def test_score_a_non_video_exits_2(cli, tmp_path):
    from support.videos import not_a_video

    result = cli("score", str(not_a_video(tmp_path / "clip.mp4")), "--patient-reference", "Patient/v1", "--captured-at", "2026-11-23T10:00:00Z")
    assert result.returncode == 2 and "video" in result.stderr


def test_scored_files_queue_deliveries_that_the_cli_lists_and_redelivers(cli, tmp_path, keypoints_json):
    emr = {"PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL": "http://127.0.0.1:9/fhir"}
    source = tmp_path / "clip.json"
    source.write_text(json.dumps(keypoints_json()))
    scored = cli("score", str(source), "--json", **emr)
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


@pytest.mark.skipif(
    sys.platform == "win32" or sys.implementation.name != "cpython", reason="uvloop is not installed there (pyproject's marker); serve runs on asyncio's loop"
)
def test_serve_runs_on_uvloop_where_it_installs():
    """The live ceiling in docs/operations.md was measured on uvloop: uvicorn's "auto" loop, which serve keeps, must pick it."""
    from uvicorn.loops.auto import auto_loop_factory

    loop = auto_loop_factory(use_subprocess=False)()
    try:
        assert type(loop).__module__.startswith("uvloop"), type(loop)
    finally:
        loop.close()
