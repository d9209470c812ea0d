"""Webhooks plugin without a network: signatures checked by the reference Standard Webhooks library,
the SSRF address guard, URL checks at registration, the endpoint store, the attempt log and replay."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Boolean, Column, DateTime, Index, MetaData, String, Table, Text, insert, inspect, select, text, true
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.assessments import START, make_assessment, make_model, make_summary

from fhir_mappings import load_mappings
from gateway.contract.domain import Assessment, AssessmentEvent, OutputDocument
from gateway.storage.engine import create_engine
from gateway.storage.migrate import alembic_config, upgrade
from gateway.storage.tables import DeliveryAttemptRow, DeliveryRow, EventRow
from plugins import webhooks
from plugins.fhir_observation.resources import build_bundle
from plugins.webhooks import egress, payload, signing
from plugins.webhooks.endpoints import EndpointStore, ReplayRefused, message_id
from plugins.webhooks.tables import Base as WebhooksBase

MODEL = make_model(sha256="ab" * 32, training_data="synthetic")
SCORED = make_assessment(status="scored", model=MODEL, summary=make_summary(time_share={"mild": 0.6}))


def fhir_document(a: Assessment) -> OutputDocument:
    """The FHIR output as the core hands it to the destination: a rendered transaction Bundle."""
    return OutputDocument.json("fhir", "application/fhir+json", build_bundle(a, load_mappings(), "urn:pain-gateway", "transaction"))


def event(kind: str = "assessment.completed", assessment_id: str = "asm-1", error: str | None = None) -> AssessmentEvent:
    return AssessmentEvent(id=f"evt-{kind}-{assessment_id}", type=kind, assessment_id=assessment_id, occurred_at=START, error=error)


@pytest.fixture
def webhook_db(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/webhooks.db"
    upgrade(url)
    return url


@pytest.fixture
async def engine(webhook_db):
    engine = create_engine(webhook_db)
    yield engine
    await engine.dispose()


# --- signing -------------------------------------------------------------------------------------


def test_secret_is_whsec_base64_of_32_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert signing.new_secret() != secret


def test_signature_verifies_with_the_reference_library_and_tampering_does_not():
    secret = signing.new_secret()
    body = b'{"type":"assessment.completed","data":{"x":1}}'
    headers = signing.signed_headers([secret], "msg_abc", int(datetime.now(UTC).timestamp()), body)
    assert Webhook(secret).verify(body, headers) == {"type": "assessment.completed", "data": {"x": 1}}
    assert headers["content-type"] == "application/json" and headers["user-agent"] == "PainGateway-Webhooks/1"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"1", b"2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_two_active_secrets_each_verify():
    old, new = signing.new_secret(), signing.new_secret()
    body = b"{}"
    headers = signing.signed_headers([new, old], "msg_1", int(datetime.now(UTC).timestamp()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers) == {}
    assert Webhook(old).verify(body, headers) == {}


# --- SSRF guard ----------------------------------------------------------------------------------

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "192.168.0.10",
    "172.16.5.4",
    "169.254.169.254",
    "0.0.0.0",
    "100.64.0.1",
    "224.0.0.1",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "fe80::1",
    "fc00::1",
    "::",
    "localhost",
]


@pytest.mark.parametrize("host", REFUSED)
async def test_internal_addresses_are_refused(host):
    with pytest.raises(egress.RefusedAddress, match="PAIN_GATEWAY_WEBHOOK_ALLOWLIST"):
        await egress.resolve(host, 443, egress.Allowlist())


@pytest.mark.parametrize(
    ("host", "allow"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("10.1.2.3", "10.0.0.0/8"),
        ("169.254.169.254", "169.254.169.254"),
        ("::1", "::1/128"),
        ("::ffff:127.0.0.1", "127.0.0.1/32"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
async def test_allowlisted_hosts_and_networks_pass(host, allow):
    allowlist = egress.Allowlist.parse(f" {allow} , example.org")
    assert await egress.resolve(host, 443, allowlist)


async def test_allowlisting_one_host_does_not_open_another():
    allowlist = egress.Allowlist.parse(["receiver.internal", "10.0.0.0/8"])
    with pytest.raises(egress.RefusedAddress):
        await egress.resolve("127.0.0.1", 80, allowlist)
    with pytest.raises(egress.RefusedAddress):
        await egress.resolve("localhost", 80, allowlist)


@pytest.mark.parametrize("host", ["93.184.215.14", "2606:4700:4700::1111", "[2606:4700:4700::1111]", "8.8.8.8"])
async def test_public_addresses_pass(host):
    assert await egress.resolve(host, 443, egress.Allowlist()) == [str(ipaddress.ip_address(host.strip("[]")))]


def test_allowlist_parsing_and_settings():
    allowlist = egress.Allowlist.parse("Receiver.Example., 10.0.0.0/8,::1")
    assert allowlist.allows_host("receiver.example")
    assert allowlist.allows_address(ipaddress.ip_address("10.9.9.9"))
    assert allowlist.allows_address(ipaddress.ip_address("::1"))
    assert not allowlist.allows_address(ipaddress.ip_address("11.0.0.1"))
    with pytest.raises(ValueError, match="PAIN_GATEWAY_WEBHOOK_ALLOWLIST"):
        egress.Allowlist.parse("10.0.0.0/33")
    assert egress.Allowlist.from_settings(object()) == egress.Allowlist()  # the core setting is not there yet

    class WithAllowlist:
        webhook_allowlist = ["127.0.0.0/8"]

    assert egress.Allowlist.from_settings(WithAllowlist()).allows_address(ipaddress.ip_address("127.0.0.2"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.215.14/x", "https://"),
        ("https:///path", "host"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
        ("https://93.184.215.14/" + "a" * 2100, "2048"),
        ("https://93.184.215.14/hook#frag", "fragment"),
        ("https://93.184.215.14/ho ok", "spaces"),
        ("https://93.184.215.14:99999/", "valid URL"),
        ("http://127.0.0.1:8080/hook", "PAIN_GATEWAY_WEBHOOK_ALLOWLIST"),
        ("http://localhost/hook", "PAIN_GATEWAY_WEBHOOK_ALLOWLIST"),
        ("https://[::ffff:10.0.0.1]/hook", "PAIN_GATEWAY_WEBHOOK_ALLOWLIST"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
async def test_registration_urls_are_checked(url, message):
    with pytest.raises(ValueError, match=message):
        await egress.check_url(url, egress.Allowlist())


async def test_registration_accepts_public_and_allowlisted_urls():
    assert await egress.check_url("https://93.184.215.14/hook?x=1", egress.Allowlist())
    assert await egress.check_url("http://127.0.0.1:9/hook", egress.Allowlist.parse("127.0.0.0/8"))
    assert await egress.check_url("http://localhost:9/hook", egress.Allowlist.parse("localhost"))


def test_retry_after_seconds_and_http_date():
    assert egress.Response(503, "", 1.0, {"retry-after": "120"}).retry_after_s() == 120
    later = (datetime.now(UTC) + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 80 <= egress.Response(503, "", 1.0, {"retry-after": later}).retry_after_s() <= 91
    assert egress.Response(503, "", 1.0, {}).retry_after_s() is None
    assert egress.Response(503, "", 1.0, {"retry-after": "soon"}).retry_after_s() is None


# --- payload -------------------------------------------------------------------------------------


def test_completed_payload_has_summary_links_model_and_the_observation():
    a = SCORED
    body = payload.event_payload(event(), a, fhir_document(a), "https://gw.example/")
    assert len(body) < payload.MAX_BYTES
    message = msgspec.json.decode(body)
    assert message["type"] == "assessment.completed" and message["timestamp"] == START.isoformat()
    data = message["data"]
    assert data["assessment_id"] == "asm-1" and data["status"] == "scored"
    assert data["summary"] == msgspec.to_builtins(a.summary)
    assert data["model"] == {"id": "sta-lstm-synth", "version": "1.0.0"}
    assert "clinician" in data["disclaimer"]
    assert data["links"] == {"self": "https://gw.example/v1/assessments/asm-1", "fhir": "https://gw.example/v1/assessments/asm-1/fhir"}
    assert data["observation"]["resourceType"] == "Observation"
    assert "error" not in data


def test_failed_payload_carries_the_error_and_no_result():
    body = payload.event_payload(event("assessment.failed", error="no face found in 80% of frames"), None, None, "http://gw")
    data = msgspec.json.decode(body)["data"]
    assert data["status"] == "failed" and data["error"] == "no face found in 80% of frames"
    assert "summary" not in data and "observation" not in data
    assert data["links"]["self"] == "http://gw/v1/assessments/asm-1"


def test_an_observation_too_large_is_left_out_and_the_link_stays():
    a = SCORED
    huge = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation", "note": [{"text": "x" * 30_000}]}}]}
    body = payload.event_payload(event(), a, OutputDocument.json("fhir", "application/fhir+json", huge), "http://gw")
    data = msgspec.json.decode(body)["data"]
    assert len(body) < payload.MAX_BYTES
    assert "observation" not in data and data["observation_omitted"] and data["links"]["fhir"].endswith("/fhir")


def test_probe_payload_holds_no_patient_data():
    message = msgspec.json.decode(payload.probe_payload("ep-1"))
    assert message["type"] == "webhook.test" and set(message["data"]) == {"endpoint_id", "message"}


# --- settings and hooks --------------------------------------------------------------------------


def test_settings_defaults_and_bounds():
    config = webhooks.WebhookSettings()
    assert (config.timeout_s, config.previous_secret_grace_h, config.public_url) == (15.0, 24.0, "")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"timeout_s": 0}, webhooks.WebhookSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"public_url": "gw.example"}, webhooks.WebhookSettings)

    class Core:
        host, port = "0.0.0.0", 8123

    assert webhooks.public_url(Core(), config) == "http://0.0.0.0:8123"
    Core.public_url = "https://gw.example/"
    assert webhooks.public_url(Core(), config) == "https://gw.example"
    assert webhooks.public_url(Core(), webhooks.WebhookSettings(public_url="https://hooks.example/")) == "https://hooks.example"


def test_register_destinations_gives_a_fhir_destination_named_webhooks():
    from gateway.contract.protocols import Destination
    from gateway.ops.settings import Settings

    settings = Settings()
    settings.bind_plugin_settings({"webhooks": webhooks.WebhookSettings}, {"PAIN_GATEWAY_PLUGIN_WEBHOOKS_TIMEOUT_S": "20"})
    registered = []
    webhooks.register_destinations(registered.append, settings)
    [destination] = registered
    assert isinstance(destination, Destination)
    assert (destination.name, destination.output, destination.timeout_s) == ("webhooks", "fhir", 20.0)
    assert destination.public_url == "http://127.0.0.1:8000"


# --- endpoint store ------------------------------------------------------------------------------


async def test_endpoint_crud_enable_disable_and_targets(engine):
    store = EndpointStore(engine)
    a = await store.create("https://a.example/hook", ["assessment.completed", "assessment.failed"], "EHR A", "tok1")
    b = await store.create("https://b.example/hook", ["assessment.failed"], "", None)
    assert a.secret.startswith("whsec_") and a.secret != b.secret
    assert a.enabled and a.created_by == "tok1" and a.created_at.tzinfo is not None
    assert [e.id for e in await store.list()] == [a.id, b.id]
    assert (await store.get(a.id)).events == ["assessment.completed", "assessment.failed"]

    async with engine.connect() as conn:
        assert await EndpointStore.subscribed(conn, "assessment.completed", "default") == [a.id]
        assert await EndpointStore.subscribed(conn, "assessment.failed", "default") == [a.id, b.id]
        assert await EndpointStore.subscribed(conn, "assessment.reviewed", "default") == []

    disabled = await store.set_enabled(a.id, False, "by hand")
    assert not disabled.enabled and disabled.disabled_reason == "by hand"
    async with engine.connect() as conn:
        assert await EndpointStore.subscribed(conn, "assessment.failed", "default") == [b.id]
    enabled = await store.set_enabled(a.id, True)
    assert enabled.enabled and enabled.disabled_reason is None
    assert await store.set_enabled("nope", True) is None

    assert await store.delete(b.id) and not await store.delete(b.id)
    assert await store.get(b.id) is None


async def test_rotation_signs_with_both_secrets_until_the_grace_ends(engine):
    store = EndpointStore(engine)
    endpoint = await store.create("https://a.example/hook", ["assessment.completed"], "", None)
    old = endpoint.secret
    rotated = await store.rotate(endpoint.id, timedelta(hours=24))
    assert rotated.secret != old and rotated.previous_secret == old
    assert rotated.active_secrets() == [rotated.secret, old]
    body = b'{"ok":true}'
    headers = signing.signed_headers(rotated.active_secrets(), "msg_x", int(datetime.now(UTC).timestamp()), body)
    assert Webhook(old).verify(body, headers) == Webhook(rotated.secret).verify(body, headers) == {"ok": True}
    assert rotated.active_secrets(datetime.now(UTC) + timedelta(hours=25)) == [rotated.secret]

    again = await store.rotate(endpoint.id, timedelta(0))  # no grace: only the newest secret signs
    assert again.active_secrets() == [again.secret]
    assert await store.rotate("nope", timedelta(hours=1)) is None


async def _ledger(engine, endpoint_id: str, delivery_id: str, status: str = "dead", attempts: int = 2, destination: str = "webhooks"):
    """Rows as the core's ledger writes them: an event, a delivery and its attempts."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(EventRow).values(id=f"evt-{delivery_id}", type="assessment.completed", assessment_id="asm-1", occurred_at=now))
        await conn.execute(
            insert(DeliveryRow).values(
                id=delivery_id,
                event_id=f"evt-{delivery_id}",
                event_type="assessment.completed",
                assessment_id="asm-1",
                destination=destination,
                target=endpoint_id,
                status=status,
                attempts=attempts,
                next_attempt_at=None,
                last_error="HTTP 500",
                created_at=now,
                updated_at=now,
            )
        )
        for n in range(1, attempts + 1):
            await conn.execute(
                insert(DeliveryAttemptRow).values(
                    delivery_id=delivery_id,
                    attempt=n,
                    started_at=now + timedelta(seconds=n),
                    duration_ms=12.5,
                    outcome="retry",
                    status_code="500",
                    response_excerpt="oops",
                    reason="the receiver answered HTTP 500",
                )
            )


