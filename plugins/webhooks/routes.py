"""``/v1/webhook-endpoints``: telehealth platforms and integrators manage where webhooks go.

Secrets appear only in the answers to create and rotate. The attempt log and replay read and
re-queue rows of the core's delivery ledger for this endpoint only.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody, Parameter

from gateway import AssessmentFlow, AssessmentStore, ok, problems
from gateway.contract.domain import EVENT_TYPES, InputError
from plugins.webhooks import WebhookSettings
from plugins.webhooks.egress import Allowlist, check_url
from plugins.webhooks.endpoints import Endpoint, EndpointStore, ReplayRefused
from plugins.webhooks.schema import (
    EXAMPLE_ATTEMPTS,
    EXAMPLE_CREATED,
    EXAMPLE_ENDPOINT,
    EXAMPLE_REPLAY,
    EXAMPLE_ROTATED,
    AttemptList,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    ReplayAccepted,
    SecretRotated,
)

MANAGERS = {"telehealth", "integrator"}
OPT = {"roles": MANAGERS}
TAGS = ["webhooks"]
MAX_ATTEMPTS_LIMIT = 500
PATH = "/v1/webhook-endpoints"


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise InputError("events", f"subscribe to at least one of {', '.join(EVENT_TYPES)}")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise InputError("events", f"unknown event type(s) {', '.join(unknown)}; expected some of {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events))


def build_routes(config: WebhookSettings, allowlist: Allowlist) -> list:
    grace = timedelta(hours=config.previous_secret_grace_h)

    async def found(endpoints: EndpointStore, endpoint_id: str) -> Endpoint:
        endpoint = await endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")
        return endpoint

    @post(PATH, opt=OPT, tags=TAGS, status_code=201, summary="Register a webhook endpoint",
          responses=ok(EndpointCreated, EXAMPLE_CREATED, 201) | problems(400, 415, 422))
    async def create_endpoint(request: Request, data: JSONBody[EndpointCreate], store: NamedDependency[AssessmentStore]) -> EndpointCreated:
        """Events the endpoint subscribes to are POSTed to ``url``, signed per Standard Webhooks with
        the returned ``secret``. URLs resolving to private, loopback or link-local addresses are refused
        unless ``PAIN_GATEWAY_WEBHOOK_ALLOWLIST`` allows them."""
        events = check_events(data.events)
        if len(data.description) > 500:
            raise InputError("description", "must be at most 500 characters")
        try:
            url = await check_url(data.url.strip(), allowlist)
        except ValueError as exc:
            raise InputError("url", str(exc)) from None
        user = request.user
        e = await EndpointStore(store.engine, request.user.tenant).create(url, events, data.description, getattr(user, "id", None))
        return EndpointCreated(e.id, e.url, e.events, e.description, e.enabled, e.created_at, e.updated_at,
                               e.disabled_reason, e.created_by, secret=e.secret)

    @get(PATH, opt=OPT, tags=TAGS, summary="List webhook endpoints", responses=ok(EndpointList, EndpointList([EXAMPLE_ENDPOINT])) | problems())
    async def list_endpoints(request: Request, store: NamedDependency[AssessmentStore]) -> EndpointList:
        return EndpointList([EndpointOut.of(e) for e in await EndpointStore(store.engine, request.user.tenant).list()])

    @get(PATH + "/{endpoint_id:str}", opt=OPT, tags=TAGS, summary="Read a webhook endpoint",
         responses=ok(EndpointOut, EXAMPLE_ENDPOINT) | problems(400, 404))
    async def get_endpoint(request: Request, endpoint_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> EndpointOut:
        return EndpointOut.of(await found(EndpointStore(store.engine, request.user.tenant), endpoint_id))

    @post(PATH + "/{endpoint_id:str}/disable", opt=OPT, tags=TAGS, status_code=200, summary="Stop sending to an endpoint",
          responses=ok(EndpointOut, msgspec.structs.replace(EXAMPLE_ENDPOINT, enabled=False, disabled_reason="disabled by token a1b2c3d4"))
          | problems(400, 404))
    async def disable_endpoint(request: Request, endpoint_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> EndpointOut:
        """Pending deliveries to a disabled endpoint fail with that reason when they come due."""
        endpoints = EndpointStore(store.engine, request.user.tenant)
        endpoint = await endpoints.set_enabled(endpoint_id, False, f"disabled by token {getattr(request.user, 'id', '?')}")
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")
        return EndpointOut.of(endpoint)

    @post(PATH + "/{endpoint_id:str}/enable", opt=OPT, tags=TAGS, status_code=200, summary="Resume sending to an endpoint",
          responses=ok(EndpointOut, EXAMPLE_ENDPOINT) | problems(400, 404))
    async def enable_endpoint(request: Request, endpoint_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> EndpointOut:
        """Messages that failed while the endpoint was disabled can be sent again with replay."""
        endpoint = await EndpointStore(store.engine, request.user.tenant).set_enabled(endpoint_id, True)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")
        return EndpointOut.of(endpoint)

    @post(PATH + "/{endpoint_id:str}/rotate-secret", opt=OPT, tags=TAGS, status_code=200, summary="Rotate the signing secret",
          responses=ok(SecretRotated, EXAMPLE_ROTATED) | problems(400, 404))
    async def rotate_secret(request: Request, endpoint_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> SecretRotated:
        """Both secrets sign every message until ``previous_secret_expires_at``, so the receiver can
        switch without dropping a webhook."""
        endpoint = await EndpointStore(store.engine, request.user.tenant).rotate(endpoint_id, grace)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")
        return SecretRotated(endpoint.id, endpoint.secret, endpoint.previous_secret_expires_at)

    @delete(PATH + "/{endpoint_id:str}", opt=OPT, tags=TAGS, status_code=204, summary="Delete a webhook endpoint",
            responses=problems(400, 404))
    async def delete_endpoint(request: Request, endpoint_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> None:
        if not await EndpointStore(store.engine, request.user.tenant).delete(endpoint_id):
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")

    @get(PATH + "/{endpoint_id:str}/attempts", opt=OPT, tags=TAGS, summary="Delivery attempts, newest first",
         responses=ok(AttemptList, EXAMPLE_ATTEMPTS) | problems(400, 404, 422))
    async def list_attempts(
        request: Request,
        endpoint_id: FromPath[str],
        store: NamedDependency[AssessmentStore],
        limit: int = Parameter(default=50, description=f"At most this many attempts (1-{MAX_ATTEMPTS_LIMIT})"),
    ) -> AttemptList:
        """Every attempt to deliver a message to this endpoint; ``message_id`` is the ``webhook-id``."""
        if not 1 <= limit <= MAX_ATTEMPTS_LIMIT:
            raise InputError("limit", f"must be between 1 and {MAX_ATTEMPTS_LIMIT}")
        endpoints = EndpointStore(store.engine, request.user.tenant)
        await found(endpoints, endpoint_id)
        return AttemptList(endpoint_id, await endpoints.attempts(endpoint_id, limit))

    @post(PATH + "/{endpoint_id:str}/messages/{message_id:str}/replay", opt=OPT, tags=TAGS, status_code=202,
          summary="Send one message again", responses=ok(ReplayAccepted, EXAMPLE_REPLAY, 202) | problems(400, 404, 409))
    async def replay_message(request: Request, endpoint_id: FromPath[str], message_id: FromPath[str], flow: NamedDependency[AssessmentFlow]) -> ReplayAccepted:
        """Sends the message again now, with the same ``webhook-id`` (a receiver that already has it
        can drop the copy) and a fresh retry budget, like ``POST /v1/deliveries/{id}/redeliver``."""
        try:
            delivery_id = await EndpointStore(flow.engine, request.user.tenant).replayable(endpoint_id, message_id)
        except ReplayRefused as exc:
            raise ClientException(str(exc), status_code=409) from None
        if delivery_id is None or await flow.deliveries.redeliver(delivery_id, request.user.tenant) is None:
            raise NotFoundException(f"no message {message_id} for webhook endpoint {endpoint_id} that can be sent again")
        await flow.queue.enqueue_delivery(None, [delivery_id])
        return ReplayAccepted(message_id, "pending")

    return [create_endpoint, list_endpoints, get_endpoint, disable_endpoint, enable_endpoint, rotate_secret,
            delete_endpoint, list_attempts, replay_message]
