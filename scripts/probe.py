"""`make probe`: schemathesis, every check and the stateful phase, against a real ``pain-gateway serve``.

The gateway starts on a free port with its own SQLite database (as ``tests/support/serve.py`` starts it), gets one
token per role (``tests/support/gateway.py``), and is seeded with one scored assessment and one webhook endpoint so
that the operations on them reach their handlers instead of a 404. Each operation is called with the least
privileged role allowed to call it (the route's ``opt["roles"]``; admin for admin-only routes). Then
``schemathesis run`` runs all four phases (examples, coverage, fuzzing, stateful: the links schemathesis infers
from ``Location`` headers and parameter names) with ``--checks all``: a 5xx, a response that breaks its documented
status, content type, headers or schema, and a request the document allows but the gateway refuses (or the other
way round) all fail the run.

``scripts/probe-baseline.json`` lists the failures accepted for now (schemathesis' ``--baseline``: operation,
check, failure class and status), each with the reason; a 5xx or a response-conformance failure can never be
accepted there. Prints the counts (requests, checks, failures by kind) and exits 1 on any failure not accepted.

    python scripts/probe.py                      # what `make probe` runs: 100 examples per operation, at most 10 min
    python scripts/probe.py --max-examples 8 --max-time 90
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.gateway import tokens_for  # noqa: E402
from support.serve import CLI, live_gateway  # noqa: E402

BASELINE = ROOT / "scripts" / "probe-baseline.json"
FACE = ROOT / "tests" / "data" / "astronaut_face_5s.npz"
NEVER_ACCEPTED = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
}
"""A 5xx is always our bug, and a response that breaks the document is a false public claim: neither goes in the baseline."""
SETTINGS = {
    # schemathesis sends wrong tokens on purpose (ignored_auth): the per-address throttle would answer 429 to everything after.
    "PAIN_GATEWAY_AUTH_FAILURE_BURST": "10000",
    "PAIN_GATEWAY_AUTH_FAILURE_WINDOW_S": "1",
    "PAIN_GATEWAY_WEBHOOK_ALLOWLIST": "127.0.0.1",
    "PAIN_GATEWAY_LOG_LEVEL": "warning",
}


def roles_by_operation(database_url: str, data_dir: str) -> dict[tuple[str, str], str]:
    """(METHOD, OpenAPI path) -> the least privileged role its route allows (admin when it names none)."""
    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import Settings
    from gateway.storage.tokens import ROLES
    from gateway.web.app import create_app

    app = create_app(Settings(database_url=database_url, data_dir=data_dir), build_plugins(Settings(data_dir=data_dir), environ={}))
    found = {}
    for route in app.routes:
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            if method in ("HEAD", "OPTIONS") or not handler.resolve_include_in_schema():
                continue
            allowed = set(handler.opt.get("roles", ()))
            found[(method, route.path_format or "/")] = next((role for role in ROLES if role in allowed), "admin")
    return found


def seed(origin: str, headers: dict[str, dict[str, str]]) -> dict[str, str]:
    """One scored assessment (the real face clip) and one webhook endpoint: path values for the operations on them."""
    with np.load(FACE) as data:
        points = data["points"].astype(np.float64)
    body = {
        "patient": {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}},
        "fps": 30,
        "captured_at": "2026-11-23T10:00:00Z",
        "frames": [None if np.isnan(f).all() else f.round(6).tolist() for f in points],
        "image_size": [640, 480],
    }
    assessment = httpx.post(f"{origin}/v1/assessments", json=body, headers=headers["integrator"], timeout=120)
    assert assessment.status_code == 201, assessment.text
    endpoint = httpx.post(
        f"{origin}/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "events": ["assessment.completed"]},
        headers=headers["admin"],
        timeout=30,
    )
    assert endpoint.status_code == 201, endpoint.text
    return {"assessment_id": assessment.json()["id"], "endpoint_id": endpoint.json()["id"]}


def config(roles: dict[tuple[str, str], str], headers: dict[str, dict[str, str]], values: dict[str, str]) -> str:
    """schemathesis.toml: each operation's token, and the seeded identifiers as its path parameters."""
    lines = []
    for (method, path), role in sorted(roles.items()):
        lines += [
            "[[operations]]",
            f"include-method = {json.dumps(method)}",
            f"include-path = {json.dumps(path)}",
            f"headers = {{ Authorization = {json.dumps(headers[role]['Authorization'])} }}",
        ]
        used = {name: value for name, value in values.items() if "{" + name + "}" in path}
        if used:
            lines.append("parameters = { " + ", ".join(f'"path.{k}" = {json.dumps(v)}' for k, v in used.items()) + " }")
        lines.append("")
    return "\n".join(lines)


