"""compose.yaml cannot be run here (no Docker engine); check what can be checked without it."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.cli import main
from gateway.ops.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_every_gateway_setting_in_compose_is_a_real_setting():
    for name in ("api", "worker", "migrate"):
        environ = {k: v.replace("${POSTGRES_PASSWORD:-change-me}", "pw") for k, v in COMPOSE["services"][name]["environment"].items()}
        settings = load_settings(environ)  # raises on an unknown or invalid PAIN_GATEWAY_* variable
        assert settings.job_engine == "procrastinate" and settings.database_url.startswith("postgresql+psycopg://")


def test_services_run_commands_the_cli_has():
    for name in ("api", "worker", "migrate"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "pain-gateway" and command[1] in main.commands


def test_workers_and_api_share_the_data_volume_and_wait_for_migrations():
    for name in ("api", "worker"):
        service = COMPOSE["services"][name]
        assert "data:/data" in service["volumes"]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "pgdata" in COMPOSE["volumes"] and "data" in COMPOSE["volumes"]
