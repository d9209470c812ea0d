"""Native libraries' stderr (MediaPipe's absl and TFLite lines, FFmpeg's and OpenCV's) kept out of our JSON
log and progress bar.

MediaPipe's C++ writes lines such as ``W0000 ... inference_feedback_manager.cc:114] ...`` straight to file
descriptor 2, from its graph threads, at moments Python does not control (during and after a
``process`` call); OpenCV's FFmpeg decoder does the same for a damaged upload (``[mov,mp4,m4a,3gp,3g2,mj2
@ 0x55d0c8a3c140] moov atom not found``, ``[ WARN:0@0.012] global cap_ffmpeg_impl.hpp:1089 open ...``).
While a Face Mesh graph or a video decoder lives, fd 2 is therefore a pipe read by a pump thread:
lines in the native formats are held and logged through structlog at debug (errors at warning) when the
last user ends; everything else (our own log lines, tqdm's bar) goes on to the real stderr at once, in
order. Nested and concurrent users share one redirection (reference-counted); ``captured()`` is the
context manager a plugin uses (public as ``gateway.native_stderr_captured``).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

log = structlog.get_logger(__name__)

NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [^\]]+\] |(?:INFO|WARNING|ERROR): |\[[^\]@\n]{1,80} @ 0x[0-9a-f]+\] |\[ ?(?:DEBUG|INFO|WARN|ERROR|FATAL):\d+@[\d.]+\] )"
)
"""absl/glog (``W0000 00:00:1795909387.145499  872 file.cc:114] ...``), TFLite (``INFO: ...``), FFmpeg
(``[h264 @ 0x55d0c8a3c140] ...``) and OpenCV (``[ WARN:0@0.012] ...``, ``[ERROR:0@0.013] ...``) lines."""
SEVERE = re.compile(rb"^(?:[EF]\d{4} |ERROR: |\[ ?(?:ERROR|FATAL):)")
"""The native lines logged at warning; the rest at debug (a damaged upload already answers a clear 422)."""
HELD_STARTS = b"IWEF["
"""A segment starting with one of these may be a native line still arriving: held until its newline."""
_SEGMENT = re.compile(rb"(?<=\n)|(?=\r)")
"""Lines end at a newline; a progress bar's update starts at a carriage return."""
MAX_HELD_LINES = 1000


class _Redirect:
    def __init__(self) -> None:
        sys.stderr.flush()
        self.real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.held: list[bytes] = []
        self.pump = threading.Thread(target=self._pump, args=(read_end,), name="native-stderr", daemon=True)
        self.pump.start()

    def _pump(self, read_end: int) -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *segments, pending = _SEGMENT.split(pending + chunk)
                for segment in segments:
                    self._route(segment)
                if pending[:1] not in HELD_STARTS:  # not the start of a native line: show it now (e.g. a bar's \r update)
                    self._route(pending)
                    pending = b""
        self._route(pending)

    def _route(self, line: bytes) -> None:
        if not line:
            return
        if NATIVE_LINE.match(line):
            if len(self.held) < MAX_HELD_LINES:
                self.held.append(line)
        else:
            os.write(self.real, line)

    def close(self) -> list[bytes]:
        """Restore fd 2; the native lines held."""
        sys.stderr.flush()
        os.dup2(self.real, 2)  # closes the pipe's last write end: the pump reads to the end and stops
        self.pump.join(5)
        os.close(self.real)
        return self.held


_lock = threading.Lock()
_users = 0
_active: _Redirect | None = None


def begin() -> None:
    """Start capturing fd 2 (or join the capture already running)."""
    global _users, _active
    with _lock:
        _users += 1
        if _users == 1:
            _active = _Redirect()


def end() -> None:
    """Leave the capture; the last user restores fd 2 and logs the native lines held."""
    global _users, _active
    held: list[bytes] = []
    with _lock:
        _users -= 1
        if _users == 0 and _active is not None:
            held, _active = _active.close(), None
    for line in held:
        text = line.decode("utf-8", "replace").rstrip()[:500]
        (log.warning if SEVERE.match(line) else log.debug)("native_stderr", line=text)


@contextmanager
def captured() -> Iterator[None]:
    """Native code run inside writes its stderr lines to the structured log, not over our JSON lines:
    ``with native_stderr_captured(): cv2.VideoCapture(path)``."""
    begin()
    try:
        yield
    finally:
        end()
