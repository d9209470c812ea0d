"""Shared fixtures: settings on a throw-away database, the real plugins, an app client with tokens."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import TestClient
from support.ci import service_missing
from support.fhir_server import FhirServer
from support.gateway import Gateway
from support.proxy import TcpProxy

from gateway.contract.plugin_manager import Plugins, build_plugins
from gateway.ops.settings import Settings
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade
from gateway.storage.tokens import ROLES, TokenStore
from gateway.web.app import create_app

DATA = Path(__file__).parent / "data"
FACE_FIXTURE = DATA / "astronaut_face_5s.npz"
POSTGRES_URL = os.environ.get("PGW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PATIENT_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


@pytest.fixture(scope="session")
def plugins(tmp_path_factory) -> Plugins:
    """The installed plugins through their entry points, as the gateway loads them (kept landmarks go to a temporary directory)."""
    return build_plugins(Settings(data_dir=str(tmp_path_factory.mktemp("data"))), environ={})


@pytest.fixture(scope="session")
def face_points() -> np.ndarray:
    """MediaPipe Face Mesh output for 5 s of a real face (see scripts/make_face_fixture.py)."""
    with np.load(FACE_FIXTURE) as data:
        return data["points"].astype(np.float64)


@pytest.fixture
def keypoints_json(face_points):
    """Builds the JSON submission for the real face clip; keyword arguments replace fields."""

    def build(**overrides):
        body = {
            "patient": {"identifier": {"system": PATIENT_SYSTEM, "value": "MRN-1234"}},
            "fps": 30,
            "captured_at": "2026-11-23T10:00:00Z",
            "frames": [None if np.isnan(f).all() else f.round(6).tolist() for f in face_points],
            "image_size": [640, 480],
        }
        body.update(overrides)
        return body

    return build


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    upgrade(url)
    return url


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


def postgres_available() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    import psycopg

    try:
        with psycopg.connect(_plain(POSTGRES_URL), connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({str(exc).strip().splitlines()[0]})"


@pytest.fixture(scope="session")
def postgres_run_url() -> Iterator[str]:
    """A database of this test run's own, created beside ``PGW_TEST_POSTGRES_URL``'s and dropped at the end,
    so two runs on one server (two checkouts, a developer and CI) never reset each other's tables."""
    reason = postgres_available()
    if reason:
        service_missing(reason, "CI must run the PostgreSQL tests (.ci/run starts the server)")
    import psycopg

    name = f"pgw_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_plain(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_plain(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_run_url) -> str:
    """A freshly migrated schema in this run's PostgreSQL database; skips off CI without it, fails under any truthy CI."""
    import psycopg

    with psycopg.connect(_plain(postgres_run_url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")  # the run's database is ours: start each test from nothing
        conn.execute("CREATE SCHEMA public")
    upgrade(postgres_run_url)
    return postgres_run_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """Runs a test against both supported databases."""
    return request.getfixturevalue(f"{request.param}_url")


def create_tokens(database_url: str) -> dict[str, str]:
    async def make():
        engine = create_engine(database_url)
        try:
            store = TokenStore(engine)
            return {role: (await store.create(f"test-{role}", role))[1] for role in ROLES}
        finally:
            await engine.dispose()

    return asyncio.run(make())


class Api:
    """A test client plus one bearer token per role."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "integrator", headers: dict | None = None, **kwargs):
        return self.client.get(path, headers={**self.headers(role), **(headers or {})}, **kwargs)

    def post(self, path: str, role: str = "integrator", headers: dict | None = None, **kwargs):
        return self.client.post(path, headers={**self.headers(role), **(headers or {})}, **kwargs)


@pytest.fixture
def api_tokens_for():
    """Creates one token per role in a database; returns role -> Authorization header."""

    def make(database_url: str):
        tokens = create_tokens(database_url)
        return lambda role: {"Authorization": f"Bearer {tokens[role]}"}

    return make


@pytest.fixture
def api(sqlite_url, plugins) -> Iterator[Api]:
    settings = Settings(database_url=sqlite_url, data_dir=plugins.settings.data_dir)
    tokens = create_tokens(sqlite_url)
    with TestClient(create_app(settings, plugins)) as client:
        yield Api(client, tokens)


@pytest.fixture
def emr(tmp_path) -> Iterator[FhirServer]:
    """An EMR's FHIR server (sekmet-fhir) on loopback; tests may stop and start it."""
    (tmp_path / "emr").mkdir()
    server = FhirServer(tmp_path / "emr")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emr_link(emr) -> Iterator[TcpProxy]:
    """The network to ``emr``: point the gateway at ``emr_link.via(emr.base)``; ``off()`` takes the EMR down
    (connections refused), ``on()`` brings it back at once, its data intact."""
    proxy = TcpProxy(emr.port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def gateway_for(sqlite_url, tmp_path):
    """A running gateway built from plugin settings as an operator writes them, e.g.
    ``gateway_for(fhir_delivery={"base_url": ...})``; extra core settings as keywords of ``core``."""
    clients = []

    def make(core: dict | None = None, **plugin_settings) -> Gateway:
        settings = Settings(database_url=sqlite_url, plugins=plugin_settings, **{"data_dir": str(tmp_path / "data"), **(core or {})})
        client = TestClient(create_app(settings, build_plugins(settings, environ={})))
        client.__enter__()
        clients.append(client)
        return Gateway(client, create_tokens(sqlite_url))

    yield make
    for client in clients:
        client.__exit__(None, None, None)