async def test_attempt_log_is_newest_first_and_only_this_endpoints(engine):
    store = EndpointStore(engine)
    mine = await store.create("https://a.example/hook", ["assessment.completed"], "", None)
    other = await store.create("https://b.example/hook", ["assessment.completed"], "", None)
    await _ledger(engine, mine.id, "d-1", attempts=3)
    await _ledger(engine, other.id, "d-2")
    await _ledger(engine, mine.id, "d-3", destination="fhir_delivery")
    attempts = await store.attempts(mine.id, limit=50)
    assert [a.attempt for a in attempts] == [3, 2, 1]
    assert {a.message_id for a in attempts} == {message_id("d-1")} == {"msg_d-1"}
    first = attempts[0]
    assert (first.event_type, first.outcome, first.status_code, first.reason) == ("assessment.completed", "retry", "500", "the receiver answered HTTP 500")
    assert first.started_at.tzinfo is not None
    assert len(await store.attempts(mine.id, limit=2)) == 2
    assert await EndpointStore(engine, "clinic-b").attempts(mine.id, limit=50) == []  # the ledger rows are the default tenant's
    assert len(await EndpointStore(engine, "default").attempts(mine.id, limit=50)) == 3


async def test_only_this_endpoints_messages_can_be_replayed(engine):
    store = EndpointStore(engine)
    mine = await store.create("https://a.example/hook", ["assessment.completed"], "", None)
    other = await store.create("https://b.example/hook", ["assessment.completed"], "", None)
    await _ledger(engine, mine.id, "d-1", status="dead", attempts=4)
    await _ledger(engine, other.id, "d-2")
    await _ledger(engine, mine.id, "d-3", status="sending")

    assert await store.replayable(mine.id, "msg_d-1") == "d-1"
    assert await store.replayable(mine.id, "msg_d-2") is None  # another endpoint's message
    assert await store.replayable(mine.id, "d-1") is None  # not a message id
    assert await store.replayable("nope", "msg_d-1") is None
    assert await EndpointStore(engine, "clinic-b").replayable(mine.id, "msg_d-1") is None  # another tenant's endpoint
    with pytest.raises(ReplayRefused, match="being sent"):
        await store.replayable(mine.id, "msg_d-3")
    await store.set_enabled(mine.id, False, "test")
    with pytest.raises(ReplayRefused, match="disabled"):
        await store.replayable(mine.id, "msg_d-1")


