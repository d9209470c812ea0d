"""SMART App Launch refusals and checks that need no EMR: keys are generated here, launches go through
the gateway's own routes (TestClient), and every refusal is a page naming what was wrong plus an audit row."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from gateway.storage.audit import AuditQuery, AuditStore
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from plugins.smart_launch import oauth
from plugins.smart_launch.oauth import LaunchRefused
from plugins.smart_launch.routes import matched_patient
from plugins.smart_launch.settings import Issuer, SmartLaunchSettings
from plugins.smart_launch.states import LaunchStates, StateRefused

ISS = "https://ehr.example.org/fhir"
MRN = "urn:oid:1.2.36.146.595.217.0.1"
ISSUER = {"iss": ISS, "client_id": "pain-gateway", "tenant": "st-marys", "identifier_systems": [MRN]}


def issuer(**overrides) -> Issuer:
    return Issuer(**{**ISSUER, **overrides})


def id_token(key, alg="RS256", **claims) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": "pain-gateway", "exp": now + 300, "iat": now, "nonce": "n-1", "fhirUser": "Practitioner/p1", "sub": "u1", **claims}
    return jwt.encode({"alg": alg, **({"kid": key.kid} if key.kid else {})}, body, key, algorithms=[alg])


@pytest.fixture(scope="module")
def rsa():
    return RSAKey.generate_key(2048, auto_kid=True)


def test_the_pkce_challenge_is_s256_as_rfc_7636_computes_it():
    assert oauth.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_an_ehr_launch_echoes_launch_and_a_standalone_one_asks_for_a_patient():
    endpoints = oauth.Endpoints("https://ehr.example.org/auth/authorize", "https://ehr.example.org/auth/token", None)
    ehr = oauth.authorize_url(
        endpoints, issuer(), scope="launch openid fhirUser", redirect_uri="https://gw/ui/smart/callback", state="s", verifier="v" * 50, nonce="n", launch="xyz"
    )
    assert (
        "launch=xyz" in ehr
        and "code_challenge_method=S256" in ehr
        and "aud=https%3A%2F%2Fehr.example.org%2Ffhir" in ehr
        and "scope=launch+openid+fhirUser" in ehr
    )
    alone = oauth.authorize_url(
        endpoints, issuer(), scope="launch openid fhirUser", redirect_uri="https://gw/ui/smart/callback", state="s", verifier="v" * 50, nonce="n", launch=None
    )
    assert "launch=" not in alone.replace("launch%2Fpatient", "") and "launch%2Fpatient" in alone


def test_a_valid_id_token_gives_the_practitioner(rsa):
    claims = oauth.verify_id_token(id_token(rsa), KeySet([rsa]), issuer=issuer(), nonce="n-1")
    assert oauth.clinician(claims, issuer()) == "Practitioner/p1"
    absolute = oauth.verify_id_token(id_token(rsa, fhirUser=f"{ISS}/PractitionerRole/r9"), KeySet([rsa]), issuer=issuer(), nonce="n-1")
    assert oauth.clinician(absolute, issuer()) == "PractitionerRole/r9"


@pytest.mark.parametrize(
    ("claims", "named"),
    [
        ({"iss": "https://other-ehr.example.org/fhir"}, "not the registered issuer"),
        ({"aud": "someone-else"}, "is not this app's client_id"),
        ({"exp": int(time.time()) - 3600}, "has expired"),
        ({"exp": float("nan")}, "has expired"),  # NaN + leeway < now is False: it never expired
        ({"exp": True}, "has expired"),
        ({"nonce": "n-2"}, "nonce is not this launch's"),
    ],
)
def test_an_id_token_with_a_wrong_claim_is_refused_naming_it(rsa, claims, named):
    with pytest.raises(LaunchRefused, match=named) as refused:
        oauth.verify_id_token(id_token(rsa, **claims), KeySet([rsa]), issuer=issuer(), nonce="n-1")
    assert refused.value.what == "id_token"


def test_an_id_token_signed_by_another_key_or_with_hmac_or_none_is_refused(rsa):
    other = RSAKey.generate_key(2048, auto_kid=True)
    with pytest.raises(LaunchRefused, match="no single key|signature"):
        oauth.verify_id_token(id_token(other), KeySet([rsa]), issuer=issuer(), nonce="n-1")
    forged = RSAKey.import_key(rsa.as_dict(private=True) | {"kid": rsa.kid})  # right kid, wrong signature bytes below
    token = id_token(forged)
    head, body, signature = token.split(".")
    with pytest.raises(LaunchRefused, match="signature"):
        oauth.verify_id_token(f"{head}.{body}.{signature[::-1]}", KeySet([rsa]), issuer=issuer(), nonce="n-1")
    hmac = OctKey.generate_key(256)
    with pytest.raises(LaunchRefused):
        oauth.verify_id_token(id_token(hmac, alg="HS256"), KeySet([rsa]), issuer=issuer(), nonce="n-1")
    unsigned = jwt.encode({"alg": "none"}, {"iss": ISS}, None, algorithms=["none"]) if False else None  # joserfc refuses to make one
    assert unsigned is None


def test_a_fhir_user_that_is_not_a_practitioner_is_refused():
    with pytest.raises(LaunchRefused, match="only clinicians may review") as refused:
        oauth.clinician({"fhirUser": "Patient/123"}, issuer())
    assert refused.value.status == 403
    with pytest.raises(LaunchRefused):
        oauth.clinician({"fhirUser": "PractitionerRole/r1"}, issuer(roles=["Practitioner"]))


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_the_private_key_jwt_assertion_verifies_with_the_apps_public_key(tmp_path, alg):
    key = ECKey.generate_key("P-384") if alg == "ES384" else RSAKey.generate_key(2048)
    path = tmp_path / "client.pem"
    path.write_bytes(key.as_pem(private=True))
    registered = issuer(private_key_file=str(path), alg=alg, key_id="k1")
    assertion = oauth.client_assertion(registered, "https://ehr.example.org/auth/token")
    token = jwt.decode(assertion, KeySet.import_key_set({"keys": [key.as_dict(private=False)]}) if False else key, algorithms=[alg])
    assert token.header == {"alg": alg, "typ": "JWT", "kid": "k1"}
    assert token.claims["iss"] == token.claims["sub"] == "pain-gateway" and token.claims["aud"] == "https://ehr.example.org/auth/token"
    assert 0 < token.claims["exp"] - time.time() <= 300 and token.claims["jti"]


def test_settings_refuse_what_would_fail_at_the_first_launch(tmp_path):
    with pytest.raises(ValueError, match="iss must be"):
        issuer(iss="ehr.example.org")
    with pytest.raises(ValueError, match="alg must be one of RS384, ES384"):
        issuer(alg="RS256")
    with pytest.raises(ValueError, match="identifier_systems"):
        issuer(identifier_systems=[])
    with pytest.raises(ValueError, match="cannot be read"):
        issuer(private_key_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="openid and fhirUser"):
        SmartLaunchSettings(scope="launch patient/Observation.rs")
    with pytest.raises(ValueError, match="registered twice"):
        SmartLaunchSettings(issuers=[issuer(), issuer()])


def test_the_patient_is_matched_by_the_tenants_systems_in_order_never_by_another():
    emr_patient = {"identifier": [{"system": "urn:other", "value": "X-1"}, {"system": MRN, "value": "MRN-7"}, {"system": "urn:second", "value": "S-2"}]}
    assert matched_patient(emr_patient, ["urn:second", MRN]).value == "S-2"
    assert matched_patient(emr_patient, [MRN]).value == "MRN-7"
    assert matched_patient(emr_patient, ["urn:none"]) is None
    assert matched_patient({"identifier": [{"system": MRN}]}, [MRN]) is None


def test_a_launch_state_is_spent_by_its_first_callback_and_expires(sqlite_url):
    async def run():
        engine = create_engine(sqlite_url)
        try:
            states = LaunchStates(engine, timedelta(minutes=10))
            state, pending = await states.begin(ISS)
            assert (await states.take(state)) == pending
            with pytest.raises(StateRefused, match="already used"):
                await states.take(state)
            with pytest.raises(StateRefused, match="matches no launch"):
                await states.take("forged")
            with pytest.raises(StateRefused, match="no state parameter"):
                await states.take("")
            late, _ = await LaunchStates(engine, timedelta(seconds=0)).begin(ISS)
            with pytest.raises(StateRefused, match="took longer"):
                await LaunchStates(engine, timedelta(seconds=0)).take(late)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_no_token_may_be_named_like_a_practitioner_but_a_verified_launch(sqlite_url):
    async def run():
        engine = create_engine(sqlite_url)
        try:
            tokens = TokenStore(engine)
            with pytest.raises(Exception, match="kept for clinicians of a SMART launch"):
                await tokens.create("Practitioner/123", "clinician")
            info, _ = await tokens.create("Practitioner/123", "clinician", clinician=True)
            assert info.name == "Practitioner/123"
        finally:
            await engine.dispose()

    asyncio.run(run())


def _audit(sqlite_url):
    async def run():
        engine = create_engine(sqlite_url)
        try:
            return (await AuditStore(engine).search(AuditQuery(action="login_failed")))[0]
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def smart_gateway(gateway_for):
    return gateway_for(smart_launch={"issuers": [ISSUER]})


@pytest.mark.parametrize(
    ("query", "status", "named"),
    [
        ("", 400, "the launch carries no iss"),
        ("?iss=https%3A%2F%2Fevil.example.org%2Ffhir&launch=abc", 403, "is not an EMR registered with this gateway"),
    ],
)
def test_a_launch_without_a_registered_iss_is_refused_with_a_page_and_an_audit_row(smart_gateway, sqlite_url, query, status, named):
    response = smart_gateway.client.get("/ui/smart/launch" + query, follow_redirects=False)
    assert response.status_code == status and named in response.text and "Nothing was signed in" in response.text
    assert "pgw_session" not in response.headers.get("set-cookie", "")
    rows = _audit(sqlite_url)
    assert rows[0].resource_type == "smart_launch" and rows[0].resource_id.startswith("iss") and rows[0].outcome == "failure"


def test_a_callback_with_a_state_no_launch_sent_is_refused(smart_gateway, sqlite_url):
    response = smart_gateway.client.get("/ui/smart/callback?code=abc&state=not-ours", follow_redirects=False)
    assert response.status_code == 400 and "state" in response.text and "matches no launch started here" in response.text
    assert "pgw_session" not in response.headers.get("set-cookie", "")
    assert _audit(sqlite_url)[0].resource_id.startswith("state")


def test_the_no_match_page_needs_a_session(smart_gateway):
    response = smart_gateway.client.get("/ui/smart/no-match", follow_redirects=False)
    assert response.status_code in (302, 303) and "/ui/sign-in" in response.headers["location"]


def test_hook_frame_ancestors(gateway_for, smart_gateway):
    """A registered issuer's origin may frame /ui (no X-Frame-Options then); with none, nothing may."""
    framed = smart_gateway.client.get("/ui/sign-in")
    assert "frame-ancestors 'self' https://ehr.example.org;" in framed.headers["content-security-policy"] + ";"
    assert "x-frame-options" not in framed.headers
    launch = smart_gateway.client.get("/ui/smart/launch")
    assert launch.headers["content-security-policy"].endswith("frame-ancestors 'self' https://ehr.example.org")
    alone = gateway_for()
    closed = alone.client.get("/ui/sign-in")
    assert "frame-ancestors 'none'" in closed.headers["content-security-policy"] and closed.headers["x-frame-options"] == "DENY"


