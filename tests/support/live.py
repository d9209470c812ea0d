"""Live scoring helpers for tests and the benchmark: the recorded face as protocol frames."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import websockets

from plugins.live_stream.protocol import encode_frame

FACE = Path(__file__).resolve().parents[1] / "data" / "astronaut_face_5s.npz"
PATIENT = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-LIVE-1"}}


def recorded_points() -> np.ndarray:
    """5 s of MediaPipe Face Mesh output of a real face at 30 fps, (150, 468, 3)."""
    with np.load(FACE) as data:
        return data["points"].astype(np.float32)


def frames(seconds: float, fps: float = 30.0, start_ms: float | None = None, first_sequence: int = 0) -> Iterator[tuple[float, bytes]]:
    """(capture ms, binary frame) for ``seconds`` of the recorded face at ``fps``, looping the recording
    (back and forth, so motion stays continuous); capture times start ``seconds`` ago by default."""
    points = recorded_points()
    loop = np.concatenate([points, points[::-1]])
    start_ms = time.time() * 1000 - seconds * 1000 if start_ms is None else start_ms
    for i in range(int(round(seconds * fps))):
        captured = start_ms + i * 1000.0 / fps
        row = loop[int(round(i * 30.0 / fps)) % len(loop)]
        yield captured, encode_frame(first_sequence + i, captured, None if np.isnan(row).all() else row)


async def stream_session(origin: str, token: str, stream: list[bytes], *, timeout_s: float = 300) -> str:
    """One live session against a served gateway, from creation to its end: ``stream`` sent as fast as the
    server reads it, then ``end``. Returns ``assessment``, or what ended the session otherwise."""
    async with httpx.AsyncClient(base_url=origin, timeout=timeout_s) as http:
        created = await http.post("/v1/live/sessions", json={"patient": PATIENT}, headers={"Authorization": f"Bearer {token}"})
    if created.status_code != 201:
        return f"create {created.status_code}: {created.text[:80]}"
    opened = created.json()
    url = origin.replace("http", "ws", 1) + f"/v1/live/{opened['id']}?ticket={opened['ticket']}"
    try:
        async with websockets.connect(url, max_size=2**20, open_timeout=timeout_s, close_timeout=30) as socket:

            async def receive() -> str:
                async for raw in socket:
                    message = json.loads(raw)
                    if message["type"] == "assessment":
                        return "assessment"
                    if message["type"] == "error" and message.get("fatal"):
                        return "error: " + message["message"][:90]
                return f"closed {socket.close_code}: {socket.close_reason}"[:100]

            reader = asyncio.create_task(receive())
            try:
                await socket.send(json.dumps({"type": "hello", "image_size": [640, 480], "fps": 30}))
                for frame in stream:
                    if reader.done():  # ended (over its frame budget, or refused)
                        break
                    await socket.send(frame)
                    await asyncio.sleep(0)  # a send that need not wait does not yield: the other sessions of this client get their turn
                if not reader.done():
                    await socket.send(json.dumps({"type": "end"}))
            except websockets.ConnectionClosed:
                pass  # the reader says how it ended
            return await asyncio.wait_for(reader, timeout_s)
    except (websockets.ConnectionClosed, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"[:100]


async def burst(origin: str, token: str, sessions: int, stream: list[bytes]) -> list[str]:
    """``sessions`` sessions at once, each streaming ``stream`` as fast as it can: how each ended."""
    return list(await asyncio.gather(*(stream_session(origin, token, stream) for _ in range(sessions))))
