"""Domain types that cross plugin boundaries.

Numeric arrays travel as numpy arrays inside dataclasses (they never leave the process as JSON);
everything that is persisted or returned by the API is a msgspec Struct so it encodes without glue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import msgspec
from numpy.typing import NDArray

LEVELS: tuple[str, ...] = ("none", "mild", "significant")
"""Pain levels in order of severity, as coded in the API."""

CLINICAL_STATUSES: tuple[str, ...] = ("preliminary", "final", "amended")
"""An assessment's clinical status (FHIR Observation.status): AI only, confirmed, overridden by a clinician."""

LANDMARK_COUNT = 468
"""Face Mesh landmarks per frame, in MediaPipe's order (no iris refinement)."""

WINDOW_FRAMES = 30
"""Frames in one model window: one second at ``MODEL_FPS``."""

MODEL_FPS = 30.0
"""The frame rate the model was trained at; clips are resampled to it before windowing."""

WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024
"""The largest WebSocket message ``pain-gateway serve`` reads (a bigger one closes the socket with 1009);
a plugin's WebSocket protocol keeps its messages under it."""

DEFAULT_TENANT = "default"
"""The tenant of tokens and data made before tenants existed, and of a single-site install."""

SYNTHETIC_DISCLAIMER = "AI-generated decision support; trained on synthetic data; not clinically validated. A clinician must review before any clinical use."
"""Carried by every AI value the bundled model produces and shown wherever its output surfaces."""


class InputError(ValueError):
    """Input the caller can fix: names the offending field so the API answers 422 and the CLI exits 2."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str]]:  # crosses from scoring processes as itself (the default would pass one argument)
        return type(self), (self.field, self.message)


class UnsupportedMediaError(InputError):
    """The upload is not a kind of media any capture source reads (HTTP 415)."""


class TooBusy(Exception):
    """A limit on work in progress is reached (HTTP 429): try again after ``retry_after_s``.

    The message names the limit and the setting that raises it.
    """

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageFull(Exception):
    """The tenant's kept landmarks reached ``PAIN_GATEWAY_TENANT_MAX_STORAGE_MB`` (HTTP 413): nothing was
    scored or written; retrying helps only once retention or an operator has freed space.

    The message names the setting and the fix.
    """


class ScoringUnavailable(Exception):
    """No scoring process could take a submission, even after replacing them (HTTP 503): retry shortly."""


class PatientRef(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who the clip belongs to: a business identifier or a literal FHIR reference, never both empty."""

    system: str | None = None
    value: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class LandmarkClip:
    """Face Mesh landmarks for one clip, in MediaPipe's normalised image coordinates.

    ``points`` has shape (frames, 468, 2 or 3); a frame without a face is a row of NaN.
    """

    patient: PatientRef
    captured_at: datetime
    fps: float
    points: NDArray[Any]
    image_size: tuple[int, int] | None = None
    source: str = "keypoints"

    @property
    def frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


class WindowSpan(msgspec.Struct, frozen=True):
    """Where a 1-second window sits in the clip and whether it can be scored."""

    index: int
    start_s: float
    end_s: float
    scorable: bool
    reason: str | None = None
    interpolated_frames: int = 0


@dataclass(frozen=True)
class Windows:
    """Normalised model input: ``data`` holds only the scorable windows, in span order."""

    spans: list[WindowSpan]
    data: NDArray[Any]  # (n_scorable, 30, 468, 2) float32
    baseline: NDArray[Any] | None = None  # (468, 2) the patient's normalised neutral face, when stored

    @property
    def scorable(self) -> list[WindowSpan]:
        return [s for s in self.spans if s.scorable]


