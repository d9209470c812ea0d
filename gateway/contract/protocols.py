"""Protocols that registered plugin objects satisfy.

Hooks in ``gateway.contract.hookspecs`` only *register* these objects; the work happens in their methods.
CPU-heavy methods (``PainModel.predict``) are sync so they can run in worker threads or processes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.contract.domain import (
    Assessment,
    AssessmentEvent,
    DeliveryResult,
    Explanation,
    LandmarkClip,
    LiveWindow,
    ModelInfo,
    ModelOutput,
    OutputDocument,
    PatientRef,
    TrajectoryEntry,
    UrgentPatient,
    Windows,
)


@dataclass(frozen=True)
class UploadedFile:
    """An uploaded file part, streamed to disk by the transport (videos never sit in memory)."""

    filename: str
    content_type: str
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class CaptureRequest:
    """A submission as the transport received it, before any capture source has looked at it.

    It survives a round trip through ``as_record``/``from_record`` so a background job can capture it.
    """

    media_type: str
    body: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        files = {k: {"filename": f.filename, "content_type": f.content_type, "path": str(f.path)} for k, f in self.files.items()}
        return {"media_type": self.media_type, "fields": self.fields, "files": files}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CaptureRequest:
        files = {k: UploadedFile(f["filename"], f["content_type"], Path(f["path"])) for k, f in record["files"].items()}
        return cls(record["media_type"], fields=record["fields"], files=files)


Progress = Callable[[float], None]
"""Called with the fraction done (0..1) during long captures."""


@runtime_checkable
class CaptureSource(Protocol):
    """Turns a submission into landmarks. Raises ``InputError`` for input the caller must fix.

    ``deferred`` sources (video) are captured by a background job: ``check`` runs at submission time and
    must be cheap (metadata, container probe), so bad uploads are refused before they are accepted.
    ``forms`` (``gateway.web.openapi.Form``) document the request bodies it reads: they type the OpenAPI
    document and name the accepted media types in a 415.
    """

    name: str
    deferred: bool
    forms: tuple[Any, ...]  # gateway.web.openapi.Form: the request bodies this source reads

    def accepts(self, request: CaptureRequest) -> bool: ...

    def check(self, request: CaptureRequest) -> None: ...

    def capture(self, request: CaptureRequest, progress: Progress | None = None) -> LandmarkClip: ...


@runtime_checkable
class PainModel(Protocol):
    """Scores normalised windows (n, 30, 468, 2) into per-window probabilities and attention.

    Optional, and said in every result when given: ``ModelOutput.typicality`` (how like its calibration data
    each window looks) and ``ModelInfo.reliability`` (its measured figures with and without a baseline)."""

    @property
    def info(self) -> ModelInfo: ...

    def predict(self, windows: Windows) -> ModelOutput: ...

    def model_card(self) -> str: ...


Predict = Callable[[Windows], ModelOutput]
"""The scoring model's ``predict``: explainers call it to score variants of the windows (e.g. occluded)."""


@runtime_checkable
class Explainer(Protocol):
    """Summarises why the model said what it said, in terms a clinician can check.

    ``predict`` is the model that produced ``output``; a model-agnostic explainer scores perturbed copies
    of ``windows`` with it (keep the cost bounded: it runs where scoring runs, on every assessment).
    """

    name: str

    def explain(self, windows: Windows, output: ModelOutput, predict: Predict) -> Explanation: ...


@runtime_checkable
class Output(Protocol):
    """Renders an assessment into a document (FHIR Bundle, HL7 message, summary...); never sends it.

    ``render`` is pure and deterministic: the gateway renders when a document is read or sent.
    """

    name: str
    media_type: str

    def render(self, assessment: Assessment) -> OutputDocument: ...


@runtime_checkable
class Publisher(Protocol):
    """Publishes a plugin's own events (``AssessmentFlow`` is one): handed to destinations that act on an
    event (``DeliveryRequest.publisher``) and to live observers. See ``AssessmentFlow.publish``."""

    @property
    def engine(self) -> AsyncEngine: ...

    async def publish(
        self, event_type: str, assessment_id: str, tenant: str, *, event_id: str | None = None, connection: AsyncConnection | None = None
    ) -> AssessmentEvent: ...

    def announce(self, event: AssessmentEvent) -> None: ...


