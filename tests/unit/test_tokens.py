"""Abuse resistance: bad tokens throttled per address in bounded memory; tokens expire and rotate."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import text

from gateway.contract.strict import parse_duration
from gateway.ops.settings import Settings, SettingsError, load_settings
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web.app import create_app
from gateway.web.auth import FailureThrottle

CLI = Path(sys.executable).parent / "pain-gateway"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def run(database_url, action, clock=None):
    async def go():
        engine = create_engine(database_url)
        try:
            return await action(TokenStore(engine, clock=clock) if clock else TokenStore(engine), engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


class Clock:
    def __init__(self, now) -> None:
        self.now = now

    def __call__(self):
        return self.now


# --- throttling -------------------------------------------------------------------------------------


def from_address(app):
    """The app as seen from the address in the test-only ``x-test-client`` header (TestClient has one)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            address = dict(scope["headers"]).get(b"x-test-client")
            if address:
                scope = {**scope, "client": (address.decode(), 40000)}
        await app(scope, receive, send)

    return wrapped


@pytest.fixture
def throttled(sqlite_url, plugins, api_tokens_for):
    settings = Settings(database_url=sqlite_url, auth_failure_burst=3, auth_failure_window_s=60)
    app = create_app(settings, plugins)
    headers = api_tokens_for(sqlite_url)
    with TestClient(from_address(app)) as client:
        yield client, headers, app.state.auth_failures


def test_a_burst_of_bad_tokens_is_throttled_per_address(throttled):
    client, headers, throttle = throttled
    attacker, neighbour = {"x-test-client": "203.0.113.9"}, {"x-test-client": "198.51.100.7"}
    bad = {"Authorization": "Bearer pgw_guess", **attacker}
    assert [client.get("/v1/deliveries", headers=bad).status_code for _ in range(3)] == [401, 401, 401]
    refused = client.get("/v1/deliveries", headers=bad)
    assert refused.status_code == 429 and refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60 and "failed authentications" in refused.json()["detail"]
    # a throttled address is refused even with a valid token: answering would keep the oracle open
    assert client.get("/v1/deliveries", headers={**headers("integrator"), **attacker}).status_code == 429
    assert client.get("/v1/deliveries", headers={**headers("integrator"), **neighbour}).status_code == 200
    assert client.get("/v1/deliveries", headers={"Authorization": "Bearer pgw_guess", **neighbour}).status_code == 401
    assert client.get("/health", headers=attacker).status_code == 200  # open routes need no token, so no throttle
    throttle.clock = lambda: __import__("time").monotonic() + 61  # the window passes
    assert client.get("/v1/deliveries", headers={**headers("integrator"), **attacker}).status_code == 200


def test_the_shipped_throttle_refuses_the_11th_failure_within_60_s(sqlite_url, plugins, api_tokens_for):
    app = create_app(Settings(database_url=sqlite_url), plugins)  # PAIN_GATEWAY_AUTH_FAILURE_BURST / _WINDOW_S unset
    headers = api_tokens_for(sqlite_url)
    clock = Clock(1000.0)
    app.state.auth_failures.clock = clock
    with TestClient(app) as client:
        bad = {"Authorization": "Bearer pgw_guess"}
        assert [client.get("/v1/deliveries", headers=bad).status_code for _ in range(10)] == [401] * 10
        eleventh = client.get("/v1/deliveries", headers=bad)
        assert eleventh.status_code == 429 and eleventh.headers["retry-after"] == "60", eleventh.text
        clock.now += 59.5
        assert client.get("/v1/deliveries", headers=headers("integrator")).status_code == 429  # still inside the 60 s window
        clock.now += 1
        assert client.get("/v1/deliveries", headers=headers("integrator")).status_code == 200


def test_throttling_is_audited_once_per_burst(throttled, sqlite_url):
    client, _headers, _ = throttled
    for _ in range(5):
        client.get("/v1/deliveries", headers={"Authorization": "Bearer pgw_guess", "x-test-client": "203.0.113.9"})

    async def count(_store, engine):
        async with engine.connect() as conn:
            return dict((await conn.execute(text("select action, count(*) from audit_events group by action"))).all())

    assert run(sqlite_url, count) == {"login_failed": 3, "login_throttled": 1}  # throttled requests write nothing


def test_the_window_slides():
    now = [0.0]
    throttle = FailureThrottle(burst=3, window_s=60, clock=lambda: now[0])
    for t in (0, 10, 20):
        now[0] = t
        started = throttle.failed("a")
    assert started and throttle.retry_after("a") == 40  # the first failure leaves the window at 60
    now[0] = 60.5
    assert throttle.retry_after("a") is None
    assert throttle.failed("a") and throttle.retry_after("a") == 10  # 10, 20, 60.5: the one at 10 leaves at 70
    assert throttle.retry_after("b") is None


