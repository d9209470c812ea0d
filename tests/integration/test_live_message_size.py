"""The live protocol's message bound under a real ``pain-gateway serve`` (uvicorn's ``ws_max_size``): a
message of 64 KiB is read (and refused as a malformed frame), one byte more is not read and closes 1009.
The same connection shows the server declining permessage-deflate (float32 landmarks barely compress)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from support.gateway import tokens_for
from support.serve import live_gateway

from plugins.live_stream.protocol import HEADER

KIB_64 = 64 * 1024


def test_a_message_over_64_kib_closes_the_connection_with_1009(tmp_path):
    with live_gateway(tmp_path, {"PAIN_GATEWAY_SCORING_PROCESSES": "0"}) as gateway:
        headers = tokens_for(gateway.env["PAIN_GATEWAY_DATABASE_URL"], "default")
        opened = httpx.post(f"{gateway.origin}/v1/live/sessions", json={"patient": {"reference": "Patient/p1"}}, headers=headers["telehealth"], timeout=60)
        assert opened.status_code == 201, opened.text

        async def stream() -> tuple[dict, websockets.ConnectionClosedError]:
            async with websockets.connect(opened.json()["url"], open_timeout=30) as socket:  # offers permessage-deflate
                assert "Sec-WebSocket-Extensions" not in socket.response.headers, socket.response.headers
                await socket.send(HEADER.pack(1, 0, 0, 0, 1.7e12) + b"\0" * (KIB_64 - HEADER.size))  # exactly 64 KiB: read
                read = json.loads(await asyncio.wait_for(socket.recv(), 30))
                await socket.send(b"\0" * (KIB_64 + 1))
                with pytest.raises(websockets.ConnectionClosedError) as closed:
                    await asyncio.wait_for(socket.recv(), 30)
                return read, closed.value

        read, closed = asyncio.run(stream())
    assert read["type"] == "error" and f"is {KIB_64} bytes" in read["message"] and not read["fatal"], read
    assert closed.rcvd is not None and closed.rcvd.code == 1009, closed
