"""Gateway settings: embedded defaults, an optional TOML file, then ``PAIN_GATEWAY_*`` environment.

Everything is validated at start-up so a typo stops the gateway with a message naming the setting,
instead of surfacing as odd behaviour later. Plugins declare typed sections through the
``register_settings`` hook; see ``bind_plugin_settings``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

ENV_PREFIX = "PAIN_GATEWAY_"
PLUGIN_ENV_PREFIX = ENV_PREFIX + "PLUGIN_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
LIST_SETTINGS = {
    "cors_origins",
    "enabled_plugins",
    "disabled_plugins",
    "webhook_allowlist",
    "delivery_retry_schedule_s",
    "metrics_allowlist",
    "trusted_proxies",
}

DELIVERY_RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
"""Waits before each retry (the Standard Webhooks example: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
20 h, 24 h, about 75 h in all), each with ±20 % jitter; after the last, the delivery is dead-lettered."""


class SettingsError(ValueError):
    """A setting is missing, unknown or invalid; the message names it and says how to fix it."""


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, dict=True):
    """The gateway's validated settings (embedded defaults, the TOML file, then ``PAIN_GATEWAY_*``); a plugin
    reads its own section with ``plugin_config(name)`` (docs: configuration reference)."""

    database_url: str = "sqlite+aiosqlite:///var/pain-gateway.db"
    host: str = "127.0.0.1"
    port: int = 8000
    model: str = "sta-lstm-synthetic"
    window_stride_s: float = 1.0
    max_gap_frames: int = 5
    sustained_windows: int = 2
    typicality_below: float = 0.01  # a scored window whose typicality (ModelOutput.typicality) is below this is counted unfamiliar; 0 counts none
    max_upload_mb: int = 200
    max_clock_skew_s: float = 300.0
    header_timeout_s: float = 10.0  # serve: a request line and headers must arrive within this from the first byte (or the connect); else 408, closed
    body_timeout_s: float = 30.0  # serve: an unfinished request body is closed after this long without a byte (a steady upload of any size is never cut)
    idle_timeout_s: float = 5.0  # serve: a keep-alive connection with no request in progress is closed after this long (uvicorn's timeout_keep_alive)
    data_dir: str = "var/data"
    job_engine: str = "embedded"
    workers: int = 1
    scoring_processes: int = 2  # serve: processes that parse and score keypoint submissions (gateway.service.scoring_pool); 0: the API process's threads
    max_attempts: int = 3
    stalled_after_s: float = 60.0
    retain_video: bool = False
    public_url: str = ""
    timezone: str = "UTC"  # the site's IANA time zone (e.g. Asia/Shanghai): caregiver summaries show times in it, with the zone; tz= overrides
    cors_origins: list[str] = msgspec.field(default_factory=list)
    webhook_allowlist: list[str] = msgspec.field(default_factory=list)
    delivery_retry_schedule_s: list[float] = msgspec.field(default_factory=lambda: list(DELIVERY_RETRY_SCHEDULE_S))
    delivery_timeout_s: float = 30.0
    delivery_concurrency: int = 8
    destination_alert_after_s: float = 900.0
    tenant_max_queued_jobs: int = 100
    tenant_max_pending_deliveries: int = 1000
    tenant_max_running_jobs: int = 4
    tenant_max_storage_mb: int = 2048
    retention_days: int = 365
    auth_failure_burst: int = 10
    auth_failure_window_s: float = 60.0
    ui_session_minutes: int = 480  # how long a review UI sign-in lasts (gateway.web.ui.sessions)
    metrics_allowlist: list[str] = msgspec.field(default_factory=list)  # who may scrape /metrics without a token (gateway.ops.metrics)
    trusted_proxies: list[str] = msgspec.field(default_factory=list)  # serve: X-Forwarded-For/-Proto honoured only from these addresses (deploy/haproxy.cfg)
    enabled_plugins: list[str] = msgspec.field(default_factory=list)
    disabled_plugins: list[str] = msgspec.field(default_factory=list)
    log_format: str = "auto"
    log_level: str = "info"
    plugins: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            ("port", 0 < self.port < 65536, "must be between 1 and 65535"),
            ("window_stride_s", 0.1 <= self.window_stride_s <= 30, "must be between 0.1 and 30 seconds"),
            ("max_gap_frames", 0 <= self.max_gap_frames <= 30, "must be between 0 and 30 frames"),
            ("sustained_windows", self.sustained_windows >= 1, "must be at least 1"),
            ("typicality_below", 0 <= self.typicality_below < 1, "must be at least 0 (count no window unfamiliar) and below 1, e.g. 0.01"),
            ("max_upload_mb", self.max_upload_mb >= 1, "must be at least 1"),
            ("max_clock_skew_s", 0 <= self.max_clock_skew_s <= 86400, "must be between 0 and 86400 seconds (how far captured_at may lie in the future)"),
            ("header_timeout_s", 1 <= self.header_timeout_s <= 300, "must be between 1 and 300 seconds (for a request's line and headers)"),
            ("body_timeout_s", 1 <= self.body_timeout_s <= 3600, "must be between 1 and 3600 seconds (without a byte of an unfinished request body)"),
            ("idle_timeout_s", 1 <= self.idle_timeout_s <= 3600, "must be between 1 and 3600 seconds (an idle keep-alive connection)"),
            (
                "job_engine",
                self.job_engine in {"embedded", "procrastinate"},
                "must be embedded (in-process, any database) or procrastinate (PostgreSQL, separate workers)",
            ),
            (
                "job_engine",
                self.job_engine == "embedded" or self.database_url.startswith("postgresql"),
                "procrastinate needs PAIN_GATEWAY_DATABASE_URL=postgresql+psycopg://...",
            ),
            ("workers", 1 <= self.workers <= 64, "must be between 1 and 64 worker processes"),
            ("scoring_processes", 0 <= self.scoring_processes <= 64, "must be between 0 (score in the API process) and 64 processes"),
            ("max_attempts", 1 <= self.max_attempts <= 20, "must be between 1 and 20"),
            ("stalled_after_s", self.stalled_after_s >= 5, "must be at least 5 seconds"),
            ("log_format", self.log_format in {"auto", "json", "console"}, "must be auto, json or console"),
            ("log_level", self.log_level in {"debug", "info", "warning", "error"}, "must be debug, info, warning or error"),
            ("timezone", is_time_zone(self.timezone), "must be an IANA time zone name, e.g. UTC, Europe/London or Asia/Shanghai"),
            ("database_url", "://" in self.database_url, "must be an SQLAlchemy async URL, e.g. sqlite+aiosqlite:///var/pain-gateway.db"),
            (
                "public_url",
                not self.public_url or self.public_url.startswith(("http://", "https://")),
                "must be the gateway's external http(s) base URL, e.g. https://pain.example.org",
            ),
            (
                "cors_origins",
                all(o == "*" or (o.startswith(("http://", "https://")) and o.count("/") == 2) for o in self.cors_origins),
                "must be browser origins without a path (e.g. https://portal.example.org) or *",
            ),
            (
                "delivery_retry_schedule_s",
                all(0 < s <= 7 * 86400 for s in self.delivery_retry_schedule_s),
                "must be waits in seconds, each between 0 and 7 days, e.g. 5,300,1800",
            ),
            ("delivery_timeout_s", 1 <= self.delivery_timeout_s <= 300, "must be between 1 and 300 seconds"),
            ("delivery_concurrency", 1 <= self.delivery_concurrency <= 256, "must be between 1 and 256"),
            ("destination_alert_after_s", self.destination_alert_after_s >= 10, "must be at least 10 seconds"),
            ("tenant_max_queued_jobs", 1 <= self.tenant_max_queued_jobs <= 100_000, "must be between 1 and 100000 waiting submissions"),
            ("tenant_max_pending_deliveries", 1 <= self.tenant_max_pending_deliveries <= 1_000_000, "must be between 1 and 1000000 deliveries"),
            ("tenant_max_running_jobs", 1 <= self.tenant_max_running_jobs <= 1024, "must be between 1 and 1024 running submissions"),
            ("tenant_max_storage_mb", 0 <= self.tenant_max_storage_mb <= 100_000_000, "must be between 0 (unlimited) and 100000000 MB"),
            ("retention_days", 0 <= self.retention_days <= 36_500, "must be between 0 (keep forever) and 36500 days"),
            ("auth_failure_burst", 1 <= self.auth_failure_burst <= 10000, "must be between 1 and 10000 failed authentications"),
            ("auth_failure_window_s", 1 <= self.auth_failure_window_s <= 86400, "must be between 1 and 86400 seconds"),
            ("ui_session_minutes", 5 <= self.ui_session_minutes <= 1440, "must be between 5 and 1440 minutes (a day)"),
            (
                "trusted_proxies",
                all(_is_network(e) for e in self.trusted_proxies),
                "must be the reverse proxy's IP addresses or CIDRs, e.g. 127.0.0.1,10.0.0.0/8 (X-Forwarded-* from anyone else is ignored)",
            ),
            (
                "metrics_allowlist",
                all(_is_network(e) for e in self.metrics_allowlist),
                "must be IP addresses or CIDRs allowed to scrape /metrics without a token, e.g. 10.0.0.5,10.1.0.0/16",
            ),
        ]
        for name, ok, message in checks:
            if not ok:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {message} (got {getattr(self, name)!r})")

    @property
    def base_url(self) -> str:
        """Where clients reach the gateway: links in webhooks and messages never come from a request."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def plugin_enabled(self, name: str) -> bool:
        if name in self.disabled_plugins:
            return False
        return not self.enabled_plugins or name in self.enabled_plugins

    def plugin_config(self, name: str) -> Any:
        """The plugin's validated settings Struct, as declared through ``register_settings``."""
        try:
            return self.__dict__["plugin_configs"][name]
        except KeyError:
            raise SettingsError(f"plugin {name!r} did not register settings (register_settings hook)") from None

    def bind_plugin_settings(self, schemas: Mapping[str, type], environ: Mapping[str, str]) -> None:
        """Validate each plugin's TOML table plus ``PAIN_GATEWAY_PLUGIN_<NAME>_<FIELD>`` overrides."""
        unknown_tables = set(self.plugins) - set(schemas)
        if unknown_tables:
            raise SettingsError(f"[plugins.{sorted(unknown_tables)[0]}]: no loaded plugin declares these settings")
        bound = self.__dict__.setdefault("plugin_configs", {})
        for name, schema in schemas.items():
            raw = dict(self.plugins.get(name, {}))
            prefix = f"{PLUGIN_ENV_PREFIX}{name.upper()}_"
            fields = {f.name.upper(): f for f in msgspec.structs.fields(schema)}
            for key, value in environ.items():
                if key.startswith(prefix):
                    field = fields.get(key[len(prefix) :])
                    if field is None:
                        raise SettingsError(f"{key}: unknown setting for plugin {name!r}; known: {', '.join(sorted(fields))}")
                    raw[field.encode_name] = value
            try:
                bound[name] = msgspec.convert(raw, schema, strict=False)
            except msgspec.ValidationError as exc:
                raise SettingsError(f"plugin {name!r} settings: {exc}") from None


def is_time_zone(name: str) -> bool:
    """An IANA zone name the installed tz database knows (``UTC``, ``Asia/Shanghai``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    fields = {f.name.upper(): f.name for f in msgspec.structs.fields(Settings) if f.name != "plugins"}
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key.startswith(PLUGIN_ENV_PREFIX) or key == CONFIG_ENV:
            continue
        name = fields.get(key[len(ENV_PREFIX) :])
        if name is None:
            raise SettingsError(f"{key}: unknown setting; known: {', '.join(ENV_PREFIX + f for f in sorted(fields))}")
        values[name] = [v.strip() for v in value.split(",") if v.strip()] if name in LIST_SETTINGS else value
    return values


def load_settings(environ: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Defaults, then the TOML file (``PAIN_GATEWAY_CONFIG`` or ``config_file``), then the environment."""
    environ = os.environ if environ is None else environ
    path = config_file or environ.get(CONFIG_ENV)
    values: dict[str, Any] = {}
    if path:
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise SettingsError(f"{CONFIG_ENV}: settings file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    values.update(_env_values(environ))
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"settings: {exc}") from None