@settings(max_examples=50, deadline=None)
@given(addresses=st.lists(st.ip_addresses().map(str), min_size=1, max_size=300), cap=st.integers(1, 50))
def test_memory_stays_bounded_however_many_addresses_fail(addresses, cap):
    throttle = FailureThrottle(burst=2, window_s=60, max_addresses=cap, clock=lambda: 0.0)
    for address in addresses:
        throttle.failed(address)
        assert len(throttle) <= cap
        assert all(len(times) <= 2 for times in throttle.failures.values())
    assert addresses[-1] in throttle.failures  # the newest is kept; the least recently failing went first


def test_a_spray_of_addresses_evicts_the_oldest():
    throttle = FailureThrottle(burst=1, window_s=60, max_addresses=1000, clock=lambda: 0.0)
    throttle.failed("victim-of-eviction")
    for i in range(100_000):
        throttle.failed(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(throttle) == 1000 and "victim-of-eviction" not in throttle.failures


@pytest.mark.parametrize(("name", "value"), [("AUTH_FAILURE_BURST", "0"), ("AUTH_FAILURE_WINDOW_S", "0.5"), ("AUTH_FAILURE_WINDOW_S", "100000")])
def test_throttle_settings_are_checked(name, value):
    with pytest.raises(SettingsError, match=f"PAIN_GATEWAY_{name}"):
        load_settings({f"PAIN_GATEWAY_{name}": value})
    loaded = load_settings({"PAIN_GATEWAY_AUTH_FAILURE_BURST": "20", "PAIN_GATEWAY_AUTH_FAILURE_WINDOW_S": "30"})
    assert (loaded.auth_failure_burst, loaded.auth_failure_window_s) == (20, 30.0)


# --- expiry and rotation in the store, on both databases ---------------------------------------------


def test_tokens_expire(database_url):
    clock = Clock(T0)

    async def act(store, _engine):
        info, secret = await store.create("epic", "integrator", expires_in=timedelta(minutes=1))
        before = await store.check(secret)
        clock.now = T0 + timedelta(minutes=1)
        after = await store.check(secret)
        return info, before, after, await store.verify(secret)

    info, before, after, verified = run(database_url, act, clock)
    assert info.expires_at == T0 + timedelta(minutes=1)
    assert before.state == "ok" and after.state == "expired" and after.info.id == info.id and verified is None


def test_rotation_with_and_without_grace(database_url):
    clock = Clock(T0)

    async def act(store, _engine):
        old, old_secret = await store.create("epic", "integrator", expires_in=timedelta(days=90))
        new, new_secret = await store.rotate(old.id, grace=timedelta(hours=24))
        during = (await store.verify(old_secret), await store.verify(new_secret))
        clock.now = T0 + timedelta(hours=24)
        after = (await store.check(old_secret), await store.verify(new_secret))
        again = await store.rotate(old.id)
        newer, newer_secret = await store.rotate(new.id, expires_in=timedelta(days=7))
        immediate = (await store.check(new_secret), await store.verify(newer_secret))
        return old, new, during, after, again, newer, immediate, await store.rotate("nope")

    old, new, during, after, again, newer, immediate, unknown = run(database_url, act, clock)
    assert (new.name, new.role) == (old.name, old.role) and new.id != old.id
    assert new.expires_at == T0 + timedelta(days=90)  # the old lifetime, not a permanent token
    assert during[0].id == old.id and during[1].id == new.id
    assert after[0].state == "revoked" and after[1].id == new.id
    assert again is None and unknown is None  # a rotated token cannot be rotated twice
    assert newer.expires_at == T0 + timedelta(hours=24, days=7)
    assert immediate[0].state == "revoked" and immediate[1].id == newer.id


def test_an_expired_token_can_be_rotated_and_a_revoke_ends_a_grace_period(database_url):
    clock = Clock(T0)

    async def act(store, _engine):
        old, old_secret = await store.create("epic", "integrator", expires_in=timedelta(hours=1))
        clock.now = T0 + timedelta(hours=2)
        expired = await store.check(old_secret)
        new, new_secret = await store.rotate(old.id, grace=timedelta(hours=1))
        other, other_secret = await store.create("lab", "clinician")
        successor, successor_secret = await store.rotate(other.id, grace=timedelta(hours=1))
        in_grace = await store.verify(other_secret)
        revoked = await store.revoke(other.id)
        return expired, await store.check(old_secret), await store.verify(new_secret), in_grace, revoked, await store.verify(other_secret)

    expired, still_expired, new, in_grace, revoked, after_revoke = run(database_url, act, clock)
    assert expired.state == still_expired.state == "expired" and new is not None
    assert in_grace is not None and revoked and after_revoke is None


@pytest.mark.parametrize(
    ("text_", "ok"),
    [
        ("90d", timedelta(days=90)),
        ("24h", timedelta(hours=24)),
        ("1m", timedelta(minutes=1)),
        ("730d", timedelta(days=730)),
        ("731d", None),
        ("0d", None),
        ("5y", None),
        ("", None),
        ("-1d", None),
        ("1.5d", None),
        ("\u0663h", None),  # an Arabic-Indic three: Python's \\d would read it as 3
        ("\uff13d", None),  # a full-width three
    ],
)
def test_durations_are_bounded(text_, ok):
    from gateway.contract.domain import InputError

    if ok is None:
        with pytest.raises(InputError):
            parse_duration(text_, "--expires-in", timedelta(days=730))
    else:
        assert parse_duration(text_, "--expires-in", timedelta(days=730)) == ok


# --- the real console script and the API ------------------------------------------------------------


@pytest.fixture
def cli(tmp_path):
    database = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_DATABASE_URL": database,
        "PAIN_GATEWAY_LOG_FORMAT": "json",
    }

    def run_cli(*args):
        return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)

    run_cli.database_url = database
    return run_cli


