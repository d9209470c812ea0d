"""Plugin discovery and registration with per-plugin isolation.

Built-in and third-party plugins come through the same ``pain_gateway`` entry-point group. A plugin
that fails to import or to register is recorded with its error and skipped: one broken site plugin
must not take the gateway down. The result is a plain ``Plugins`` registry of typed objects.

Every hook is called through pluggy (``pm.hook.<name>(...)``), so ``hookwrapper``/``wrapper``,
``tryfirst`` and ``trylast`` apply as pluggy documents. Isolation on top of that: when an
implementation raises, its plugin is reported failed and unregistered, and the call goes on with the
implementations that had not run yet (``_call``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pluggy
import structlog

from gateway.contract import hookspecs
from gateway.contract.domain import CORE_EVENT_TYPES, AssessmentEvent, InputError, LiveWindow, UnsupportedMediaError
from gateway.contract.protocols import (
    CaptureRequest,
    CaptureSource,
    Destination,
    EventDocuments,
    Explainer,
    LiveObserver,
    Migrations,
    Output,
    PainModel,
    Publisher,
    TrajectorySource,
    WorklistPriority,
)
from gateway.contract.ui import UiContext, UiSection
from gateway.ops.settings import Settings, SettingsError

log = structlog.get_logger(__name__)

REGISTRATION_HOOKS = (
    "register_event_types",
    "register_event_documents",
    "register_trajectory_sources",
    "register_live_observers",
    "register_worklist_priorities",
    "register_migrations",
    "register_capture_sources",
    "register_models",
    "register_explainers",
    "register_outputs",
    "register_destinations",
    "register_routes",
    "register_commands",
    "register_ui_links",
    "register_frame_ancestors",
)


@dataclass
class PluginStatus:
    name: str
    source: str
    version: str | None = None
    status: str = "loaded"  # loaded | disabled | failed
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)


@dataclass
class Plugins:
    """What the loaded plugins registered, plus the status of every plugin that was found."""

    settings: Settings
    statuses: list[PluginStatus] = field(default_factory=list)
    capture_sources: list[CaptureSource] = field(default_factory=list)
    event_documents: dict[str, EventDocuments] = field(default_factory=dict)  # by event type
    trajectory_sources: list[TrajectorySource] = field(default_factory=list)
    live_observers: list[LiveObserver] = field(default_factory=list)
    worklist_priorities: list[WorklistPriority] = field(default_factory=list)
    models: dict[str, PainModel] = field(default_factory=dict)
    explainers: list[Explainer] = field(default_factory=list)
    outputs: dict[str, Output] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    routes: list[Any] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    event_types: dict[str, str] = field(default_factory=lambda: dict(CORE_EVENT_TYPES))
    migrations: list[Migrations] = field(default_factory=list)
    ui_links: list[tuple[str, str]] = field(default_factory=list)
    frame_ancestors: list[str] = field(default_factory=list)
    _pm: pluggy.PluginManager | None = field(default=None, repr=False)  # the core's: plugins call nothing on it

    def handle_event(self, event: AssessmentEvent) -> None:
        """Fire the ``handle_event`` hook; one failing observer is logged and never stops the others."""
        if self._pm is None:
            return

        def failed(plugin: str, exc: Exception) -> None:
            log.warning("event_handler_failed", plugin=plugin, event_type=event.type, error=f"{type(exc).__name__}: {exc}")

        _call(self._pm, "handle_event", {"event": event, "settings": self.settings}, failed, unregister=False)

    async def ui_sections(self, page: str, context: UiContext) -> list[UiSection]:
        """Every plugin's sections for a UI page, in ``order``; a plugin that raises (when called or
        while awaited) is logged and left out of this page, never unregistered."""
        if self._pm is None:
            return []
        returned: list[Any] = []

        def failed(plugin: str, exc: Exception) -> None:
            log.warning("ui_sections_failed", plugin=plugin, page=page, error=f"{type(exc).__name__}: {exc}")

        _call(self._pm, "ui_sections", {"page": page, "context": context}, failed, unregister=False, results=returned)
        sections: list[UiSection] = []
        for result in returned:
            try:
                result = await result if inspect.isawaitable(result) else result
            except Exception as exc:
                failed(getattr(exc, _BLAME, "unknown"), exc)
                continue
            sections.extend(section for section in result or () if isinstance(section, UiSection))
        return sorted(sections, key=lambda section: section.order)

    def model(self, model_id: str | None = None) -> PainModel:
        model_id = model_id or self.settings.model
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none loaded"
            raise SettingsError(f"PAIN_GATEWAY_MODEL: no model {model_id!r} is registered ({known})") from None

    def with_documents(self, event: AssessmentEvent) -> AssessmentEvent:
        """``event`` with ``documents`` set to the outputs its declaring plugin renders (``EventDocuments``)."""
        renderer = self.event_documents.get(event.type)
        return event if renderer is None else msgspec.structs.replace(event, documents=tuple(renderer.outputs))

    async def live_window_scored(self, window: LiveWindow, publisher: Publisher) -> list[str]:
        """Tell every ``LiveObserver`` of a live session's second; the texts to show on the live page. An
        observer that raises is logged (without the patient) and the others still run."""
        notices = []
        for observer in self.live_observers:
            try:
                notice = await observer.window_scored(window, publisher)
            except Exception as exc:
                log.warning("live_observer_failed", observer=observer.name, error=f"{type(exc).__name__}: {exc}"[:300])
                continue
            if notice:
                notices.append(notice)
        return notices

    @property
    def capture_forms(self) -> list[Any]:
        """Every request body the capture sources read (``gateway.web.openapi.Form``), in registration order."""
        return [form for source in self.capture_sources for form in getattr(source, "forms", ())]

    def capture_source(self, request: CaptureRequest) -> CaptureSource:
        """The source that reads ``request``; else 415 listing the accepted media types, or 422 naming the
        file parts a multipart submission needs."""
        for source in self.capture_sources:
            if source.accepts(request):
                return source
        forms = [f for f in self.capture_forms if f.media_type == request.media_type]
        if not forms:
            accepted = ", ".join(sorted({f.media_type for f in self.capture_forms}))
            raise UnsupportedMediaError("content-type", f"{request.media_type or 'no Content-Type'} is not accepted here; send one of {accepted}")
        parts = " or ".join(f"'{part}'" for form in forms for part in form.file_parts)
        got = ", ".join(f"'{name}'" for name in sorted(request.files)) or "none"
        raise InputError("body", f"a {request.media_type} submission needs a {parts} file part; file parts received: {got}")


def _entry_point_plugins() -> list[tuple[str, Callable[[], object], str, str | None]]:
    found = []
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        dist = ep.dist
        found.append((ep.name, ep.load, f"entry point {ep.value}", dist.version if dist else None))
    return found


def build_plugins(
    settings: Settings,
    *,
    extra: Iterable[tuple[str, object]] = (),
    entry_points: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Plugins:
    """Load plugins, bind their settings and collect what they register.

    ``extra`` adds (name, module-or-object) pairs without installing anything — how tests and embedding
    applications add a plugin. ``entry_points=False`` skips discovery (tests that want only ``extra``).
    """
    import os

    environ = os.environ if environ is None else environ
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Plugins(settings=settings)

    candidates = list(_entry_point_plugins()) if entry_points else []
    candidates += [(name, _loader(obj), "registered in process", None) for name, obj in extra]
    registry.statuses = [PluginStatus(name=name, source=source, version=version) for name, _, source, version in candidates]
    # pluggy calls the plugin registered last first: registering in reverse makes the call order the
    # discovery order (entry points, then ``extra``), so the first capture source found is asked first
    for (name, load, _, _), status in reversed(list(zip(candidates, registry.statuses, strict=True))):
        if not settings.plugin_enabled(name):
            status.status = "disabled"
            continue
        try:
            plugin = load()
            pm.register(plugin, name=name)
            for caller in pm.get_hookcallers(plugin) or []:
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin:
                        impl.function = _attributed(impl.function, name)  # type: ignore[misc]  # pluggy types it Final; wrapping at registration is the one way to know whose code runs
            status.hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
            unknown = [caller.name for caller in pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
            if unknown:
                pm.unregister(plugin)
                raise SettingsError(f"implements unknown hook(s) {', '.join(unknown)}; see gateway/contract/hookspecs.py")
        except Exception as exc:  # isolation: a broken plugin is reported, never fatal
            status.status, status.error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("plugin_failed", plugin=name, error=status.error)

    registry._pm = pm
    schemas: dict[str, type] = {}
    for _, (name, schema) in _registrations(pm, registry, "register_settings", {}):
        schemas[name] = schema  # checked in register: (name, Struct type)
    settings.bind_plugin_settings(schemas, environ)

    sinks: dict[str, Callable[[Any], None]] = {
        "register_event_types": lambda pair: _add_unique(registry.event_types, pair[0], pair[1], "event type"),
        "register_event_documents": lambda d: _add_documents(registry, d),
        "register_trajectory_sources": registry.trajectory_sources.append,
        "register_live_observers": registry.live_observers.append,
        "register_worklist_priorities": registry.worklist_priorities.append,
        "register_migrations": registry.migrations.append,
        "register_capture_sources": registry.capture_sources.append,
        "register_models": lambda m: _add_unique(registry.models, m.info.model_id, m, "model"),
        "register_explainers": registry.explainers.append,
        "register_outputs": lambda o: _add_unique(registry.outputs, o.name, o, "output"),
        "register_destinations": lambda d: _add_unique(registry.destinations, d.name, d, "destination"),
        "register_routes": registry.routes.append,
        "register_commands": registry.commands.append,
        "register_ui_links": lambda pair: registry.ui_links.append((pair[0], pair[1])),
        "register_frame_ancestors": lambda origin: registry.frame_ancestors.append(origin) if origin not in registry.frame_ancestors else None,
    }
    for hook in REGISTRATION_HOOKS:
        for status, args in _registrations(pm, registry, hook, {"settings": settings}):
            obj = args if hook in PAIR_HOOKS else args[0]
            sinks[hook](obj)
            labels = [args[0]] if hook in PAIR_HOOKS else _labels(obj)
            status.provides.extend(label for label in labels if label not in status.provides)
    for destination in registry.destinations.values():
        if destination.output is not None and destination.output not in registry.outputs:
            raise SettingsError(f"destination {destination.name!r} sends the {destination.output!r} output, which no loaded plugin registers")
    return registry


PAIR_HOOKS = ("register_event_types", "register_ui_links")
"""Registration hooks whose ``register`` takes two strings rather than one object."""

FRAME_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
"""An origin a CSP ``frame-ancestors`` source may name: no path, no wildcard, no quote."""

EVENT_TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+")
"""Dotted lower-case names (``pain.sustained``), at most 40 characters: the ledger's column holds them."""


