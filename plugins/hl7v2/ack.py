"""Reading an HL7 ACK and deciding what it means for the delivery.

MSA-1 (table 0008): ``AA``/``CA`` accepted; ``AE``/``CE`` error in the message itself, so resending
the same content cannot help (failed); ``AR``/``CR`` rejected for a reason on the receiver's side
(down, busy, not configured yet), so retry later. An ACK whose MSA-2 does not echo our MSH-10 is
about some other message: it says nothing about ours, and a receiver that mixes them up is broken,
so that fails too. ACKs are parsed by hand, leniently: they come from systems we do not control
and need not be strictly valid to be understood.

The receiver's own words (MSA-3, ERR) go only to ``response_excerpt``, never to ``reason``: they may
name the patient, and reasons end up in logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import DeliveryResult

ACCEPTED = {"AA", "CA"}
ERROR = {"AE", "CE"}
REJECTED = {"AR", "CR"}
EXCERPT_CHARS = 500


@dataclass(frozen=True)
class Ack:
    code: str
    control_id: str
    text: str
    excerpt: str


def parse_ack(reply: bytes) -> Ack:
    """MSA-1, MSA-2, MSA-3 and an excerpt (MSA and ERR segments) of a reply; ``ValueError`` if there is no MSA."""
    text = reply.decode("utf-8", "replace")
    segments = [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s.strip()]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 4:
        raise ValueError("reply does not start with an MSH segment")
    separator = segments[0][3]
    msa = next((s.split(separator) for s in segments if s.startswith("MSA" + separator)), None)
    if msa is None or len(msa) < 2 or not msa[1]:
        raise ValueError("reply has no MSA segment with an acknowledgment code")
    excerpt = " | ".join(s for s in segments if s[:3] in ("MSA", "ERR"))[:EXCERPT_CHARS]
    return Ack(_field(msa, 1).upper(), _field(msa, 2), _field(msa, 3), excerpt)


def _field(fields: list[str], index: int) -> str:
    return fields[index].strip() if len(fields) > index else ""


def outcome(reply: bytes, control_id: str) -> DeliveryResult:
    """The delivery outcome for ``reply`` to the message whose MSH-10 is ``control_id``."""
    try:
        ack = parse_ack(reply)
    except ValueError as exc:
        excerpt = reply[:EXCERPT_CHARS].decode("utf-8", "replace")
        return DeliveryResult.retry_later(f"no usable HL7 ACK: {exc}", response_excerpt=excerpt)
    if ack.control_id != control_id:
        return DeliveryResult.failed(
            f"ACK {ack.code} is for message {ack.control_id!r}, not ours ({control_id!r})", status_code=ack.code, response_excerpt=ack.excerpt
        )
    if ack.code in ACCEPTED:
        return DeliveryResult.delivered(status_code=ack.code, response_excerpt=ack.excerpt)
    if ack.code in ERROR:
        return DeliveryResult.failed(
            f"receiver found an error in the message ({ack.code}); see the response excerpt", status_code=ack.code, response_excerpt=ack.excerpt
        )
    if ack.code in REJECTED:
        return DeliveryResult.retry_later(
            f"receiver rejected the message for now ({ack.code}); see the response excerpt", status_code=ack.code, response_excerpt=ack.excerpt
        )
    return DeliveryResult.retry_later(f"unknown acknowledgment code {ack.code!r}", status_code=ack.code, response_excerpt=ack.excerpt)
