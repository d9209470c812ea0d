"""MLLP delivery against a real listener on loopback: each receiver behaviour maps to its outcome.

The listener is an asyncio server started by the test. It parses what arrives with hl7apy at STRICT
validation (so what went over the wire is a valid ORU) and answers as told: AA, AE, AR, an ACK for
another message, nothing at all, a close without ACK, or an endless reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from support.assessments import make_assessment
from support.ports import free_port

import plugins.hl7v2 as hl7v2
from gateway.contract.domain import Assessment, AssessmentEvent, PatientRef
from gateway.contract.protocols import DeliveryRequest
from gateway.ops.settings import Settings, load_settings
from plugins.hl7v2.destination import MllpDestination

START = datetime(2026, 1, 1, 11, 55, tzinfo=UTC)
TIMEOUT_S = 0.5


@dataclass
class Listener:
    """What the listener answers next (``mode``) and every ORU it received, parsed."""

    port: int
    mode: str = "AA"
    received: list = field(default_factory=list)

    def answer(self, control_id: str) -> bytes:
        code, echoed = (self.mode, control_id) if self.mode in ("AA", "AE", "AR") else ("AA", "NOT-YOURS")
        segments = [
            "MSH|^~\\&|EMR|HOSP|PAIN_GATEWAY|PAIN_GATEWAY|20260101120000||ACK^R01^ACK|ACK1|P|2.5.1",
            f"MSA|{code}|{echoed}|{'Message accepted' if code == 'AA' else 'Cannot take it'}",
        ]
        if code == "AE":
            segments.append("ERR||OBX^1^5|103^Table value not found^HL70357|E")
        return b"\x0b" + "\r".join(segments).encode() + b"\r\x1c\r"


async def serve(listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        framed = await reader.readuntil(b"\x1c\r")
        assert framed.startswith(b"\x0b")
        message = parse_message(framed[1:-2].decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        assert message.validate()
        listener.received.append(message)
        if listener.mode == "silent":
            await asyncio.sleep(TIMEOUT_S * 4)
        elif listener.mode == "endless":
            writer.write(b"\x0b" + b"x" * (200 * 1024))
            await writer.drain()
        elif listener.mode != "close":
            writer.write(listener.answer(message.msh.msh_10.to_er7()))
            await writer.drain()
    finally:
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    state = Listener(port=0)
    server = await asyncio.start_server(lambda r, w: serve(state, r, w), "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


def configured(port: int) -> Settings:
    settings = load_settings({})
    schemas: dict[str, type] = {}
    hl7v2.register_settings(schemas.__setitem__)
    settings.bind_plugin_settings(
        schemas,
        {"PAIN_GATEWAY_PLUGIN_HL7V2_HOST": "127.0.0.1", "PAIN_GATEWAY_PLUGIN_HL7V2_PORT": str(port), "PAIN_GATEWAY_PLUGIN_HL7V2_TIMEOUT_S": str(TIMEOUT_S)},
    )
    return settings


def assessment(status: str = "preliminary") -> Assessment:
    return make_assessment(
        id="7d3f0b8e-1111-4222-8333-444455556666", clinical_status=status, start=START, patient=PatientRef(system="urn:oid:1.2.3", value="MRN-7")
    )


def plugin(port: int) -> tuple[object, MllpDestination]:
    """The output and the destination exactly as the plugin's hooks register them."""
    settings = configured(port)
    outputs: list = []
    destinations: list = []
    hl7v2.register_outputs(outputs.append, settings)
    hl7v2.register_destinations(destinations.append, settings)
    assert [d.name for d in destinations] == ["hl7v2"]
    return outputs[0], destinations[0]


def request(output, a: Assessment, attempt: int = 1) -> DeliveryRequest:
    event = AssessmentEvent(id="evt-1", type="assessment.completed", assessment_id=a.id, occurred_at=START)
    return DeliveryRequest(
        delivery_id="dlv-1", destination="hl7v2", target="", attempt=attempt, event=event, assessment=a, document=output.render(a), engine=None
    )