@pytest.fixture
def api_on(plugins):
    clients = []

    def make(database_url):
        client = TestClient(create_app(Settings(database_url=database_url), plugins))
        client.__enter__()
        clients.append(client)
        return lambda secret: client.get("/v1/deliveries", headers={"Authorization": f"Bearer {secret}"})

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _sql(database_url, statement, **params):
    async def go(_store, engine):
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)

    run(database_url, go)


def test_an_expiring_token_works_until_it_expires_then_says_so(cli, api_on):
    created = cli("tokens", "create", "--name", "epic", "--role", "integrator", "--expires-in", "1m")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert "expires" in created.stderr
    token_id = cli("tokens", "list").stdout.split()[0]
    assert "active until" in cli("tokens", "list").stdout
    call = api_on(cli.database_url)
    assert call(secret).status_code == 200
    _sql(cli.database_url, "update api_tokens set expires_at = :t", t=datetime.now(UTC) - timedelta(seconds=1))
    response = call(secret)
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "expired" in detail and f"tokens rotate {token_id}" in detail
    assert "expired" in cli("tokens", "list").stdout


def test_rotate_replaces_the_secret_with_an_optional_grace_period(cli, api_on):
    first = cli("tokens", "create", "--name", "epic", "--role", "integrator", "--expires-in", "90d").stdout.strip()
    first_id = cli("tokens", "list").stdout.split()[0]
    rotated = cli("tokens", "rotate", first_id)
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.strip()
    assert second.startswith("pgw_") and second != first and "stops working now" in rotated.stderr
    call = api_on(cli.database_url)
    assert call(first).status_code == 401 and call(second).status_code == 200
    assert cli("tokens", "rotate", first_id).returncode == 1  # already rotated

    listed = cli("tokens", "list").stdout
    second_id = next(line.split()[0] for line in listed.splitlines() if "active until" in line)
    graced = cli("tokens", "rotate", second_id, "--grace", "24h", "--expires-in", "30d")
    assert graced.returncode == 0, graced.stderr
    third = graced.stdout.strip()
    assert call(second).status_code == 200 and call(third).status_code == 200  # both during the grace period
    assert "revokes" in cli("tokens", "list").stdout
    _sql(cli.database_url, "update api_tokens set revoked_at = :t where id = :i", t=datetime.now(UTC) - timedelta(seconds=1), i=second_id)
    assert call(second).status_code == 401 and call(third).status_code == 200
    assert first not in cli("tokens", "list").stdout and third not in cli("tokens", "list").stdout

    async def audited(_store, engine):
        async with engine.connect() as conn:
            return (await conn.execute(text("select action, role, resource_id from audit_events where action like 'token%' order by id"))).all()

    assert [tuple(r) for r in run(cli.database_url, audited)] == [
        ("token_create", "system", first_id),
        ("token_rotate", "system", first_id),
        ("token_rotate", "system", second_id),
    ]


@pytest.mark.parametrize("args", [("--expires-in", "731d"), ("--expires-in", "0m"), ("--expires-in", "2y"), ("--expires-in", "ninety days")])
def test_bad_lifetimes_exit_2_naming_the_option(cli, args):
    result = cli("tokens", "create", "--name", "epic", "--role", "integrator", *args)
    assert result.returncode == 2 and "--expires-in" in result.stderr
    assert cli("tokens", "list").stdout == ""


def test_bad_rotation_options_exit_2(cli):
    cli("tokens", "create", "--name", "epic", "--role", "integrator")
    token_id = cli("tokens", "list").stdout.split()[0]
    result = cli("tokens", "rotate", token_id, "--grace", "31d")
    assert result.returncode == 2 and "--grace" in result.stderr
    assert cli("tokens", "rotate", "no-such-token").returncode == 1
