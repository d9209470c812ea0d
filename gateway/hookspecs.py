"""The plugin contract: every hook a Pain Gateway plugin can implement.

All hooks are *registration* hooks. They fire once, when ``gateway.plugins.build_plugins`` builds the
plugin manager at start-up (in the API process, the CLI and every worker), and they only hand typed
objects to a ``register`` callable. The work happens later in those objects' methods, so a plugin's
heavy imports (torch, mediapipe) can wait until first use.

A plugin is a module (or object) with functions decorated by ``hookimpl``, exposed through the
``pain_gateway`` entry-point group — built-in plugins in ``plugins/`` are declared exactly like
third-party ones in ``pyproject.toml``::

    [project.entry-points.pain_gateway]
    my_site = "my_site_plugin"

Each hook below receives ``settings`` (``gateway.settings.Settings``); a plugin reads its own typed
section with ``settings.plugin_config("<plugin name>")`` after declaring it in ``register_settings``.
"""

from __future__ import annotations

import pluggy

PROJECT = "pain_gateway"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_settings(register):
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
        def register_settings(register):
            register("my_webhook", WebhookSettings)
    """


@hookspec
def register_capture_sources(register, settings):
    """Register objects that turn a submission into landmarks (``gateway.contracts.CaptureSource``).

    Fires once at start-up. When a submission arrives, the first registered source whose
    ``accepts(request)`` is true captures it; ``capture`` raises ``InputError`` for bad input. A source
    with ``deferred = True`` (video) is captured by a background job: ``check(request)`` runs in the
    request (cheap checks only, so a bad upload is refused before it is accepted) and
    ``capture(request, progress)`` later in a worker, reporting progress as a fraction.

    ``register(source)`` takes a ``CaptureSource``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_capture_sources(register, settings):
            register(CsvKeypoints())
    """


@hookspec
def register_models(register, settings):
    """Register pain models (``gateway.contracts.PainModel``).

    Fires once at start-up. ``settings.model`` names the model id that scores submissions; a model is
    selected by ``model.info.model_id``. Load weights lazily, on first ``predict``.

    ``register(model)`` takes a ``PainModel``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_models(register, settings):
            register(MyModel(checkpoint=settings.plugin_config("my_model").checkpoint))
    """


@hookspec
def register_explainers(register, settings):
    """Register explainers (``gateway.contracts.Explainer``) run on every scored assessment.

    Fires once at start-up. Each explainer receives the normalised windows and the model output and
    returns an ``Explanation`` stored with the assessment.

    ``register(explainer)`` takes an ``Explainer``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_explainers(register, settings):
            register(AttentionRegions())
    """


@hookspec
def register_outputs(register, settings):
    """Register outputs (``gateway.contracts.Output``) rendered for every assessment.

    Fires once at start-up. ``render(assessment)`` returns an ``OutputDocument``; the gateway stores it
    under ``output.name`` so it can be fetched (``GET /v1/assessments/{id}/{name}``) and delivered.
    An output that raises is recorded as failed for that assessment and never blocks the others.

    ``register(output)`` takes an ``Output``; ``settings`` is the validated ``Settings``.

    Example::

        @hookimpl
        def register_outputs(register, settings):
            register(CaregiverSummary())
    """


@hookspec
def register_routes(register, settings):
    """Register Litestar route handlers or controllers mounted on the gateway app.

    Fires once when the app is built. Every handler must declare who may call it with
    ``opt={"roles": {"integrator", ...}}``; a handler without roles is admin-only. Handlers can ask
    for the ``store`` (``gateway.store.AssessmentStore``) and ``plugins`` (``gateway.plugins.Plugins``)
    dependencies.

    ``register(handler)`` takes a Litestar route handler or controller; ``settings`` is the validated
    ``Settings``.

    Example::

        @get("/v1/assessments/{assessment_id:str}/caregiver", opt={"roles": {"clinician"}})
        async def caregiver_view(assessment_id: str, store: AssessmentStore) -> dict: ...

        @hookimpl
        def register_routes(register, settings):
            register(caregiver_view)
    """


@hookspec
def register_commands(register, settings):
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
        def register_commands(register, settings):
            register(train)
    """
