"""Logs carry request ids but never patient identifiers or landmark data."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
import structlog

from gateway.ops.log import REDACTED, configure_logging


@pytest.fixture(autouse=True)
def restore_logging():
    """Each test points logging at its own stream; later tests must not write to a closed one."""
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def log_line(**event) -> dict:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    structlog.get_logger("test").info("assessment_stored", **event)
    return json.loads(stream.getvalue().splitlines()[-1])


def test_patient_identifiers_and_landmarks_are_redacted():
    line = log_line(
        patient={"system": "urn:oid:1.2.3", "value": "MRN-1234"},
        points=np.zeros((150, 468, 2)),
        detail={"nested": {"identifier": "MRN-1234"}, "note": "subject Patient/abc-42 scored"},
        assessment_id="c0ffee",
    )
    text = json.dumps(line)
    assert "MRN-1234" not in text and "abc-42" not in text and "urn:oid:1.2.3" not in text
    assert line["patient"] == REDACTED and line["points"] == REDACTED
    assert line["assessment_id"] == "c0ffee"


def test_arrays_under_other_names_are_logged_by_shape_only():
    line = log_line(extra=np.ones((3, 468, 2)))
    assert line["extra"] == "<array shape=(3, 468, 2)>"


def test_request_id_is_bound_to_every_line():
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    with structlog.contextvars.bound_contextvars(request_id="req-1"):
        structlog.get_logger().info("scored")
    assert json.loads(stream.getvalue())["request_id"] == "req-1"


def test_api_requests_log_without_patient_data(api, keypoints_json, capsys):
    configure_logging("json", "info")
    response = api.post("/v1/assessments", json=keypoints_json(), headers={"X-Request-ID": "trace-77"})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "trace-77"
    logged = capsys.readouterr().err
    assert '"request_id": "trace-77"' in logged or '"request_id":"trace-77"' in logged
    assert "MRN-1234" not in logged


def test_secrets_in_urls_are_redacted_and_the_line_keeps_its_shape():
    from gateway.ops.log import _scrub

    assert _scrub('127.0.0.1:5 - "WebSocket /v1/live/abc?ticket=SECRET" [accepted]') == '127.0.0.1:5 - "WebSocket /v1/live/abc?ticket=[redacted]" [accepted]'
    assert _scrub("GET /v1/shared/caregiver-summary/payload.sig?format=pdf") == "GET /v1/shared/caregiver-summary/[redacted]?format=pdf"
    assert _scrub("/cb?state=s1&code=c2") == "/cb?state=[redacted]&code=[redacted]"
    assert _scrub("/v1/assessments/123/caregiver-summary") == "/v1/assessments/123/caregiver-summary"
