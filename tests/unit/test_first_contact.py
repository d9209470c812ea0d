"""What a newcomer meets first, below a live server: the hints ``serve`` prints, an API typo's 404, and
the Makefile's install (CPU torch on Linux as the Dockerfile does, any allowed Python)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from gateway.cli import serve_hints
from gateway.ops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_hints_name_the_address_served_on():
    hints = serve_hints(Settings(port=9000))
    assert "Pain Gateway on http://127.0.0.1:9000" in hints
    assert "http://127.0.0.1:9000/docs" in hints and "http://127.0.0.1:9000/health" in hints and "8000" not in hints
    assert "tokens create --name me --role integrator" in hints and "synthetic" in hints


def test_the_hints_give_the_public_url_when_one_is_set_and_warn_on_a_wildcard_host():
    public = serve_hints(Settings(host="0.0.0.0", port=9000, public_url="https://pain.example.org"))
    assert "API docs:     https://pain.example.org/docs" in public and "PUBLIC_URL" not in public
    wildcard = serve_hints(Settings(host="0.0.0.0", port=9000))
    assert "set PAIN_GATEWAY_PUBLIC_URL" in wildcard


def test_a_mistyped_api_path_answers_a_problem_that_names_the_docs(api):
    for role in ("integrator", None):  # with a token or without
        answer = api.get("/v1/assesments", role=role) if role else api.client.get("/v1/assesments")
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert "/docs" in problem["detail"] and "/v1/assesments" in problem["detail"] and problem["instance"] == "/v1/assesments"
    known = api.get("/v1/assessments/no-such-id", role="integrator").json()
    assert known["detail"] == "no assessment 'no-such-id'"  # a real route's own 404 keeps its words


def _make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-n", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_make_installs_torchs_cpu_build_on_linux_from_the_index_the_dockerfile_uses():
    docker = re.search(r"pip install [^\n]*torch==([\d.]+) --index-url (\S+)", (ROOT / "Dockerfile").read_text())
    assert docker, "the Dockerfile installs torch from an index"
    dry = _make("-B", ".venv/.installed")  # what the install step would run, printed, not run
    assert dry.returncode == 0, dry.stderr
    torch = next(line for line in dry.stdout.splitlines() if "torch==" in line)
    assert f"torch=={docker.group(1)}" in torch and f"--index-url {docker.group(2)}" in torch
    other = _make("-B", ".venv/.installed", "TORCH_INDEX=")  # elsewhere: the platform's default index
    assert "--index-url" not in next(line for line in other.stdout.splitlines() if "torch==" in line)


def test_make_picks_an_allowed_python_and_names_the_fix_for_another(tmp_path):
    picked = subprocess.run(["make", "-s", "--eval", "show-python: ; @echo $(PYTHON)", "show-python"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    version = subprocess.run([picked.stdout.strip(), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() in ("(3, 11)", "(3, 12)"), picked.stdout
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\nexit 1\n")  # a Python the check refuses
    old.chmod(0o755)
    refused = subprocess.run(
        ["make", f"PYTHON={old}", f"VENV={tmp_path}/venv", f"{tmp_path}/venv/bin/python"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "PYTHON=python3.12 make run" in refused.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_pages_document_choosing_python_and_the_first_download(page):
    text = " ".join((ROOT / page).read_text().split())
    assert "PYTHON=python3.12 make run" in text
    assert "about 500 MB" in text and "CPU" in text
