"""The review app launched by the SMART reference launcher (smart-on-fhir/smart-launcher-v2) in front of
the FHIR server the tests start (sekmet): an EHR launch as a clinician with PKCE and patient context, a
review recorded as the Practitioner from ``fhirUser`` and found in the EMR, and the refusals a real
authorization server lets us provoke (a wrong state, a replayed code, its id_token for another app or
from another issuer). The launch is scripted over HTTP (the launcher skips its login and consent
screens); the gateway is in process, talking to the launcher over loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from conftest import PATIENT_SYSTEM
from support.harness import SmartLauncher, launch_code
from support.ui import post_form

from gateway.storage.audit import AuditQuery, AuditStore
from gateway.storage.engine import create_engine
from plugins.smart_launch import oauth
from plugins.smart_launch.oauth import LaunchRefused
from plugins.smart_launch.settings import Issuer

PUBLIC = "http://testserver"


@pytest.fixture
def ehr(emr, tmp_path):
    """The EMR: a Practitioner and a Patient (with the tenant's MRN) in sekmet, the launcher in front of it."""
    with emr.client() as client:
        practitioner = client.post("Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Nightingale", "given": ["Florence"]}]})
        patient = client.post("Patient", json={"resourceType": "Patient", "identifier": [{"system": PATIENT_SYSTEM, "value": "MRN-1234"}]})
    assert practitioner.status_code == patient.status_code == 201
    launcher = SmartLauncher(emr.base, tmp_path)
    try:
        yield launcher, practitioner.json()["id"], patient.json()["id"]
    finally:
        launcher.stop()


def registered(launcher) -> dict:
    return {"iss": launcher.iss, "client_id": "pain-gateway", "tenant": "default", "identifier_systems": [PATIENT_SYSTEM]}


def authorize(client, launcher, practitioner, patient, sim_ehr=False, **registration) -> httpx.Response:
    """EMR opens the app, the app sends the browser to the launcher, the launcher answers with a code."""
    code = launch_code(patient, practitioner, sim_ehr=sim_ehr, **registration)
    started = client.get("/ui/smart/launch", params={"iss": launcher.iss, "launch": code}, follow_redirects=False)
    assert started.status_code == 303, started.text
    to = urlsplit(started.headers["location"])
    sent = parse_qs(to.query)
    assert to.geturl().startswith(f"{launcher.iss.removesuffix('/fhir')}/auth/authorize")
    assert sent["code_challenge_method"] == ["S256"] and len(sent["code_challenge"][0]) == 43 and sent["aud"] == [launcher.iss]
    assert sent["scope"] == ["launch openid fhirUser patient/Observation.rs patient/Patient.r"]
    answered = httpx.get(started.headers["location"], follow_redirects=False, timeout=10)
    assert answered.status_code in (302, 303), answered.text
    assert answered.headers["location"].startswith(f"{PUBLIC}/ui/smart/callback?")
    return answered


def audit(sqlite_url, action):
    async def run():
        engine = create_engine(sqlite_url)
        try:
            return (await AuditStore(engine).search(AuditQuery(action=action)))[0]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_an_ehr_launch_signs_in_the_practitioner_whose_review_reaches_the_emr(ehr, emr, gateway_for, keypoints_json, sqlite_url):
    launcher, practitioner, patient = ehr
    gateway = gateway_for(core={"public_url": PUBLIC}, fhir_delivery={"base_url": emr.base}, smart_launch={"issuers": [registered(launcher)]})
    created = gateway.submit(keypoints_json())
    assert created.status_code == 201, created.text
    assessment = created.json()["id"]
    gateway.wait(assessment, "delivered")
    browser = gateway.client

    callback = authorize(browser, launcher, practitioner, patient).headers["location"].removeprefix(PUBLIC)
    opened = browser.get(callback, follow_redirects=False)
    assert opened.status_code == 200, opened.text
    assert f"Signed in as Practitioner/{practitioner}" in opened.text
    cookie = opened.headers["set-cookie"].lower()
    assert "pgw_session=" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # plain HTTP: never SameSite=None
    target = f"/ui/patients?patient={PATIENT_SYSTEM.replace(':', '%3A')}%7CMRN-1234"
    assert f'url={target}"' in opened.text.replace("&amp;", "&")
    page = browser.get(target)
    assert page.status_code == 200 and f"/ui/assessments/{assessment}" in page.text
    assert f"Practitioner/{practitioner}" in page.text  # who is signed in, as the EMR named them
    login = audit(sqlite_url, "login")[0]
    assert (
        login.resource_type == "smart_launch"
        and login.resource_id == f"Practitioner/{practitioner} from {launcher.iss}"
        and login.patient == f"{PATIENT_SYSTEM}|MRN-1234"
    )

    reviewed = post_form(
        browser,
        f"/ui/assessments/{assessment}/review",
        {"decision": "override", "level": "significant", "reason": "patient-report", "comment": "NRS 8/10"},
        page=f"/ui/assessments/{assessment}",
    )
    assert reviewed.status_code == 303, reviewed.text
    deadline = time.monotonic() + 30
    while (found := emr.observations(**{"subject:identifier": f"{PATIENT_SYSTEM}|MRN-1234"}))[0]["status"] != "amended":
        assert time.monotonic() < deadline, found
        time.sleep(0.3)
    with emr.client() as client:
        provenances = client.get("Provenance", params={"target": f"Observation/{found[0]['id']}"}).json()
    whos = [agent["who"] for entry in provenances["entry"] for agent in entry["resource"]["agent"]]
    assert {"reference": f"Practitioner/{practitioner}", "display": f"clinician Practitioner/{practitioner}"} in whos

    signed_out = post_form(browser, "/ui/sign-out", {}, page=target)
    assert signed_out.status_code == 303
    assert browser.get(target, follow_redirects=False).status_code == 303  # the session, and the token it held, are gone

    replayed = browser.get(callback, follow_redirects=False)  # the same code and state again
    assert replayed.status_code == 400 and "already used" in replayed.text and "pgw_session" not in replayed.headers.get("set-cookie", "")
    assert audit(sqlite_url, "login_failed")[0].resource_id.startswith("state")


