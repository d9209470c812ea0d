"""The delivery ledger over HTTP: what was sent where, every attempt, dead letters, redelivery."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, Parameter

from gateway.contract.domain import InputError
from gateway.service.flow import AssessmentFlow
from gateway.storage.deliveries import STATUSES, Attempt, Delivery, DeliveryQuery, DeliveryStore
from gateway.web.openapi import ok, problems

READERS = {"integrator", "telehealth"}
MAX_PAGE = 200
MAX_OFFSET = 1_000_000


class DeliveryDetail(Delivery, frozen=True):
    """A delivery with every attempt made for it."""

    attempt_log: list[Attempt] = []


class DeliveryPage(msgspec.Struct):
    total: int
    limit: int
    offset: int
    items: list[Delivery]


_AT = datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)
EXAMPLE = Delivery(
    "0d9a6a70-5b0e-5d55-8a4e-0c6a5b1f8c21",
    "default",
    "e6c1b2d4-4c55-5a0e-b3a1-7d3e6e2f0a19",
    "assessment.completed",
    "5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11",
    "fhir",
    "",
    "delivered",
    1,
    None,
    None,
    _AT,
    _AT,
    _AT,
)
EXAMPLE_DETAIL = DeliveryDetail(
    **msgspec.structs.asdict(EXAMPLE), attempt_log=[Attempt(1, _AT, 84.2, "delivered", "201", '{"resourceType": "Bundle", ...}', None)]
)


@get("/v1/deliveries", opt={"roles": READERS}, tags=["deliveries"], responses=ok(DeliveryPage, DeliveryPage(1, 50, 0, [EXAMPLE])) | problems(400, 422))
async def list_deliveries(
    request: Request,
    deliveries: NamedDependency[DeliveryStore],
    status: str | None = Parameter(default=None, description=f"One of {', '.join(STATUSES)}; dead = dead letters"),
    destination: str | None = Parameter(default=None, description="Destination name, e.g. fhir or webhooks"),
    assessment_id: str | None = Parameter(default=None, max_length=36),
    limit: int = Parameter(default=50, ge=1, le=MAX_PAGE),
    offset: int = Parameter(default=0, ge=0, le=MAX_OFFSET),
) -> DeliveryPage:
    """Deliveries, newest first, filtered by status, destination and assessment."""
    if status is not None and status not in STATUSES:
        raise InputError("status", f"must be one of {', '.join(STATUSES)}, got {status!r}")
    query = DeliveryQuery(tenant=request.user.tenant, status=status, destination=destination, assessment_id=assessment_id, limit=limit, offset=offset)
    items, total = await deliveries.search(query)
    return DeliveryPage(total, limit, offset, items)


@get("/v1/deliveries/{delivery_id:str}", opt={"roles": READERS}, tags=["deliveries"], responses=ok(DeliveryDetail, EXAMPLE_DETAIL) | problems(400, 404))
async def read_delivery(delivery_id: FromPath[str], request: Request, deliveries: NamedDependency[DeliveryStore]) -> DeliveryDetail:
    """One delivery with every attempt (time, duration, status code, response excerpt)."""
    delivery = await deliveries.get(delivery_id, request.user.tenant)
    if delivery is None:
        raise NotFoundException(f"no delivery {delivery_id!r}")
    return DeliveryDetail(**msgspec.structs.asdict(delivery), attempt_log=await deliveries.attempts(delivery_id))


@post(
    "/v1/deliveries/{delivery_id:str}/redeliver",
    opt={"roles": READERS},
    tags=["deliveries"],
    status_code=202,
    responses=ok(Delivery, msgspec.structs.replace(EXAMPLE, status="pending", attempts=0, next_attempt_at=_AT, delivered_at=None), 202)
    | problems(400, 404, 409),
)
async def redeliver(delivery_id: FromPath[str], request: Request, flow: NamedDependency[AssessmentFlow]) -> Delivery:
    """Send again now with a fresh retry budget (e.g. a dead letter after the receiver was fixed)."""
    tenant = request.user.tenant
    if await flow.deliveries.get(delivery_id, tenant) is None:
        raise NotFoundException(f"no delivery {delivery_id!r}")
    delivery = await flow.deliveries.redeliver(delivery_id, tenant)
    if delivery is None:
        raise ClientException("the delivery is being sent right now; look again in a few seconds", status_code=409)
    await flow.queue.enqueue_delivery(None, [delivery_id])
    return delivery


ROUTES = [list_deliveries, read_delivery, redeliver]