@dataclass(frozen=True)
class ModelOutput:
    """What a pain model returns for a batch of windows."""

    probabilities: NDArray[Any]  # (n, 3) rows sum to 1, order LEVELS
    alpha: NDArray[Any]  # (n, 30, 468) spatial attention per frame
    beta: NDArray[Any]  # (n, 30) temporal attention
    personalised: bool = False  # the model used ``Windows.baseline``
    typicality: NDArray[Any] | None = None
    """(n,) in (0, 1]: how much each window looks, to the model, like the windows it was calibrated on (a
    conformal p-value: the share of its calibration windows that looked no more typical). Low values mean the
    probabilities may not apply (a face or movement unlike its training data); None: the model does not say."""


BaselineCase = Literal["stored", "none", "unused"]
"""``Reliability.baseline``: scored against the patient's stored neutral face; the model uses one but none
was stored (a first visit, say); the model does not use one. ``ModelInfo.reliability`` is keyed by the first two."""
BASELINE_CASES: tuple[str, ...] = get_args(BaselineCase)
"""The ``BaselineCase`` values, for code that lists them (settings, forms, checks)."""


class ModelInfo(msgspec.Struct, frozen=True):
    """Identity and provenance of a model checkpoint; surfaces in the API, the FHIR Device and logs."""

    model_id: str
    version: str
    sha256: str
    name: str
    training_data: str
    disclaimer: str = SYNTHETIC_DISCLAIMER
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    model_card_url: str | None = None
    reliability: dict[str, str] = msgspec.field(default_factory=dict)
    """What the model's own evidence measured for each baseline case (``BASELINE_CASES``: "stored",
    "none"), one plain sentence each; results quote the sentence of their case."""
    uses_baseline: bool = False
    """The model scores a patient against their stored neutral face (``Windows.baseline``) when there is one:
    results then say whether one was stored, and a first visit offers to record one."""


class Probabilities(msgspec.Struct, frozen=True):
    """The model's probability of each level for a window or clip; the three sum to 1."""

    none: float
    mild: float
    significant: float

    @classmethod
    def from_row(cls, row: NDArray[Any]) -> Probabilities:
        return cls(*(round(float(p), 6) for p in row))

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.none, self.mild, self.significant)


class Quality(msgspec.Struct, frozen=True, omit_defaults=True):
    """How trustworthy the input was: share of frames with a face and the largest head turn seen."""

    face_share: float
    max_head_turn_deg: float | None = None


class WindowResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """One window of a clip (one second at the default stride): its level and probabilities when
    scorable, else the reason, and the quality of its frames either way."""

    index: int
    start_s: float
    end_s: float
    scorable: bool
    level: str | None = None
    probabilities: Probabilities | None = None
    reason: str | None = None
    quality: Quality | None = None
    typicality: float | None = None  # ``ModelOutput.typicality`` of this window, when the model measures it


class Reliability(msgspec.Struct, frozen=True, kw_only=True):
    """How far a result can be trusted, from its input case and the model's own evidence: whether the
    patient's neutral face was used (``BASELINE_CASES``), what the model measured for that case, and how
    many scored windows looked unlike the model's calibration data (typicality below ``typicality_below``)."""

    baseline: BaselineCase
    measured: str | None = None
    unfamiliar_windows: int = 0
    typicality_below: float | None = None  # None: the model does not measure typicality


class Summary(msgspec.Struct, frozen=True):
    """Clip-level result; see ``gateway.pipeline.summary`` for the rule."""

    level: str | None
    rule: str
    time_share: dict[str, float]
    peak_probability: dict[str, float]
    scored_windows: int
    unscorable_windows: int


class RegionAttention(msgspec.Struct, frozen=True):
    """A face region (``REGIONS``) and its weight in one explanation: a share, or an importance."""

    region: str
    weight: float


class TimeWeight(msgspec.Struct, frozen=True, omit_defaults=True):
    """How much one window (a second of the clip) drove the result, and each region's part in it."""

    start_s: float
    end_s: float
    importance: float
    regions: list[RegionAttention] = msgspec.field(default_factory=list)


class MeshRegion(msgspec.Struct, frozen=True):
    """One face region of the clip's mean normalised mesh: its points and outline polygons (one per
    side for regions on both sides of the face), as (x, y) pairs in model coordinates (x right, y down,
    about [-1, 1]); what a heatmap is drawn from."""

    region: str
    points: list[tuple[float, float]]
    outlines: list[list[tuple[float, float]]]


