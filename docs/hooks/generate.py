"""MkDocs hooks: the pages that describe code are generated from that code at build time, so they cannot drift.

A page asks for a generated part with a marker on a line of its own:

- ``<!-- generated: settings -->``: the core settings, from ``gateway.ops.settings.Settings`` (fields, types,
  defaults, the comment or docstring beside a field, and the messages its ``__post_init__`` checks give);
- ``<!-- generated: plugin-settings -->``: every loaded plugin's settings Struct (from ``register_settings``);
- ``<!-- generated: hooks -->``: the hook reference, from the hookspecs' docstrings in ``gateway.contract.hookspecs``;
- ``<!-- generated: plugin-api -->``: the names ``gateway.plugin_api`` exports (``from gateway import ...``);
- ``<!-- generated: layers -->``: the modules of each layer of ``gateway/`` with the first line of their docstring.

Anything that cannot be generated (a core setting with no description, a marker no page uses) is logged as
a warning, which ``mkdocs build --strict`` (run by tests/unit/test_docs_site.py) turns into a failed build.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import logging
import re
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("mkdocs.plugins.pain_gateway_docs")
ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["ops", "contract", "pipeline", "storage", "service", "web"]

# What each core setting means, for fields whose definition carries no comment or docstring of its own. A
# comment or docstring in gateway/ops/settings.py wins over this table; a field in neither is a build warning,
# and so is an entry here naming a field Settings no longer has.
DESCRIPTIONS = {
    "database_url": "SQLAlchemy async URL of the database: SQLite (no server) or `postgresql+psycopg://user@host/db`.",
    "host": "Address `pain-gateway serve` listens on.",
    "port": "Port `pain-gateway serve` listens on.",
    "model": "Model id that scores submissions (a model plugin registers it).",
    "window_stride_s": "Stride of the 1-second scoring windows, in seconds.",
    "max_gap_frames": "Longest run of frames without a face that is interpolated; a longer gap makes its window unscorable.",
    "sustained_windows": "The summary rule's run length: the most severe level held for at least this many consecutive scorable windows.",
    "max_upload_mb": "Request body limit for uploads (`413` beyond it).",
    "max_clock_skew_s": "How far `captured_at` may lie in the future.",
    "data_dir": "Uploads and kept landmarks; shared by the API and every worker.",
    "job_engine": "`embedded` (the database is the queue, any database) or `procrastinate` (PostgreSQL, `pain-gateway worker` processes).",
    "workers": "Embedded processes for background jobs (video).",
    "scoring_processes": "`serve`: processes that parse and score keypoint submissions and live sessions' clips; `0`: the API process's threads.",
    "max_attempts": "How many times a job is tried before it is `failed`.",
    "stalled_after_s": "A job whose worker sent no heartbeat for this long is retried.",
    "retain_video": "Keep the raw video after its landmarks are extracted.",
    "public_url": "The gateway's external base URL, for links, `Location` and FHIR URLs (empty: `http://HOST:PORT`); never taken from a request.",
    "cors_origins": "Browser origins allowed cross-origin (e.g. `https://portal.example.org`); none: preflights get 403.",
    "webhook_allowlist": "Hosts or CIDRs webhooks may reach although private (e.g. `hooks.internal,10.20.0.0/16`).",
    "delivery_retry_schedule_s": "Waits before each delivery retry (±20 % jitter); after the last, the delivery is dead-lettered.",
    "delivery_timeout_s": "Per delivery attempt.",
    "delivery_concurrency": "Deliveries sent at once (embedded mode).",
    "destination_alert_after_s": "`/ready` reports a destination failing for longer as `degraded`.",
    "tenant_max_queued_jobs": "Per tenant: submissions waiting (beyond: `429` with `Retry-After`).",
    "tenant_max_pending_deliveries": "Per tenant: deliveries due or being sent; a submission arriving at or over it is refused `429` "
    "with `Retry-After` before any work (retries scheduled for later do not count).",
    "tenant_max_storage_mb": "Per tenant: MB of kept landmarks on disk; a submission arriving at or over it is refused `413` before any work, "
    "until retention or an operator frees space (`0`: unlimited).",
    "retention_days": "Kept landmarks older than this many days are deleted (and audited) at start and daily, or by "
    "`pain-gateway retention run` (`0`: keep forever).",
    "tenant_max_running_jobs": "Per tenant: submissions being processed at once.",
    "auth_failure_burst": "Failed authentications from one address within the window before it is throttled (`429`).",
    "auth_failure_window_s": "The window of the failed-authentication throttle.",
    "ui_session_minutes": "How long a review UI sign-in lasts.",
    "metrics_allowlist": "IPs or CIDRs that may scrape `/metrics` without a token.",
    "trusted_proxies": (
        "IPs or CIDRs of the reverse proxy: only from these are `X-Forwarded-For` and `X-Forwarded-Proto` believed "
        "(the client address for rate limits and `/metrics`, the scheme). Empty: from nobody."
    ),
    "enabled_plugins": "Plugin names to load (empty: all).",
    "disabled_plugins": "Plugin names not to load.",
    "log_format": "`auto` (JSON off a terminal), `json` or `console`.",
    "log_level": "`debug`, `info`, `warning` or `error`.",
}

_used: set[str] = set()


def on_pre_build(config: Any) -> None:
    _used.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, generate in GENERATORS.items():
        if f"<!-- generated: {marker} -->" in markdown:
            _used.add(marker)
            try:
                text = generate()
            except Exception as exc:
                log.warning("%s: the generated part %r failed: %s: %s", page.file.src_uri, marker, type(exc).__name__, exc)
                text = f"!!! failure\n    The {marker} reference could not be generated: `{type(exc).__name__}: {exc}`\n"
            markdown = markdown.replace(f"<!-- generated: {marker} -->", text)
    return markdown


def on_post_build(config: Any) -> None:
    for marker in sorted(set(GENERATORS) - _used):
        log.warning("no page uses the generated part %r (marker <!-- generated: %s -->)", marker, marker)


# --- helpers -------------------------------------------------------------------------------------------------


def rst_to_markdown(text: str) -> str:
    """Docstrings here are reStructuredText-ish: ``code`` and ``Example::`` blocks. Turn them into Markdown."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            out.append(f"{head}:" if head else "")
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            code = textwrap.dedent("\n".join(block)).strip("\n")
            language = "toml" if code.lstrip().startswith("[") else "python"
            out += ["", f"```{language}", code, "```", ""]
            continue
        out.append(re.sub(r"``(.+?)``", r"`\1`", line))
        i += 1
    return "\n".join(out)


