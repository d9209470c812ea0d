"""An MLLP receiver as a delivery destination: sends the ``hl7v2`` document, maps the ACK to an outcome.

Receiver problems never raise: refused connections, timeouts, a closed connection without ACK, an
oversized reply and ``AR`` are ``retry_later``; ``AE`` and an ACK for another control id are
``failed``; ``AA`` is ``delivered`` (see ``plugins.hl7v2.ack``). Logs carry the destination, the
control id (a digest) and the outcome, never message content.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fhir_mappings import PainMappings
from gateway import AssessmentEvent, DeliveryRequest, DeliveryResult
from plugins.hl7v2 import ack, mllp
from plugins.hl7v2.message import build_oru, control_id_of, probe_assessment
from plugins.hl7v2.settings import Hl7v2Settings, MllpReceiver

log = structlog.get_logger(__name__)

EVENTS = ("assessment.completed", "assessment.reviewed")
"""A result to report exists after these; ``assessment.failed`` has no result to put in an ORU."""


class MllpDestination:
    output = "hl7v2"

    def __init__(self, name: str, receiver: MllpReceiver, settings: Hl7v2Settings, mappings: PainMappings) -> None:
        self.name = name
        self.receiver = receiver
        self.settings = settings
        self.mappings = mappings

    async def targets(self, event: AssessmentEvent, connection: AsyncConnection) -> list[str]:
        return [""] if event.type in EVENTS or self.output in event.documents else []  # a plugin's own ORU (an alert) too

    async def send(self, request: DeliveryRequest) -> DeliveryResult:
        document = request.document
        if document is None or document.output != self.output:
            return DeliveryResult.failed(f"no {self.output} document to send for event {request.event.type}")
        try:
            control_id = control_id_of(document.content)
        except ValueError as exc:
            return DeliveryResult.failed(str(exc))
        return await self._exchange(document.content, control_id)

    async def probe(self, engine: AsyncEngine) -> DeliveryResult:
        """Send a patient-free ORU with MSH-11 ``T`` (test) and report the receiver's ACK."""
        try:
            oru = build_oru(probe_assessment(datetime.now(UTC)), self.mappings, self.settings, processing_id="T")
        except ValueError as exc:
            return DeliveryResult.failed(f"cannot build the test message: {exc}")
        return await self._exchange(oru.er7.encode("utf-8"), oru.control_id)

    async def _exchange(self, message: bytes, control_id: str) -> DeliveryResult:
        started = time.perf_counter()
        receiver = self.receiver
        try:
            reply = await mllp.exchange(receiver.host, receiver.port, message, receiver.timeout_s)
        except mllp.MllpError as exc:
            result = DeliveryResult.retry_later(str(exc))
        else:
            result = ack.outcome(reply, control_id)
        log.info(
            "hl7v2.exchange",
            destination=self.name,
            control_id=control_id,
            outcome=result.outcome,
            ack=result.status_code,
            duration_s=round(time.perf_counter() - started, 3),
        )
        return result