IMPORTANCE_KIND = "region_occlusion"
"""``Explanation.kind`` of a model-agnostic importance per face region (what occluding each region did to
the pain probability, with ``mesh`` for a heatmap): the primary explanation a clinician is shown."""

ATTENTION_KIND = "spatial_attention"
"""``Explanation.kind`` of a model's own attention share per face region: shown beside the importance
only when ``passed_checks`` is true for that model."""


class Explanation(msgspec.Struct, frozen=True, omit_defaults=True):
    """One explainer's view of the clip, e.g. attention share per face region.

    Optional parts: ``seconds`` (per scored window), ``mesh`` (for a heatmap), ``threshold`` (the
    region weight below which no region stands out) and ``passed_checks`` (whether this method passed
    its sanity checks for this model: None never checked).
    """

    explainer: str
    kind: str
    regions: list[RegionAttention]
    note: str
    seconds: list[TimeWeight] = msgspec.field(default_factory=list)
    mesh: list[MeshRegion] = msgspec.field(default_factory=list)
    threshold: float | None = None
    passed_checks: bool | None = None


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    """One scored clip: the AI result plus everything needed to trace it back.

    ``status`` is the job's (a stored assessment is ``completed``); ``clinical_status`` is what a
    clinician made of it (``preliminary`` until reviewed, then ``final`` or ``amended``), at
    ``clinical_version`` (1 + the number of reviews), with ``clinician_level`` the reviewed level.
    ``summary.level`` always stays the AI's.
    """

    id: str
    status: str
    patient: PatientRef
    captured_at: datetime
    created_at: datetime
    source: str
    fps: float
    frames: int
    effective_start: datetime
    effective_end: datetime
    model: ModelInfo
    windows: list[WindowResult]
    summary: Summary
    explanations: list[Explanation] = msgspec.field(default_factory=list)
    quality: Quality | None = None
    personalised: bool = False
    reliability: Reliability | None = None  # None on assessments stored before it was recorded
    ai_asserted: bool = True
    disclaimer: str = SYNTHETIC_DISCLAIMER
    tenant: str = DEFAULT_TENANT
    clinical_status: str = "preliminary"
    clinical_version: int = 1
    clinician_level: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None


@dataclass(frozen=True)
class OutputDocument:
    """A rendered output: bytes in a media type (FHIR JSON, HL7 v2 text, HTML, PDF...).

    Rendering is deterministic and cheap, so documents are rendered when they are served or sent,
    never stored: what a destination receives always reflects the assessment as it is now.
    """

    output: str
    media_type: str
    content: bytes
    meta: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, output: str, media_type: str, body: object, meta: dict[str, str] | None = None) -> OutputDocument:
        return cls(output, media_type, msgspec.json.encode(body), meta or {})

    def decoded(self) -> object:
        """The JSON body of a JSON document (FHIR, webhook payloads)."""
        return msgspec.json.decode(self.content)


CORE_EVENT_TYPES: dict[str, str] = {
    "assessment.completed": "an assessment was scored and stored",
    "assessment.failed": "a background submission (video) failed for good",
    "assessment.reviewed": "a clinician confirmed or overrode an assessment's level",
}
"""Domain events the core fires, with what each means; plugins add theirs (``register_event_types``).
Destinations and ``handle_event`` hooks receive every type; the loaded set is ``Plugins.event_types``."""


class AssessmentEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something happened to an assessment, committed to the database.

    ``id`` is stable (derived from what happened), so a webhook built from it keeps its id across
    retries. ``error`` is set on ``assessment.failed`` (there is no assessment then).
    """

    id: str
    type: str
    assessment_id: str
    occurred_at: datetime
    tenant: str = DEFAULT_TENANT
    error: str | None = None
    documents: tuple[str, ...] = ()
    """Outputs the declaring plugin renders for this event itself (``EventDocuments.outputs``), so a
    destination's ``targets`` can ask for it (``"fhir" in event.documents``); set by the core when the
    event is recorded. Empty for the core's events, whose document is the assessment's output."""


TRAJECTORY_KINDS: tuple[str, ...] = ("reference-scale", "intervention", "note")
"""What a ``TrajectoryEntry`` is: a score on a validated scale (NRS, PAINAD...), a treatment given, or a note."""


class TrajectoryEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A point on a patient's pain trajectory that a plugin adds (``TrajectorySource``) beside the assessments.

    ``at`` is when it happened (UTC); ``kind`` one of ``TRAJECTORY_KINDS``; ``label`` what a clinician reads
    ("NRS 7/10", "morphine 2 mg IV"); ``level`` the pain level it maps to (one of ``LEVELS``) when it does;
    ``value`` and ``unit`` a number on its scale; ``source`` the plugin; ``id`` stable within the source.
    ``ai_asserted`` is true only for machine-derived values; a nurse's score or a recorded dose is not.
    """

    id: str
    at: datetime
    kind: str
    label: str
    source: str
    level: str | None = None
    value: float | None = None
    unit: str | None = None
    ai_asserted: bool = False


class LiveWindow(msgspec.Struct, frozen=True, kw_only=True):
    """One second of a running live session, just scored (``LiveObserver.window_scored``).

    ``level`` and ``probabilities`` are None for an unscorable second (``reason`` says why); ``start`` and
    ``end`` are capture times (UTC). ``session_id`` is stable for the session, across reconnects.
    """

    session_id: str
    tenant: str
    patient: PatientRef
    start: datetime
    end: datetime
    level: str | None
    probabilities: Probabilities | None
    model: ModelInfo
    reason: str | None = None


URGENCY_RANKS: dict[str, int] = {"open-alert": 0, "overdue-reassessment": 1, "unreviewed-significant": 2}
"""The worklist's order of urgency: open alerts first, then overdue reassessments, then unreviewed significant results."""


class UrgentPatient(msgspec.Struct, frozen=True, kw_only=True):
    """A patient who needs attention now, as a ``WorklistPriority`` reports it for the worklist.

    ``reason`` is a key of ``URGENCY_RANKS``; ``badge`` the short text shown on the row ("Alert: sustained
    significant pain (AI-derived)"); ``since`` orders patients of one rank (oldest first); ``href`` a
    ``/ui/...`` link to act on it (the patient page).
    """

    patient: PatientRef
    reason: str
    badge: str
    since: datetime
    href: str = ""


DELIVERY_OUTCOMES = ("delivered", "retry", "failed")


@dataclass(frozen=True)
class DeliveryResult:
    """What a destination says about one attempt: delivered, retry later (with why), or failed for good.

    ``status_code`` and ``response_excerpt`` are what the receiver answered (HTTP status, HL7 ACK code);
    they go to the delivery ledger. ``retry_after_s`` honours a receiver's ``Retry-After``.
    """

    outcome: str
    reason: str = ""
    status_code: int | str | None = None
    response_excerpt: str = ""
    retry_after_s: float | None = None

    @classmethod
    def delivered(cls, status_code: int | str | None = None, response_excerpt: str = "") -> DeliveryResult:
        return cls("delivered", "", status_code, response_excerpt)

    @classmethod
    def retry_later(cls, reason: str, status_code: int | str | None = None, response_excerpt: str = "", retry_after_s: float | None = None) -> DeliveryResult:
        return cls("retry", reason, status_code, response_excerpt, retry_after_s)

    @classmethod
    def failed(cls, reason: str, status_code: int | str | None = None, response_excerpt: str = "") -> DeliveryResult:
        return cls("failed", reason, status_code, response_excerpt)


WHILE_READING = "pain_gateway_while_reading"
"""Set on an error (recursion, overflow, memory) raised while reading a client's submission in another
process, whose frames stay there: the attribute crosses, and the web layer answers 4xx, not 5xx."""
