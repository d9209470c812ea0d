"""The ``pain-gateway-latest-pain`` card: the patient's latest assessment as a CDS Hooks 2.0 card.

The card says what the AI estimated (or what a clinician recorded since), how sure it was, whether a
clinician has reviewed it, that the model is synthetic-trained decision support, and offers a SMART
link that opens the review app on the patient. Wire types are msgspec Structs (they feed OpenAPI).
"""

from __future__ import annotations

import re
from datetime import UTC

import msgspec

from gateway import LEVELS, SYNTHETIC_DISCLAIMER, Assessment, reliability_notes

SERVICE_ID = "pain-gateway-latest-pain"
TOPIC_SYSTEM = "urn:pain-gateway:cds"
MAX_SUMMARY = 139


class Coding(msgspec.Struct, omit_defaults=True):
    """A FHIR Coding (card topic, override reasons)."""

    code: str
    system: str | None = None
    display: str | None = None


class Source(msgspec.Struct, omit_defaults=True):
    """Where the card comes from (CDS Hooks 2.0 ``source``)."""

    label: str
    url: str | None = None
    topic: Coding | None = None


class Link(msgspec.Struct, omit_defaults=True):
    """A link on the card: ``type`` ``smart`` is launched by the EMR with SMART launch parameters."""

    label: str
    url: str
    type: str
    appContext: str | None = None  # the wire name


class Card(msgspec.Struct, omit_defaults=True):
    """One CDS Hooks 2.0 card; ``summary`` under 140 characters, ``detail`` GitHub-flavoured Markdown."""

    uuid: str
    summary: str
    indicator: str
    source: Source
    detail: str | None = None
    links: list[Link] | None = None


class CardsResponse(msgspec.Struct):
    """The service's answer: no card when there is nothing to show."""

    cards: list[Card]


class Prefetch(msgspec.Struct):
    patient: str


class Service(msgspec.Struct, omit_defaults=True):
    """A service in the discovery document."""

    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(msgspec.Struct):
    """``GET /cds-services``."""

    services: list[Service]


SERVICE = Service(
    hook="patient-view",
    id=SERVICE_ID,
    title="Latest AI pain estimate",
    description="The patient's latest automated pain assessment from face video (none, mild or significant), its clinician review, "
    "and a link to review it. Decision support from a synthetic-trained model, not clinically validated.",
    prefetch={"patient": "Patient/{{context.patientId}}"},
    usageRequirements="Register this EMR's JWT issuer and keys with the gateway ([[plugins.cds_hooks.clients]]).",
)


def current_level(assessment: Assessment) -> str | None:
    """The level in force: the clinician's after a review, else the AI's."""
    return assessment.clinician_level or assessment.summary.level


def indicator(assessment: Assessment, open_alert: bool) -> str:
    """``critical`` with an open sustained-pain alert, ``warning`` for significant pain, else ``info``."""
    if open_alert:
        return "critical"
    return "warning" if current_level(assessment) == "significant" else "info"


def summary(assessment: Assessment, open_alert: bool) -> str:
    when = assessment.effective_end.astimezone(UTC).strftime("%H:%M UTC")
    ai = assessment.summary.level or "no scorable face"
    if assessment.clinical_status == "preliminary":
        text = f"AI pain estimate: {ai} (preliminary) {when}"
    else:
        text = f"Pain: {assessment.clinician_level} (clinician {'confirmed' if assessment.clinical_status == 'final' else 'amended'}; AI {ai}) {when}"
    return (text + " - open alert" if open_alert else text)[:MAX_SUMMARY]


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~])")
"""What can open Markdown structure inside a line (emphasis, code, links and images, headings, tables, HTML)."""


def plain_markdown(text: str) -> str:
    """Text that renders as itself in Markdown: one line, its structural characters escaped (a note can quote a
    site's own model file)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def detail(assessment: Assessment, open_alert: bool) -> str:
    """Markdown: the distribution, the review state, the result's reliability (baseline, unfamiliar seconds), the notice."""
    s = assessment.summary
    rows = "\n".join(f"| {level} | {100 * s.time_share.get(level, 0.0):.0f} % | {s.peak_probability.get(level, 0.0):.2f} |" for level in LEVELS)
    if assessment.clinical_status == "preliminary":
        review = "**Not reviewed yet**: preliminary, AI-asserted."
    elif assessment.clinical_status == "final":
        review = f"**Confirmed** by clinician {assessment.reviewed_by}."
    else:
        review = f"**Amended** by clinician {assessment.reviewed_by} to **{assessment.clinician_level}** (the AI had asserted {s.level or 'no level'})."
    captured = assessment.effective_end.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    alert = "**Open alert: sustained significant pain (AI-derived).**\n\n" if open_alert else ""
    return (
        f"{alert}AI pain estimate **{s.level or 'none (no scorable face)'}** from {assessment.frames} frames of face landmarks, "
        f"{s.scored_windows} scored seconds, ending {captured}; model {assessment.model.name} {assessment.model.version} (AI-asserted).\n\n"
        f"| Level | Share of scored seconds | Peak probability |\n|---|---|---|\n{rows}\n\n"
        f"{review}\n\n"
        + "".join(f"{plain_markdown(note)}\n\n" for note in reliability_notes(assessment.reliability, s.scored_windows))
        + f"> Decision support only. {SYNTHETIC_DISCLAIMER}"
    )


def card(assessment: Assessment, *, card_uuid: str, public_url: str, launch_url: str, open_alert: bool) -> Card:
    return Card(
        uuid=card_uuid,
        summary=summary(assessment, open_alert),
        indicator=indicator(assessment, open_alert),
        detail=detail(assessment, open_alert),
        source=Source(
            label=f"Pain Gateway (AI: {assessment.model.name} {assessment.model.version}, synthetic-trained)",
            url=f"{public_url}/ui/assessments/{assessment.id}",
            topic=Coding(system=TOPIC_SYSTEM, code="latest-pain", display="Latest AI pain estimate"),
        ),
        links=[Link(label="Review in Pain Gateway", url=launch_url, type="smart")],
    )