def _checked(hook: str, args: tuple[Any, ...]) -> None:
    """What ``register`` takes for ``hook``; raised inside the plugin's implementation, so that plugin fails, not start-up."""
    if hook in ("register_settings", "register_event_types"):
        if len(args) != 2 or not isinstance(args[0], str):
            raise TypeError(f"{hook}: register takes (name, {'Struct type' if hook == 'register_settings' else 'description'}), got {len(args)} argument(s)")
        if hook == "register_settings" and not isinstance(args[1], type):
            raise TypeError(f"register_settings: the schema of {args[0]!r} must be a msgspec Struct type")
        if hook == "register_event_types" and not (len(args[0]) <= 40 and EVENT_TYPE_NAME.fullmatch(args[0]) and isinstance(args[1], str)):
            raise SettingsError(f"event type {args[0]!r} is not a dotted lower-case name of at most 40 characters, e.g. 'pain.sustained'")
        return
    if hook == "register_ui_links":
        if len(args) != 2 or not all(isinstance(arg, str) for arg in args) or not args[1].startswith("/ui/") or not args[0].strip():
            raise TypeError(f"register_ui_links: register takes (label, href) with href a path under /ui/, got {args!r:.200}")
        return
    if len(args) != 1:
        raise TypeError(f"{hook}: register takes one object, got {len(args)} arguments")
    obj = args[0]
    if hook == "register_frame_ancestors" and not (isinstance(obj, str) and FRAME_ORIGIN.fullmatch(obj)):
        raise TypeError(f"register_frame_ancestors: register takes an origin such as 'https://ehr.example.org' (scheme, host, port), got {obj!r:.200}")
    if hook == "register_migrations" and not isinstance(obj, Migrations):
        raise TypeError("register_migrations: register takes a Migrations(branch, directory)")
    if hook == "register_models" and not isinstance(getattr(getattr(obj, "info", None), "model_id", None), str):
        raise TypeError("register_models: a model needs info.model_id (a ModelInfo)")
    if hook in ("register_outputs", "register_destinations") and not isinstance(getattr(obj, "name", None), str):
        raise TypeError(f"{hook}: the object needs a name")


