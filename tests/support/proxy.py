"""A TCP proxy on loopback that a test switches off and on: the network between the gateway and a server
that keeps running (an EMR "down" for a while and "back" at once, with no restart to wait for).

Off: the listening socket is closed, so new connections are refused, and open ones are reset. On: it
listens again on the same port and forwards each connection to the target.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0  # chosen by the first bind, kept for every later one
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def start(self) -> TcpProxy:
        """Started on, in a thread of its own."""
        self.thread.start()
        self.on()
        return self

    def stop(self) -> None:
        self.off()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def on(self) -> None:
        """Listening and forwarding once this returns."""
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(timeout=10)

    def off(self) -> None:
        """Refusing new connections and with every open one reset once this returns."""
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)

    def via(self, url: str) -> str:
        """``url`` of the target (``http://127.0.0.1:<target port>/...``) as reached through the proxy."""
        origin = f"{self.target[0]}:{self.target[1]}"
        assert f"//{origin}" in url, (url, origin)
        return url.replace(f"//{origin}", f"//127.0.0.1:{self.port}", 1)

    async def _listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port, reuse_address=True)
            self.port = self.server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # RST, as a dropped link looks to the client
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.writers.clear()

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.server is None:
            client_writer.transport.abort()
            return
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.writers |= {client_writer, target_writer}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError):
                writer.transport.abort()

        try:
            await asyncio.gather(pump(client_reader, target_writer), pump(target_reader, client_writer))
        finally:
            for writer in (client_writer, target_writer):
                self.writers.discard(writer)
                writer.close()
