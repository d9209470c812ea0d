"""The CDS Hooks reference sandbox (cds-hooks/sandbox, built once per machine and served on loopback),
driven by headless Chromium against our discovery endpoint and the FHIR server: the card renders in the
sandbox, the sandbox's own signed JWT (ES384, its test key pinned here) is what let the call in, and the
card's SMART link launches the review app through the SMART reference launcher on the same patient.

The sandbox asks its FHIR server's ``/_services/smart/Launch`` (an HSPC sandbox extension) for a launch
id; the reference launcher has no such endpoint, so this test answers it, as the EMR would, with the
launcher's own launch code for the sandbox's patient. Every other request leaves Chromium for a real
loopback server, and anything not on loopback is refused (the sandbox also calls public services)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from conftest import PATIENT_SYSTEM
from joserfc import jws
from support.ci import service_missing
from support.harness import SmartLauncher, StaticSite, launch_code, sandbox_dir
from support.ports import free_port
from support.serve import CLI, ROOT, serving

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


def pinned_sandbox_key(sandbox: Path) -> str:
    """The public half of the sandbox's test key (``keys/jwk-keypair.json``): its jku is not reachable offline."""
    key = json.loads((sandbox / "keys" / "jwk-keypair.json").read_text())
    key = key["keys"][0] if "keys" in key else key
    return json.dumps({"keys": [{k: v for k, v in key.items() if k != "d"}]})


def settings_file(path: Path, *, sandbox: Path, launcher: SmartLauncher, origin: str) -> Path:
    path.write_text(
        f"""
public_url = "{origin}"

[[plugins.cds_hooks.clients]]
iss = "{SANDBOX_ISS}"
tenant = "default"
jwks = '{pinned_sandbox_key(sandbox)}'
identifier_systems = ["{PATIENT_SYSTEM}"]

[[plugins.smart_launch.issuers]]
iss = "{launcher.iss}"
client_id = "pain-gateway"
tenant = "default"
identifier_systems = ["{PATIENT_SYSTEM}"]
"""
    )
    return path


def test_the_sandbox_shows_our_card_and_its_smart_link_opens_the_app_on_the_patient(emr, tmp_path, keypoints_json):
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is missing (Debian package 'chromium')", ".ci/run installs it: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    built = sandbox_dir()
    with emr.client() as client:
        practitioner = client.post("Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Seacole", "given": ["Mary"]}]}).json()["id"]
        patient = client.post("Patient", json={"resourceType": "Patient", "identifier": [{"system": PATIENT_SYSTEM, "value": "MRN-1234"}]}).json()["id"]
    launcher, site = SmartLauncher(emr.base, tmp_path), StaticSite(built / "build")
    try:
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        config = settings_file(tmp_path / "gateway.toml", sandbox=built, launcher=launcher, origin=origin)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
            "PAIN_GATEWAY_PORT": str(port),
            "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
            "PAIN_GATEWAY_DATA_DIR": str(tmp_path / "data"),
            "PAIN_GATEWAY_CONFIG": str(config),
            "PAIN_GATEWAY_CORS_ORIGINS": site.base,
            "PAIN_GATEWAY_SCORING_PROCESSES": "0",
            "PYTHONPATH": str(ROOT),
        }
        with serving([str(CLI), "serve"], env, ROOT, origin, tmp_path / "serve.log", start_s=120):
            token = subprocess.run(
                [str(CLI), "tokens", "create", "--name", "edge", "--role", "integrator"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
            captured = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
            created = httpx.post(
                f"{origin}/v1/assessments", json=keypoints_json(captured_at=captured), headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            assert created.status_code == 201, created.text
            assessment = created.json()["id"]

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                context = browser.new_context()  # fresh localStorage: the sandbox keeps its settings there
                calls: list[dict] = []

                def loopback_only(route):
                    host = urlsplit(route.request.url).hostname
                    route.continue_() if host in ("127.0.0.1", "localhost") else route.abort()

                def launch_context(route):  # the EMR's launch-context service, which the reference launcher lacks
                    asked = route.request.post_data_json or {}
                    code = launch_code(asked.get("parameters", {}).get("patient", ""), practitioner)
                    route.fulfill(
                        status=200, content_type="application/json", body=json.dumps({"launch_id": code}), headers={"Access-Control-Allow-Origin": "*"}
                    )

                context.route("**/*", loopback_only)
                context.route("**/_services/smart/Launch", launch_context)
                context.on("request", lambda r: calls.append({"url": r.url, "auth": r.headers.get("authorization")}) if "/cds-services/" in r.url else None)
                page = context.new_page()
                discovery = quote(origin + "/cds-services", safe="")
                page.goto(f"{site.base}/?fhirServiceUrl={quote(launcher.iss, safe='')}&patientId={patient}&serviceDiscoveryURL={discovery}")
                summary = page.get_by_text("AI pain estimate:", exact=False).first
                summary.wait_for(timeout=60_000)
                assert "(preliminary)" in summary.inner_text()
                assert page.get_by_text("not clinically validated", exact=False).first.is_visible()

                signed = [c for c in calls if c["url"] == f"{origin}/cds-services/pain-gateway-latest-pain" and c["auth"]]
                assert signed, calls
                header = jws.extract_compact(signed[0]["auth"].removeprefix("Bearer ").encode()).protected
                assert header["alg"] == "ES384" and header["kid"] == SANDBOX_KID  # the sandbox's own signature let the call in

                link = page.get_by_text("Review in Pain Gateway").first
                link.wait_for(timeout=30_000)
                time.sleep(0.5)  # the sandbox fetches the launch context for the link after the card renders
                with context.expect_page(timeout=30_000) as opened:
                    link.click()
                app = opened.value
                app.wait_for_url(f"{origin}/ui/patients?**", timeout=60_000)
                app.wait_for_load_state()
                assert f"/ui/assessments/{assessment}" in app.content()  # the same patient, through the launcher
                assert f"Practitioner/{practitioner}" in app.content()
                browser.close()
    finally:
        site.stop()
        launcher.stop()