# --- the plugin's own table and migrations ------------------------------------------------------

TABLE = "webhook_endpoints"


def webhooks_migrations() -> list:
    found = []
    webhooks.register_migrations(found.append, None)
    return found


def database(url: str, action):
    """``action(sync_connection)`` in one committed transaction on ``url``."""
    import asyncio

    async def go():
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(action)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def versions(connection) -> set[str]:
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def drift(connection) -> list:
    """How the endpoint table differs from the plugin's declaration (the core's tables are not looked at)."""
    context = MigrationContext.configure(
        connection,
        opts={
            "include_name": lambda name, kind, _parent: kind != "table" or name in WebhooksBase.metadata.tables,
        },
    )
    return compare_metadata(context, WebhooksBase.metadata)


def old_history_table(with_tenant: bool) -> Table:
    """``webhook_endpoints`` as the core's revisions 0004 (and 0005, which added ``tenant`` last) left it."""
    table = Table(
        TABLE,
        MetaData(),
        Column("id", String(36), primary_key=True),
        Column("url", Text(), nullable=False),
        Column("events", JSON(), nullable=False),
        Column("description", String(500), nullable=False, server_default=""),
        Column("secret", String(200), nullable=False),
        Column("previous_secret", String(200)),
        Column("previous_secret_expires_at", DateTime(timezone=True)),
        Column("enabled", Boolean(), nullable=False, server_default=true()),
        Column("disabled_reason", Text()),
        Column("created_by", String(32)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    if with_tenant:
        table.append_column(Column("tenant", String(64), nullable=False, server_default="default"))
        Index(f"ix_{TABLE}_tenant", table.c.tenant)
    return table


def test_the_plugin_declares_its_own_alembic_branch():
    [migrations] = webhooks_migrations()
    assert migrations.branch == "webhooks"
    revisions = list(ScriptDirectory.from_config(alembic_config("sqlite://", [migrations])).walk_revisions())
    [root] = [r for r in revisions if "webhooks" in r.branch_labels and r.down_revision is None]
    assert root.revision == "webhooks_0001" and root.module.__file__.startswith(str(migrations.directory))
    core = ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()
    assert not any(r.branch_labels for r in core)


def test_the_core_knows_nothing_of_the_endpoint_table():
    from gateway.storage.tables import Base

    assert TABLE not in Base.metadata.tables
    core = ScriptDirectory.from_config(alembic_config("sqlite://"))
    sources = "".join(open(r.path).read() for r in core.walk_revisions())
    assert TABLE not in sources.replace(f"``{TABLE}``", "")  # named in docstrings only


def test_a_fresh_database_gets_the_table_from_the_plugin_branch(database_url):
    """``upgrade(url)`` (the conftest's fixtures) runs the core and the plugin's branch to their heads."""
    heads = set(ScriptDirectory.from_config(alembic_config(database_url, webhooks_migrations())).get_heads())
    assert "webhooks_0001" in heads and len(heads) >= 2

    def check(connection):
        assert inspect(connection).has_table(TABLE)
        assert heads <= versions(connection)
        return drift(connection)

    assert database(database_url, check) == []


@pytest.mark.parametrize("with_tenant", [True, False], ids=["at-core-head", "stopped-before-0005"])
def test_a_database_migrated_by_the_old_history_keeps_its_endpoints(database_url, with_tenant, plugins):
    """A deployment migrated while the core still created the table: the branch finds it and keeps its rows."""
    command.downgrade(
        alembic_config(database_url, plugins.migrations), "webhooks@base"
    )  # every installed branch is in the database  # drops the table: a core-only database
    assert database(database_url, lambda c: (inspect(c).has_table(TABLE), "webhooks_0001" in versions(c))) == (False, False)

    old = old_history_table(with_tenant)
    now = datetime.now(UTC)

    def create_old(connection):
        old.create(connection)
        connection.execute(
            insert(old).values(
                id="whe-1",
                url="https://a.example/hook",
                events=["assessment.completed"],
                secret="whsec_x",
                created_at=now,
                updated_at=now,
                **({"tenant": "clinic-a"} if with_tenant else {}),
            )
        )

    database(database_url, create_old)
    upgrade(database_url)

    def check(connection):
        assert "webhooks_0001" in versions(connection)
        rows = connection.execute(select(WebhooksBase.metadata.tables[TABLE])).all()
        return drift(connection), [(r.id, r.tenant, r.description, r.enabled) for r in rows]

    assert database(database_url, check) == ([], [("whe-1", "clinic-a" if with_tenant else "default", "", True)])
    upgrade(database_url)  # nothing left to do