def summarise(ndjson: Path) -> dict:
    """Requests sent, checks run, and failures by check and code, from the run's event stream."""
    requests = checks = 0
    failures: collections.Counter[str] = collections.Counter()
    for line in ndjson.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event["recorder"]
        requests += len(recorder.get("interactions", {}))
        for results in recorder.get("checks", {}).values():
            for result in results:
                checks += 1
                if result["status"] == "failure":
                    failures[f"{result['name']} {result['failure_info']['failure'].get('code', '')}".strip()] += 1
    return {"requests": requests, "checks": checks, "failures": dict(failures)}


def check_baseline() -> None:
    for entry in json.loads(BASELINE.read_text())["entries"]:
        assert entry["check"] not in NEVER_ACCEPTED, f"{BASELINE.name} may not accept {entry['check']} ({entry['operation']})"
        assert entry.get("reason"), f"{BASELINE.name}: {entry['operation']} {entry['check']} needs a reason"


def probe(workdir: Path, max_examples: int, max_time: int, workers: int = 2, seed_value: int | None = None, update: bool = False) -> tuple[int, dict, str]:
    """(schemathesis' exit code, the counts, its output). ``max_time`` bounds the whole run in seconds."""
    check_baseline()
    with live_gateway(workdir, SETTINGS) as gateway:
        url = gateway.env["PAIN_GATEWAY_DATABASE_URL"]
        headers = tokens_for(url, "default")
        values = seed(gateway.origin, headers)
        (workdir / "schemathesis.toml").write_text(config(roles_by_operation(url, str(workdir / "data")), headers, values))
        reports = workdir / "reports"
        command = [
            str(CLI.parent / "schemathesis"),
            "--config-file",
            str(workdir / "schemathesis.toml"),
            "run",
            f"{gateway.origin}/schema/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(max_examples),
            "--max-time",
            str(max_time),
            "--workers",
            str(workers),
            "--request-timeout",
            "60",
            "--baseline",
            str(BASELINE),
            "--report",
            "json,ndjson",
            "--report-dir",
            str(reports),
            "--report-ndjson-path",
            str(reports / "events.ndjson"),
            "--report-json-path",
            str(reports / "run.json"),
            "--generation-database",
            "none",
            "--no-color",
            *(["--seed", str(seed_value)] if seed_value is not None else []),
            *(["--baseline-update"] if update else []),
        ]
        run = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=max_time + 300)
        counts = summarise(reports / "events.ndjson")
        counts["operations"] = json.loads((reports / "run.json").read_text())["operations"]["tested"]
    return run.returncode, counts, run.stdout + run.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation and phase")
    parser.add_argument("--max-time", type=int, default=600, help="seconds for the whole schemathesis run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--update-baseline", action="store_true", help="add this run's failures to the baseline (then give each a reason)")
    parser.add_argument("--keep", type=Path, default=None, help="a directory for the database, log and reports (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        code, counts, output = probe(workdir, args.max_examples, args.max_time, args.workers, args.seed, args.update_baseline)
    print(output)
    print(f"probe: {json.dumps(counts)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
