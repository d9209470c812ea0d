"""Response types of the core routes, with the examples the OpenAPI document shows (``gateway.web.openapi``)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from gateway.contract.domain import (
    SYNTHETIC_DISCLAIMER,
    Assessment,
    Explanation,
    ModelInfo,
    PatientRef,
    Probabilities,
    Quality,
    RegionAttention,
    Reliability,
    Summary,
    WindowResult,
)
from gateway.contract.plugin_manager import PluginStatus


class AssessmentView(msgspec.Struct, kw_only=True):
    """An assessment, or while its job runs only ``id``, ``status``, ``progress``, ``eta_s``, ``error`` (if
    failed), ``attempts`` and ``links`` (no output links until it is completed). AI-asserted, trained on
    synthetic data: see ``disclaimer``."""

    id: str
    status: str = "completed"
    progress: int = 100
    links: dict[str, str]
    eta_s: float | None = None
    error: str | None = None
    attempts: int | None = None
    patient: PatientRef | None = None
    captured_at: datetime | None = None
    created_at: datetime | None = None
    source: str | None = None
    fps: float | None = None
    frames: int | None = None
    effective_start: datetime | None = None
    effective_end: datetime | None = None
    model: ModelInfo | None = None
    windows: list[WindowResult] | None = None
    summary: Summary | None = None
    explanations: list[Explanation] | None = None
    quality: Quality | None = None
    personalised: bool | None = None
    reliability: Reliability | None = None
    ai_asserted: bool | None = None
    disclaimer: str | None = None
    tenant: str | None = None


_AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ID = "5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11"
_BASE = "https://gateway.example.org/v1"
EXAMPLE_ASSESSMENT = Assessment(
    id=_ID,
    status="completed",
    patient=PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-1234"),
    captured_at=_AT,
    created_at=_AT,
    source="keypoints/json",
    fps=30.0,
    frames=150,
    effective_start=_AT,
    effective_end=datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC),
    model=ModelInfo(
        model_id="sta-lstm-synthetic",
        version="1.0.0",
        sha256="9f2c…",
        name="STA-LSTM (synthetic)",
        training_data="synthetic faces; not clinically validated",
        uses_baseline=True,
    ),
    windows=[
        WindowResult(
            index=0,
            start_s=0.0,
            end_s=1.0,
            scorable=True,
            level="mild",
            probabilities=Probabilities(none=0.2, mild=0.7, significant=0.1),
            quality=Quality(face_share=1.0),
            typicality=0.41,
        )
    ],
    summary=Summary(
        level="mild",
        rule="held for 3 s",
        time_share={"none": 0.4, "mild": 0.6, "significant": 0.0},
        peak_probability={"none": 0.8, "mild": 0.9, "significant": 0.1},
        scored_windows=5,
        unscorable_windows=0,
    ),
    explanations=[
        Explanation(
            explainer="attention_regions",
            kind="attention",
            regions=[RegionAttention(region="brows", weight=0.4)],
            note="where the model attended; not a clinical finding",
        )
    ],
    quality=Quality(face_share=1.0, max_head_turn_deg=8.0),
    reliability=Reliability(
        baseline="none",
        measured="Measured for this model without a stored neutral face, on 70 held-out real people showing synthetic expressions: …",
        unfamiliar_windows=0,
        typicality_below=0.01,
    ),
    disclaimer=SYNTHETIC_DISCLAIMER,
)
"""A complete assessment as the OpenAPI examples show it: plugins reuse it in their own examples."""
_LINKS = {"self": f"{_BASE}/assessments/{_ID}", "fhir": f"{_BASE}/assessments/{_ID}/fhir", "deliveries": f"{_BASE}/deliveries?assessment_id={_ID}"}
EXAMPLE_VIEW = msgspec.to_builtins(EXAMPLE_ASSESSMENT) | {"progress": 100, "links": _LINKS}
EXAMPLE_JOB = {
    "id": _ID,
    "status": "extracting",
    "progress": 40,
    "eta_s": 3.5,
    "error": None,
    "attempts": 1,
    "links": {"self": _LINKS["self"], "deliveries": _LINKS["deliveries"]},
}


class Health(msgspec.Struct):
    status: str


class DeliveryBacklog(msgspec.Struct):
    """Deliveries due or being sent, of every tenant: ``pending``, how long the oldest has been due
    (``oldest_due_s``), and how many tenants are at or over ``tenant_cap``
    (``PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES``), whose submissions are refused ``429``. Tenants are
    counted, never named."""

    pending: int
    oldest_due_s: float
    tenant_cap: int
    tenants_over_cap: int


class Readiness(msgspec.Struct):
    """``status``: ready, degraded (a destination failing, or a tenant over its delivery cap; still 200)
    or not ready (503). ``deliveries``: the delivery backlog (null when the database did not answer)."""

    status: str
    checks: dict[str, str]
    destinations: dict[str, str]
    deliveries: DeliveryBacklog | None = None


EXAMPLE_READY = Readiness("ready", {"database": "ok", "jobs": "ok", "model": "ok"}, {"fhir": "ok", "webhooks": "ok"}, DeliveryBacklog(12, 0.4, 1000, 0))


EXAMPLE_PLUGINS = [
    PluginStatus(
        "keypoint_upload",
        "entry point plugins.keypoint_upload",
        "0.1.0",
        "loaded",
        None,
        ["register_capture_sources", "register_settings"],
        ["capture_source:keypoint_upload"],
    )
]


class BaselineStored(msgspec.Struct):
    patient: PatientRef
    frames: int
    updated_at: datetime


EXAMPLE_BASELINE = BaselineStored(PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-1234"), 150, _AT)
