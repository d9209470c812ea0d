"""The plugin contract: every hook a Pain Gateway plugin can implement.

Most hooks are *registration* hooks. They fire once, when ``gateway.contract.plugin_manager.build_plugins``
builds the plugin manager at start-up (in the API process and its scoring processes, the CLI and every
worker), and they only hand typed objects to a ``register`` callable. The work happens later in those
objects' methods, so a plugin's heavy imports (torch, mediapipe) can wait until first use. Two fire later:
``handle_event`` for every domain event, after the transaction that caused it commits, and ``ui_sections``
each time a review UI page renders.

A plugin is a module (or object) with functions decorated by ``hookimpl`` (``from gateway import
hookimpl``), exposed through the ``pain_gateway`` entry-point group — built-in plugins in ``plugins/``
are declared exactly like third-party ones in ``pyproject.toml``::

    [project.entry-points.pain_gateway]
    my_site = "my_site_plugin"

Every type named below is part of the public API (``from gateway import CaptureSource, Settings, ...``).
Hooks are called through pluggy, so ``@hookimpl(tryfirst=True)``, ``trylast`` and ``wrapper`` apply;
an implementation that raises marks its plugin failed without stopping the others.

Each hook below receives ``settings`` (``Settings``); a plugin reads its own typed section with
``settings.plugin_config("<plugin name>")`` after declaring it in ``register_settings``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from gateway.contract.domain import AssessmentEvent
    from gateway.contract.protocols import CaptureSource, Destination, Explainer, Migrations, Output, PainModel
    from gateway.contract.ui import UiContext, UiSection
    from gateway.ops.settings import Settings

PROJECT = "pain_gateway"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's function as the implementation of the hook of the same name; takes pluggy's options
(``tryfirst``, ``trylast``, ``wrapper``, ``hookwrapper``), e.g. ``@hookimpl(tryfirst=True)``."""


@hookspec
def register_settings(register: Callable[[str, type], None]) -> None:
    """Declare the plugin's configuration schema.

    Fires first, before any other hook, so the values are validated and bound before they are used.

    ``register(plugin_name, struct_type)`` takes a msgspec Struct type with defaults for every field.
    Values come from the ``[plugins.<plugin_name>]`` table of the TOML settings file and from
    ``PAIN_GATEWAY_PLUGIN_<PLUGIN_NAME>_<FIELD>`` environment variables (environment wins). Invalid
    values stop start-up with a message that names the setting.

    Example::

        class WebhookSettings(msgspec.Struct):
            url: str = ""
            timeout_s: float = 5.0

        @hookimpl
        def register_settings(register: Callable[[str, type], None]) -> None:
            register("my_webhook", WebhookSettings)
    """


@hookspec
def register_event_types(register: Callable[[str, str], None], settings: Settings) -> None:
    """Declare domain event types this plugin fires, beside the core's (``CORE_EVENT_TYPES``).

    Fires once at start-up, before the objects are registered. ``register(name, description)`` adds a
    type; a name the core or another plugin declared stops start-up. Declared types are accepted by
    ``AssessmentFlow.publish``, offered to webhook subscribers, and reach every ``Destination`` and
    ``handle_event`` implementation like the core's.

    ``register(name, description)`` takes the type's dotted name and one line saying what happened;
    ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_event_types(register: Callable[[str, str], None], settings: Settings) -> None:
            register("pain.sustained", "significant pain in three checks within an hour")
    """


@hookspec
def register_migrations(register: Callable[[Migrations], None], settings: Settings) -> None:
    """Declare the plugin's own tables through its Alembic revisions (``Migrations``).

    Fires once at start-up. ``pain-gateway db upgrade`` applies the core's revisions and then every
    enabled plugin's branch; a plugin's tables live in its own SQLAlchemy ``MetaData`` (never the
    core's), in its own folder, so the core knows nothing of them. The first revision of a branch has
    ``down_revision = None`` and ``branch_labels = ("<plugin name>",)``; it may ``depends_on`` a core
    revision whose tables it references. Revision ids share one namespace with the core's (``0001`` ...)
    and every other plugin's: prefix them with the plugin's name (``my_plugin_0001``).

    ``register(migrations)`` takes a ``Migrations``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_migrations(register: Callable[[Migrations], None], settings: Settings) -> None:
            register(Migrations("my_plugin", Path(__file__).with_name("migrations")))
    """


if TYPE_CHECKING:
    from gateway.contract.protocols import EventDocuments, LiveObserver, TrajectorySource, WorklistPriority


