"""The README's "First requests" run as written: its shell block against a live ``pain-gateway serve``.

The docs site's getting-started page carries the same block; a test here holds it to the README's, so
the block that runs is the one both show.

Only the port changes (a free one); the block runs with ``sh`` (dash here: POSIX, no bashisms), the
shell its fence names, from the repository root, so ``examples/...`` and ``.venv/bin/pain-gateway``
resolve exactly as they do for a reader.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from support.serve import live_gateway as running

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
GETTING_STARTED = (ROOT / "docs" / "getting-started.md").read_text()
CLI = Path(sys.executable).parent / "pain-gateway"


def first_requests(page: str = README) -> str:
    section = page.split("\n## First requests\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks, "the First requests section has no sh block"
    return "\n".join(blocks)


def test_the_getting_started_page_shows_the_readmes_first_requests():
    assert first_requests(GETTING_STARTED) == first_requests(README)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory):
    """A real ``pain-gateway serve``; yields (port, env)."""
    with running(tmp_path_factory.mktemp("gateway"), start_s=180) as gateway:  # a bound on the wait, not a speed claim
        yield gateway.port, gateway.env


def test_first_requests_run_as_written(live_gateway):
    port, env = live_gateway
    block = first_requests().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    result = subprocess.run(["sh", "-e", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("{") and '"ok"' in lines[0], lines  # /health
    assert lines[1] == "201", lines  # keypoints scored at once
    assert re.fullmatch(rf"202 http://127\.0\.0\.1:{port}/v1/assessments/\S+", lines[2]), lines  # video queued
    assert re.fullmatch(r'"status": ?"completed"', lines[3]), lines
    assert re.fullmatch(r'"total": ?2', lines[4]), lines  # both Observations found by the example's identifier
    assert re.fullmatch(r'"level": ?"significant"', lines[5]), lines  # the synthetic clip, listed by GET /v1/assessments
    assert len(lines) == 6, lines


def test_extract_turns_a_video_into_keypoints_the_api_scores(live_gateway, tmp_path):
    port, env = live_gateway

    def cli(*args):
        return subprocess.run([str(CLI), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    token = cli("tokens", "create", "--name", "edge", "--role", "integrator").stdout.strip()
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    video = str(ROOT / "examples" / "astronaut-3s.mp4")

    extracted = cli(
        "extract",
        video,
        "--out",
        str(tmp_path / "k.json"),
        "--patient-system",
        "urn:oid:1.2.3",
        "--patient-value",
        "MRN-EXTRACT-1",
        "--captured-at",
        "2026-11-23T11:00:00Z",
    )
    assert extracted.returncode == 0, extracted.stderr
    assert "%|" not in extracted.stderr  # no progress bar when stderr is not a terminal
    submission = (tmp_path / "k.json").read_text()
    body = json.loads(submission)
    assert (body["fps"], body["image_size"], len(body["frames"])) == (30, [320, 240], 90)
    assert all(frame is not None for frame in body["frames"])
    response = api.post("/v1/assessments", content=submission, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    scored = response.json()
    assert scored["summary"]["scored_windows"] > 0
    # the README: the astronaut, scored without a baseline, is flagged as unlike the training faces in most seconds
    assert scored["reliability"]["baseline"] == "none" and scored["reliability"]["unfamiliar_windows"] > scored["summary"]["scored_windows"] / 2

    extracted = cli("extract", video, "--out", str(tmp_path / "k.npz"), "--patient-reference", "Patient/extract-1", "--captured-at", "2026-11-23T11:05:00Z")
    assert extracted.returncode == 0, extracted.stderr
    with np.load(tmp_path / "k.npz") as npz:
        form = {k: str(npz[k]) for k in npz.files if k != "points"}
    assert form == {"patient_reference": "Patient/extract-1", "captured_at": "2026-11-23T11:05:00Z", "fps": "30.0", "image_size": "320,240"}
    response = api.post("/v1/assessments", data=form, files={"keypoints": (tmp_path / "k.npz").read_bytes()})
    assert response.status_code == 201, response.text


IDENTIFIER = ["--patient-system", "urn:oid:1.2.3", "--patient-value", "MRN-1"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([*IDENTIFIER, "--captured-at", "yesterday"], "--captured-at"),
        (["--patient-reference", "nobody"], "--patient-reference"),
        ([*IDENTIFIER, "--out", "k.csv"], "--out"),
        ([], "--patient-system/--patient-value or --patient-reference"),
    ],
)
def test_extract_names_the_option_on_bad_input(args, option, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PYTHONPATH": str(ROOT),
        "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
    }
    result = subprocess.run(
        [str(CLI), "extract", str(ROOT / "examples" / "astronaut-3s.mp4"), "--out", "k.json", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and option in result.stderr, result.stderr
    assert not (tmp_path / "k.json").exists()