def _add_documents(registry: Plugins, documents: EventDocuments) -> None:
    """An event type's documents come from one plugin, for a type that is declared and not the core's."""
    for event_type in documents.event_types:
        if event_type in CORE_EVENT_TYPES or event_type not in registry.event_types:
            raise SettingsError(f"{documents.name!r} renders documents for {event_type!r}, which is not a plugin's declared event type (register_event_types)")
        _add_unique(registry.event_documents, event_type, documents, "documents of the event type")


def _loader(obj: object) -> Callable[[], object]:
    return lambda: obj


def _add_unique(registry: dict[str, Any], name: str, obj: Any, kind: str) -> None:
    """Two plugins claiming one name would make results depend on load order: refuse to start."""
    if name in registry:
        raise SettingsError(f"two plugins register the {kind} {name!r}; disable one (PAIN_GATEWAY_DISABLED_PLUGINS)")
    registry[name] = obj


def _labels(obj: Any) -> list[str]:
    """What ``/v1/plugins`` lists for a registered object: a route's paths (a controller's, one per path), else its name."""
    if hasattr(obj, "paths"):  # a Litestar route handler
        return [", ".join(sorted(obj.paths))]
    path = getattr(obj, "path", None)
    if isinstance(obj, type) and hasattr(obj, "get_route_handlers") and isinstance(path, str):  # a Litestar Controller
        base = path.rstrip("/")
        handlers = [getattr(obj, name) for name in dir(obj) if not name.startswith("_")]
        return sorted({(base + path.rstrip("/")) or "/" for handler in handlers for path in getattr(handler, "paths", ())})
    if isinstance(obj, Migrations):
        return [f"migrations {obj.branch}"]
    info = getattr(obj, "info", None)
    return [str(getattr(obj, "name", None) or getattr(info, "model_id", None) or getattr(obj, "__name__", type(obj).__name__))]


