"""A plugin from outside, end to end: ``examples/plugins/pain-gateway-example`` built as a wheel, installed
into a virtual environment beside the gateway, migrated by ``pain-gateway db upgrade`` and used over HTTP.

The environment is made cheaply: a fresh venv (no pip of its own) whose site-packages holds a ``.pth``
that adds the gateway's venv as a site directory (its ``.pth`` files too, so the editable gateway and
its dependencies import), then pip builds the example from a copy of its folder, with no network
and no build isolation (the gateway's venv has setuptools), and installs the wheel. Only that venv
sees the plugin: the gateway's own venv, and the other tests, never load it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from shutil import copytree, ignore_patterns

import httpx
import numpy as np
import pytest
from support.gateway import tokens_for
from support.ports import free_port
from support.serve import serving

from gateway import DEFAULT_TENANT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins" / "pain-gateway-example"
PLUGIN = "example_notes"
NOTES = "/v1/example/notes"
OTHER_TENANT = "st-elsewhere"


@dataclass(frozen=True)
class Site:
    """The venv with the example installed, its database and a running ``pain-gateway serve``."""

    root: Path
    venv: Path
    database: Path
    origin: str
    token: str  # integrator of the default tenant, from ``pain-gateway tokens create``
    headers: dict[str, dict[str, str]]  # role -> Authorization, default tenant
    other: dict[str, dict[str, str]]  # role -> Authorization, another tenant

    def auth(self, role: str = "integrator") -> dict[str, str]:
        return self.headers[role]


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _make_venv(root: Path) -> Path:
    """A venv that sees the gateway's venv (a ``.pth`` adding it as a site directory) and has the example
    installed from a wheel built outside the tree, plus the ``pain-gateway`` launcher an installer writes."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    main_site = sysconfig.get_paths()["purelib"]  # this interpreter is the gateway's venv
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    (site / "_pain_gateway_venv.pth").write_text(f"import site; site.addsitedir({main_site!r})\n")
    source = root / "src" / EXAMPLE.name  # pip builds in the source folder: a copy keeps build/ and egg-info out of the tree
    copytree(EXAMPLE, source, ignore=ignore_patterns("build", "*.egg-info", "__pycache__", "*.pyc"))
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--quiet",
            str(source),
        ],
        os.environ.copy(),
        root,
    )
    launcher = venv / "bin" / "pain-gateway"  # what pip writes for the gateway's console script (the guard: spawned processes import it)
    launcher.write_text(f"#!{python}\nimport sys\n\nfrom gateway.cli import main\n\nif __name__ == '__main__':\n    sys.exit(main())\n")
    launcher.chmod(0o755)
    return venv


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="pgw-example-") as tmp:
        root = Path(tmp)
        venv = _make_venv(root)
        cli = str(venv / "bin" / "pain-gateway")
        database = root / "g.db"
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PAIN_GATEWAY_", "PYTHONPATH", "VIRTUAL_ENV"))},
            "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "PAIN_GATEWAY_DATA_DIR": str(root / "data"),
            "PAIN_GATEWAY_PORT": str(port),
            "PAIN_GATEWAY_SCORING_PROCESSES": "1",
        }  # one process to warm (torch) is enough for one clip
        _run([cli, "db", "upgrade"], env, root)
        with closing(sqlite3.connect(database)) as db:  # db upgrade, not serve, made the plugin's table
            assert db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'example_notes'").fetchall()
        token = _run([cli, "tokens", "create", "--name", "t", "--role", "integrator"], env, root).strip().splitlines()[-1]
        url = env["PAIN_GATEWAY_DATABASE_URL"]
        headers, other = tokens_for(url, DEFAULT_TENANT), tokens_for(url, OTHER_TENANT)
        origin = f"http://127.0.0.1:{port}"
        log_path = root / "serve.log"
        with serving([cli, "serve", "--port", str(port)], env, root, origin, log_path, start_s=60, stop_s=20) as server:
            yield Site(root, venv, database, origin, token, headers, other)
        log_text = log_path.read_text()  # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught
        assert server.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in log_text, log_text
        deadline = time.monotonic() + 10
        while (left := _processes_in(root)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"the gateway left processes behind: {left}"


def _processes_in(root: Path) -> list[str]:
    """Command lines of live processes started from ``root`` (the server's scoring and job processes)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in line:
            found.append(line)
    return found


@pytest.fixture(scope="module")
def assessment(site, face_points) -> dict:
    """The astronaut clip (5 s of Face Mesh landmarks) submitted as an NPZ upload, scored."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, points=face_points.astype(np.float32))
    response = httpx.post(
        f"{site.origin}/v1/assessments",
        headers={"Authorization": f"Bearer {site.token}"},
        timeout=60,
        files={"keypoints": ("clip.npz", buffer.getvalue(), "application/octet-stream")},
        data={"patient_reference": "Patient/p-77", "fps": "30", "captured_at": "2026-11-23T11:00:00Z", "image_size": "640,480"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_example_is_a_built_wheel_in_its_own_venv(site):
    site_packages = Path(sysconfig.get_paths(vars={"base": str(site.venv), "platbase": str(site.venv)})["purelib"])
    dist = site_packages / "pain_gateway_example-0.1.0.dist-info"
    direct_url = json.loads((dist / "direct_url.json").read_text())
    assert not direct_url.get("dir_info", {}).get("editable"), direct_url  # a wheel, not an editable install
    assert (site_packages / "pain_gateway_example" / "migrations" / "example_0001_notes.py").is_file()
    assert "pain_gateway" in (dist / "entry_points.txt").read_text()
    assert not list(EXAMPLE.glob("*.egg-info")) and not (EXAMPLE / "build").exists()  # the build left the tree alone
    main_site = Path(sysconfig.get_paths()["purelib"])
    assert not list(main_site.glob("pain_gateway_example*"))  # the gateway's own venv never saw it


def test_db_upgrade_creates_the_plugins_table_on_its_own_branch(site):
    with closing(sqlite3.connect(site.database)) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(example_notes)")}
        heads = {row[0] for row in db.execute("SELECT version_num FROM alembic_version")}
    assert columns == {"id", "tenant", "assessment_id", "text", "author", "created_at"}
    assert "example_0001" in heads and len(heads) >= 2  # the core's head, the plugin's branch (and other plugins' branches)


def test_the_plugin_is_listed_as_loaded(site):
    assert httpx.get(f"{site.origin}/v1/plugins", headers=site.auth()).status_code == 403  # admins only
    response = httpx.get(f"{site.origin}/v1/plugins", headers=site.auth("admin"))
    assert response.status_code == 200, response.text
    status = next(p for p in response.json() if p["name"] == PLUGIN)
    assert (status["status"], status["version"], status["source"]) == ("loaded", "0.1.0", "entry point pain_gateway_example"), status
    assert {"register_routes", "register_outputs", "register_migrations", "register_event_types"} <= set(status["hooks"])
    assert {"one-line", NOTES, "example.note_added"} <= set(status["provides"])
    schema = httpx.get(f"{site.origin}/schema/openapi.json", headers=site.auth()).json()
    operations = schema["paths"][NOTES]
    assert {"get", "post"} <= set(operations) and "201" in operations["post"]["responses"] and "422" in operations["post"]["responses"]


def test_the_output_is_served_for_an_assessment(site, assessment):
    assert assessment["links"]["one-line"].endswith(f"/v1/assessments/{assessment['id']}/one-line")
    response = httpx.get(f"{site.origin}/v1/assessments/{assessment['id']}/one-line", headers=site.auth("clinician"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    line = response.text
    assert line.count("\n") == 1 and line.endswith("\n")
    assert f"Pain level {assessment['summary']['level']} (AI-asserted, not yet reviewed by a clinician)" in line
    assert f"version {assessment['model']['version']}" in line and "trained on synthetic data" in line and assessment["id"] in line
    other = httpx.get(f"{site.origin}/v1/assessments/{assessment['id']}/one-line", headers=site.other["clinician"])
    assert other.status_code == 404  # another tenant's assessment does not exist for it


def test_notes_are_kept_in_the_plugins_table_per_tenant(site, assessment):
    url = f"{site.origin}{NOTES}"
    created = httpx.post(url, headers=site.auth(), json={"assessment_id": assessment["id"], "text": "  Settled after repositioning. "})
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["text"] == "Settled after repositioning." and note["assessment_id"] == assessment["id"] and note["event_id"]
    listed = httpx.get(url, headers=site.auth("clinician"), params={"assessment_id": assessment["id"]})
    assert listed.status_code == 200, listed.text
    assert [(n["id"], n["text"]) for n in listed.json()["notes"]] == [(note["id"], note["text"])]
    with closing(sqlite3.connect(site.database)) as db:
        assert db.execute("SELECT tenant, assessment_id FROM example_notes WHERE id = ?", (note["id"],)).fetchall() == [(DEFAULT_TENANT, assessment["id"])]

    # another tenant sees none of it and cannot write to this tenant's assessment
    assert httpx.get(url, headers=site.other["clinician"]).json() == {"notes": []}
    foreign = httpx.post(url, headers=site.other["integrator"], json={"assessment_id": assessment["id"], "text": "x"})
    assert foreign.status_code == 404, foreign.text


def test_notes_check_roles_and_input(site, assessment):
    url = f"{site.origin}{NOTES}"
    body = {"assessment_id": assessment["id"], "text": "ok"}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, headers=site.auth("telehealth"), json=body).status_code == 403  # roles from the route's opt
    for bad, field in (({**body, "text": " "}, "text"), ({**body, "text": "x" * 501}, "text"), ({**body, "colour": "red"}, "colour")):
        response = httpx.post(url, headers=site.auth(), json=bad)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json") and response.json()["field"] == field
    missing = httpx.post(url, headers=site.auth(), json={**body, "assessment_id": "no-such-assessment"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
