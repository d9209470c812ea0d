"""``/metrics``: alert episodes opened and resolved per rule, and tenants' alert rates.

Labels never name a tenant or patient (the house rule for ``METRICS_REGISTRY``): a tenant's alert rate
is observed, each time one of its alerts opens, as the number of episodes that tenant opened in the last
hour, in a histogram, so an operator sees how noisy the noisiest tenants are (and ``/v1/patients/alerts``
answers per tenant).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Counter, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import METRICS_REGISTRY, read_only
from plugins.pain_alerts.tables import EpisodeRow

EPISODES = Counter(
    "pain_gateway_pain_alert_episodes",
    "Pain alert episodes (AI-derived decision support) opened and resolved, by rule",
    ["rule", "event"],
    registry=METRICS_REGISTRY,
)
TENANT_RATE = Histogram(
    "pain_gateway_pain_alert_tenant_hourly_rate",
    "A tenant's alert rate: episodes it opened in the last hour, observed whenever one of its alerts opens",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
    registry=METRICS_REGISTRY,
)


def count(event_type: str, rule: str) -> None:
    EPISODES.labels(rule, event_type.removeprefix("pain_alert.")).inc()


async def observe_rate(engine: AsyncEngine, tenant: str, now: datetime) -> None:
    async with read_only(engine).connect() as connection:
        opened = await connection.scalar(
            select(func.count()).select_from(EpisodeRow).where(EpisodeRow.tenant == tenant, EpisodeRow.opened_at >= now - timedelta(hours=1))
        )
    TENANT_RATE.observe(int(opened or 0))
