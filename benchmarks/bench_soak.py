"""Fault-injection soak: submissions (keypoints and a few videos) through the real HTTP API while a
fault thread SIGKILLs the API process group (with its embedded pool workers) and, on PostgreSQL, the
`pain-gateway worker` processes at random moments and restarts them. At the end it counts, per
accepted submission, completed / failed / lost / duplicated for assessments, FHIR Observations in a
real FHIR server (sekmet) and webhook ids at a real receiver; the goal is N / 0 / 0 / 0.

Why a script and not a test: it takes minutes and its value is the numbers, not a pass/fail bit.
The delivery retry schedule is shortened (PAIN_GATEWAY_DELIVERY_RETRY_SCHEDULE_S=1,2,4,8) so that
deliveries interrupted by a kill are retried within the run; production uses longer waits.

Options: ``--quick`` (or PGW_SOAK_QUICK=1) for a short run; ``--mode embedded|procrastinate|both``
(PGW_SOAK_MODE, default both). Procrastinate mode uses PGW_SOAK_POSTGRES_URL (default: database
``soak`` on 127.0.0.1, created if missing, its public schema dropped and recreated — never ``test``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fhir_server import FhirServer  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.receiver import Receiver  # noqa: E402

CLI = Path(sys.executable).parent / "pain-gateway"
PG_URL = os.environ.get("PGW_SOAK_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/soak")
IDENTIFIER_SYSTEM = "urn:pain-gateway/assessment"  # fhir_observation's default base_url + "/assessment"
RETRY_SCHEDULE = "1,2,4,8"


def _frames() -> list:
    with np.load(ROOT / "tests" / "data" / "astronaut_face_5s.npz") as data:
        points = data["points"]
    return [None if np.isnan(f).all() else f.round(6).tolist() for f in points]


def _reset_postgres(url: str) -> None:
    """A database of our own: another test run may be using ``test`` at the same time."""
    import psycopg

    from gateway.service.jobs.distributed import apply_schema, conninfo

    name = conninfo(url).rsplit("/", 1)[-1].split("?")[0]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    import asyncio

    asyncio.run(apply_schema(url))


class Gateway:
    """`pain-gateway serve` (and workers) as subprocesses in their own sessions, so one killpg
    SIGKILLs a process together with the spawn pool it started."""

    def __init__(self, mode: str, work: Path, env: dict[str, str]) -> None:
        self.mode, self.work, self.env = mode, work, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.kills: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def _spawn(self, name: str) -> None:
        log = (self.work / f"{name}.log").open("ab")
        args = ["serve", "--port", str(self.port)] if name == "serve" else ["worker", "--concurrency", "2"]
        self.procs[name] = subprocess.Popen([str(CLI), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def names(self) -> list[str]:
        return ["serve"] + (["worker0", "worker1"] if self.mode == "procrastinate" else [])

    def start(self) -> None:
        for name in self.names():
            self._spawn(name)

    def kill(self, name: str, t0: float) -> None:
        with self.lock:
            proc = self.procs[name]
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            self.kills.append((time.monotonic() - t0, name))
            self._spawn(name)

    def stop(self) -> None:
        with self.lock:
            for proc in self.procs.values():
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gateway not up in {timeout_s} s; see {self.work}/serve.log")


def _faults(gateway: Gateway, stop: threading.Event, t0: float, rng: random.Random) -> None:
    """Random SIGKILLs, 2-8 s apart; the API is the favourite target since it owns the embedded pool.

    The gap counts from when a killed API answers again: on a loaded machine its start-up alone can
    take longer than the gap, and killing it before it is up again tests nothing but the client's patience."""
    while not stop.wait(rng.uniform(2.0, 8.0)):
        name = rng.choice(gateway.names() + ["serve"])
        gateway.kill(name, t0)
        if name == "serve":
            gateway.wait_ready()


def _submit(client: httpx.Client, headers: dict, key: str, deadline: float, **request) -> tuple[str | None, int, str]:
    """The client an edge device should be: same request, same Idempotency-Key, until an answer."""
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        try:
            response = client.post("/v1/assessments", headers={**headers, "Idempotency-Key": key}, **request)
        except httpx.TransportError:
            time.sleep(0.5)
            continue
        if response.status_code in (200, 201, 202):
            return response.json()["id"], tries, ""
        if response.status_code < 500 and response.status_code != 429:
            return None, tries, f"{response.status_code} {response.text[:200]}"
        time.sleep(0.5)
    return None, tries, "gave up"


