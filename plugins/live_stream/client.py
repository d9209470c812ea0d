"""``pain-gateway live``: the edge client. Face Mesh on a bedside camera (or a video file), landmarks only
over the live protocol, the level printed each second. The video never leaves the device.

A camera is read as fast as Face Mesh keeps up, each frame stamped with the wall clock; a video file
is read at its own pace, stamped with the video's timestamps (so a file streams faster than real time
and still gets one result per second of video).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import click


def open_session(url: str, token: str, patient: dict) -> dict:
    import httpx

    response = httpx.post(f"{url.rstrip('/')}/v1/live/sessions", json={"patient": patient}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if response.status_code != 201:
        raise click.ClickException(f"could not open a live session ({response.status_code}): {response.text[:300]}")
    return response.json()


def socket_url(url: str, opened: dict) -> str:
    """Through the address the client was given (the gateway's public URL may differ in a lab setup)."""
    base = url.rstrip("/").replace("http", "ws", 1)
    return f"{base}/v1/live/{opened['id']}?ticket={opened['ticket']}"


def print_messages(socket, done: threading.Event, result: dict) -> None:
    for raw in socket:
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "window":
            detail = message.get("level") if message.get("scorable") else f"unscorable: {message.get('reason')}"
            click.echo(f"{message['end']}  {detail}  ({message['frames']} frames)")
        elif kind == "assessment":
            result.update(message)
            click.echo(f"assessment {message['id']}: {message['level']} over {message['windows']} windows ({message['url']})")
        elif kind == "error":
            click.echo(f"error: {message['message']}", err=True)
            if message.get("fatal"):
                result["error"] = message["message"]
    done.set()


@click.command()
@click.option("--camera", required=True, help="camera index (e.g. 0) or a video file")
@click.option("--patient-system", required=True, help="patient identifier system, e.g. urn:oid:1.2.36.146.595.217.0.1")
@click.option("--patient-value", required=True, help="patient identifier value (MRN)")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="the gateway's address")
@click.option("--token", envvar="PAIN_GATEWAY_TOKEN", required=True, help="API token (clinician, telehealth or integrator); or PAIN_GATEWAY_TOKEN")
@click.option("--seconds", type=float, default=None, help="stop after this many seconds of capture (default: until the video ends or Ctrl-C)")
def live(camera: str, patient_system: str, patient_value: str, url: str, token: str, seconds: float | None) -> None:
    """Stream Face Mesh landmarks from a camera or video file for live scoring; print the level each second.

    AI decision support trained on synthetic data; not clinically validated."""
    import cv2
    import numpy as np
    from websockets.sync.client import connect

    from gateway import FaceMeshTracker
    from plugins.live_stream.protocol import encode_frame

    source = int(camera) if camera.isdigit() else camera
    if not isinstance(source, int) and not Path(source).is_file():
        raise click.BadParameter(f"{camera!r} is neither a camera index nor a video file", param_hint="--camera")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise click.ClickException(f"cannot open {camera!r}")
    opened = open_session(url, token, {"identifier": {"system": patient_system, "value": patient_value}})
    result: dict = {}
    done = threading.Event()
    started_ms = time.time() * 1000
    with connect(socket_url(url, opened), max_size=2**20) as socket, FaceMeshTracker() as tracker:
        reader = threading.Thread(target=print_messages, args=(socket, done, result), daemon=True)
        reader.start()
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        socket.send(json.dumps({"type": "hello", "image_size": [width, height], "fps": capture.get(cv2.CAP_PROP_FPS) or None}))
        sequence = 0
        try:
            while not done.is_set():
                ok, bgr = capture.read()
                if not ok:
                    break
                captured_ms = started_ms + capture.get(cv2.CAP_PROP_POS_MSEC) if not isinstance(source, int) else time.time() * 1000
                if seconds is not None and captured_ms - started_ms > seconds * 1000:
                    break
                points = tracker.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                face = points if np.isfinite(points).all() else None  # NO_FACE is all NaN
                socket.send(encode_frame(sequence, captured_ms, face))
                sequence += 1
        except KeyboardInterrupt:
            pass
        finally:
            capture.release()
        socket.send(json.dumps({"type": "end"}))
        done.wait(timeout=120)
    if "id" not in result:
        click.echo(f"no assessment: {result.get('error', 'the gateway did not answer')}", err=True)
        sys.exit(1)
