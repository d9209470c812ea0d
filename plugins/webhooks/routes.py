"""``/v1/webhook-endpoints``: telehealth platforms and integrators manage where webhooks go.

One Litestar ``Controller``: thin handlers over ``EndpointStore`` (scoped to the caller's tenant by the
``endpoints`` dependency) and the core's ``AssessmentFlow`` (replay). The plugin's settings reach it
through ``endpoints_controller``, which binds them on a subclass. Secrets appear only in the answers to
create and rotate. The attempt log and replay read and re-queue rows of the core's delivery ledger for
this endpoint only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody, Parameter

from gateway import AssessmentFlow, AssessmentStore, InputError, Plugins, ok, problems
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
ONE = "/{endpoint_id:str}"
EXAMPLE_DISABLED = msgspec.structs.replace(EXAMPLE_ENDPOINT, enabled=False, disabled_reason="disabled by token a1b2c3d4")


def check_events(events: list[str], known: Mapping[str, str]) -> list[str]:
    """``events`` without repeats, each one of the ``known`` event types (``Plugins.event_types``)."""
    if not events:
        raise InputError("events", f"subscribe to at least one of {', '.join(known)}")
    unknown = [e for e in events if e not in known]
    if unknown:
        raise InputError("events", f"unknown event type(s) {', '.join(unknown)}; expected some of {', '.join(known)}")
    return list(dict.fromkeys(events))


def tenant_endpoints(request: Request, store: NamedDependency[AssessmentStore]) -> EndpointStore:
    """The ``endpoints`` dependency: the caller's tenant's endpoints."""
    return EndpointStore(store.engine, request.user.tenant)


async def found(endpoints: EndpointStore, endpoint_id: str) -> Endpoint:
    endpoint = await endpoints.get(endpoint_id)
    if endpoint is None:
        raise NotFoundException(f"no webhook endpoint {endpoint_id}")
    return endpoint


def _or_404(endpoint: Endpoint | None, endpoint_id: str) -> Endpoint:
    if endpoint is None:
        raise NotFoundException(f"no webhook endpoint {endpoint_id}")
    return endpoint


class WebhookEndpoints(Controller):
    """The routes, with the plugin's default settings; ``endpoints_controller`` binds configured ones."""

    path = PATH
    opt = OPT
    tags = TAGS
    dependencies = {"endpoints": Provide(tenant_endpoints, sync_to_thread=False)}

    grace: timedelta = timedelta(hours=WebhookSettings().previous_secret_grace_h)
    """How long the previous secret keeps signing after a rotation."""
    allowlist: Allowlist = Allowlist()
    """Internal hosts and networks a registered URL may nevertheless reach."""

    @post(status_code=201, summary="Register a webhook endpoint", responses=ok(EndpointCreated, EXAMPLE_CREATED, 201) | problems(400, 415, 422))
    async def create_endpoint(
        self, request: Request, data: JSONBody[EndpointCreate], endpoints: NamedDependency[EndpointStore], plugins: NamedDependency[Plugins]
    ) -> EndpointCreated:
        """Events the endpoint subscribes to are POSTed to ``url``, signed per Standard Webhooks with
        the returned ``secret``. URLs resolving to private, loopback or link-local addresses are refused
        unless ``PAIN_GATEWAY_WEBHOOK_ALLOWLIST`` allows them."""
        events = check_events(data.events, plugins.event_types)
        if len(data.description) > 500:
            raise InputError("description", "must be at most 500 characters")
        try:
            url = await check_url(data.url.strip(), self.allowlist)
        except ValueError as exc:
            raise InputError("url", str(exc)) from None
        e = await endpoints.create(url, events, data.description, getattr(request.user, "id", None))
        return EndpointCreated(e.id, e.url, e.events, e.description, e.enabled, e.created_at, e.updated_at, e.disabled_reason, e.created_by, secret=e.secret)

    @get(summary="List webhook endpoints", responses=ok(EndpointList, EndpointList([EXAMPLE_ENDPOINT])) | problems())
    async def list_endpoints(self, endpoints: NamedDependency[EndpointStore]) -> EndpointList:
        return EndpointList([EndpointOut.of(e) for e in await endpoints.list()])

    @get(ONE, summary="Read a webhook endpoint", responses=ok(EndpointOut, EXAMPLE_ENDPOINT) | problems(400, 404))
    async def get_endpoint(self, endpoint_id: FromPath[str], endpoints: NamedDependency[EndpointStore]) -> EndpointOut:
        return EndpointOut.of(await found(endpoints, endpoint_id))

    @post(ONE + "/disable", status_code=200, summary="Stop sending to an endpoint", responses=ok(EndpointOut, EXAMPLE_DISABLED) | problems(400, 404))
    async def disable_endpoint(self, request: Request, endpoint_id: FromPath[str], endpoints: NamedDependency[EndpointStore]) -> EndpointOut:
        """Pending deliveries to a disabled endpoint fail with that reason when they come due."""
        reason = f"disabled by token {getattr(request.user, 'id', '?')}"
        return EndpointOut.of(_or_404(await endpoints.set_enabled(endpoint_id, False, reason), endpoint_id))

    @post(ONE + "/enable", status_code=200, summary="Resume sending to an endpoint", responses=ok(EndpointOut, EXAMPLE_ENDPOINT) | problems(400, 404))
    async def enable_endpoint(self, endpoint_id: FromPath[str], endpoints: NamedDependency[EndpointStore]) -> EndpointOut:
        """Messages that failed while the endpoint was disabled can be sent again with replay."""
        return EndpointOut.of(_or_404(await endpoints.set_enabled(endpoint_id, True), endpoint_id))

    @post(ONE + "/rotate-secret", status_code=200, summary="Rotate the signing secret", responses=ok(SecretRotated, EXAMPLE_ROTATED) | problems(400, 404))
    async def rotate_secret(self, endpoint_id: FromPath[str], endpoints: NamedDependency[EndpointStore]) -> SecretRotated:
        """Both secrets sign every message until ``previous_secret_expires_at``, so the receiver can
        switch without dropping a webhook."""
        endpoint = _or_404(await endpoints.rotate(endpoint_id, self.grace), endpoint_id)
        return SecretRotated(endpoint.id, endpoint.secret, endpoint.previous_secret_expires_at)

    @delete(ONE, status_code=204, summary="Delete a webhook endpoint", responses=problems(400, 404))
    async def delete_endpoint(self, endpoint_id: FromPath[str], endpoints: NamedDependency[EndpointStore]) -> None:
        if not await endpoints.delete(endpoint_id):
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")

    @get(ONE + "/attempts", summary="Delivery attempts, newest first", responses=ok(AttemptList, EXAMPLE_ATTEMPTS) | problems(400, 404, 422))
    async def list_attempts(
        self,
        endpoint_id: FromPath[str],
        endpoints: NamedDependency[EndpointStore],
        limit: int = Parameter(default=50, description=f"At most this many attempts (1-{MAX_ATTEMPTS_LIMIT})"),
    ) -> AttemptList:
        """Every attempt to deliver a message to this endpoint; ``message_id`` is the ``webhook-id``."""
        if not 1 <= limit <= MAX_ATTEMPTS_LIMIT:
            raise InputError("limit", f"must be between 1 and {MAX_ATTEMPTS_LIMIT}")
        await found(endpoints, endpoint_id)
        return AttemptList(endpoint_id, await endpoints.attempts(endpoint_id, limit))

    @post(
        ONE + "/messages/{message_id:str}/replay",
        status_code=202,
        summary="Send one message again",
        responses=ok(ReplayAccepted, EXAMPLE_REPLAY, 202) | problems(400, 404, 409),
    )
    async def replay_message(
        self,
        request: Request,
        endpoint_id: FromPath[str],
        message_id: FromPath[str],
        endpoints: NamedDependency[EndpointStore],
        flow: NamedDependency[AssessmentFlow],
    ) -> ReplayAccepted:
        """Sends the message again now, with the same ``webhook-id`` (a receiver that already has it
        can drop the copy) and a fresh retry budget, like ``POST /v1/deliveries/{id}/redeliver``."""
        try:
            delivery_id = await endpoints.replayable(endpoint_id, message_id)
        except ReplayRefused as exc:
            raise ClientException(str(exc), status_code=409) from None
        if delivery_id is None or await flow.deliveries.redeliver(delivery_id, request.user.tenant) is None:
            raise NotFoundException(f"no message {message_id} for webhook endpoint {endpoint_id} that can be sent again")
        await flow.queue.enqueue_delivery(None, [delivery_id])
        return ReplayAccepted(message_id, "pending")


def endpoints_controller(config: WebhookSettings, allowlist: Allowlist) -> type[WebhookEndpoints]:
    """``WebhookEndpoints`` bound to the plugin's settings (a subclass: Litestar instantiates controllers itself)."""
    return type("WebhookEndpoints", (WebhookEndpoints,), {"grace": timedelta(hours=config.previous_secret_grace_h), "allowlist": allowlist})
