"""The ``webhooks`` destination: one signed POST per (event, endpoint), judged into a DeliveryResult.

The core's delivery ledger owns retries, backoff and the attempt log; ``send`` makes exactly one
attempt and says what it means: 2xx delivered; 410 Gone disables the endpoint (the receiver asked us
to stop); a refused address fails for good; anything else is retried, honouring ``Retry-After``.
"""

from __future__ import annotations

import time
import uuid

import httpcore
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import AssessmentEvent, DeliveryRequest, DeliveryResult
from plugins.webhooks import egress
from plugins.webhooks.endpoints import DESTINATION, Endpoint, EndpointStore, message_id
from plugins.webhooks.payload import event_payload, plugin_event_payload, probe_payload
from plugins.webhooks.signing import signed_headers

log = structlog.get_logger(__name__)

_SEVERITY = {"delivered": 0, "retry": 1, "failed": 2}


class WebhookDestination:
    name = DESTINATION
    output = "fhir"

    def __init__(self, allowlist: egress.Allowlist, public_url: str, timeout_s: float = 15.0) -> None:
        self.allowlist = allowlist
        self.public_url = public_url.rstrip("/")
        self.timeout_s = timeout_s

    async def targets(self, event: AssessmentEvent, connection: AsyncConnection) -> list[str]:
        return await EndpointStore.subscribed(connection, event.type, event.tenant)

    async def send(self, request: DeliveryRequest) -> DeliveryResult:
        endpoint = await EndpointStore(request.engine).get(request.target)
        if endpoint is None:
            return DeliveryResult.failed(f"webhook endpoint {request.target} was deleted")
        if not endpoint.enabled:
            return DeliveryResult.failed(f"webhook endpoint {endpoint.id} is disabled: {endpoint.disabled_reason or 'by a user'}")
        if request.event.documents:  # a plugin's own event, with the document it rendered
            body = plugin_event_payload(request.event, request.document)
        else:
            body = event_payload(request.event, request.assessment, request.document, self.public_url)
        result = await self._post(endpoint, message_id(request.delivery_id), body)
        if result.status_code == 410:
            reason = "the receiver answered 410 Gone"
            await EndpointStore(request.engine).set_enabled(endpoint.id, False, reason)
            log.warning("webhook_endpoint_disabled", endpoint=endpoint.id, reason=reason)
        return result

    async def probe(self, engine: AsyncEngine) -> DeliveryResult:
        """A signed ``webhook.test`` to every enabled endpoint; the worst result, naming its endpoint."""
        endpoints = [e for e in await EndpointStore(engine).list() if e.enabled]
        if not endpoints:
            return DeliveryResult.failed("no enabled webhook endpoints (POST /v1/webhook-endpoints)")
        worst: DeliveryResult | None = None
        for endpoint in endpoints:
            result = await self._post(endpoint, f"msg_test_{uuid.uuid4().hex}", probe_payload(endpoint.id))
            result = type(result)(
                result.outcome, f"endpoint {endpoint.id}: {result.reason or 'ok'}", result.status_code, result.response_excerpt, result.retry_after_s
            )
            if worst is None or _SEVERITY[result.outcome] > _SEVERITY[worst.outcome]:
                worst = result
        assert worst is not None
        return worst

    async def _post(self, endpoint: Endpoint, message: str, body: bytes) -> DeliveryResult:
        headers = signed_headers(endpoint.active_secrets(), message, int(time.time()), body)
        try:
            response = await egress.post(endpoint.url, body, headers, self.allowlist, self.timeout_s)
        except egress.RefusedAddress as exc:
            return DeliveryResult.failed(f"refused: {exc}")
        except (TimeoutError, httpcore.TimeoutException):
            return DeliveryResult.retry_later(f"no answer within {self.timeout_s:g} s")
        except egress.UnresolvableHost as exc:
            return DeliveryResult.retry_later(str(exc))
        except httpcore.UnsupportedProtocol as exc:
            return DeliveryResult.failed(f"unusable URL: {exc}")
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            return DeliveryResult.retry_later(f"connection failed: {type(exc).__name__}: {exc}"[:300])
        if 200 <= response.status < 300:
            return DeliveryResult.delivered(response.status, response.excerpt)
        if response.status == 410:
            return DeliveryResult.failed("the receiver answered 410 Gone; the endpoint is disabled", 410, response.excerpt)
        hint = "; redirects are not followed: register the final URL" if 300 <= response.status < 400 else ""
        return DeliveryResult.retry_later(
            f"the receiver answered HTTP {response.status}{hint}", response.status, response.excerpt, retry_after_s=response.retry_after_s()
        )
