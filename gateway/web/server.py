"""uvicorn's h11 HTTP protocol with deadlines for a request's headers and for a stalled body.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but otherwise waits forever: a
client that connects and sends nothing, or half a request line, or half a declared body, holds a socket
(and a file descriptor) until it goes away, so a few thousand such connections exhaust the process
(Slowloris). ``timed_h11_protocol`` returns the protocol class that ``pain-gateway serve`` passes to
uvicorn as ``http=``:

* **headers**: from the connection's start, and from the first byte of each later request, the request
  line and headers must be complete within ``header_timeout_s``; otherwise ``408`` (when something
  arrived) and the connection is closed. Trickling a byte at a time does not extend the deadline.
* **body**: while a declared body is unfinished, the connection is closed after ``body_timeout_s``
  without a byte of it. The deadline is per silence, not per body, so a slow but steady upload of any
  size goes through; time the application spends not reading (flow control has paused the socket) or
  before it asks for the body of an ``Expect: 100-continue`` request does not count against the client.
* **idle** between requests stays uvicorn's own ``timeout_keep_alive``.

A WebSocket upgrade hands the socket to uvicorn's WebSocket protocol; no deadline here applies after that.
h11 is used whether or not httptools is installed, so the deadlines hold wherever the gateway runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 16\r\n\r\nRequest Timeout\n"


class TimedH11Protocol(H11Protocol):
    """H11Protocol with a header deadline and a body silence limit (see the module's docstring)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._upgraded = False
        self._bytes_in_request = False  # something of the current request's head has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._update_deadlines(received=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadlines()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data:
            self._bytes_in_request = True
        super().data_received(data)
        self._update_deadlines(received=bool(data))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update_deadlines(received=False)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._cancel_deadlines()
        super().handle_websocket_upgrade(event)

    def _update_deadlines(self, *, received: bool) -> None:
        if self._upgraded or self.transport is None or self.transport.is_closing():
            self._cancel_deadlines()
            return
        state = self.conn.their_state
        if state is h11.IDLE and self.timeout_keep_alive_task is None:
            # Waiting for a request line and headers, and not in uvicorn's idle keep-alive wait: the
            # deadline runs from the connection's start or from the request's first byte, never reset.
            self._cancel_body_timer()
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timed_out)
            return
        self._cancel_header_timer()
        if state is h11.IDLE:  # uvicorn's keep-alive timer is in charge until the next request's first byte
            self._bytes_in_request = False
        elif state is h11.SEND_BODY:
            if received or self._body_timer is None:
                self._cancel_body_timer()
                self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timed_out)
        else:  # the request is complete (or the connection is over): the application has it
            self._cancel_body_timer()
            self._bytes_in_request = False

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self._upgraded:
            return
        if self._bytes_in_request:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._upgraded or self.conn.their_state is not h11.SEND_BODY:
            return
        waiting_on_us = self.flow.read_paused or (self.cycle is not None and self.cycle.waiting_for_100_continue)
        if waiting_on_us:  # the client is not the one stalling: look again later
            self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timed_out)
            return
        if self.cycle is not None and not self.cycle.response_started:
            self.cycle.disconnected = True  # the application's sends are dropped from here on
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_deadlines(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()


def timed_h11_protocol(header_timeout_s: float, body_timeout_s: float) -> type[TimedH11Protocol]:
    """The protocol class to pass to ``uvicorn.run(http=...)`` with these deadlines."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s})
