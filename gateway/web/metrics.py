"""``GET /metrics``: Prometheus text format from ``prometheus_client``.

Two kinds of series, so that what an operator sees does not depend on which process answers:

- observed in this process (``REGISTRY``): request latency per route *template* (never a raw path,
  so no id or patient identifier can reach a label), submissions by outcome, stage durations
  (``decode`` = keypoint parsing, ``score`` = windows + model + summary, ``deliver`` = one delivery
  attempt), model inference time, delivery attempts by destination and outcome. Video jobs decode
  and run Face Mesh in pool or worker processes, whose observations stay there: their ``decode`` and
  ``mesh`` stages are not observed; the database series below (job states, queue age) cover them.
- read from the database at scrape time: jobs by status, queue depth and oldest-waiting age,
  deliveries by destination and status, the delivery backlog (due or being sent) and its oldest due
  age per destination, failed delivery attempts per destination from the ledger.
  These are the same from every API replica and include work done by any worker.

Labels are route templates, statuses, stage names, destinations and model ids: never a patient,
tenant, assessment or delivery id. Access: an ``admin`` token, or no token from an address in
``PAIN_GATEWAY_METRICS_ALLOWLIST`` (empty by default; see ``gateway.web.auth``).

Litestar's own ``PrometheusMiddleware`` was not used: it registers in the process-global registry
through class-level state and labels the raw path unless ``group_path`` is set.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ops.metrics import DELIVERY_STATUSES, REGISTRY, REQUEST_SECONDS, SCRAPER_ROLE
from gateway.storage.assessments import AssessmentStore
from gateway.storage.deliveries import in_backlog
from gateway.storage.jobs import STAGES
from gateway.storage.tables import DeliveryAttemptRow, DeliveryRow, SubmissionRow
from gateway.web.openapi import ok, problems


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Latency per route template; runs after routing, so unknown paths (404) are not counted."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def send_with_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_with_status)
        finally:
            route = scope.get("path_template") or "unmatched"
            REQUEST_SECONDS.labels(scope["method"], route, str(status[0])).observe(time.perf_counter() - started)

    return middleware


def parse_allowlist(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """IPs or CIDRs; raises ValueError naming the bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR, e.g. 10.0.0.5 or 10.0.0.0/24") from None
    return networks


def allowed(address: str | None, networks: list) -> bool:
    """True when ``address`` is an IP inside one of ``networks`` (a non-IP client, e.g. a unix socket, never is)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


class _Snapshot:
    """Families computed before the scrape (collectors are synchronous, the database is not)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


class _Process:
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


async def database_families(engine: AsyncEngine, now: datetime | None = None) -> list[Metric]:
    """What the database says right now; ``pain_gateway_database_up`` 0 (and nothing else) when it is unreachable."""
    now = now or datetime.now(UTC)
    up = GaugeMetricFamily("pain_gateway_database_up", "1 when the database answered this scrape")
    try:
        async with engine.connect() as connection:
            jobs = dict((await connection.execute(select(SubmissionRow.status, func.count()).group_by(SubmissionRow.status))).all())
            oldest_job = await connection.scalar(select(func.min(SubmissionRow.created_at)).where(SubmissionRow.status == "queued"))
            deliveries = (
                await connection.execute(
                    select(DeliveryRow.destination, DeliveryRow.status, func.count()).group_by(DeliveryRow.destination, DeliveryRow.status)
                )
            ).all()
            due = DeliveryRow.status.in_(("pending", "retrying")) & (DeliveryRow.next_attempt_at <= now)
            due_count, oldest_due = (await connection.execute(select(func.count(), func.min(DeliveryRow.next_attempt_at)).where(due))).one()
            backlog = (
                await connection.execute(
                    select(DeliveryRow.destination, func.count(), func.min(DeliveryRow.next_attempt_at))
                    .where(in_backlog(now))
                    .group_by(DeliveryRow.destination)
                )
            ).all()
            failures = (
                await connection.execute(
                    select(DeliveryRow.destination, func.count())
                    .join(DeliveryAttemptRow, DeliveryAttemptRow.delivery_id == DeliveryRow.id)
                    .where(DeliveryAttemptRow.outcome != "delivered")
                    .group_by(DeliveryRow.destination)
                )
            ).all()
    except Exception:
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)

    by_status = GaugeMetricFamily("pain_gateway_jobs", "Background submissions (video) by status", labels=["status"])
    for status in STAGES:
        by_status.add_metric([status], jobs.get(status, 0))
    depth = GaugeMetricFamily("pain_gateway_queue_depth", "Work waiting: queued submissions, deliveries due", labels=["queue"])
    depth.add_metric(["processing"], jobs.get("queued", 0))
    depth.add_metric(["delivery"], due_count)
    age = GaugeMetricFamily("pain_gateway_queue_oldest_age_seconds", "How long the oldest waiting item has waited (0 when none)", labels=["queue"])
    age.add_metric(["processing"], _age(now, oldest_job))
    age.add_metric(["delivery"], _age(now, oldest_due))
    pending = GaugeMetricFamily(
        "pain_gateway_delivery_backlog", "Deliveries due or being sent, per destination (what the delivery queue still owes)", labels=["destination"]
    )
    waited = GaugeMetricFamily(
        "pain_gateway_delivery_oldest_due_age_seconds", "How long the oldest delivery due or being sent has been due, per destination", labels=["destination"]
    )
    for destination, n, oldest in sorted(backlog, key=lambda row: row[0]):
        pending.add_metric([destination], n)
        waited.add_metric([destination], _age(now, oldest))
    ledger = GaugeMetricFamily("pain_gateway_deliveries", "Delivery ledger rows by destination and status", labels=["destination", "status"])
    counts = {(destination, status): n for destination, status, n in deliveries}
    for destination in sorted({d for d, _ in counts}):
        for status in DELIVERY_STATUSES:
            ledger.add_metric([destination, status], counts.get((destination, status), 0))
    failed = CounterMetricFamily(
        "pain_gateway_delivery_failed_attempts",
        "Delivery attempts that did not deliver, per destination (from the ledger: every process's attempts)",
        labels=["destination"],
    )
    for destination, n in sorted(failures):
        failed.add_metric([destination], n)
    return [up, by_status, depth, age, pending, waited, ledger, failed]


def _age(now: datetime, since: datetime | None) -> float:
    if since is None:
        return 0.0
    since = since if since.tzinfo else since.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return max(0.0, (now - since).total_seconds())


@get(
    "/metrics",
    opt={"roles": {SCRAPER_ROLE}, "allow_scrapers": True, "installation": True},
    tags=["system"],
    responses=ok(
        str,
        "# HELP pain_gateway_submissions_total Submissions by source and outcome\n"
        "# TYPE pain_gateway_submissions_total counter\n"
        'pain_gateway_submissions_total{outcome="scored",source="keypoint_upload"} 12.0\n',
        media_type=CONTENT_TYPE_PLAIN_0_0_4,
    )
    | problems(),
)
async def metrics(store: NamedDependency[AssessmentStore]) -> Response:
    """Prometheus text format: this process's observations plus the database's state (module docstring)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    registry.register(_Snapshot(await database_families(store.engine)))
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})  # the text format every Prometheus reads
