"""Who gets in: bearer tokens, roles failing closed, the installation-wide routes, and the per-address
throttle of failed authentications, with the exact answers a caller sees."""

from __future__ import annotations

import asyncio

import pytest
from conftest import create_tokens
from litestar.testing import TestClient
from sqlalchemy import text

from gateway.ops.settings import Settings
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app
from gateway.web.auth import FailureThrottle, is_schema


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_starts_at_the_burst_and_lifts_as_the_oldest_failure_leaves_the_window():
    clock = Clock()
    throttle = FailureThrottle(burst=3, window_s=60, clock=clock)
    assert throttle.retry_after("a") is None
    assert [throttle.failed("a") for _ in range(2)] == [False, False]
    assert throttle.retry_after("a") is None  # two of three: still free
    clock.now += 0.5
    assert throttle.failed("a") is True  # the third starts throttling
    assert throttle.failed("a") is True
    assert throttle.retry_after("a") == 60  # the oldest kept failure (of the last three) was 0 s ago
    clock.now += 59.2
    assert throttle.retry_after("a") == 1  # 0.3 s left rounds up: never "0 s"
    clock.now += 0.3
    assert throttle.retry_after("a") is None  # exactly out of the window
    assert throttle.retry_after("b") is None and len(throttle) == 1


def test_the_throttle_keeps_only_the_last_burst_failures():
    clock = Clock()
    throttle = FailureThrottle(burst=2, window_s=60, clock=clock)
    for step in (0, 10, 20):
        clock.now = 1000.0 + step
        throttle.failed("a")
    assert list(throttle.failures["a"]) == [1010.0, 1020.0]
    assert throttle.retry_after("a") == 50


def test_the_least_recently_failing_address_is_evicted_first():
    throttle = FailureThrottle(burst=5, window_s=60, max_addresses=2, clock=Clock())
    throttle.failed("a")
    throttle.failed("b")
    throttle.failed("a")  # a failed again: b is now the stalest
    throttle.failed("c")
    assert list(throttle.failures) == ["a", "c"] and len(throttle) == 2
    assert len(throttle.failures["a"]) == 2


@pytest.mark.parametrize(("path", "schema"), [("/schema", True), ("/schema/openapi.json", True), ("/schemas", False), ("/v1/schema", False)])
def test_only_the_schema_tree_counts_as_the_schema(path, schema):
    assert is_schema(path) is schema


@pytest.fixture
def world(sqlite_url, plugins):
    settings = Settings(database_url=sqlite_url, auth_failure_burst=2, auth_failure_window_s=60)
    tokens = create_tokens(sqlite_url)

    async def other_tenant_admin() -> str:
        engine = create_engine(sqlite_url)
        try:
            return (await TokenStore(engine).create("b-admin", "admin", tenant="b"))[1]
        finally:
            await engine.dispose()

    tokens["b-admin"] = asyncio.run(other_tenant_admin())
    with TestClient(create_app(settings, plugins)) as client:
        client.bearer = lambda who, scheme="Bearer": {"Authorization": f"{scheme} {tokens[who]}"}
        yield client