def test_a_plugin_registering_something_that_is_not_an_origin_fails_alone():
    from gateway.contract.plugin_manager import _checked

    with pytest.raises(TypeError, match="register_frame_ancestors"):
        _checked("register_frame_ancestors", ("https://ehr.example.org/fhir",))
    with pytest.raises(TypeError):
        _checked("register_frame_ancestors", ("*",))
    _checked("register_frame_ancestors", ("https://ehr.example.org:8443",))


def test_a_session_lasts_as_the_access_token_within_bounds_and_a_huge_expires_in_is_no_500():
    from plugins.smart_launch.routes import MAX_SESSION_S, session_seconds

    assert session_seconds(900) == 900
    assert session_seconds(None) == session_seconds(True) == session_seconds(-5) == session_seconds("900") == 3600
    assert session_seconds(10**15) == MAX_SESSION_S  # timedelta(seconds=10**15) overflows


def test_a_launch_patient_that_is_not_a_fhir_id_never_goes_into_the_emrs_url():
    async def read(patient_id):
        import httpx

        async with httpx.AsyncClient() as client:
            return await oauth.read_patient(client, issuer(iss="http://127.0.0.1:9"), patient_id, "token")

    for patient_id in ["a?b", "p 1", "x#y", ""]:
        with pytest.raises(LaunchRefused) as refused:
            asyncio.run(read(patient_id))
        assert (refused.value.what, refused.value.status) == ("patient", 400)
    assert matched_patient({"identifier": [{"system": MRN, "value": "MRN\x007"}]}, [MRN]) is None  # PostgreSQL refuses NUL: a 500 otherwise