def _registrations(pm: pluggy.PluginManager, registry: Plugins, hook: str, kwargs: dict[str, Any]) -> list[tuple[PluginStatus, tuple[Any, ...]]]:
    """Call a registration hook; what a plugin registers counts only if its implementation succeeds."""
    pending: list[tuple[str, tuple[Any, ...]]] = []

    def register(*args: Any) -> None:
        plugin = _CURRENT.get()
        if plugin is None:
            raise RuntimeError("register was called outside a hook implementation (e.g. kept and called later)")
        _checked(hook, args)
        pending.append((plugin, args))

    def failed(plugin: str, exc: Exception) -> None:
        status = _status(registry, plugin)
        status.status, status.error = "failed", f"{hook}: {type(exc).__name__}: {exc}"
        log.warning("plugin_failed", plugin=plugin, hook=hook, error=status.error)
        pending[:] = [(name, args) for name, args in pending if name != plugin]

    _call(pm, hook, {"register": register, **kwargs}, failed)
    return [(_status(registry, plugin), args) for plugin, args in pending]


def _status(registry: Plugins, plugin: str) -> PluginStatus:
    return next(s for s in registry.statuses if s.name == plugin)


_CURRENT: ContextVar[str | None] = ContextVar("pain_gateway_plugin", default=None)
"""The plugin whose hook implementation runs now (``register`` is called from inside it)."""

