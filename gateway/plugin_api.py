"""The public plugin API: everything a Pain Gateway plugin may import, and nothing it should not touch.

Plugins, built-in or third-party, import only from here, through the package::

    from gateway import hookimpl, CaptureSource, LandmarkClip, InputError

Anything else under ``gateway.`` is the gateway's own and may change without notice; a test fails on a
file under ``plugins/`` that imports it. Names are grouped as a plugin author meets them: the hooks
(``gateway.contract.hookspecs`` documents each, with an example), the protocols a registered object
satisfies, the domain types and errors that cross plugin boundaries, the pipeline's shared pieces
(landmarks, the face regions, the window scorer), the services a route or a source may call, the
route helpers (roles, the UI's guard, OpenAPI documentation, problem details) and storage a plugin
owns (``register_migrations``).

Tenants: the services take the caller's tenant as an argument (``request.user.tenant``) and answer
nothing of another tenant when given one; a plugin must always pass it (``AssessmentStore.get``
without a tenant is the core's own, for work that has no caller). ``.engine`` on a service is there
for the plugin's own tables (``read_only(engine)`` for reads); the core's tables are read and written
through the services only.

``PLUGIN_API_VERSION`` follows semantic versioning: a name removed or changed incompatibly raises the
major version; a name added raises the minor one.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry

from gateway.contract.domain import (
    ATTENTION_KIND,
    BASELINE_CASES,
    CORE_EVENT_TYPES,
    DEFAULT_TENANT,
    IMPORTANCE_KIND,
    LANDMARK_COUNT,
    LEVELS,
    MODEL_FPS,
    SYNTHETIC_DISCLAIMER,
    TRAJECTORY_KINDS,
    URGENCY_RANKS,
    WEBSOCKET_MAX_MESSAGE_BYTES,
    WINDOW_FRAMES,
    Assessment,
    AssessmentEvent,
    BaselineCase,
    DeliveryResult,
    Explanation,
    InputError,
    LandmarkClip,
    LiveWindow,
    MeshRegion,
    ModelInfo,
    ModelOutput,
    OutputDocument,
    PatientRef,
    Probabilities,
    Quality,
    RegionAttention,
    Reliability,
    StorageFull,
    Summary,
    TimeWeight,
    TooBusy,
    TrajectoryEntry,
    UnsupportedMediaError,
    UrgentPatient,
    WindowResult,
    Windows,
)
from gateway.contract.hookspecs import PROJECT, hookimpl
from gateway.contract.plugin_manager import Plugins
from gateway.contract.protocols import (
    CaptureRequest,
    CaptureSource,
    DeliveryRequest,
    Destination,
    EventDocuments,
    EventHandler,
    Explainer,
    LiveObserver,
    Migrations,
    Output,
    PainModel,
    Predict,
    Progress,
    Publisher,
    TrajectorySource,
    UploadedFile,
    WorklistPriority,
)
from gateway.contract.strict import parse_duration, refuse_unknown
from gateway.contract.ui import UI_PAGES, UiContext, UiSection, UiUser
from gateway.ops import metrics as _metrics
from gateway.ops.native_stderr import captured as native_stderr_captured
from gateway.ops.settings import Settings, SettingsError
from gateway.ops.tls import client_context
from gateway.pipeline.clip_checks import DEFAULT_CLOCK_SKEW_S, XY_RANGE, Z_LIMIT
from gateway.pipeline.dataset import NEUTRAL_ROLE, UNLABELLED, LabelledClip, load_dataset, save_clip
from gateway.pipeline.face import BASE_FACE, LANDMARK_SHARES, MEMBERSHIP, REGIONS, mass_ratios, region_shares
from gateway.pipeline.facemesh import FaceMeshTracker, landmarks_from_frames
from gateway.pipeline.landmarks import ANCHORS, fill_gaps, normalise_frames, prepare, resample
from gateway.pipeline.metadata import parse_captured_at, parse_patient
from gateway.pipeline.quality import FAILED_FACE_SHARE, no_face_message
from gateway.pipeline.reliability import reliability_notes
from gateway.pipeline.scoring import ScoredWindows, score_window_batch, score_windows, warm_model
from gateway.pipeline.timeline import to_grid
from gateway.service.explanations import NOTICE as EXPLANATION_NOTICE
from gateway.service.explanations import explain, explanation_png
from gateway.service.flow import Assessed, AssessmentFlow
from gateway.storage.assessments import AssessmentQuery, AssessmentStore, PeriodBound
from gateway.storage.audit import Principal as AuditPrincipal
from gateway.storage.audit import record as audit_record
from gateway.storage.baselines import neutral_reference
from gateway.storage.deliveries import Attempt as DeliveryAttempt
from gateway.storage.deliveries import DeliveryStore, TargetAttempt
from gateway.storage.engine import as_utc, read_only
from gateway.storage.reviews import review_history
from gateway.storage.reviews import versions as review_versions
from gateway.storage.tokens import CLINICIAN_REFERENCE, ROLES, TokenInfo
from gateway.web.auth import PUBLIC, FailureThrottle
from gateway.web.openapi import FILE, NO_TOKEN, Form, binary, documented, ok, problems, query
from gateway.web.problems import problem
from gateway.web.routes.schemas import EXAMPLE_ASSESSMENT
from gateway.web.ui.guard import SignInRequired, session_guard, ui_opt
from gateway.web.ui.launched import open_clinician_session
from gateway.web.ui.live import LIVE_ROLES
from gateway.web.ui.sections import ui_page

PLUGIN_API_VERSION: Final = "1.2"
"""The version of this API (semantic versioning): plugins may check it at import time."""

ENTRY_POINT_GROUP: Final = PROJECT
"""``pain_gateway``: the entry-point group a plugin package declares itself in (``pyproject.toml``)."""

METRICS_REGISTRY: CollectorRegistry = _metrics.REGISTRY
"""The registry ``GET /metrics`` serves: a plugin creates its own Prometheus instruments on it
(names prefixed ``pain_gateway_``, labels never a patient, tenant or assessment id)."""

__all__ = [
    # the contract
    "PLUGIN_API_VERSION",
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "Plugins",
    "Settings",
    "SettingsError",
    # protocols and the requests they receive
    "CaptureSource",
    "CaptureRequest",
    "UploadedFile",
    "Progress",
    "PainModel",
    "Predict",
    "Explainer",
    "Output",
    "Destination",
    "DeliveryRequest",
    "EventHandler",
    "Migrations",
    "EventDocuments",
    "Publisher",
    "TrajectorySource",
    "LiveObserver",
    "WorklistPriority",
    # domain types
    "Assessment",
    "AssessmentEvent",
    "DeliveryResult",
    "Explanation",
    "LandmarkClip",
    "MeshRegion",
    "ModelInfo",
    "ModelOutput",
    "OutputDocument",
    "PatientRef",
    "Probabilities",
    "Quality",
    "RegionAttention",
    "Reliability",
    "BaselineCase",
    "Summary",
    "TimeWeight",
    "WindowResult",
    "Windows",
    "TrajectoryEntry",
    "TRAJECTORY_KINDS",
    "LiveWindow",
    "UrgentPatient",
    "URGENCY_RANKS",
    "LEVELS",
    "LANDMARK_COUNT",
    "MODEL_FPS",
    "WINDOW_FRAMES",
    "WEBSOCKET_MAX_MESSAGE_BYTES",
    "DEFAULT_TENANT",
    "SYNTHETIC_DISCLAIMER",
    "CORE_EVENT_TYPES",
    "IMPORTANCE_KIND",
    "ATTENTION_KIND",
    "BASELINE_CASES",
    # errors
    "InputError",
    "UnsupportedMediaError",
    "TooBusy",
    "StorageFull",
    # input
    "refuse_unknown",
    "parse_duration",
    "parse_patient",
    "parse_captured_at",
    "DEFAULT_CLOCK_SKEW_S",
    "XY_RANGE",
    "Z_LIMIT",
    # the pipeline
    "ANCHORS",
    "prepare",
    "normalise_frames",
    "fill_gaps",
    "resample",
    "to_grid",
    "FaceMeshTracker",
    "landmarks_from_frames",
    "native_stderr_captured",
    "score_windows",
    "score_window_batch",
    "ScoredWindows",
    "warm_model",
    "FAILED_FACE_SHARE",
    "no_face_message",
    "reliability_notes",
    "neutral_reference",
    "LabelledClip",
    "load_dataset",
    "save_clip",
    "NEUTRAL_ROLE",
    "UNLABELLED",
    # the face
    "REGIONS",
    "MEMBERSHIP",
    "LANDMARK_SHARES",
    "BASE_FACE",
    "region_shares",
    "mass_ratios",
    # services
    "AssessmentFlow",
    "Assessed",
    "AssessmentStore",
    "AssessmentQuery",
    "PeriodBound",
    "DeliveryStore",
    "DeliveryAttempt",
    "TargetAttempt",
    "review_history",
    "review_versions",
    "explain",
    "explanation_png",
    "EXPLANATION_NOTICE",
    "audit_record",
    "AuditPrincipal",
    "client_context",
    "METRICS_REGISTRY",
    # routes
    "TokenInfo",
    "ROLES",
    "PUBLIC",
    "FailureThrottle",
    "NO_TOKEN",
    "ok",
    "problems",
    "problem",
    "documented",
    "binary",
    "query",
    "Form",
    "FILE",
    "EXAMPLE_ASSESSMENT",
    "ui_opt",
    "session_guard",
    "SignInRequired",
    "LIVE_ROLES",
    # an EMR launch (SMART): a UI session for the EMR's clinician
    "open_clinician_session",
    "CLINICIAN_REFERENCE",
    # the review UI: sections on core pages (``ui_sections``), a plugin's own pages
    "UiSection",
    "UiContext",
    "UiUser",
    "UI_PAGES",
    "ui_page",
    # storage a plugin owns
    "read_only",
    "as_utc",
]
