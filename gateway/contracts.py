"""Protocols that registered plugin objects satisfy.

Hooks in ``gateway.hookspecs`` only *register* these objects; the work happens in their methods.
CPU-heavy methods (``PainModel.predict``) are sync so they can run in worker threads or processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gateway.domain import Assessment, Explanation, LandmarkClip, ModelInfo, ModelOutput, OutputDocument, Windows


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CaptureRequest:
    """A submission as the transport received it, before any capture source has looked at it."""

    media_type: str
    body: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


@runtime_checkable
class CaptureSource(Protocol):
    """Turns a submission into landmarks. Raises ``InputError`` for input the caller must fix."""

    name: str

    def accepts(self, request: CaptureRequest) -> bool: ...

    def capture(self, request: CaptureRequest) -> LandmarkClip: ...


@runtime_checkable
class PainModel(Protocol):
    """Scores normalised windows (n, 30, 468, 2) into per-window probabilities and attention."""

    @property
    def info(self) -> ModelInfo: ...

    def predict(self, windows: Windows) -> ModelOutput: ...

    def model_card(self) -> str: ...


@runtime_checkable
class Explainer(Protocol):
    """Summarises why the model said what it said, in terms a clinician can check."""

    name: str

    def explain(self, windows: Windows, output: ModelOutput) -> Explanation: ...


@runtime_checkable
class Output(Protocol):
    """Renders an assessment into a deliverable document (FHIR Bundle, HL7 message, summary...)."""

    name: str
    media_type: str

    def render(self, assessment: Assessment) -> OutputDocument: ...
