"""First contact with a real ``pain-gateway serve``: the address it serves on is the one its links name,
the hints it prints are real, and Ctrl-C stops it (and its worker processes) without a traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from support.ports import free_port
from support.serve import serving

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "pain-gateway"
PATIENT = {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-EXAMPLE-1"}
START_S = 180  # a bound on the wait for /health, not a speed claim: a loaded CI machine imports torch slowly
FORM = {"patient_system": PATIENT["system"], "patient_value": PATIENT["value"], "captured_at": "2026-11-23T10:00:00Z", "fps": "30", "image_size": "480,480"}


def _env(workdir: Path) -> dict[str, str]:
    """No PAIN_GATEWAY_PORT (nor HOST, nor PUBLIC_URL): only the command line says where to serve."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/gateway.db",
        "PAIN_GATEWAY_DATA_DIR": str(workdir / "data"),
        "PYTHONPATH": str(ROOT),
    }


def _urls(value: object) -> Iterator[str]:
    """Every absolute http(s)/ws(s) URL anywhere in a JSON document."""
    if isinstance(value, str):
        yield from re.findall(r"(?:https?|wss?)://[^\s\"'<>]+", value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item)


def test_serve_port_n_without_pain_gateway_port_names_port_n_in_every_link(tmp_path):
    port = free_port()
    env, origin = _env(tmp_path), f"http://127.0.0.1:{port}"
    with serving([str(CLI), "serve", "--port", str(port)], env, ROOT, origin, tmp_path / "serve.log", start_s=START_S):
        made = subprocess.run(
            [str(CLI), "tokens", "create", "--name", "first-contact", "--role", "integrator"], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert made.returncode == 0, made.stderr
        api = httpx.Client(base_url=origin, headers={"Authorization": f"Bearer {made.stdout.strip()}"}, timeout=120)
        seen: list[str] = []

        scored = api.post("/v1/assessments", data=FORM, files={"keypoints": (ROOT / "examples" / "synthetic-pain-8s.npz").read_bytes()})
        assert scored.status_code == 201, scored.text
        seen += [scored.headers["location"], *_urls(scored.json())]
        again = api.post("/v1/assessments", content=(ROOT / "examples" / "astronaut-keypoints.json").read_bytes(), headers={"content-type": "application/json"})
        assert again.status_code == 201, again.text
        seen += [again.headers["location"], *_urls(again.json())]

        search = api.get("/fhir/Observation", params={"patient:identifier": f"{PATIENT['system']}|{PATIENT['value']}", "_count": "1"})
        assert search.status_code == 200, search.text
        bundle = search.json()
        assert any(link["relation"] == "next" for link in bundle["link"]), bundle["link"]  # the FHIR facade's next link
        seen += list(_urls(bundle))
        seen += list(_urls(api.get(f"/fhir/Observation/{bundle['entry'][0]['resource']['id']}").json()))

        listed = api.get("/v1/assessments", params={"limit": "1"}).json()
        assert "next" in listed["links"], listed["links"]
        seen += list(_urls(listed))

        live = api.post("/v1/live/sessions", json={"patient": {"identifier": PATIENT}})
        assert live.status_code == 201, live.text
        assert live.json()["url"].startswith(f"ws://127.0.0.1:{port}/v1/live/"), live.json()
        seen += list(_urls(live.json()))

        ours = [url for url in seen if "127.0.0.1" in url or "localhost" in url]
        assert len(ours) > 20, seen
        wrong = [url for url in ours if not re.match(rf"(?:http|ws)://127\.0\.0\.1:{port}/", url)]
        assert not wrong, wrong
        assert not [url for url in seen if ":8000" in url], seen
    hints = (tmp_path / "serve.log").read_text()
    assert f"Pain Gateway on http://127.0.0.1:{port}" in hints
    assert f"API docs:     http://127.0.0.1:{port}/docs" in hints and f"Health:       http://127.0.0.1:{port}/health" in hints
    assert "8000" not in hints.split("\n{", 1)[0]  # the hints, before the first JSON log line


def test_an_unknown_api_path_answers_a_problem_naming_the_docs(tmp_path):
    port = free_port()
    with serving([str(CLI), "serve", "--port", str(port)], _env(tmp_path), ROOT, f"http://127.0.0.1:{port}", tmp_path / "serve.log", start_s=START_S):
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/assesments", timeout=30)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")
    assert "/docs" in answer.json()["detail"] and "/v1/assesments" in answer.json()["detail"]


def test_ctrl_c_stops_the_gateway_and_its_workers_without_a_traceback(tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group: the gateway and every worker it
    spawned. Sent while the workers are still starting (the moment that printed three tracebacks), and
    again once they are up: no traceback either time, each worker says it stopped at most once."""
    for round_, settle_s in enumerate((0.0, 25.0)):
        port, log_path = free_port(), tmp_path / f"serve-{round_}.log"
        env = _env(tmp_path / str(round_))
        with log_path.open("w") as log:
            server = subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                deadline = time.monotonic() + START_S
                while True:
                    assert server.poll() is None, log_path.read_text()
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.2)
                time.sleep(settle_s)
                os.killpg(server.pid, signal.SIGINT)
                assert server.wait(timeout=60) == 0, log_path.read_text()[-3000:]
            finally:
                if server.poll() is None:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(10)
        text = log_path.read_text()
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
        stopped = [json.loads(line)["pid"] for line in text.splitlines() if '"worker_stopped"' in line]
        assert len(stopped) == len(set(stopped)), stopped  # one line per process
        assert "Finished server process" in text