@hookspec
def register_event_documents(register: Callable[[EventDocuments], None], settings: Settings) -> None:
    """Render the documents of the plugin's own event types (``EventDocuments``): an alert episode's FHIR
    Observation and Flag reach the EMR through the delivery ledger, retried and idempotent like an assessment's.

    Fires once at start-up, right after ``register_event_types`` (the types must be declared there). An event
    of those types is published with ``AssessmentFlow.publish(type, subject_id, tenant, event_id=...,
    connection=...)``: inside the plugin's own transaction, with a stable ``event_id`` (publishing it twice
    records it once), and ``subject_id`` the plugin's own id (an episode), not necessarily an assessment's.
    Its ``documents`` are the renderer's ``outputs``; every destination whose ``output`` is among them is
    sent ``render(event, output, engine)``. Two plugins rendering one event type stop start-up.

    ``register(documents)`` takes an ``EventDocuments``; ``settings`` is the validated ``Settings``.

    Example::

        class EpisodeDocuments:
            name, event_types, outputs = "pain_alerts", ("pain_alert.opened",), ("fhir",)

            async def render(self, event, output, engine):
                episode = await load_episode(engine, event.assessment_id, event.tenant)
                return OutputDocument.json("fhir", "application/fhir+json", bundle_of(episode))

        @hookimpl
        def register_event_documents(register, settings):
            register(EpisodeDocuments())
    """


@hookspec
def register_trajectory_sources(register: Callable[[TrajectorySource], None], settings: Settings) -> None:
    """Add points to patients' pain trajectories (``TrajectorySource``): reference-scale scores, interventions.

    Fires once at start-up. The trajectory (``GET /v1/patients/trajectory`` and the patient page's chart,
    from the ``pain_alerts`` plugin) asks every source for ``entries(tenant, patient, since, until, engine)``
    and places each ``TrajectoryEntry`` in time order beside the assessments; a source that raises is
    left out of that answer, which says so.

    ``register(source)`` takes a ``TrajectorySource``; ``settings`` is the validated ``Settings``.

    Example::

        class NrsScores:
            name = "reference_scales"

            async def entries(self, tenant, patient, since, until, engine):
                return [TrajectoryEntry(id=row.id, at=row.at, kind="reference-scale", label=f"NRS {row.score}/10",
                                        source=self.name, value=row.score, unit="{score}") for row in await rows(...)]

        @hookimpl
        def register_trajectory_sources(register, settings):
            register(NrsScores())
    """


@hookspec
def register_live_observers(register: Callable[[LiveObserver], None], settings: Settings) -> None:
    """Watch running live sessions second by second (``LiveObserver``), e.g. to open an alert while one runs.

    Fires once at start-up. The live scoring plugin calls ``window_scored(window, publisher)`` (through
    ``Plugins.live_window_scored``) for each second it scores or finds unscorable, in order; the texts the
    observers return are shown on the live page. A finished session's assessment is an ordinary
    ``assessment.completed`` event as well.

    ``register(observer)`` takes a ``LiveObserver``; ``settings`` is the validated ``Settings``.

    Example::

        class Sustained:
            name = "pain_alerts"

            async def window_scored(self, window, publisher):
                return "Alert (AI-derived): significant pain for 10 min" if held_long_enough(window) else None

        @hookimpl
        def register_live_observers(register, settings):
            register(Sustained())
    """


@hookspec
def register_worklist_priorities(register: Callable[[WorklistPriority], None], settings: Settings) -> None:
    """Put patients who need attention at the top of the worklist (``WorklistPriority``).

    Fires once at start-up. Each time the worklist renders, ``urgent(tenant, now, engine)`` names patients
    with a reason (``URGENCY_RANKS``: open alert, overdue reassessment) and a badge; the worklist lists them
    above its rows in that order, after them the tenant's unreviewed significant results (the core's own),
    and the page title starts with their count so a ward screen shows it.

    ``register(priority)`` takes a ``WorklistPriority``; ``settings`` is the validated ``Settings``.

    Example::

        class OpenAlerts:
            name = "pain_alerts"

            async def urgent(self, tenant, now, engine):
                return [UrgentPatient(patient=e.patient, reason="open-alert", badge="Alert (AI-derived)", since=e.opened_at)
                        for e in await open_episodes(engine, tenant)]

        @hookimpl
        def register_worklist_priorities(register, settings):
            register(OpenAlerts())
    """