@dataclass(frozen=True)
class DeliveryRequest:
    """One attempt to send one event to one target of a destination.

    ``delivery_id`` is stable across retries (receivers deduplicate on it); ``target`` is what
    ``Destination.targets`` returned for this event (e.g. a webhook endpoint id, or ``""``);
    ``document`` is the destination's ``output`` rendered now, and ``assessment`` is None for
    ``assessment.failed``. ``engine`` lets a destination read its own rows (e.g. endpoint secrets);
    ``publisher`` lets a destination that acts on events (an alert evaluator) publish its own, in its
    own transaction, so that work is retried through the ledger like any delivery.
    """

    delivery_id: str
    destination: str
    target: str
    attempt: int
    event: AssessmentEvent
    assessment: Assessment | None
    document: OutputDocument | None
    engine: AsyncEngine
    publisher: Publisher | None = None


@runtime_checkable
class Destination(Protocol):
    """Sends rendered documents somewhere (an EMR's FHIR server, webhook endpoints, an MLLP listener).

    ``output`` names the ``Output`` whose document ``send`` receives (None: the destination builds its
    own payload from the event). ``targets`` runs inside the transaction that commits the event and
    says who receives it (``[]``: not interested); each target gets a row in the delivery ledger, and
    the core retries, backs off and dead-letters by the ``DeliveryResult`` that ``send`` returns.
    ``send`` must not raise for a receiver's failure: it reports it. ``probe`` backs
    ``pain-gateway outputs test``: a harmless request that shows the destination is reachable.
    """

    name: str
    output: str | None

    async def targets(self, event: AssessmentEvent, connection: AsyncConnection) -> list[str]: ...

    async def send(self, request: DeliveryRequest) -> DeliveryResult: ...

    async def probe(self, engine: AsyncEngine) -> DeliveryResult: ...


@runtime_checkable
class EventDocuments(Protocol):
    """Renders the documents of a plugin's own events (an alert episode's Observation and Flag), so they
    travel through the delivery ledger like an assessment's: retried, dead-lettered, idempotent by id.

    ``event_types`` are types the plugin declared (``register_event_types``); ``outputs`` the outputs it
    renders for them (``"fhir"``: a transaction Bundle; ``"hl7v2"``: an ORU). A destination whose ``output``
    is among them receives ``render(event, output, engine)`` as ``DeliveryRequest.document`` instead of the
    assessment's; ``render`` reads the plugin's own rows (found by ``event.id`` or ``event.assessment_id``)
    and returns None when it has nothing for that output. For a webhook, ``OutputDocument.meta`` holds a
    short, patient-free summary (strings) put in the body's ``data``. Like an assessment's output, a
    document shows its subject as it is now, so a retry arriving late never undoes a later event.
    """

    name: str
    event_types: Collection[str]
    outputs: Collection[str]

    async def render(self, event: AssessmentEvent, output: str, engine: AsyncEngine) -> OutputDocument | None: ...


@runtime_checkable
class TrajectorySource(Protocol):
    """Adds points to a patient's pain trajectory (``GET /v1/patients/trajectory``, the patient page):
    reference-scale scores, interventions. ``entries`` answers only ``tenant``'s rows for ``patient``
    whose time falls in [``since``, ``until``), oldest first, at most a few thousand."""

    name: str

    async def entries(self, tenant: str, patient: PatientRef, since: datetime, until: datetime, engine: AsyncEngine) -> list[TrajectoryEntry]: ...


@runtime_checkable
class LiveObserver(Protocol):
    """Told of every scored (or unscorable) second of a running live session, in order per session, on the
    event loop: keep it quick (a few ms; database work at most once per window); ``publisher`` publishes
    its own events (and has the ``engine``). The text it returns (an
    alert that just opened, always saying AI-derived) is shown on the live page; None shows nothing.
    An observer that raises is logged and the session goes on."""

    name: str

    async def window_scored(self, window: LiveWindow, publisher: Publisher) -> str | None: ...


@runtime_checkable
class WorklistPriority(Protocol):
    """Says which patients of ``tenant`` need attention now (open alerts, overdue reassessments), for the
    worklist's urgency order and the count in its title. Bounded: at most a few hundred patients."""

    name: str

    async def urgent(self, tenant: str, now: datetime, engine: AsyncEngine) -> list[UrgentPatient]: ...


@dataclass(frozen=True)
class Migrations:
    """A plugin's own tables: its Alembic revisions in ``directory`` (a folder of revision files), on its
    own branch ``branch`` (the plugin's name; its first revision has ``branch_labels = ("<branch>",)`` and
    ``down_revision = None``). ``pain-gateway db upgrade`` applies every enabled plugin's branch."""

    branch: str
    directory: Path


@runtime_checkable
class EventHandler(Protocol):
    """The shape of a ``handle_event`` implementation: told of a committed domain event, quickly, best effort."""

    def __call__(self, event: AssessmentEvent, settings: object) -> None: ...
