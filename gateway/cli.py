"""``pain-gateway`` command line: serve, score a file, list plugins, manage tokens, migrate.

Exit codes: 0 success, 1 failure, 2 input the user must fix (the message names the field).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
import msgspec

from gateway.domain import InputError
from gateway.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _plugins(settings: Settings):
    from gateway.plugins import build_plugins

    try:
        return build_plugins(settings)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


class PluginCommandGroup(click.Group):
    """The core's commands plus those plugins add through ``register_commands``, loaded on demand."""

    _plugin_commands: dict[str, click.Command] | None = None

    def plugin_commands(self) -> dict[str, click.Command]:
        if self._plugin_commands is None:
            self._plugin_commands = {c.name: c for c in _plugins(_settings()).commands}
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self.plugin_commands().get(name)


@click.group(cls=PluginCommandGroup)
def main() -> None:
    """Pain Gateway: AI pain assessment from facial landmarks, as FHIR. Decision support only."""
    from gateway.log import configure_logging

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)


def _upgrade(settings: Settings) -> None:
    from gateway.db.migrate import upgrade

    upgrade(settings.database_url)
    if settings.job_engine == "procrastinate":
        from gateway.jobs.distributed import apply_schema

        asyncio.run(apply_schema(settings.database_url))


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default from settings: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from settings: 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Embedded mode: processes scoring videos in the background (default from settings: 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database and run the API (and, in embedded mode, the background workers)."""
    import uvicorn

    from gateway.app import create_app

    settings = _settings()
    if workers is not None:
        settings.workers = workers
    _upgrade(settings)
    host, port = host or settings.host, port or settings.port
    app = create_app(settings, _plugins(settings))
    click.echo(f"Pain Gateway on http://{host}:{port}  API docs: http://{host}:{port}/schema (send a bearer token)", err=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}


def _file_request(file: Path, form: dict[str, str | None]):
    """The submission the API would have received for this file."""
    from gateway.contracts import CaptureRequest, UploadedFile

    suffix = file.suffix.lower()
    if suffix == ".json":
        return CaptureRequest("application/json", body=file.read_bytes())
    fields = {k: v for k, v in form.items() if v is not None}
    if suffix not in VIDEO_SUFFIXES:
        return CaptureRequest("multipart/form-data", fields=fields, files={"keypoints": UploadedFile(file.name, "application/octet-stream", file)})
    patient = ({"reference": fields["patient_reference"]} if "patient_reference" in fields
               else {"identifier": {"system": fields.get("patient_system"), "value": fields.get("patient_value")}})
    metadata = json.dumps({"patient": patient, "captured_at": fields.get("captured_at")})
    return CaptureRequest("multipart/form-data", fields={"metadata": metadata}, files={"video": UploadedFile(file.name, "video/*", file)})


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the FHIR Bundle here.")
@click.option("--patient-system", help="Patient identifier system (for .npy/.npz and video files).")
@click.option("--patient-value", help="Patient identifier value (for .npy/.npz and video files).")
@click.option("--patient-reference", help="'Patient/<id>' instead of an identifier.")
@click.option("--fps", help="Frames per second (for .npy/.npz files).")
@click.option("--captured-at", help="ISO-8601 start time with zone (for .npy/.npz and video files).")
@click.option("--image-size", help="'width,height' of the source video (optional, .npy/.npz).")
def score(file: Path, out: Path | None, **form: str | None) -> None:
    """Score a keypoints file (JSON, .npy, .npz) or a video: summary on stdout, FHIR Bundle to --out."""
    from tqdm import tqdm

    from gateway.scoring import score_clip

    plugins = _plugins(_settings())
    request = _file_request(file, form)
    try:
        source = plugins.capture_source(request)
        source.check(request)
        with tqdm(total=100, desc="landmarks", unit="%", disable=not source.deferred, file=sys.stderr) as bar:
            clip = source.capture(request, lambda fraction: bar.update(round(fraction * 100) - bar.n))
        scored = score_clip(clip, plugins)
    except InputError as exc:
        click.echo(f"error: {exc.field}: {exc.message}", err=True)
        sys.exit(2)
    a = scored.assessment
    click.echo(json.dumps({"assessment_id": a.id, "summary": msgspec.to_builtins(a.summary), "quality": msgspec.to_builtins(a.quality),
                           "model": f"{a.model.model_id} {a.model.version}", "disclaimer": a.disclaimer}, indent=2))
    if out is not None:
        if "fhir" not in scored.documents:
            raise click.ClickException(f"the FHIR output is not available: {scored.output_errors.get('fhir', 'plugin not loaded')}")
        out.write_text(json.dumps(scored.documents["fhir"].body, indent=2))
        click.echo(f"FHIR Bundle written to {out}", err=True)


@main.command("plugins")
def plugins_command() -> None:
    """List every plugin found, its hooks, what it registered and its status."""
    for status in _plugins(_settings()).statuses:
        click.echo(f"{status.name:<20} {status.status:<9} {status.version or '-':<8} {status.source}")
        click.echo(f"    hooks: {', '.join(status.hooks) or '-'}")
        click.echo(f"    provides: {', '.join(status.provides) or '-'}")
        if status.error:
            click.echo(f"    error: {status.error}")


@main.group()
def tokens() -> None:
    """Create, revoke and list API bearer tokens (stored hashed)."""


def _with_tokens(action):
    """Run ``action(TokenStore)`` on a migrated database and close the engine afterwards."""
    from gateway.db.engine import create_engine
    from gateway.db.migrate import upgrade
    from gateway.store import TokenStore

    url = _settings().database_url
    upgrade(url)

    async def run():
        engine = create_engine(url)
        try:
            return await action(TokenStore(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except InputError as exc:
        click.echo(f"error: {exc.field}: {exc.message}", err=True)
        sys.exit(2)


@tokens.command("create")
@click.option("--name", required=True, help="Who uses the token, e.g. 'epic-interface'.")
@click.option("--role", required=True, type=click.Choice(["integrator", "telehealth", "clinician", "admin"]))
def tokens_create(name: str, role: str) -> None:
    """Create a token; it is printed once and cannot be shown again."""
    info, secret = _with_tokens(lambda store: store.create(name, role))
    click.echo(f"id {info.id} role {info.role} name {info.name}", err=True)
    click.echo(secret)


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (see 'tokens list')."""
    if not _with_tokens(lambda store: store.revoke(token_id)):
        raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"revoked {token_id}")


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    for t in _with_tokens(lambda store: store.list()):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        click.echo(f"{t.id}  {t.role:<10} {state:<18} {t.name}")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (safe to run repeatedly), including the job queue's schema."""
    _upgrade(_settings())
    click.echo("database is up to date")


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Jobs run at once; CPU jobs use one core each, so run one worker per core.")
@click.option("--queue", "queues", multiple=True, type=click.Choice(["cpu", "io"]),
              help="Only these queues (default: both).")
def worker(concurrency: int, queues: tuple[str, ...]) -> None:
    """Run a distributed worker (PAIN_GATEWAY_JOB_ENGINE=procrastinate, PostgreSQL)."""
    from gateway.jobs.distributed import DistributedJobs

    settings = _settings()
    if settings.job_engine != "procrastinate":
        raise click.UsageError("workers need PAIN_GATEWAY_JOB_ENGINE=procrastinate and a PostgreSQL PAIN_GATEWAY_DATABASE_URL; "
                               "in embedded mode use 'pain-gateway serve --workers N'")
    _upgrade(settings)
    jobs = DistributedJobs(_plugins(settings))

    async def run() -> None:
        async with jobs.app.open_async():
            await jobs.run_worker(concurrency, list(queues) or None)

    asyncio.run(run())


if __name__ == "__main__":
    main()