def test_a_wrong_state_and_a_real_id_token_for_another_app_or_issuer_are_refused(ehr, gateway_for):
    launcher, practitioner, patient = ehr
    gateway = gateway_for(core={"public_url": PUBLIC}, smart_launch={"issuers": [registered(launcher)]})
    callback = urlsplit(authorize(gateway.client, launcher, practitioner, patient).headers["location"])
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    wrong = gateway.client.get("/ui/smart/callback", params={**query, "state": secrets.token_urlsafe(32)}, follow_redirects=False)
    assert wrong.status_code == 400 and "matches no launch started here" in wrong.text

    # inside the EMR's own frame, which shows the patient already: the page leaves its banner out
    framed = authorize(gateway.client, launcher, practitioner, patient, sim_ehr=True).headers["location"].removeprefix(PUBLIC)
    opened = gateway.client.get(framed, follow_redirects=False)
    assert opened.status_code == 200 and "&amp;banner=0" in opened.text
    page = gateway.client.get(f"/ui/patients?patient={PATIENT_SYSTEM}%7CMRN-1234&banner=0")
    assert page.status_code == 200 and "MRN-1234</h1>" not in page.text and '<h1 class="visually-hidden">Patient</h1>' in page.text

    # another app's launch at the same EMR: its id_token, verified as if it were ours
    verifier, nonce = secrets.token_urlsafe(64), secrets.token_urlsafe(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": "another-app",
        "redirect_uri": "http://127.0.0.1:9/callback",
        "scope": "launch openid fhirUser patient/Patient.r",
        "state": "s",
        "nonce": nonce,
        "aud": launcher.iss,
        "launch": launch_code(patient, practitioner),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    code = parse_qs(urlsplit(httpx.get(f"{launcher.base}/v/r4/auth/authorize?{urlencode(params)}", timeout=10).headers["location"]).query)["code"][0]
    tokens = httpx.post(
        f"{launcher.base}/v/r4/auth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"], "code_verifier": verifier, "client_id": "another-app"},
        timeout=10,
    ).json()
    keys = asyncio.run(_jwks(launcher))
    ours = Issuer(**registered(launcher))
    with pytest.raises(LaunchRefused, match="is not this app's client_id 'pain-gateway'"):
        oauth.verify_id_token(tokens["id_token"], keys, issuer=ours, nonce=nonce)
    elsewhere = Issuer(**{**registered(launcher), "iss": f"{launcher.base}/v/r4/sim/other/fhir", "client_id": "another-app"})
    with pytest.raises(LaunchRefused, match="not the registered issuer"):
        oauth.verify_id_token(tokens["id_token"], keys, issuer=elsewhere, nonce=nonce)
    assert oauth.verify_id_token(tokens["id_token"], keys, issuer=Issuer(**{**registered(launcher), "client_id": "another-app"}), nonce=nonce)["fhirUser"]

    # a code sent with the wrong PKCE verifier: the launcher refuses it, and the launch is refused naming the code
    async def exchange(code, verifier):
        async with httpx.AsyncClient(timeout=10) as client:
            endpoints = await oauth.discover(client, launcher.iss)
            return await oauth.exchange(
                client,
                endpoints,
                Issuer(**{**registered(launcher), "client_id": "another-app"}),
                code=code,
                redirect_uri=params["redirect_uri"],
                verifier=verifier,
            )

    with pytest.raises(LaunchRefused, match="refused the authorization code") as refused:
        asyncio.run(exchange(code, "not-the-verifier-" + verifier[:30]))
    assert refused.value.what == "code"


async def _jwks(launcher):
    async with httpx.AsyncClient(timeout=10) as client:
        return await oauth.jwks(client, await oauth.discover(client, launcher.iss))


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_confidential_client_authenticates_with_private_key_jwt(ehr, gateway_for, tmp_path, alg):
    """The launcher, registered with our public key, checks our client assertion; with another key it refuses the token request."""
    from joserfc.jwk import ECKey, RSAKey

    launcher, practitioner, patient = ehr
    make = (lambda: ECKey.generate_key("P-384")) if alg == "ES384" else (lambda: RSAKey.generate_key(2048))
    key, stranger = make(), make()
    (tmp_path / "client.pem").write_bytes(key.as_pem(private=True))
    issuer = {**registered(launcher), "private_key_file": str(tmp_path / "client.pem"), "key_id": "pgw-1", "alg": alg}
    gateway = gateway_for(core={"public_url": PUBLIC}, smart_launch={"issuers": [issuer]})

    def jwks(k):
        return json.dumps({"keys": [k.as_dict(private=False) | {"kid": "pgw-1", "alg": alg}]})

    signed_in = authorize(gateway.client, launcher, practitioner, patient, jwks=jwks(key), client_type=2).headers["location"].removeprefix(PUBLIC)
    assert gateway.client.get(signed_in, follow_redirects=False).status_code == 200
    refused = authorize(gateway.client, launcher, practitioner, patient, jwks=jwks(stranger), client_type=2).headers["location"].removeprefix(PUBLIC)
    page = gateway.client.get(refused, follow_redirects=False)
    assert page.status_code == 400 and "refused the authorization code" in page.text and "pgw_session" not in page.headers.get("set-cookie", "")
