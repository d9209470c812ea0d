"""The one free-port helper: every test that needs a loopback port nobody listens on takes it from here."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port that was free a moment ago (bound to port 0, read back, released).

    Also what a test wants for "a destination that refuses the connection": nothing listens on it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