def soak(mode: str, keypoints: int, videos: int, work: Path) -> dict:
    from support.videos import face_video

    work.mkdir(parents=True)
    (work / "emr").mkdir()
    emr = FhirServer(work / "emr")
    emr.start()
    receiver = Receiver().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}
    env |= {
        "PAIN_GATEWAY_DATA_DIR": str(work / "data"),
        "PAIN_GATEWAY_LOG_LEVEL": "warning",
        "PAIN_GATEWAY_PLUGIN_FHIR_DELIVERY_BASE_URL": emr.base,
        "PAIN_GATEWAY_WEBHOOK_ALLOWLIST": "127.0.0.1",
        "PAIN_GATEWAY_DELIVERY_RETRY_SCHEDULE_S": RETRY_SCHEDULE,
        "PAIN_GATEWAY_STALLED_AFTER_S": "10",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    if mode == "embedded":
        env["PAIN_GATEWAY_DATABASE_URL"] = f"sqlite+aiosqlite:///{work}/gateway.db"
    else:
        _reset_postgres(PG_URL)
        env |= {"PAIN_GATEWAY_DATABASE_URL": PG_URL, "PAIN_GATEWAY_JOB_ENGINE": "procrastinate"}
    subprocess.run([str(CLI), "db", "upgrade"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [str(CLI), "tokens", "create", "--name", "soak", "--role", "integrator"], env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    gateway = Gateway(mode, work, env)
    gateway.start()
    gateway.wait_ready()
    client = httpx.Client(base_url=gateway.base, timeout=60)
    hook = client.post("/v1/webhook-endpoints", headers=headers, json={"url": receiver.url(), "events": ["assessment.completed", "assessment.failed"]})
    hook.raise_for_status()

    frames = _frames()
    video = face_video(work / "face.mp4", seconds=2.0, size=(320, 240)).read_bytes()
    requests = [
        (
            f"kp-{i}",
            {"json": {"patient": {"identifier": {"system": "urn:soak", "value": f"p{i}"}}, "fps": 30, "captured_at": "2026-11-23T10:00:00Z", "frames": frames}},
        )
        for i in range(keypoints)
    ]
    requests += [
        (
            f"video-{i}",
            {
                "files": {"video": ("face.mp4", video, "video/mp4")},
                "data": {"metadata": json.dumps({"patient": {"reference": f"Patient/v{i}"}, "captured_at": "2026-11-23T10:00:00Z"})},
            },
        )
        for i in range(videos)
    ]
    random.Random(1).shuffle(requests)

    rng, stop, t0 = random.Random(7), threading.Event(), time.monotonic()
    faults = threading.Thread(target=_faults, args=(gateway, stop, t0, rng), daemon=True)
    faults.start()
    deadline = t0 + 600
    accepted: dict[str, str] = {}
    rejected: dict[str, str] = {}
    tries = Counter()

    def one(item):
        key, request = item
        time.sleep(random.uniform(0, 0.3))
        assessment_id, n, error = _submit(client, headers, key, deadline, **request)
        tries[key] = n
        if assessment_id:
            accepted[key] = assessment_id
        else:
            rejected[key] = error

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, requests))
    submitted_s = time.monotonic() - t0
    # Keep killing until the video jobs had their chance to be interrupted too, then stop the faults.
    while time.monotonic() - t0 < submitted_s + 10:
        time.sleep(0.5)
    stop.set()
    faults.join()
    gateway.wait_ready()

    status: dict[str, str] = {}
    errors: dict[str, str] = {}
    quiet_deadline = time.monotonic() + 300
    while time.monotonic() < quiet_deadline:
        for key, aid in accepted.items():
            if status.get(key) in ("completed", "failed", "lost"):
                continue
            try:
                response = client.get(f"/v1/assessments/{aid}", headers=headers)
            except httpx.TransportError:
                continue
            body = response.json() if response.status_code == 200 else {}
            status[key] = "lost" if response.status_code == 404 else body.get("status", "?")
            if status[key] == "failed":
                errors[key] = str(body.get("error"))
        pending = [k for k in accepted if status.get(k) not in ("completed", "failed", "lost")]
        undelivered = 0
        if not pending:
            for status_name in ("pending", "sending", "retrying"):
                r = client.get("/v1/deliveries", params={"status": status_name, "limit": 1}, headers=headers)
                if r.status_code == 200:
                    undelivered += r.json()["total"]
            if undelivered == 0:
                break
        time.sleep(1)
    time.sleep(3)  # the last webhooks in flight
    completed = {accepted[k] for k in accepted if status.get(k) == "completed"}

    observations = Counter()
    with httpx.Client(timeout=30) as fhir:
        for aid in completed:
            bundle = fhir.get(
                f"{emr.base}/Observation", params={"identifier": f"{IDENTIFIER_SYSTEM}|{aid}"}, headers={"Accept": "application/fhir+json"}
            ).json()
            observations[aid] = len(bundle.get("entry", []))

    hook_ids: dict[str, Counter] = defaultdict(Counter)
    for received in list(receiver.requests):
        body = json.loads(received.body)
        if body.get("type") == "assessment.completed":
            hook_ids[body["data"]["assessment_id"]][received.headers.get("webhook-id")] += 1

    dead = client.get("/v1/deliveries", params={"status": "dead", "limit": 1}, headers=headers)
    deliveries_dead = dead.json().get("total") if dead.status_code == 200 else f"? {dead.status_code}"
    client.close()
    gateway.stop()
    receiver.stop()
    emr.stop()
    result = {
        "mode": mode,
        "submissions": len(requests),
        "accepted": len(accepted),
        "rejected": rejected,
        "client_retries": sum(tries.values()) - len(tries),
        "kills": gateway.kills,
        "submit_s": round(submitted_s, 1),
        "assessments": Counter(status.get(k, "unknown") for k in accepted),
        "duplicate_ids": len(accepted) - len(set(accepted.values())),
        "fhir": {
            "one": sum(1 for a in completed if observations[a] == 1),
            "missing": sorted(a for a in completed if observations[a] == 0),
            "duplicated": sorted(a for a in completed if observations[a] > 1),
        },
        "webhooks": {
            "one": sum(1 for a in completed if len(hook_ids[a]) == 1),
            "missing": sorted(a for a in completed if not hook_ids[a]),
            "duplicated": sorted(a for a in completed if len(hook_ids[a]) > 1),
            "redelivered_same_id": sum(1 for a in completed for n in hook_ids[a].values() if n > 1),
        },
        "deliveries_dead": deliveries_dead,
        "errors": errors,
        "work": str(work),
    }
    return result


def report(r: dict) -> None:
    a = r["assessments"]
    print(
        f"[{r['mode']}] {r['submissions']} submissions in {r['submit_s']} s, {len(r['kills'])} SIGKILLs "
        f"({Counter(n for _, n in r['kills'])}), {r['client_retries']} client retries; logs in {r['work']}"
    )
    print(
        f"  assessments   completed {a.get('completed', 0)} / failed {a.get('failed', 0)} / lost {a.get('lost', 0) + len(r['rejected'])}"
        f" / duplicated {r['duplicate_ids']}" + (f"  (unfinished: {dict(a)})" if set(a) - {"completed", "failed", "lost"} else "")
    )
    for key, error in r["errors"].items():
        print(f"  failed {key}: {error}")
    if r["rejected"]:
        print(f"  never accepted: {r['rejected']}")
    f, w = r["fhir"], r["webhooks"]
    print(f"  FHIR Obs      one {f['one']} / missing {len(f['missing'])} / duplicated {len(f['duplicated'])}")
    print(
        f"  webhook ids   one {w['one']} / missing {len(w['missing'])} / duplicated {len(w['duplicated'])}  (same id redelivered: {w['redelivered_same_id']})"
    )
    print(f"  dead deliveries: {r['deliveries_dead']}")
    for label, ids in (
        ("FHIR missing", f["missing"]),
        ("FHIR duplicated", f["duplicated"]),
        ("webhook missing", w["missing"]),
        ("webhook duplicated", w["duplicated"]),
    ):
        if ids:
            print(f"  {label}: {ids[:10]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("PGW_SOAK_QUICK") == "1")
    parser.add_argument("--mode", default=os.environ.get("PGW_SOAK_MODE", "both"), choices=["embedded", "procrastinate", "both"])
    args, _ = parser.parse_known_args(sys.argv[1:] if __name__ == "__main__" and sys.argv[0].endswith("bench_soak.py") else [])
    keypoints, videos = (18, 2) if args.quick else (94, 6)
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    for mode in ["embedded", "procrastinate"] if args.mode == "both" else [args.mode]:
        report(soak(mode, keypoints, videos, work / mode))


if __name__ == "__main__":
    main()
