"""An MLLP listener (an EMR's HL7 v2 inbound interface) in a thread: records each message, answers AA."""

from __future__ import annotations

import socketserver
import threading
import time

START, END = b"\x0b", b"\x1c\r"


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # restarted on the same port after an outage


class MllpListener:
    def __init__(self, port: int = 0) -> None:
        self.messages: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                buffer = b""
                while END not in buffer:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                message = buffer[buffer.index(START) + 1 : buffer.index(END)].decode()
                outer.messages.append(message)
                control_id = message.split("\r")[0].split("|")[9]
                ack = f"MSH|^~\\&|EMR|HOSP|PAIN_GATEWAY|PAIN_GATEWAY|20260101120000||ACK^R01^ACK|A{control_id}|P|2.5.1\rMSA|AA|{control_id}\r"
                self.request.sendall(START + ack.encode() + END)

        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> MllpListener:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int = 1, timeout_s: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} messages arrived within {timeout_s} s"
            time.sleep(0.05)
        return self.messages[:count]
