"""The failed-face-share threshold (``gateway.pipeline.quality.FAILED_FACE_SHARE``, 0.5) through the API, on real video
with MediaPipe: a clip with a face in under half its frames fails with the reason; one above half is scored."""

from __future__ import annotations

import json
import time
from itertools import chain

from litestar.testing import TestClient
from support.videos import face_frames, faceless_frames, write_video

from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings
from gateway.pipeline.quality import FAILED_FACE_SHARE
from gateway.web.app import create_app

METADATA = json.dumps({"patient": {"reference": "Patient/face-share"}, "captured_at": "2026-11-23T09:30:00Z"})
SIZE = (320, 240)


def mixed_video(path, face: int, faceless: int):
    return write_video(path, chain(face_frames(face, 30, SIZE), faceless_frames(faceless, 30, SIZE)), 30)


def test_face_share_either_side_of_the_threshold(sqlite_url, tmp_path, api_tokens_for):
    assert FAILED_FACE_SHARE == 0.5
    under = mixed_video(tmp_path / "under.mp4", face=35, faceless=45)  # 0.44
    over = mixed_video(tmp_path / "over.mp4", face=42, faceless=18)  # 0.70
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"), max_upload_mb=2)
    headers = api_tokens_for(sqlite_url)("telehealth")
    with TestClient(create_app(settings, build_plugins(settings, environ={})), timeout=60) as client:
        locations = {}
        for name, path in (("under", under), ("over", over)):
            response = client.post(
                "/v1/assessments", files={"video": (path.name, path.read_bytes(), "video/mp4")}, data={"metadata": METADATA}, headers=headers
            )
            assert response.status_code == 202, response.text
            locations[name] = response.headers["location"]
        results = {}
        deadline = time.monotonic() + 120
        while len(results) < 2 and time.monotonic() < deadline:
            for name, location in locations.items():
                body = client.get(location, headers=headers).json()
                if body["status"] in ("completed", "failed"):
                    results[name] = body
            time.sleep(0.2)
    assert results["under"]["status"] == "failed" and "no face found in" in results["under"]["error"], results["under"]
    assert results["over"]["status"] == "completed", results["over"]
    assert 0.5 < results["over"]["quality"]["face_share"] < 0.8