@hookspec
def register_capture_sources(register: Callable[[CaptureSource], None], settings: Settings) -> None:
    """Register objects that turn a submission into landmarks (``CaptureSource``).

    Fires once at start-up. When a submission arrives, the first registered source whose
    ``accepts(request)`` is true captures it; ``capture`` raises ``InputError`` for bad input. A source
    with ``deferred = True`` (video) is captured by a background job: ``check(request)`` runs in the
    request (cheap checks only, so a bad upload is refused before it is accepted) and
    ``capture(request, progress)`` later in a worker, reporting progress as a fraction. The source's
    ``forms`` (``Form``: media type, Struct, example) type ``POST /v1/assessments`` in the
    OpenAPI document, and a submission in a media type no form names is answered 415 listing them.

    ``register(source)`` takes a ``CaptureSource``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_capture_sources(register: Callable[[CaptureSource], None], settings: Settings) -> None:
            register(CsvKeypoints())
    """


@hookspec
def register_models(register: Callable[[PainModel], None], settings: Settings) -> None:
    """Register pain models (``PainModel``).

    Fires once at start-up. ``settings.model`` names the model id that scores submissions; a model is
    selected by ``model.info.model_id``. Load weights lazily, on first ``predict``.

    ``register(model)`` takes a ``PainModel``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_models(register: Callable[[PainModel], None], settings: Settings) -> None:
            register(MyModel(checkpoint=settings.plugin_config("my_model").checkpoint))
    """


@hookspec
def register_explainers(register: Callable[[Explainer], None], settings: Settings) -> None:
    """Register explainers (``Explainer``) run on every scored assessment.

    Fires once at start-up. Each explainer receives the normalised windows, the model output and the
    model's ``predict`` (to score perturbed windows, e.g. with a face region occluded) and returns an
    ``Explanation`` stored with the assessment. It runs where scoring runs, so keep its cost bounded.

    ``register(explainer)`` takes an ``Explainer``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_explainers(register: Callable[[Explainer], None], settings: Settings) -> None:
            register(OcclusionRegions())  # explain(windows, output, predict) -> Explanation
    """


@hookspec
def register_outputs(register: Callable[[Output], None], settings: Settings) -> None:
    """Register outputs (``Output``) rendered for every assessment.

    Fires once at start-up. ``render(assessment)`` returns an ``OutputDocument`` (bytes and a media
    type); the gateway renders it on demand for ``GET /v1/assessments/{id}/{name}`` and for every
    ``Destination`` whose ``output`` names it. Rendering never sends anything. Two plugins registering
    the same ``name`` stop start-up.

    ``register(output)`` takes an ``Output``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_outputs(register: Callable[[Output], None], settings: Settings) -> None:
            register(CaregiverSummary())
    """


@hookspec
def register_routes(register: Callable[[Any], None], settings: Settings) -> None:
    """Register Litestar route handlers or controllers mounted on the gateway app.

    Fires once when the app is built. Every handler must declare who may call it with
    ``opt={"roles": {"integrator", ...}}``; a handler without roles is admin-only. Handlers can ask
    for the ``store`` (``AssessmentStore``), ``flow`` (``AssessmentFlow``, whose ``publish`` sends a declared
    event) and ``plugins`` (``Plugins``) dependencies, and find the caller in ``request.user``
    (``TokenInfo``: its ``tenant`` scopes every read). A handler with ``opt=ui_opt(...)`` is a review UI page
    instead: its path is relative to ``/ui``, the session cookie signs it in, and ``ui_page`` renders it
    in the UI's layout. The app also injects ``submissions``, ``deliveries``
    and ``jobs`` for its own routes: they are not part of the plugin API.

    ``register(handler)`` takes a Litestar route handler or controller; ``settings`` is the validated
    ``Settings``.

    Example::

        @get("/v1/assessments/{assessment_id:str}/caregiver", opt={"roles": {"clinician"}})
        async def caregiver_view(assessment_id: str, store: AssessmentStore) -> dict: ...

        @hookimpl
        def register_routes(register: Callable[[Any], None], settings: Settings) -> None:
            register(caregiver_view)
    """


