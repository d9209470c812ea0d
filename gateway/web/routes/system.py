"""Liveness, readiness and model cards."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from gateway.contract.plugin_manager import Plugins, PluginStatus
from gateway.service.flow import JobQueue
from gateway.storage.assessments import AssessmentStore
from gateway.storage.deliveries import DeliveryStore
from gateway.web.auth import PUBLIC
from gateway.web.openapi import NO_TOKEN, ok, problems
from gateway.web.routes.schemas import EXAMPLE_PLUGINS, EXAMPLE_READY, DeliveryBacklog, Health, Readiness

ALL_ROLES = {"integrator", "telehealth", "clinician"}


@get("/health", opt=PUBLIC, security=NO_TOKEN, tags=["system"], responses=ok(Health, Health("ok")))
async def health() -> Health:
    """The process is up."""
    return Health("ok")


@get(
    "/ready",
    opt=PUBLIC,
    security=NO_TOKEN,
    tags=["system"],
    responses=ok(Readiness, EXAMPLE_READY)
    | ok(
        Readiness,
        Readiness("not ready", {"database": "ok", "jobs": "ok", "model": "warming: 2 of 2 scoring processes still loading their models"}, {}),
        503,
        description="Not ready: a check failed (e.g. the database is unavailable, or the replica's processes are still loading the model)",
    ),
)
async def ready(
    store: NamedDependency[AssessmentStore],
    plugins: NamedDependency[Plugins],
    deliveries: NamedDependency[DeliveryStore],
    jobs: NamedDependency[JobQueue],
    state: State,
) -> Response[Readiness]:
    """The database and the job engine answer, the configured model is registered and every scoring and job
    process of this replica has loaded it (else 503: ``model`` says what is still warming, so a proxy or an
    orchestrator sends no work to a cold replica, where a first video took four times as long). ``destinations`` names
    any destination failing for longer than ``PAIN_GATEWAY_DESTINATION_ALERT_AFTER_S`` (status
    ``degraded``, still 200: the gateway keeps accepting work and delivers once the receiver is back).
    ``deliveries`` is the delivery backlog; a tenant over ``PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES`` makes
    the status ``degraded`` too, never 503: the gateway is working through it, and only that tenant's new
    submissions are refused (``429``) until it drains."""
    checks = {}
    failing: dict[str, str] = {}
    backlog: DeliveryBacklog | None = None
    try:
        await store.ping()
        checks["database"] = "ok"
        now, alert_after = datetime.now(UTC), plugins.settings.destination_alert_after_s
        failing = {
            name: f"failing since {since.isoformat()}"
            for name, since in (await deliveries.failing_since()).items()
            if (now - since).total_seconds() > alert_after
        }
        cap = plugins.settings.tenant_max_pending_deliveries
        pending = await deliveries.backlog(cap)
        oldest_due_s = 0.0 if pending.oldest_due is None else max(0.0, round((now - pending.oldest_due).total_seconds(), 1))
        backlog = DeliveryBacklog(pending.count, oldest_due_s, cap, pending.tenants_over_cap)
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    problem = await jobs.problem() if hasattr(jobs, "problem") else None
    checks["jobs"] = problem or "ok"
    warming = [w for w in (getattr(part, "warming", lambda: None)() for part in (state.get("scoring"), jobs)) if w]
    if plugins.settings.model not in plugins.models:
        checks["model"] = f"model {plugins.settings.model!r} not registered"
    else:
        checks["model"] = f"warming: {'; '.join(warming)}" if warming else "ok"
    healthy = all(v == "ok" for v in checks.values())
    status = "not ready" if not healthy else "degraded" if failing or (backlog and backlog.tenants_over_cap) else "ready"
    destinations = {name: failing.get(name, "ok") for name in sorted(plugins.destinations)}
    return Response(Readiness(status, checks, destinations, backlog), status_code=200 if healthy else 503)


@get(
    "/v1/models/{model_id:str}/card",
    opt={"roles": ALL_ROLES},
    media_type="text/markdown; charset=utf-8",
    tags=["models"],
    responses=ok(
        str, "# Model card: sta-lstm-synthetic\n\n**Trained on synthetic data; not clinically validated.** ...", media_type="text/markdown; charset=utf-8"
    )
    | problems(400, 404),
)
async def model_card(model_id: FromPath[str], plugins: NamedDependency[Plugins]) -> str:
    """The model card: intended use, training data (synthetic), metrics and limitations."""
    if model_id not in plugins.models:
        raise NotFoundException(f"no model {model_id!r}; known: {', '.join(sorted(plugins.models))}")
    return plugins.models[model_id].model_card()


@get("/v1/plugins", opt={"roles": {"admin"}, "installation": True}, tags=["system"], responses=ok(list[PluginStatus], EXAMPLE_PLUGINS) | problems())
async def plugin_list(plugins: NamedDependency[Plugins]) -> list[PluginStatus]:
    """Every plugin found, its hooks, what it registered and whether it loaded."""
    return plugins.statuses