def inline(text: str) -> str:
    """One table cell: Markdown inline text with no line breaks or pipes."""
    return re.sub(r"\s+", " ", rst_to_markdown(text)).replace("|", "\\|").strip()


def field_notes(cls: type) -> dict[str, str]:
    """Each annotated field's trailing ``# comment`` or following docstring, read from the class source."""
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, msgspec.Struct) or klass.__module__ == "msgspec":
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        comments = {
            tok.start[0]: tok.string.lstrip("#").strip() for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT
        }
        body = ast.parse(source).body[0].body
        for stmt, following in zip(body, [*body[1:], None], strict=True):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                name = stmt.target.id
                if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
                    notes[name] = following.value.value
                elif stmt.end_lineno in comments:
                    notes[name] = comments[stmt.end_lineno]
    return notes


def check_messages(cls: type) -> dict[str, list[str]]:
    """The ``(field, condition, message)`` checks of ``__post_init__``: what each field accepts."""
    messages: dict[str, list[str]] = {}
    source = textwrap.dedent(inspect.getsource(cls.__post_init__))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple) and len(node.elts) == 3:
            name, _, message = node.elts
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and isinstance(message, ast.Constant) and isinstance(message.value, str):
                messages.setdefault(name.value, []).append(message.value)
    return messages


