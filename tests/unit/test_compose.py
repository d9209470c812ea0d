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


def test_debians_docker_compose_accepts_the_file():
    import shutil
    import subprocess

    from support.ci import service_missing

    binary = shutil.which("docker-compose")
    if binary is None:
        service_missing("docker-compose is not installed (apt-get install docker-compose)", "CI must check compose.yaml (.ci/run installs it)")
    result = subprocess.run([binary, "-f", str(ROOT / "compose.yaml"), "config", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_proxy_is_the_one_published_address_and_runs_the_tested_configuration():
    services = COMPOSE["services"]
    proxy, api = services["proxy"], services["api"]
    assert "./deploy/haproxy.cfg:/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]  # the file tests/support/haproxy.py runs
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]  # no replica is reachable around it
    [published] = proxy["ports"]
    host, host_port, container_port = published.split(":")
    assert proxy["environment"]["PAIN_GATEWAY_PROXY_BIND"] == f"0.0.0.0:{container_port}"
    assert api["environment"]["PAIN_GATEWAY_PUBLIC_URL"] == f"http://{host}:{host_port}"  # links name the proxy's address
    assert api["environment"]["PAIN_GATEWAY_TRUSTED_PROXIES"] == proxy["networks"]["gateway"]["ipv4_address"]
    assert proxy["environment"]["PAIN_GATEWAY_UPSTREAM_DNS"] == "api:8000" and api["command"][-1] == "8000"


def test_haproxy_reads_the_configuration_as_compose_and_the_tests_run_it():
    import os
    import subprocess

    from support.haproxy import CONFIG, haproxy_binary

    for upstreams in ({"PAIN_GATEWAY_UPSTREAM_DNS": "localhost:8000"}, {"PAIN_GATEWAY_UPSTREAM_A": "127.0.0.1:1", "PAIN_GATEWAY_UPSTREAM_B": "127.0.0.1:2"}):
        env = {**os.environ, "PAIN_GATEWAY_PROXY_BIND": "127.0.0.1:8080", **upstreams}
        result = subprocess.run([haproxy_binary(), "-c", "-f", str(CONFIG)], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr
