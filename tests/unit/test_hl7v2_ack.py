"""Reading ACKs: MSA-1 decides delivered / retry / failed, MSA-2 must echo our MSH-10."""

from __future__ import annotations

import pytest

from plugins.hl7v2.ack import outcome, parse_ack

OURS = "93B0253CD578A02C9F0A"


def ack(code: str, control_id: str = OURS, text: str = "", extra: str = "", sep: str = "\r") -> bytes:
    msh = "MSH|^~\\&|EMR|HOSP|PAIN_GATEWAY|PAIN_GATEWAY|20260101120000||ACK^R01^ACK|A1|P|2.5.1"
    return sep.join(filter(None, [msh, f"MSA|{code}|{control_id}|{text}", extra])).encode() + sep.encode()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AA", "delivered"),
        ("CA", "delivered"),
        ("AE", "failed"),
        ("CE", "failed"),
        ("AR", "retry"),
        ("CR", "retry"),
        ("ZZ", "retry"),
    ],
)
def test_acknowledgment_code_decides_the_outcome(code, expected):
    result = outcome(ack(code), OURS)
    assert (result.outcome, result.status_code) == (expected, code)


def test_ack_for_another_message_fails():
    result = outcome(ack("AA", control_id="SOMEONE-ELSE"), OURS)
    assert result.outcome == "failed" and "SOMEONE-ELSE" in result.reason


def test_receiver_text_goes_to_the_excerpt_not_the_reason():
    reply = ack("AE", text="Unknown patient MRN-7", extra="ERR||PID^1^3|204^Unknown key identifier^HL70357|E")
    result = outcome(reply, OURS)
    assert "MRN-7" not in result.reason
    assert result.response_excerpt.startswith("MSA|AE|") and "ERR||PID^1^3|204" in result.response_excerpt


def test_lenient_about_line_endings_and_separators():
    parsed = parse_ack(ack("aa", text="ok", sep="\n").replace(b"|", b"#"))
    assert (parsed.code, parsed.control_id, parsed.text) == ("AA", OURS, "ok")


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n", b"MSH|^~\\&|X\rPID|1\r", b"MSH|\rMSA||x\r"])
def test_replies_without_an_acknowledgment_are_retried(reply):
    result = outcome(reply, OURS)
    assert result.outcome == "retry" and "no usable HL7 ACK" in result.reason


def test_excerpt_is_bounded():
    result = outcome(ack("AA", text="x" * 10_000), OURS)
    assert result.outcome == "delivered" and len(result.response_excerpt) == 500