@hookspec
def register_commands(register: Callable[[click.Command], None], settings: Settings) -> None:
    """Add subcommands to the ``pain-gateway`` command line.

    Fires when the CLI is asked for a command it does not define itself (or lists its commands).
    ``register(command)`` takes a ``click.Command`` or ``click.Group``; ``settings`` is the validated
    ``Settings``. Import heavy modules inside the command function, not at registration.

    Example::

        @click.command()
        @click.argument("data_dir")
        def train(data_dir):
            "Train the model on a directory of labelled clips."

        @hookimpl
        def register_commands(register: Callable[[click.Command], None], settings: Settings) -> None:
            register(train)
    """


@hookspec
def register_destinations(register: Callable[[Destination], None], settings: Settings) -> None:
    """Register destinations (``Destination``) that send documents to other systems.

    Fires once at start-up, after outputs. When an event commits, each destination's
    ``targets(event, connection)`` says who receives it; every target gets a row in the delivery
    ledger, and a delivery job calls ``send`` with the destination's ``output`` rendered, retrying
    with backoff on ``DeliveryResult.retry_later`` until the budget is spent (then dead letter).
    Two plugins registering the same ``name`` stop start-up.

    ``register(destination)`` takes a ``Destination``; ``settings`` is the validated ``Settings``.

    Example::

        class Archive:
            name, output = "archive", "fhir"

            async def targets(self, event, connection):
                return [""] if event.type == "assessment.completed" else []

            async def send(self, request):
                await write_somewhere(request.document.content)
                return DeliveryResult.delivered()

            async def probe(self, engine):
                return DeliveryResult.delivered()

        @hookimpl
        def register_destinations(register, settings):
            register(Archive())
    """


@hookspec
def register_ui_links(register: Callable[[str, str], None], settings: Settings) -> None:
    """Add an entry to the review UI's main navigation, for a plugin's own ``/ui`` page.

    Fires once at start-up. ``register(label, href)`` takes the link's text and a path under ``/ui/``
    (the page itself is a route the plugin registers with ``register_routes`` and ``ui_opt``);
    ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_ui_links(register, settings):
            register("Concordance", "/ui/concordance")
    """


@hookspec
def register_frame_ancestors(register: Callable[[str], None], settings: Settings) -> None:
    """Allow a site to show the review UI inside its own pages (an EMR embedding the app in an iframe).

    Fires once at start-up. ``register(origin)`` takes an origin (``https://ehr.example.org``, with a
    port when not the scheme's default): every ``/ui`` answer then carries ``frame-ancestors 'self'``
    and the registered origins in its Content-Security-Policy instead of ``'none'`` (and no
    ``X-Frame-Options: DENY``). With no origin registered the UI cannot be framed at all.
    ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_frame_ancestors(register, settings):
            for issuer in settings.plugin_config("smart_launch").issuers:
                register(origin_of(issuer.iss))
    """


@hookspec
def ui_sections(page: str, context: UiContext) -> list[UiSection] | Awaitable[list[UiSection]] | None:
    """Add titled sections to a core page of the review UI, below the page's own content.

    Fires each time a core page renders, in the API process, for the signed-in user: ``page`` is one of
    ``UI_PAGES`` (``"assessment"``, ``"patient"``, ``"worklist"``, ``"live"``); ``context`` is a ``UiContext``
    (``user`` and ``tenant`` — scope every read by it —, ``settings``, ``csrf_field()`` for forms, and the
    ``assessment`` or ``patient`` the page shows). Return ``UiSection`` objects (or none); an ``async def``
    implementation may read the database, and its coroutine is awaited. An implementation that raises
    is logged and its sections are left out: the page still renders.

    Example::

        @hookimpl
        async def ui_sections(page, context):
            if page != "patient":
                return None
            html = TEMPLATE.render(points=await trajectory(context.tenant, context.patient))
            return [UiSection(id="trajectory", title="Pain over time", html=Markup(html), order=10)]
    """


@hookspec
def handle_event(event: AssessmentEvent, settings: Settings) -> None:
    """Observe a domain event (the core's ``assessment.completed``, ``assessment.failed``,
    ``assessment.reviewed``, and any type a plugin declared with ``register_event_types``).

    Fires after the transaction that caused the event commits, in the process that committed it
    (API, embedded worker or distributed worker), once per event. Use it for metrics, logs or
    caches; it is best effort (a crash right after the commit skips it) and must be quick. Anything
    that must reach another system goes through a ``Destination``, whose deliveries are written in
    the same transaction as the event and are never lost. An implementation that raises is logged and
    does not stop the others.

    ``event`` is a ``AssessmentEvent``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def handle_event(event, settings):
            COMPLETED.inc() if event.type == "assessment.completed" else None
    """
