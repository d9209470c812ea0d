"""What native code writes to fd 2 while a Face Mesh graph lives goes to the log; our own output passes in order."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from gateway.ops import native_stderr

ABSL = b"W0000 00:00:1795909387.145499     872 inference_feedback_manager.cc:114] Feedback manager requires a model\n"


@pytest.fixture
def debug_level():
    """Debug events reach the log whatever level an earlier test configured (``gateway.ops.log`` filters by level)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield
    structlog.configure(**saved)


def test_native_lines_become_debug_events_and_other_output_passes_through(capfd, debug_level):
    with capture_logs() as events:
        native_stderr.begin()
        native_stderr.begin()  # a second user (another tracker) shares the capture
        os.write(2, ABSL)
        print('{"event": "request", "level": "info"}', file=sys.stderr, flush=True)
        os.write(2, b"\rlandmarks:  40%|####      |")  # a progress bar's update: no newline, shown at once
        time.sleep(0.2)  # a pipe keeps no write boundaries: a native line glued to a bar's text would pass as the bar's
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        native_stderr.end()
        os.write(2, b"E0000 00:00:1.5 873 graph.cc:1] still captured\n")
        native_stderr.end()
    shown = capfd.readouterr().err
    assert shown == '{"event": "request", "level": "info"}\n\rlandmarks:  40%|####      |'
    assert [(e["log_level"], e["line"][:14]) for e in events] == [("debug", "W0000 00:00:17"), ("debug", "INFO: Created "), ("warning", "E0000 00:00:1.")]


def test_after_the_last_user_fd_2_is_the_terminal_again(capfd):
    native_stderr.begin()
    native_stderr.end()
    os.write(2, ABSL)
    assert capfd.readouterr().err == ABSL.decode()


FFMPEG = b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8a3c140] moov atom not found\n"
OPENCV = b"[ WARN:0@0.012] global cap_ffmpeg_impl.hpp:1089 open VIDEOIO/FFMPEG: Failed list devices for backend avfoundation\n"
OPENCV_ERROR = b"[ERROR:0@0.013] global cap.cpp:164 open VIDEOIO(CV_IMAGES): raised OpenCV exception\n"


def test_ffmpeg_and_opencv_lines_are_native_lines_too(capfd, debug_level):
    with capture_logs() as events:
        with native_stderr.captured():
            os.write(2, b"[h264 @ 0x7f")  # a line may arrive in pieces
            time.sleep(0.1)
            os.write(2, b"00aa] no frame!\n" + FFMPEG + OPENCV + OPENCV_ERROR)
            print('{"event": "request"}', file=sys.stderr, flush=True)
    assert capfd.readouterr().err == '{"event": "request"}\n'
    assert [(e["log_level"], e["line"][:12]) for e in events] == [
        ("debug", "[h264 @ 0x7f"),
        ("debug", "[mov,mp4,m4a"),
        ("debug", "[ WARN:0@0.0"),
        ("warning", "[ERROR:0@0.0"),
    ]


def test_a_truncated_upload_leaves_no_decoder_line_on_stderr(capfd, tmp_path, debug_level):
    from gateway.contract.domain import InputError
    from plugins.video_upload.decode import iter_frames, probe

    whole = (Path(__file__).resolve().parents[2] / "examples" / "astronaut-3s.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with capture_logs() as events:
        for read in (lambda: probe(cut), lambda: list(iter_frames(cut))):
            with pytest.raises(InputError):
                read()
    assert capfd.readouterr().err == ""  # nothing from FFmpeg or OpenCV reached the JSON log's stream
    assert all(e["event"] == "native_stderr" for e in events)
