"""Plugin discovery and registration with per-plugin isolation.

Built-in and third-party plugins come through the same ``pain_gateway`` entry-point group. A plugin
that fails to import or to register is recorded with its error and skipped: one broken site plugin
must not take the gateway down. The result is a plain ``Plugins`` registry of typed objects.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy
import structlog

from gateway.contract import hookspecs
from gateway.contract.domain import AssessmentEvent, InputError, UnsupportedMediaError
from gateway.contract.protocols import CaptureRequest, CaptureSource, Destination, Explainer, Output, PainModel
from gateway.ops.settings import Settings, SettingsError

log = structlog.get_logger(__name__)

REGISTRATION_HOOKS = (
    "register_capture_sources",
    "register_models",
    "register_explainers",
    "register_outputs",
    "register_destinations",
    "register_routes",
    "register_commands",
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
    models: dict[str, PainModel] = field(default_factory=dict)
    explainers: list[Explainer] = field(default_factory=list)
    outputs: dict[str, Output] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    routes: list[Any] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    event_handlers: list[tuple[str, Callable[..., None], tuple[str, ...]]] = field(default_factory=list)

    def handle_event(self, event: AssessmentEvent) -> None:
        """Fire the ``handle_event`` hook; one failing observer is logged and never stops the others."""
        kwargs = {"event": event, "settings": self.settings}
        for plugin, handler, argnames in self.event_handlers:
            try:
                handler(**{arg: kwargs[arg] for arg in argnames})
            except Exception as exc:
                log.warning("event_handler_failed", plugin=plugin, event=event.type, error=f"{type(exc).__name__}: {exc}")

    def model(self, model_id: str | None = None) -> PainModel:
        model_id = model_id or self.settings.model
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none loaded"
            raise SettingsError(f"PAIN_GATEWAY_MODEL: no model {model_id!r} is registered ({known})") from None

    @property
    def capture_forms(self) -> list:
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
    candidates += [(name, (lambda obj=obj: obj), "registered in process", None) for name, obj in extra]
    for name, load, source, version in candidates:
        status = PluginStatus(name=name, source=source, version=version)
        registry.statuses.append(status)
        if not settings.plugin_enabled(name):
            status.status = "disabled"
            continue
        try:
            plugin = load()
            pm.register(plugin, name=name)
            status.hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
            unknown = [caller.name for caller in pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
            if unknown:
                pm.unregister(plugin)
                raise SettingsError(f"implements unknown hook(s) {', '.join(unknown)}; see gateway/contract/hookspecs.py")
        except Exception as exc:  # isolation: a broken plugin is reported, never fatal
            status.status, status.error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("plugin_failed", plugin=name, error=status.error)

    schemas: dict[str, type] = {}
    _call_each(pm, registry, "register_settings", lambda pair: schemas.__setitem__(*pair), settings=None)
    settings.bind_plugin_settings(schemas, environ)

    sinks: dict[str, Callable[[Any], None]] = {
        "register_capture_sources": registry.capture_sources.append,
        "register_models": lambda m: _add_unique(registry.models, m.info.model_id, m, "model"),
        "register_explainers": registry.explainers.append,
        "register_outputs": lambda o: _add_unique(registry.outputs, o.name, o, "output"),
        "register_destinations": lambda d: _add_unique(registry.destinations, d.name, d, "destination"),
        "register_routes": registry.routes.append,
        "register_commands": registry.commands.append,
    }
    for hook in REGISTRATION_HOOKS:
        _call_each(pm, registry, hook, sinks[hook], settings=settings)
    for destination in registry.destinations.values():
        if destination.output is not None and destination.output not in registry.outputs:
            raise SettingsError(f"destination {destination.name!r} sends the {destination.output!r} output, which no loaded plugin registers")
    registry.event_handlers = [(pm.get_name(impl.plugin), impl.function, tuple(impl.argnames)) for impl in pm.hook.handle_event.get_hookimpls()]
    return registry


def _add_unique(registry: dict[str, Any], name: str, obj: Any, kind: str) -> None:
    """Two plugins claiming one name would make results depend on load order: refuse to start."""
    if name in registry:
        raise SettingsError(f"two plugins register the {kind} {name!r}; disable one (PAIN_GATEWAY_DISABLED_PLUGINS)")
    registry[name] = obj


def _label(obj: Any) -> str:
    if hasattr(obj, "paths"):  # a Litestar route handler
        return ", ".join(sorted(obj.paths))
    info = getattr(obj, "info", None)
    return str(getattr(obj, "name", None) or getattr(info, "model_id", None) or getattr(obj, "__name__", type(obj).__name__))


def _call_each(pm: pluggy.PluginManager, registry: Plugins, hook: str, sink: Callable[[Any], None], settings: Settings | None) -> None:
    """Call ``hook`` plugin by plugin; what a plugin registers counts only if its hook call succeeds."""
    for impl in getattr(pm.hook, hook).get_hookimpls():
        status = next(s for s in registry.statuses if s.name == pm.get_name(impl.plugin))
        pending: list[Any] = []
        register = (lambda name, schema, pending=pending: pending.append((name, schema))) if settings is None else pending.append
        kwargs = {"register": register, "settings": settings}
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as exc:  # isolation: a broken plugin is reported, never fatal
            status.status, status.error = "failed", f"{hook}: {type(exc).__name__}: {exc}"
            log.warning("plugin_failed", plugin=status.name, hook=hook, error=status.error)
            pm.unregister(impl.plugin)
            continue
        for obj in pending:
            sink(obj)
            if settings is not None:
                status.provides.append(_label(obj))