_RAN: ContextVar[set[str] | None] = ContextVar("pain_gateway_plugins_ran", default=None)
"""The plugins whose (non-wrapper) implementations ran in the current hook call."""

_BLAME = "pain_gateway_plugin"
"""Set on an exception by the innermost plugin implementation it passed through."""


def _blame(exc: BaseException, plugin: str) -> None:
    if getattr(exc, _BLAME, None) is None:
        with contextlib.suppress(AttributeError, TypeError):  # an exception type without a __dict__
            setattr(exc, _BLAME, plugin)


def _attributed(function: Callable[..., Any], plugin: str) -> Callable[..., Any]:
    """``function`` (one plugin's hook implementation) run with that plugin as ``_CURRENT``, noted in ``_RAN``,
    and any exception blamed on it: attribution by plugin, whatever code objects plugins share."""
    if inspect.isgeneratorfunction(function):  # a wrapper: around the others, never counted as ran

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _CURRENT.set(plugin)
            try:
                return (yield from function(*args, **kwargs))
            except BaseException as exc:
                _blame(exc, plugin)
                raise
            finally:
                _CURRENT.reset(token)

        return wrapper

    if inspect.iscoroutinefunction(function):  # awaited later, by the caller: attribute it there too
        coroutine_function = function

        @functools.wraps(coroutine_function)
        async def awaited(*args: Any, **kwargs: Any) -> Any:
            token = _CURRENT.set(plugin)
            try:
                return await coroutine_function(*args, **kwargs)
            except BaseException as exc:
                _blame(exc, plugin)
                raise
            finally:
                _CURRENT.reset(token)

        function = awaited

    @functools.wraps(function)
    def implementation(*args: Any, **kwargs: Any) -> Any:
        token = _CURRENT.set(plugin)
        ran = _RAN.get()
        if ran is not None:
            ran.add(plugin)
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            _blame(exc, plugin)
            raise
        finally:
            _CURRENT.reset(token)

    return implementation


def _call(
    pm: pluggy.PluginManager,
    hook: str,
    kwargs: dict[str, Any],
    failed: Callable[[str, Exception], None],
    *,
    unregister: bool = True,
    results: list[Any] | None = None,
) -> None:
    """``pm.hook.<hook>(**kwargs)``; when an implementation raises, ``failed(plugin, error)`` is told, its plugin
    unregistered (unless ``unregister`` is false), and the implementations that had not run yet are called
    through ``pm.subset_hook_caller`` (each retry leaves out at least the failed plugin, so it ends). A wrapper
    that fails after its ``yield`` fails alone: what the others did stands. An error in no plugin is ours.
    With ``results``, the implementations' return values are collected there, and a retry calls again
    the ones that had run before the failure (their values were lost with pluggy's call)."""
    caller = getattr(pm.hook, hook)
    names = caller.spec.argnames if caller.spec else tuple(kwargs)
    arguments = {name: value for name, value in kwargs.items() if name in names}
    plugins = [impl.plugin_name for impl in caller.get_hookimpls() if not (impl.hookwrapper or impl.wrapper)]
    done: set[str] = set()
    while True:
        ran: set[str] = set()
        token = _RAN.set(ran)
        try:
            returned = caller(**arguments)
            if results is not None:
                results.extend(returned or ())
            return
        except Exception as exc:
            plugin = getattr(exc, _BLAME, None)
            if plugin is None or plugin in done:
                raise
            failed(plugin, exc)
            if unregister:
                pm.unregister(name=plugin)
            done |= {plugin} if results is not None else ran | {plugin}
        finally:
            _RAN.reset(token)
        remaining = [p for p in plugins if p not in done]
        if not remaining:
            return
        caller = pm.subset_hook_caller(hook, remove_plugins=[p for name in done if (p := pm.get_plugin(name)) is not None])