def default_of(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.NODEFAULT


def show_default(value: Any) -> str:
    if value is msgspec.NODEFAULT:
        return "required"
    if value == "" or value == [] or value == {}:
        return "*(empty)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | tuple):
        return "`" + ",".join(_number(v) for v in value) + "`"
    if isinstance(value, msgspec.Struct):
        return "*(a table)*"
    return f"`{_number(value)}`"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def type_name(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None)
    text = name if name and not getattr(annotation, "__args__", None) else str(annotation)
    return "`" + re.sub(r"\b[\w.]+\.(\w+)", r"\1", text).replace("typing.", "") + "`"


# --- generated parts -----------------------------------------------------------------------------------------


def settings_reference() -> str:
    from gateway.ops import settings as module

    notes = field_notes(module.Settings)
    checks = check_messages(module.Settings)
    fields = [f for f in msgspec.structs.fields(module.Settings) if f.name != "plugins"]
    for stale in sorted(set(DESCRIPTIONS) - {f.name for f in fields}):
        log.warning("docs/hooks/generate.py describes %r, which Settings no longer has", stale)
    rows = ["| Variable | TOML key | Type | Default | What it sets | Accepted values |", "|---|---|---|---|---|---|"]
    for f in fields:
        description = notes.get(f.name) or DESCRIPTIONS.get(f.name)
        if not description:
            log.warning("setting %r has no description: add a comment beside it in gateway/ops/settings.py", f.name)
            description = ""
        description = description[:1].upper() + description[1:].rstrip(".") + "." if description else ""
        listed = " Comma-separated in the environment." if f.name in module.LIST_SETTINGS else ""
        accepted = "; ".join(checks.get(f.name, [])) or ""
        rows.append(
            f"| `{module.ENV_PREFIX}{f.name.upper()}` | `{f.name}` | {type_name(f.type)} | {show_default(default_of(f))} | "
            f"{inline(description)}{listed} | {inline(accepted)} |"
        )
    return "\n".join(rows) + "\n"


def plugin_settings_reference() -> str:
    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import PLUGIN_ENV_PREFIX, load_settings

    plugins = build_plugins(load_settings({}), environ={})
    for status in getattr(plugins, "statuses", []):
        if status.status == "failed":
            log.warning("plugin %r failed to load, so its settings may be missing: %s", status.name, status.error)
    configs = plugins.settings.__dict__.get("plugin_configs", {})
    if not configs:
        log.warning("no plugin registered settings: is the package installed (pip install -e .)?")
    parts: list[str] = []
    for name in sorted(configs):
        schema = type(configs[name])
        notes = field_notes(schema)
        parts += [
            f"### `{name}`",
            "",
            f"`[plugins.{name}]` in the settings file, `{PLUGIN_ENV_PREFIX}{name.upper()}_<FIELD>` in the environment "
            f"(`{schema.__module__}.{schema.__qualname__}`).",
            "",
        ]
        doc = inspect.getdoc(schema)
        if doc and doc != inspect.getdoc(msgspec.Struct):
            parts += [rst_to_markdown(doc), ""]
        parts += ["| Variable | TOML key | Type | Default | Note |", "|---|---|---|---|---|"]
        for f in msgspec.structs.fields(schema):
            parts.append(
                f"| `{PLUGIN_ENV_PREFIX}{name.upper()}_{f.name.upper()}` | `{f.encode_name}` | {type_name(f.type)} | "
                f"{show_default(default_of(f))} | {inline(notes.get(f.name, ''))} |"
            )
        parts.append("")
    return "\n".join(parts)


def hook_reference() -> str:
    from gateway.contract import hookspecs

    marker = f"{hookspecs.PROJECT}_spec"
    specs = [obj for obj in vars(hookspecs).values() if inspect.isfunction(obj) and hasattr(obj, marker)]
    specs.sort(key=lambda fn: fn.__code__.co_firstlineno)
    if not specs:
        log.warning("gateway.contract.hookspecs declares no hooks")
    parts = [rst_to_markdown(inspect.getdoc(hookspecs) or ""), "", "| Hook | Called |", "|---|---|"]
    for fn in specs:
        options = getattr(fn, marker) or {}
        flags = ", ".join(k for k, v in sorted(options.items()) if v is True) or "every implementation"
        summary = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        parts.append(f"| [`{fn.__name__}`](#{fn.__name__}) | {inline(flags)}: {inline(summary)} |")
    parts.append("")
    for fn in specs:
        sig = inspect.signature(fn)
        params = ", ".join(p.name if p.annotation is p.empty else f"{p.name}: {p.annotation}" for p in sig.parameters.values())
        signature = f"def {fn.__name__}({params}) -> {sig.return_annotation}:"
        parts += [f"## {fn.__name__}", "", "```python", "@hookimpl", signature, "```", "", rst_to_markdown(inspect.getdoc(fn) or ""), ""]
    return "\n".join(parts)


def plugin_api() -> str:
    path = ROOT / "gateway" / "plugin_api.py"
    if not path.exists():
        return "*`gateway/plugin_api.py` is not in this checkout yet.*\n"
    try:
        module = importlib.import_module("gateway.plugin_api")
    except Exception as exc:
        log.warning("gateway.plugin_api does not import: %s", exc)
        return ""
    names = sorted(getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")]))
    version = getattr(module, "PLUGIN_API_VERSION", None)
    rows = [f"`PLUGIN_API_VERSION` is `{version}`." if version is not None else "", "", "| Name | Kind | What it is |", "|---|---|---|"]
    for name in names:
        obj = getattr(module, name)
        kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "module" if inspect.ismodule(obj) else "constant"
        doc = inspect.getdoc(obj) if (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)) else None
        first = (doc or "").split("\n\n", 1)[0]
        if first.startswith(f"{getattr(obj, '__name__', name)}("):  # a dataclass's generated signature says nothing more
            first = ""
        origin = getattr(obj, "__module__", None) if not inspect.ismodule(obj) else obj.__name__
        where = f" (`{origin}`)" if origin and isinstance(origin, str) and origin.startswith("gateway") else ""
        rows.append(f"| `{name}` | {kind} | {inline(first)}{where} |")
    return "\n".join(rows) + "\n"


def layers() -> str:
    parts: list[str] = []
    for layer in LAYERS:
        folder = ROOT / "gateway" / layer
        if not folder.is_dir():
            log.warning("gateway/%s is missing: update docs/hooks/generate.py LAYERS and docs/architecture.md", layer)
            continue
        parts += [f"### `gateway/{layer}/`", "", "| Module | |", "|---|---|"]
        for path in sorted(folder.rglob("*.py")):
            if "migrations" in path.parts and path.parent.name == "versions":
                continue
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
            parts.append(f"| `{module}` | {inline(doc.split(chr(10) + chr(10), 1)[0])} |")
        parts.append("")
    return "\n".join(parts)


GENERATORS = {
    "settings": settings_reference,
    "plugin-settings": plugin_settings_reference,
    "hooks": hook_reference,
    "plugin-api": plugin_api,
    "layers": layers,
}