async def test_aa_is_delivered_and_a_resend_carries_the_same_control_id(listener):
    output, destination = plugin(listener.port)
    first = await destination.send(request(output, assessment()))
    again = await destination.send(request(output, assessment(), attempt=2))
    assert (first.outcome, first.status_code) == ("delivered", "AA")
    assert first.response_excerpt.startswith("MSA|AA|") and again.outcome == "delivered"
    ids = [m.msh.msh_10.to_er7() for m in listener.received]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert listener.received[0].msh.msh_11.to_er7() == "P"


async def test_a_correction_goes_with_status_c_and_a_new_control_id(listener):
    output, destination = plugin(listener.port)
    for status in ("preliminary", "amended"):
        assert (await destination.send(request(output, assessment(status)))).outcome == "delivered"
    first, correction = listener.received
    obx = correction.oru_r01_patient_result.oru_r01_order_observation.oru_r01_observation[0].obx
    assert obx.obx_11.to_er7() == "C"
    assert first.msh.msh_10.to_er7() != correction.msh.msh_10.to_er7()


@pytest.mark.parametrize(
    ("mode", "outcome", "status_code", "reason"),
    [
        ("AE", "failed", "AE", "error in the message (AE)"),
        ("AR", "retry", "AR", "rejected the message for now (AR)"),
        ("wrong-id", "failed", "AA", "is for message 'NOT-YOURS'"),
        ("close", "retry", None, "closed the connection without an ACK"),
        ("silent", "retry", None, f"no ACK from 127.0.0.1:{{port}} within {TIMEOUT_S:g} s"),
        ("endless", "retry", None, "exceeds 65536 bytes; refused"),
    ],
)
async def test_receiver_answers_map_to_outcomes(listener, mode, outcome, status_code, reason):
    listener.mode = mode
    output, destination = plugin(listener.port)
    result = await destination.send(request(output, assessment()))
    assert (result.outcome, result.status_code) == (outcome, status_code), result.reason
    assert reason.format(port=listener.port) in result.reason
    assert len(listener.received) == 1


async def test_ae_excerpt_carries_msa_and_err(listener):
    listener.mode = "AE"
    output, destination = plugin(listener.port)
    result = await destination.send(request(output, assessment()))
    assert "MSA|AE|" in result.response_excerpt and "ERR||OBX^1^5|103" in result.response_excerpt


async def test_receiver_not_running_is_retried():
    output, destination = plugin(free_port())
    result = await destination.send(request(output, assessment()))
    assert result.outcome == "retry" and "cannot connect" in result.reason


async def test_missing_document_fails_without_raising(listener):
    output, destination = plugin(listener.port)
    broken = DeliveryRequest(**{**request(output, assessment()).__dict__, "document": None})
    assert (await destination.send(broken)).outcome == "failed"
    assert listener.received == []


async def test_probe_sends_a_test_mode_message(listener):
    _, destination = plugin(listener.port)
    result = await destination.probe(None)
    assert (result.outcome, result.status_code) == ("delivered", "AA")
    (message,) = listener.received
    assert message.msh.msh_11.to_er7() == "T"
    assert message.oru_r01_patient_result.oru_r01_patient.pid.pid_3.to_er7() == "PAIN-GATEWAY-PROBE^^^^MR"


async def test_probe_reports_an_unreachable_receiver():
    _, destination = plugin(free_port())
    assert (await destination.probe(None)).outcome == "retry"


async def test_targets_are_completed_and_reviewed_events_only():
    _, destination = plugin(free_port())
    answers = {}
    for kind in ("assessment.completed", "assessment.reviewed", "assessment.failed"):
        event = AssessmentEvent(id="e", type=kind, assessment_id="a", occurred_at=START)
        answers[kind] = await destination.targets(event, None)
    assert answers == {"assessment.completed": [""], "assessment.reviewed": [""], "assessment.failed": []}
