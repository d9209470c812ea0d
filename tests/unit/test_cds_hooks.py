"""The CDS Hooks 2.0 service in process: discovery, the card, and every refusal of a client JWT or a body.
Keys are generated here; responses are checked against the JSON Schema written from the 2.0 specification."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from support.assessments import make_assessment
from support.cds import cds_errors, cds_jwt

from gateway.contract.domain import PatientRef
from gateway.storage.assessments import AssessmentStore
from gateway.storage.audit import AuditQuery, AuditStore
from gateway.storage.engine import create_engine
from plugins.cds_hooks.cards import MAX_SUMMARY, detail, summary

ISS = "https://ehr.example.org"
MRN = "urn:oid:1.2.36.146.595.217.0.1"
BASE = "http://gateway.test"
URL = f"{BASE}/cds-services/pain-gateway-latest-pain"
KEY = ECKey.generate_key("P-384", auto_kid=True)
RSA = RSAKey.generate_key(2048, auto_kid=True)


def jwks(*keys) -> str:
    return json.dumps({"keys": [k.as_dict(private=False) | {"kid": k.kid} for k in keys]})


def patient(pid="p-1", value="MRN-7"):
    return {"resourceType": "Patient", "id": pid, "identifier": [{"system": "urn:other", "value": "X"}, {"system": MRN, "value": value}]}


def call_body(pid="p-1", prefetch=None, **extra):
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": pid, "userId": "Practitioner/dr-1"},
        "prefetch": {"patient": patient(pid)} if prefetch is None else prefetch,
    }
    return body | extra


@pytest.fixture
def cds(gateway_for):
    client = {"iss": ISS, "tenant": "st-marys", "jwks": jwks(KEY, RSA), "identifier_systems": [MRN]}
    return gateway_for(core={"public_url": BASE}, cds_hooks={"clients": [client]}).client


def store_assessment(sqlite_url, tenant="st-marys", value="MRN-7", **fields):
    async def run():
        engine = create_engine(sqlite_url)
        try:
            fields.setdefault("start", datetime.now(UTC) - timedelta(hours=1))
            a = make_assessment(id=str(uuid.uuid4()), tenant=tenant, patient=PatientRef(system=MRN, value=value), **fields)
            await AssessmentStore(engine).add(a)
            return a
        finally:
            await engine.dispose()

    return asyncio.run(run())


def audit_rows(sqlite_url, action):
    async def run():
        engine = create_engine(sqlite_url)
        try:
            return (await AuditStore(engine).search(AuditQuery(action=action)))[0]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def post(client, body, token=None, path=URL):
    return client.post(path.removeprefix(BASE), json=body, headers={"Authorization": f"Bearer {token or cds_jwt(KEY, iss=ISS, aud=path)}"})


def test_discovery_lists_the_patient_view_service_and_validates(cds):
    found = cds.get("/cds-services").json()
    assert cds_errors("discovery", found) == []
    assert found["services"][0] | {"description": ""} == {
        "hook": "patient-view",
        "id": "pain-gateway-latest-pain",
        "title": "Latest AI pain estimate",
        "description": "",
        "prefetch": {"patient": "Patient/{{context.patientId}}"},
        "usageRequirements": found["services"][0]["usageRequirements"],
    }


def test_the_latest_assessment_is_a_valid_card_with_a_smart_link(cds, sqlite_url):
    store_assessment(sqlite_url, level="mild", start=datetime.now(UTC) - timedelta(hours=3))
    newest = store_assessment(sqlite_url, level="significant")
    store_assessment(sqlite_url, tenant="other-tenant", level="none")
    response = post(cds, call_body())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert cds_errors("response", answer) == []
    (card,) = answer["cards"]
    assert card["indicator"] == "warning" and card["summary"].startswith("AI pain estimate: significant (preliminary) ")
    assert card["source"]["url"] == f"{BASE}/ui/assessments/{newest.id}" and "synthetic-trained" in card["source"]["label"]
    assert "not clinically validated" in card["detail"] and "Not reviewed yet" in card["detail"] and "| significant |" in card["detail"]
    assert card["links"] == [{"label": "Review in Pain Gateway", "url": f"{BASE}/ui/smart/launch", "type": "smart"}]
    assert audit_rows(sqlite_url, "read")[0].resource_type == "cds_card"


def test_mild_is_info_and_nothing_to_show_is_no_card(cds, sqlite_url):
    assert post(cds, call_body()).json() == {"cards": []}  # no assessment yet
    store_assessment(sqlite_url, level="mild")
    assert post(cds, call_body()).json()["cards"][0]["indicator"] == "info"
    other = call_body("p-2", prefetch={"patient": patient("p-2", value="MRN-8")})
    assert post(cds, other).json() == {"cards": []}  # a patient with no assessment: no card, nobody else's
    unmatched = call_body("p-3", prefetch={"patient": {"resourceType": "Patient", "id": "p-3", "identifier": [{"system": "urn:x", "value": "MRN-7"}]}})
    assert post(cds, unmatched).json() == {"cards": []}  # same value in another system is another patient


def test_an_assessment_older_than_the_look_back_gives_no_card(cds, sqlite_url):
    store_assessment(sqlite_url, level="significant", start=datetime.now(UTC) - timedelta(hours=30))
    assert post(cds, call_body()).json() == {"cards": []}


def test_a_summary_stays_under_140_characters():
    long = make_assessment(clinical_status="amended", clinician_level="significant", level=None)
    assert len(summary(long, open_alert=True)) <= MAX_SUMMARY < 140


def _refused(response, status, field):
    assert response.status_code == status, response.text
    assert response.json()["field"] == field, response.json()
    return response.json()["detail"]


@pytest.mark.parametrize(
    ("token", "field", "named"),
    [
        (lambda: None, "Authorization", "Authorization: Bearer <JWT>"),
        (lambda: cds_jwt(KEY, iss=ISS, aud=URL, exp=int(datetime.now(UTC).timestamp()) - 120), "exp", "expired"),
        (lambda: cds_jwt(KEY, iss=ISS, aud=f"{BASE}/cds-services/another-service"), "aud", "not to this service's URL"),
        (lambda: cds_jwt(KEY, iss="https://stranger.example.org", aud=URL), "iss", "is not a CDS client allowed here"),
        (lambda: cds_jwt(KEY, iss=ISS, aud=URL, jti=None), "jti", "carries no jti"),
        (lambda: cds_jwt(ECKey.generate_key("P-384", auto_kid=True), iss=ISS, aud=URL), "Authorization", "is not pinned"),
        (lambda: cds_jwt(OctKey.generate_key(256), iss=ISS, aud=URL, alg="HS256"), "alg", "never none or HMAC"),
        (lambda: cds_jwt(RSA, iss=ISS, aud=URL, alg="RS256"), "alg", "ES384 or RS384"),
    ],
)
def test_a_call_with_a_bad_jwt_is_refused_naming_what_and_audited(cds, sqlite_url, token, field, named):
    sent = token()
    response = cds.post("/cds-services/pain-gateway-latest-pain", json=call_body(), headers={"Authorization": f"Bearer {sent}"} if sent else {})
    assert named in _refused(response, 401, field)
    assert response.headers["www-authenticate"].startswith("Bearer")
    row = audit_rows(sqlite_url, "login_failed")[0]
    assert row.resource_type == "cds_service" and row.outcome == "failure" and row.resource_id.startswith(field)


def test_an_unsigned_or_tampered_jwt_is_refused(cds):
    header = {"alg": "none", "typ": "JWT"}
    import base64

    def b64(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()

    unsigned = f"{b64(header)}.{b64({'iss': ISS, 'aud': URL, 'exp': 9999999999, 'iat': 1, 'jti': 'x'})}."
    assert "never none" in _refused(post(cds, call_body(), token=unsigned), 401, "alg")
    good = cds_jwt(KEY, iss=ISS, aud=URL)
    head, body, signature = good.split(".")
    forged = f"{head}.{b64({**json.loads(base64.urlsafe_b64decode(body + '==')), 'aud': URL, 'iss': ISS, 'jti': 'other'})}.{signature}"
    assert "does not verify" in _refused(post(cds, call_body(), token=forged), 401, "Authorization")


def test_an_rs384_jwt_verifies_and_a_replayed_one_is_refused(cds):
    token = cds_jwt(RSA, iss=ISS, aud=URL, alg="RS384")
    assert post(cds, call_body(), token=token).status_code == 200
    assert "already used" in _refused(post(cds, call_body(), token=token), 401, "jti")


def test_a_prefetch_for_another_patient_is_refused_and_nothing_to_read_is_412(cds, sqlite_url):
    store_assessment(sqlite_url, level="significant")
    other = call_body("p-1", prefetch={"patient": patient("p-9")})
    assert "not the context's patient Patient/p-1" in _refused(post(cds, other), 400, "prefetch.patient")
    assert "no fhirServer with fhirAuthorization" in _refused(post(cds, call_body(prefetch={})), 412, "prefetch.patient")
    stranger = call_body(
        prefetch={},
        fhirServer="http://169.254.169.254/fhir",
        fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "patient/Patient.r", "subject": "x"},
    )
    assert "is not a FHIR server of" in _refused(post(cds, stranger), 400, "fhirServer")


def test_a_body_that_is_not_a_cds_request_is_a_400_naming_the_field(cds):
    assert "context" in _refused(post(cds, {"hook": "patient-view", "hookInstance": "x"}), 400, "body")
    assert "patient-view" in _refused(post(cds, call_body() | {"hook": "order-sign"}), 400, "hook")
    assert "patient whose chart" in _refused(post(cds, call_body() | {"context": {"userId": "Practitioner/1"}}), 400, "context.patientId")


def test_feedback_records_accepted_and_overridden_for_the_callers_cards_only(cds, sqlite_url):
    store_assessment(sqlite_url, level="significant")
    card = post(cds, call_body()).json()["cards"][0]["uuid"]
    feedback_url = URL + "/feedback"
    now = datetime.now(UTC).isoformat()
    sent = {
        "feedback": [
            {"card": card, "outcome": "accepted", "outcomeTimestamp": now},
            {
                "card": card,
                "outcome": "overridden",
                "outcomeTimestamp": now,
                "overrideReason": {"reason": {"code": "patient-report", "system": "urn:x", "display": "Patient reports no pain"}, "userComment": "NRS 1"},
            },
        ]
    }
    assert post(cds, sent, token=cds_jwt(KEY, iss=ISS, aud=feedback_url), path=feedback_url).status_code == 200
    rows = audit_rows(sqlite_url, "create")
    assert [r.resource_id for r in rows if r.resource_type == "cds_feedback"] == [f"{card} overridden", f"{card} accepted"]
    assert rows[0].patient == f"{MRN}|MRN-7"
    unknown = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": now}]}
    assert "not a card this service gave you" in _refused(
        post(cds, unknown, token=cds_jwt(KEY, iss=ISS, aud=feedback_url), path=feedback_url), 400, "feedback[0].card"
    )
    wrong = {"feedback": [{"card": card, "outcome": "ignored", "outcomeTimestamp": now}]}
    assert "accepted or overridden" in _refused(post(cds, wrong, token=cds_jwt(KEY, iss=ISS, aud=feedback_url), path=feedback_url), 400, "feedback[0].outcome")
    # a JWT addressed to the service itself is not one for its feedback endpoint
    assert _refused(post(cds, sent, token=cds_jwt(KEY, iss=ISS, aud=URL), path=feedback_url), 401, "aud")


def test_settings_refuse_a_client_without_keys_or_systems():
    from plugins.cds_hooks.settings import CdsClient, CdsHooksSettings

    with pytest.raises(ValueError, match="give the EMR's keys"):
        CdsClient(iss=ISS, identifier_systems=[MRN])
    with pytest.raises(ValueError, match="identifier_systems"):
        CdsClient(iss=ISS, jwks=jwks(KEY))
    with pytest.raises(ValueError, match="JSON Web Key Set"):
        CdsClient(iss=ISS, jwks="{}", identifier_systems=[MRN])
    with pytest.raises(ValueError, match="listed twice"):
        CdsHooksSettings(clients=[CdsClient(iss=ISS, jwks=jwks(KEY), identifier_systems=[MRN])] * 2)
    assert jwt  # joserfc is what signs the tests' JWTs too


@pytest.mark.parametrize("plugin", ["cds_hooks", "smart_launch"])
def test_the_plugins_migrations_create_exactly_their_declared_tables(sqlite_url, plugin):
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine as create_sync_engine

    base = importlib.import_module(f"plugins.{plugin}.tables").Base
    engine = create_sync_engine(sqlite_url.replace("+aiosqlite", ""))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": lambda name, kind, _p: kind != "table" or name in base.metadata.tables})
        assert compare_metadata(context, base.metadata) == []
    engine.dispose()


def test_an_open_sustained_pain_alert_makes_the_card_critical(sqlite_url):
    """A plugin's WorklistPriority reporting ``open-alert`` for the patient (as pain_alerts does) is the
    card's ``critical``; another patient's alert, or a priority that fails, leaves it as the level says."""
    from types import SimpleNamespace

    from gateway.contract.domain import UrgentPatient
    from plugins.cds_hooks.cards import card
    from plugins.cds_hooks.routes import CdsService
    from plugins.cds_hooks.settings import CdsHooksSettings

    ours, theirs = PatientRef(system=MRN, value="MRN-7"), PatientRef(system=MRN, value="MRN-8")

    class Alerts:
        name = "alerts"

        def __init__(self, patient):
            self.patient = patient

        async def urgent(self, tenant, now, engine):
            return [UrgentPatient(patient=self.patient, reason="open-alert", badge="Alert (AI-derived)", since=now)] if tenant == "st-marys" else []

    class Broken:
        name = "broken"

        async def urgent(self, tenant, now, engine):
            raise RuntimeError("down")

    async def run(priorities, tenant="st-marys"):
        engine = create_engine(sqlite_url)
        try:
            service = CdsService(CdsHooksSettings(), BASE, f"{BASE}/ui/smart/launch")
            return await service.open_alert(SimpleNamespace(worklist_priorities=priorities), tenant, ours, SimpleNamespace(engine=engine))
        finally:
            await engine.dispose()

    assert asyncio.run(run([Broken(), Alerts(ours)])) is True
    assert asyncio.run(run([Alerts(theirs)])) is False
    assert asyncio.run(run([Alerts(ours)], tenant="other-tenant")) is False
    assert asyncio.run(run([Broken()])) is False
    mild = make_assessment(id=str(uuid.uuid4()), level="mild")
    alerted = card(mild, card_uuid=str(uuid.uuid4()), public_url=BASE, launch_url=BASE, open_alert=True)
    assert alerted.indicator == "critical" and alerted.summary.endswith("- open alert") and "Open alert" in alerted.detail


class _JwksServer:
    """A real loopback HTTP server answering every GET with one status and body (a jku's JWKS)."""

    def __init__(self, status: int, body: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize(
    ("status", "padding", "verified"),
    [(200, 0, True), (500, 0, False), (200, 200_000, False)],
    ids=["a-jwks", "an-error-page-holding-keys", "a-jwks-past-the-size-bound"],
)
def test_a_jku_jwks_is_read_only_from_a_200_within_its_size_bound(gateway_for, status, padding, verified):
    body = jwks(KEY).encode()
    served = _JwksServer(status, body[:-1] + b" " * padding + body[-1:])
    try:
        client = {"iss": ISS, "tenant": "st-marys", "jku_allowlist": [served.url], "identifier_systems": [MRN]}
        cds = gateway_for(core={"public_url": BASE}, cds_hooks={"clients": [client]}).client
        response = post(cds, call_body(), token=cds_jwt(KEY, iss=ISS, aud=URL, header={"jku": served.url}))
        if verified:
            assert response.status_code == 200, response.text
        else:
            assert "cannot be read" in _refused(response, 401, "Authorization")
    finally:
        served.server.shutdown()


def test_a_patient_id_that_is_not_a_fhir_id_and_identifiers_with_control_characters_are_refused(cds):
    for pid in ["a?b", "a b", "p#1", "x/../../Observation"]:
        assert "FHIR id" in _refused(post(cds, call_body(pid=pid)), 400, "context.patientId")
    from plugins.cds_hooks.routes import matched_patient

    assert matched_patient({"identifier": [{"system": MRN, "value": "MRN\x007"}]}, [MRN]) is None  # PostgreSQL refuses NUL: a 500 otherwise


def test_feedback_for_a_card_that_is_not_a_uuid_is_a_400(cds):
    feedback_url = URL + "/feedback"
    sent = {"feedback": [{"card": "\x00", "outcome": "accepted", "outcomeTimestamp": datetime.now(UTC).isoformat()}]}
    assert "not a card" in _refused(post(cds, sent, token=cds_jwt(KEY, iss=ISS, aud=feedback_url), path=feedback_url), 400, "feedback[0].card")


def test_the_card_detail_carries_the_reliability_as_plain_text_whatever_the_model_file_says():
    """A site's own model file writes the measured sentence: it cannot open Markdown structure in the EMR's card."""
    from gateway.contract.domain import Reliability

    measured = "Measured: PSPI 8 significant for 93%.\n# Heading | cell [click](https://evil.example) <img src=x> *bold*"
    text = detail(make_assessment(reliability=Reliability(baseline="none", measured=measured, unfamiliar_windows=0, typicality_below=0.01)), False)
    [line] = [line for line in text.splitlines() if line.startswith("No neutral baseline was stored")]
    assert r"\# Heading \| cell \[click\](https://evil.example) \<img src=x\> \*bold\*" in line
    assert "Decision support only" in text.splitlines()[-1]