def test_an_emr_answer_announced_past_the_size_bound_is_refused_unread():
    """A server that announces a 2 MB body and sends a few bytes: refused at once, not read until the timeout."""
    import socket
    import threading

    import httpx

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held: list[socket.socket] = []

    def serve():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{")
        held.append(conn)  # never finishes the body

    threading.Thread(target=serve, daemon=True).start()

    async def discover():
        async with httpx.AsyncClient(timeout=3) as client:
            return await oauth.discover(client, f"http://127.0.0.1:{listener.getsockname()[1]}/fhir")

    try:
        with pytest.raises(LaunchRefused) as refused:
            asyncio.run(discover())
        assert "larger than" in refused.value.detail, refused.value.detail
    finally:
        for conn in held:
            conn.close()
        listener.close()


def test_a_callback_in_a_browser_that_did_not_start_the_launch_is_refused(gateway_for, sqlite_url):
    """Login CSRF: someone's own launch (their code and state) sent as a link to another browser must not
    sign that browser in as them; the browser that started it gets on to the code exchange."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    class Emr(BaseHTTPRequestHandler):
        def do_GET(self):
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            body = {"authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token", "code_challenge_methods_supported": ["S256"]}
            self._send(200, body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self._send(400, {"error": "invalid_grant", "error_description": "unknown code"})

        def _send(self, status, body):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Emr)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    iss = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    try:
        client = gateway_for(smart_launch={"issuers": [{**ISSUER, "iss": iss}]}).client

        def launch():
            started = client.get("/ui/smart/launch", params={"iss": iss, "launch": "abc"}, follow_redirects=False)
            assert started.status_code == 303, started.text
            cookie = started.headers["set-cookie"].lower()
            assert "pgw_smart_launch=" in cookie and "path=/ui/smart;" in cookie and "httponly" in cookie and "samesite=lax" in cookie
            return parse_qs(urlsplit(started.headers["location"]).query)["state"][0]

        theirs = launch()
        client.cookies.clear()  # another browser
        refused = client.get("/ui/smart/callback", params={"state": theirs, "code": "their-code"}, follow_redirects=False)
        assert refused.status_code == 400 and "did not start the launch" in refused.text
        assert "pgw_session" not in refused.headers.get("set-cookie", "")
        assert _audit(sqlite_url)[0].resource_id.startswith("state")

        first, second = launch(), launch()  # two launches under way in one browser: both are its own
        for state in (second, first):
            exchanged = client.get("/ui/smart/callback", params={"state": state, "code": "a-code"}, follow_redirects=False)
            assert exchanged.status_code == 400 and "refused the authorization code" in exchanged.text, exchanged.text[exchanged.text.find("<main") :][:1500]
    finally:
        server.shutdown()