def audit_actions(sqlite_url) -> dict[str, int]:
    async def go():
        engine = create_engine(sqlite_url)
        try:
            async with engine.connect() as connection:
                return dict((await connection.execute(text("select action, count(*) from audit_events group by action"))).all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_without_a_token_the_answer_says_how_to_get_one_and_nothing_is_counted(world, sqlite_url):
    for _ in range(3):
        response = world.get("/v1/deliveries")
    assert response.status_code == 401
    assert response.json()["detail"] == ("missing Authorization header: send 'Authorization: Bearer <token>'; create a token with 'pain-gateway tokens create'")
    assert audit_actions(sqlite_url).get("login_failed") is None  # nothing guessed: not a failure


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer ", "Bearer    ", "Token abc"])
def test_a_malformed_header_is_401_and_counts_as_a_failure(world, sqlite_url, header):
    response = world.get("/v1/deliveries", headers={"Authorization": header})
    assert response.status_code == 401 and response.json()["detail"] == "Authorization header must be 'Bearer <token>'"
    assert audit_actions(sqlite_url) == {"login_failed": 1}


def test_the_scheme_is_case_blind_and_the_secret_may_be_padded(world):
    assert world.get("/v1/deliveries", headers=world.bearer("integrator", scheme="bearer")).status_code == 200
    padded = {"Authorization": world.bearer("integrator")["Authorization"].replace("Bearer ", "Bearer   ") + "  "}
    assert world.get("/v1/deliveries", headers=padded).status_code == 200


def test_an_unknown_token_is_401_and_the_burst_is_throttled_then_audited(world, sqlite_url):
    bad = {"Authorization": "Bearer pgw_guess"}
    first = world.get("/v1/deliveries", headers=bad)
    assert first.status_code == 401 and first.json()["detail"] == "token is unknown or revoked; ask an administrator for a new one"
    assert world.get("/v1/deliveries", headers=bad).status_code == 401
    refused = world.get("/v1/deliveries", headers=world.bearer("integrator"))  # even a valid token, from that address
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    assert refused.json()["detail"] == "too many failed authentications from this address; try again in 60 s with a valid token"
    assert audit_actions(sqlite_url) == {"login_failed": 2, "login_throttled": 1}


def test_the_api_description_is_open_and_nothing_else_is(world):
    assert world.get("/schema/openapi.json").status_code == 200
    assert world.get("/v1/plugins").status_code == 401


def test_a_role_outside_the_routes_roles_is_403_naming_the_allowed_ones(world):
    response = world.get("/v1/deliveries", headers=world.bearer("clinician"))
    assert response.status_code == 403
    assert response.json()["detail"] == "role 'clinician' may not call GET /v1/deliveries; allowed roles: admin, integrator, telehealth"
    assert world.get("/v1/deliveries", headers=world.bearer("admin")).status_code == 200  # admin may call anything


def test_installation_routes_are_for_the_default_tenants_admins_only(world):
    assert world.get("/v1/plugins", headers=world.bearer("admin")).status_code == 200
    response = world.get("/v1/plugins", headers=world.bearer("b-admin"))
    assert response.status_code == 403
    assert response.json()["detail"] == "/v1/plugins describes the whole installation; only admins of the 'default' tenant (the operators) may call it"
    assert world.get("/v1/deliveries", headers=world.bearer("b-admin")).status_code == 200  # their own tenant's data: fine


def test_public_routes_need_no_token(world):
    assert world.get("/health").status_code == 200


def test_an_allow_listed_scraper_reads_metrics_without_a_token_and_nothing_else(sqlite_url, plugins):
    settings = Settings(database_url=sqlite_url, metrics_allowlist=["203.0.113.0/24"])
    app = create_app(settings, plugins)

    async def from_header(scope, receive, send):  # the client address a proxy-free deployment would see
        if scope["type"] == "http" and (address := dict(scope["headers"]).get(b"x-test-client")):
            scope = {**scope, "client": (address.decode(), 40000)}
        await app(scope, receive, send)

    with TestClient(from_header) as client:
        scraper, stranger = {"x-test-client": "203.0.113.9"}, {"x-test-client": "198.51.100.7"}
        assert client.get("/metrics", headers=scraper).status_code == 200
        assert client.get("/metrics", headers=stranger).status_code == 401
        assert client.get("/v1/deliveries", headers=scraper).status_code == 401  # only routes that invite scrapers
        assert client.get("/v1/plugins", headers=scraper).status_code == 401


def audit_rows(sqlite_url) -> list[tuple]:
    async def go():
        engine = create_engine(sqlite_url)
        try:
            async with engine.connect() as connection:
                query = "select action, resource_type, resource_id, token_id, role, tenant, outcome, client_address from audit_events order by id"
                return [tuple(r) for r in (await connection.execute(text(query))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_failures_are_logged_and_audited_with_who_but_never_the_token(world, sqlite_url):
    import structlog

    with structlog.testing.capture_logs() as logs:
        world.get("/v1/deliveries", headers={"Authorization": "Bearer pgw_guess"})
        world.get("/v1/deliveries", headers={"Authorization": "Basic x"})
    failed = [entry for entry in logs if entry["event"] in ("auth_failed", "auth_throttled")]
    assert failed == [
        {"event": "auth_failed", "reason": "unknown", "client": "testclient", "token_id": None, "path": "/v1/deliveries", "log_level": "warning"},
        {"event": "auth_failed", "reason": "malformed", "client": "testclient", "token_id": None, "path": "/v1/deliveries", "log_level": "warning"},
        {"event": "auth_throttled", "client": "testclient", "burst": 2, "window_s": 60, "log_level": "warning"},
    ]
    assert "pgw_guess" not in repr(logs)
    anonymous = ("api_token", None, None, "anonymous", None, "failure", "testclient")
    assert audit_rows(sqlite_url) == [
        ("login_failed", *anonymous),
        ("login_failed", *anonymous),
        ("login_throttled", "client_address", "testclient", None, "anonymous", None, "failure", "testclient"),
    ]


def test_an_expired_tokens_failure_names_the_token_and_its_role(sqlite_url, plugins):
    from datetime import timedelta

    async def expired() -> tuple[str, str]:
        engine = create_engine(sqlite_url)
        try:
            info, secret = await TokenStore(engine).create("old", "clinician", tenant="b", expires_in=timedelta(seconds=1))
            return info.id, secret
        finally:
            await engine.dispose()

    token_id, secret = asyncio.run(expired())
    import time

    time.sleep(1.1)
    with TestClient(create_app(Settings(database_url=sqlite_url), plugins)) as client:
        response = client.get("/v1/deliveries", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail.startswith(f"token {token_id} expired at 20") and detail.endswith(
        f"; ask an administrator for a new one ('pain-gateway tokens rotate {token_id}' keeps its name and role)"
    )
    assert audit_rows(sqlite_url)[-1] == ("login_failed", "api_token", token_id, token_id, "clinician", "b", "failure", "testclient")


def test_options_answers_any_token_with_allow_whatever_its_role(world):
    response = world.options("/v1/deliveries", headers=world.bearer("clinician"))
    assert response.status_code == 204 and "GET" in response.headers["allow"]
