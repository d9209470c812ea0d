"""Minimal MLLP client on asyncio streams: one framed message out, one framed ACK back.

Framing is ``0x0B`` + message + ``0x1C 0x0D``. The reply is read up to a bounded size so a receiver
that answers with something huge (or is not an MLLP listener at all) cannot exhaust memory. MLLP
has no TLS of its own: run it over a VPN or tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"
MAX_REPLY_BYTES = 64 * 1024


class MllpError(Exception):
    """The exchange did not produce an ACK; the message says why (no patient data in it)."""


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


async def exchange(host: str, port: int, message: bytes, timeout_s: float, max_reply_bytes: int = MAX_REPLY_BYTES) -> bytes:
    """Send ``message`` and return the unframed reply; ``timeout_s`` bounds the connect and the wait for the ACK."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port, limit=max_reply_bytes)
    except TimeoutError:
        raise MllpError(f"connecting to {host}:{port} timed out after {timeout_s:g} s") from None
    except OSError as exc:
        raise MllpError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    try:
        async with asyncio.timeout(timeout_s):
            writer.write(frame(message))
            await writer.drain()
            reply = await reader.readuntil(END_BLOCK)
    except TimeoutError:
        raise MllpError(f"no ACK from {host}:{port} within {timeout_s:g} s") from None
    except asyncio.IncompleteReadError:
        raise MllpError(f"{host}:{port} closed the connection without an ACK") from None
    except asyncio.LimitOverrunError:
        raise MllpError(f"reply from {host}:{port} exceeds {max_reply_bytes} bytes; refused") from None
    except OSError as exc:
        raise MllpError(f"connection to {host}:{port} failed: {exc.strerror or exc}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1):
                await writer.wait_closed()
    start = reply.find(START_BLOCK)
    if start < 0:
        raise MllpError(f"reply from {host}:{port} is not MLLP-framed (no start block)")
    return reply[start + 1 : -len(END_BLOCK)]
