"""``pain-gateway`` command line: serve, score a file, list plugins, manage tokens, migrate.

Exit codes: 0 success, 1 failure, 2 input the user must fix (the message names the field).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import click
import msgspec

from gateway.contract.domain import DEFAULT_TENANT, InputError
from gateway.ops.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _plugins(settings: Settings):
    from gateway.contract.plugin_manager import build_plugins

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
@click.version_option(package_name="pain-gateway", message="%(prog)s %(version)s")
def main() -> None:
    """Pain Gateway: AI pain assessment from facial landmarks, as FHIR. Decision support only."""
    from gateway.ops.log import configure_logging

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)


def _exit_after_shutdown(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _upgrade(settings: Settings) -> None:
    """The core's tables and those of every enabled plugin; installed but disabled plugins' migrations are
    found (a database that ran them still reads), never applied."""
    from gateway.storage.migrate import upgrade

    everything = msgspec.structs.replace(settings, enabled_plugins=[], disabled_plugins=[])
    try:
        upgrade(settings.database_url, _plugins(settings).migrations, installed=_plugins(everything).migrations)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if settings.job_engine == "procrastinate":
        from gateway.service.jobs.distributed import apply_schema

        asyncio.run(apply_schema(settings.database_url))


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default from settings: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default from settings: 8000).")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Embedded mode: processes scoring videos in the background (default from settings: 1)."
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database and run the API (and, in embedded mode, the background workers)."""
    import uvicorn

    from gateway.web.app import create_app

    settings = _settings()
    if workers is not None:
        settings.workers = workers
    # the serving address is the one links name (Location, links.*, FHIR next, live urls) unless
    # PAIN_GATEWAY_PUBLIC_URL says where clients reach the gateway; set before plugins read base_url
    settings.host, settings.port = host or settings.host, port or settings.port
    host, port = settings.host, settings.port
    _upgrade(settings)
    app = create_app(settings, _plugins(settings), warm=True)
    click.echo(serve_hints(settings), err=True)
    from gateway.contract.domain import WEBSOCKET_MAX_MESSAGE_BYTES
    from gateway.web.server import timed_h11_protocol

    # uvicorn re-raises SIGTERM once it has shut down gracefully; by default that kills the process before
    # the interpreter's exit handlers release the worker pools' semaphores ("leaked semaphore" warnings)
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        ws_max_size=WEBSOCKET_MAX_MESSAGE_BYTES,
        # live frames are float32 landmarks: deflate shrinks them by ~7 % and costs both ends CPU on every frame
        ws_per_message_deflate=False,
        # loop: uvicorn's "auto", i.e. uvloop where it installs (a pinned dependency): a cheaper event loop per frame
        http=timed_h11_protocol(settings.header_timeout_s, settings.body_timeout_s),
        timeout_keep_alive=settings.idle_timeout_s,
        proxy_headers=bool(settings.trusted_proxies),  # X-Forwarded-* from the configured proxies only, never from anyone
        forwarded_allow_ips=settings.trusted_proxies or [],
    )


WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def serve_hints(settings: Settings) -> str:
    """What ``serve`` (and so ``make run``) prints at start: the real address, a token command, the docs."""
    base = settings.base_url
    command = sys.argv[0] if Path(sys.argv[0]).name == "pain-gateway" else "pain-gateway"
    lines = [
        f"Pain Gateway on http://{settings.host}:{settings.port} (links name {base}; bundled model trained on synthetic data only)",
        f"  Get a token:  {command} tokens create --name me --role integrator",
        f"  API docs:     {base}/docs  (OpenAPI JSON at {base}/schema/openapi.json; calls need 'Authorization: Bearer <token>')",
        f"  Health:       {base}/health",
        f"  Review UI:    {base}/ui",
    ]
    if not settings.public_url and settings.host in WILDCARD_HOSTS:
        lines.append(f"  Listening on every interface: set PAIN_GATEWAY_PUBLIC_URL to the address clients use (links now say {base})")
    return "\n".join(lines)


VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}


def _file_request(file: Path, form: dict[str, str | None]):
    """The submission the API would have received for this file."""
    from gateway.contract.protocols import CaptureRequest, UploadedFile

    suffix = file.suffix.lower()
    if suffix == ".json":
        return CaptureRequest("application/json", body=file.read_bytes())
    fields = {k: v for k, v in form.items() if v is not None}
    if suffix not in VIDEO_SUFFIXES:
        return CaptureRequest("multipart/form-data", fields=fields, files={"keypoints": UploadedFile(file.name, "application/octet-stream", file)})
    patient = (
        {"reference": fields["patient_reference"]}
        if "patient_reference" in fields
        else {"identifier": {"system": fields.get("patient_system"), "value": fields.get("patient_value")}}
    )
    metadata = json.dumps({"patient": patient, "captured_at": fields.get("captured_at")})
    return CaptureRequest("multipart/form-data", fields={"metadata": metadata}, files={"video": UploadedFile(file.name, "video/*", file)})


OPTIONS = {
    "patient": "--patient-system/--patient-value or --patient-reference",
    "patient.reference": "--patient-reference",
    "patient.identifier.system": "--patient-system",
    "patient.identifier.value": "--patient-value",
    "captured_at": "--captured-at",
    "fps": "--fps",
    "image_size": "--image-size",
}
"""Submission fields that ``score`` and ``extract`` take from options (not from a JSON file)."""


def bad_input(exc: InputError, argument: str, from_options: bool = True) -> click.BadParameter:
    """An input error as click's usage error (exit 2), naming the option the user set, else the file argument."""
    option = OPTIONS.get(exc.field) if from_options else None
    return click.BadParameter(exc.message if option else f"{exc.field}: {exc.message}", param_hint=option or argument)


def progress_bar(enabled: bool):
    """tqdm on stderr only when it is a terminal: redirected to a file or a log collector, a bar is noise."""
    from tqdm import tqdm

    return tqdm(total=100, desc="landmarks", unit="%", disable=not (enabled and sys.stderr.isatty()), file=sys.stderr)


def human_summary(assessment, stored: str, queued: int) -> str:
    """``Level: mild — held 3 s; 10 windows scored`` plus where it went and the synthetic-data notice."""
    from gateway.pipeline.summary import held_s

    s = assessment.summary
    unscorable = f" ({s.unscorable_windows} unscorable)" if s.unscorable_windows else ""
    level = (
        f"Level: {s.level} — held {held_s(assessment.windows, s.level):g} s; {s.scored_windows} windows scored{unscorable}"
        if s.level
        else f"Level: none could be given — no scorable window{unscorable}"
    )
    face = f"; face in {assessment.quality.face_share:.0%} of frames" if assessment.quality else ""
    return "\n".join(
        [
            level,
            f"Assessment {assessment.id} ({stored}); model {assessment.model.model_id} {assessment.model.version}{face}",
            f"Deliveries queued: {queued}",
            assessment.disclaimer,
        ]
    )


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the FHIR Bundle here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for scripts) instead of the human summary.")
@click.option("--patient-system", help="Patient identifier system (for .npy/.npz and video files).")
@click.option("--patient-value", help="Patient identifier value (for .npy/.npz and video files).")
@click.option("--patient-reference", help="'Patient/<id>' instead of an identifier.")
@click.option("--fps", help="Frames per second (for .npy/.npz files).")
@click.option("--captured-at", help="ISO-8601 start time with zone (for .npy/.npz and video files).")
@click.option("--image-size", help="'width,height' of the source video (optional, .npy/.npz).")
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="The tenant the assessment belongs to.")
def score(file: Path, out: Path | None, as_json: bool, tenant: str, **form: str | None) -> None:
    """Score a keypoints file (JSON, .npy, .npz) or a video, store it like an API submission and queue its
    deliveries (a running gateway sends them): a summary on stdout (--json for machines), FHIR Bundle to --out."""
    from gateway.storage.deliveries import DeliveryQuery

    settings = _settings()
    plugins = _plugins(settings)
    if out is not None and "fhir" not in plugins.outputs:
        raise click.UsageError("--out needs the FHIR output plugin (fhir_observation), which is not loaded")
    request = _file_request(file, form)

    async def run(flow):
        try:
            source = plugins.capture_source(request)
            source.check(request)
            with progress_bar(source.deferred) as bar:
                clip = await flow.capture(source, request, lambda fraction: bar.update(round(fraction * 100) - bar.n))
            assessed = await flow.assess(clip, tenant)
        except InputError as exc:
            raise bad_input(exc, "FILE", from_options=request.media_type != "application/json") from None
        queued = (await flow.deliveries.search(DeliveryQuery(assessment_id=assessed.assessment.id)))[1]
        document = flow.render("fhir", assessed.assessment) if out is not None else None
        return assessed, queued, document

    assessed, queued, document = _with_flow(settings, plugins, run)
    a = assessed.assessment
    stored = "new" if assessed.created else "already stored"
    if as_json:
        click.echo(
            json.dumps(
                {
                    "assessment_id": a.id,
                    "summary": msgspec.to_builtins(a.summary),
                    "quality": msgspec.to_builtins(a.quality),
                    "model": f"{a.model.model_id} {a.model.version}",
                    "stored": stored,
                    "deliveries": queued,
                    "disclaimer": a.disclaimer,
                },
                indent=2,
            )
        )
    else:
        click.echo(human_summary(a, stored, queued))
    if document is not None:
        out.write_bytes(document.content)
        click.echo(f"FHIR Bundle written to {out}", err=True)


def keypoint_submission(points, fps: float, image_size, patient: dict, captured_at: str) -> dict:
    """The JSON keypoint submission (docs/guides/api.md, "Submitting keypoints"); 5 decimals (1e-5 of the frame, far below
    Face Mesh's jitter) keep a 5-s clip near 2 MB; frames without a face become null."""
    import numpy as np

    frames = [None if np.isnan(f).all() else np.round(f.astype(np.float64), 5).tolist() for f in points]
    return {"patient": patient, "fps": fps, "captured_at": captured_at, "image_size": list(image_size), "frames": frames}


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="keypoints.json (the JSON submission) or keypoints.npz (points plus the multipart form's fields).",
)
@click.option("--patient-system", help="Patient identifier system.")
@click.option("--patient-value", help="Patient identifier value.")
@click.option("--patient-reference", help="'Patient/<id>' instead of an identifier.")
@click.option("--captured-at", help="ISO-8601 start time with zone (default: now).")
def extract(video: Path, out: Path, **form: str | None) -> None:
    """Turn a face video into the keypoint submission an edge device sends instead of the video
    (the video capture source's own Face Mesh extraction, so the server would score the same landmarks)."""
    from datetime import UTC, datetime

    import numpy as np

    if out.suffix.lower() not in {".json", ".npz"}:
        raise click.BadParameter("must end in .json or .npz", param_hint="--out")
    if not form["patient_reference"] and not (form["patient_system"] or form["patient_value"]):
        raise click.BadParameter("is required", param_hint=OPTIONS["patient"])
    form["captured_at"] = form["captured_at"] or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = _file_request(video, form)
    source = _plugins(_settings()).capture_source(request)
    try:
        source.check(request)
        with progress_bar(True) as bar:
            clip = source.capture(request, lambda fraction: bar.update(round(fraction * 100) - bar.n))
    except InputError as exc:
        raise bad_input(exc, "VIDEO") from None
    patient = json.loads(request.fields["metadata"])["patient"]
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(keypoint_submission(clip.points, clip.fps, clip.image_size, patient, form["captured_at"])))
    else:
        fields = {k: v for k, v in form.items() if v is not None} | {"fps": str(clip.fps), "image_size": "{},{}".format(*clip.image_size)}
        np.savez_compressed(out, points=clip.points.astype(np.float32), **{k: np.array(v) for k, v in fields.items()})
    click.echo(f"{len(clip.points)} frames ({int(np.isfinite(clip.points[:, 0, 0]).sum())} with a face) written to {out}")


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


def _with_database(action, settings: Settings | None = None):
    """Run ``action(engine)`` on a migrated database and close the engine afterwards; exit 2 on input errors."""
    from gateway.storage.engine import create_engine

    settings = settings or _settings()
    _upgrade(settings)

    async def run():
        engine = create_engine(settings.database_url)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except InputError as exc:
        click.echo(f"error: {exc.field}: {exc.message}", err=True)
        sys.exit(2)


def _with_tokens(action):
    from gateway.storage.tokens import TokenStore

    return _with_database(lambda engine: action(TokenStore(engine)))


def _with_flow(settings: Settings, plugins, action):
    """Run ``action(flow)`` with the one assessment flow; the rows it writes are the jobs a gateway runs."""
    from gateway.service.flow import AssessmentFlow, RowsAreTheQueue

    return _with_database(lambda engine: action(AssessmentFlow(plugins, engine, RowsAreTheQueue())), settings)


def _token_line(t) -> str:
    """One token for humans: id, role, tenant, state (active, active until, expired, revoked, revokes at), name."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    if t.revoked_at is not None:
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at <= now else f"revokes {t.revoked_at:%Y-%m-%dT%H:%MZ}"
    elif t.expires_at is not None:
        state = f"{'expired' if t.expires_at <= now else 'active until'} {t.expires_at:%Y-%m-%dT%H:%MZ}"
    else:
        state = "active, no expiry"
    return f"{t.id}  {t.role:<10} {t.tenant:<16} {state:<29} {t.name}"


def _duration(option: str, text: str | None, maximum, allow_zero: bool = False):
    from gateway.contract.strict import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text, option, maximum, allow_zero)
    except InputError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


def _audited(action: str, change):
    """Run ``change(store) -> (result, token id or None)`` and audit it when it changed a token
    (the actor is the operator at the console: role ``system``)."""

    async def run(store):
        from gateway.storage import audit

        result, token_id = await change(store)
        if token_id is not None:
            await audit.record(store.engine, action, "api_token", token_id)
        return result

    return _with_tokens(run)


@tokens.command("create")
@click.option("--name", required=True, help="Who uses the token, e.g. 'epic-interface'.")
@click.option("--role", required=True, type=click.Choice(["integrator", "telehealth", "clinician", "admin"]))
@click.option(
    "--tenant",
    default=DEFAULT_TENANT,
    show_default=True,
    help="The organisation whose data the token sees (e.g. 'st-marys'); other tenants' data is invisible to it.",
)
@click.option("--expires-in", help="Lifetime such as 90d, 24h or 30m (at most 730d); default: no expiry.")
def tokens_create(name: str, role: str, tenant: str, expires_in: str | None) -> None:
    """Create a token; it is printed once and cannot be shown again."""
    from gateway.storage.tokens import MAX_TOKEN_LIFETIME

    lifetime = _duration("--expires-in", expires_in, MAX_TOKEN_LIFETIME)

    async def create(store):
        info, secret = await store.create(name, role, tenant, expires_in=lifetime)
        return (info, secret), info.id

    info, secret = _audited("token_create", create)
    expiry = f" expires {info.expires_at:%Y-%m-%dT%H:%M:%SZ}" if info.expires_at else ""
    click.echo(f"id {info.id} role {info.role} tenant {info.tenant} name {info.name}{expiry}", err=True)
    click.echo(secret)


@tokens.command("rotate")
@click.argument("token_id")
@click.option("--expires-in", help="Lifetime of the new token (at most 730d); default: the old token's lifetime.")
@click.option("--grace", default="0m", show_default=True, help="How long the old secret keeps working, e.g. 24h (at most 30d).")
def tokens_rotate(token_id: str, expires_in: str | None, grace: str) -> None:
    """Issue a new secret for the same name, role and tenant, and revoke the old one (after --grace).

    The new secret is printed once. Rotating an expired token is how its holder gets a new one."""
    from gateway.storage.tokens import MAX_ROTATION_GRACE, MAX_TOKEN_LIFETIME

    lifetime = _duration("--expires-in", expires_in, MAX_TOKEN_LIFETIME)
    overlap = _duration("--grace", grace, MAX_ROTATION_GRACE, allow_zero=True)

    async def rotate(store):
        rotated = await store.rotate(token_id, expires_in=lifetime, grace=overlap)
        return rotated, token_id if rotated else None

    rotated = _audited("token_rotate", rotate)
    if rotated is None:
        raise click.ClickException(f"no token {token_id} that can be rotated (unknown, revoked or already rotated)")
    info, secret = rotated
    expiry = f" expires {info.expires_at:%Y-%m-%dT%H:%M:%SZ}" if info.expires_at else ""
    old = f"old token {token_id} stops working {f'in {grace}' if overlap else 'now'}"
    click.echo(f"id {info.id} role {info.role} name {info.name}{expiry}; {old}", err=True)
    click.echo(secret)


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (see 'tokens list'), at once (also one in a rotation's grace period)."""

    async def revoke(store):
        done = await store.revoke(token_id)
        return done, token_id if done else None

    if not _audited("token_revoke", revoke):
        raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"revoked {token_id}")


@tokens.command("list")
def tokens_list() -> None:
    """List tokens with their state and expiry (never their secrets)."""
    for t in _with_tokens(lambda store: store.list()):
        click.echo(_token_line(t))


@main.group()
def assessments() -> None:
    """List the assessments stored in the database (as GET /v1/assessments does, for one tenant)."""


@assessments.command("list")
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="Whose assessments.")
@click.option("--patient", help="The patient's identifier as system|value.")
@click.option("--since", help="Received at or after (ISO 8601 with a time zone).")
@click.option("--until", help="Received before (ISO 8601 with a time zone).")
@click.option("--status", help="completed, queued, extracting, scoring or failed.")
@click.option("--clinical-status", help="preliminary, final or amended.")
@click.option("--level", help="The AI's clip level: none, mild or significant.")
@click.option("--cursor", help="Continue after the previous page (the cursor it printed).")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="Items per page.")
@click.option("--json", "as_json", is_flag=True, help="One JSON page (items, next cursor) for scripts.")
def assessments_list(tenant: str, since: str | None, until: str | None, limit: int, as_json: bool, **given: str | None) -> None:
    """Newest received first: completed assessments and video jobs without a result yet. The level is the
    AI's (AI-asserted; the bundled model is trained on synthetic data, not clinically validated)."""
    from datetime import datetime

    from gateway.storage.listing import AssessmentListing
    from gateway.web.routes.listing import encode_cursor, listing_query

    def moment(option: str, text: str | None) -> datetime | None:
        try:
            return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter("must be ISO 8601 with a time zone, e.g. 2026-11-23T10:00:00Z", param_hint=option) from None

    try:
        query = listing_query(tenant, given, moment("--since", since), moment("--until", until), limit)
    except InputError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field.replace('_', '-')}") from None
    items, after = _with_database(lambda engine: AssessmentListing(engine).page(query))
    cursor = None if after is None else encode_cursor(after)
    if as_json:
        page = {"items": [msgspec.to_builtins(item) for item in items], "next_cursor": cursor}
        click.echo(json.dumps(page, indent=2))
        return
    for item in items:
        patient = item.patient or {}
        who = patient.get("reference") or (f"{patient['system']}|{patient['value']}" if patient else "-")
        result = f"AI {item.level or '-'}, {item.clinical_status}" if item.status == "completed" else f"{item.progress}%"
        click.echo(f"{item.created_at:%Y-%m-%dT%H:%M:%SZ}  {item.id}  {item.status:<10} {result:<28} {who}")
    if cursor is not None:
        click.echo(f"more: pain-gateway assessments list --cursor {cursor} (with the same filters)", err=True)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (safe to run repeatedly), including the job queue's schema."""
    _upgrade(_settings())
    click.echo("database is up to date")


@db.command("drop-plugin")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: the plugin's tables and their rows are deleted.")
def db_drop_plugin(name: str, yes: bool) -> None:
    """Run plugin NAME's migrations down to nothing (its tables go), before uninstalling or disabling it for good."""
    from gateway.storage.migrate import downgrade_branch

    settings = _settings()
    found = [m for m in _plugins(settings).migrations if m.branch == name]
    if not found:
        raise click.UsageError(f"no enabled plugin declares migrations on the branch {name!r} (see 'pain-gateway plugins')")
    if not yes:
        raise click.UsageError(f"this deletes the tables of {name!r} and all their rows; run again with --yes")
    downgrade_branch(settings.database_url, _plugins(settings).migrations, name)
    click.echo(f"{name}: its tables are dropped; the database no longer depends on it")


@main.command()
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=2, show_default=True, help="Jobs run at once; CPU jobs use one core each, so run one worker per core."
)
@click.option("--queue", "queues", multiple=True, type=click.Choice(["cpu", "io"]), help="Only these queues (default: both).")
def worker(concurrency: int, queues: tuple[str, ...]) -> None:
    """Run a distributed worker (PAIN_GATEWAY_JOB_ENGINE=procrastinate, PostgreSQL)."""
    from gateway.service.jobs.distributed import DistributedJobs
    from gateway.service.jobs.pipeline import warm_up

    settings = _settings()
    if settings.job_engine != "procrastinate":
        raise click.UsageError(
            "workers need PAIN_GATEWAY_JOB_ENGINE=procrastinate and a PostgreSQL PAIN_GATEWAY_DATABASE_URL; "
            "in embedded mode use 'pain-gateway serve --workers N'"
        )
    _upgrade(settings)
    jobs = DistributedJobs(_plugins(settings))
    warm_up(jobs.plugins)  # before taking jobs: the first video must not pay MediaPipe's and torch's start-up

    async def run() -> None:
        async with jobs.app.open_async():
            await jobs.run_worker(concurrency, list(queues) or None)

    asyncio.run(run())


if __name__ == "__main__":
    main()


@main.group()
def deliveries() -> None:
    """The delivery ledger: list deliveries and dead letters, send one again."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "retrying", "delivered", "dead"]), help="Only this status (dead = dead letters).")
@click.option("--destination", help="Only this destination.")
@click.option("--assessment", "assessment_id", help="Only this assessment.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def deliveries_list(status: str | None, destination: str | None, assessment_id: str | None, limit: int) -> None:
    """Newest first: id, status, attempts, destination, event, assessment, last error."""
    from gateway.storage.deliveries import DeliveryQuery, DeliveryStore

    async def search(engine):
        return await DeliveryStore(engine).search(DeliveryQuery(status=status, destination=destination, assessment_id=assessment_id, limit=limit))

    items, total = _with_database(search)
    for d in items:
        click.echo(
            f"{d.id}  {d.status:<9} {d.attempts:>2}x  {d.destination}{':' + d.target if d.target else ''}  "
            f"{d.event_type}  {d.assessment_id}  {d.last_error or ''}".rstrip()
        )
    click.echo(f"{len(items)} of {total}", err=True)


@deliveries.command("redeliver")
@click.argument("delivery_id")
def deliveries_redeliver(delivery_id: str) -> None:
    """Send a delivery again with a fresh retry budget (a running gateway picks it up)."""
    from gateway.storage.deliveries import DeliveryStore

    delivery = _with_database(lambda engine: DeliveryStore(engine).redeliver(delivery_id))
    if delivery is None:
        raise click.ClickException(f"no delivery {delivery_id} that can be sent again (unknown, or being sent right now)")
    click.echo(f"{delivery.id} pending: the gateway sends it on its next pass")


@main.group()
def outputs() -> None:
    """Outputs and the destinations that send them."""


@outputs.command("test")
@click.argument("destination")
def outputs_test(destination: str) -> None:
    """Send a harmless test message to DESTINATION and report what it answered (exit 1 unless delivered)."""
    settings = _settings()
    plugins = _plugins(settings)
    if destination not in plugins.destinations:
        known = ", ".join(sorted(plugins.destinations)) or "none configured"
        raise click.UsageError(f"no destination {destination!r}; configured: {known}")
    result = _with_database(lambda engine: plugins.destinations[destination].probe(engine), settings)
    detail = " ".join(str(part) for part in (result.status_code, result.reason, result.response_excerpt[:200]) if part)
    click.echo(f"{destination}: {result.outcome} {detail}".rstrip())
    if result.outcome != "delivered":
        sys.exit(1)


@main.group()
def retention() -> None:
    """The retention policy for kept landmarks (PAIN_GATEWAY_RETENTION_DAYS)."""


@retention.command("run")
@click.option("--days", type=int, default=None, help="Override PAIN_GATEWAY_RETENTION_DAYS for this run (0: remove nothing).")
def retention_run(days: int | None) -> None:
    """Delete every tenant's kept landmarks older than the retention period now, each removal audited;
    prints what was removed. The embedded engine runs the same at start and daily."""
    from gateway.service.retention import run_retention

    settings = _settings()
    days = settings.retention_days if days is None else days
    if days < 0:
        raise click.BadParameter("must be 0 (remove nothing) or more days", param_hint="--days")
    removed = _with_database(lambda engine: run_retention(engine, settings.data_dir, days), settings)
    for item in removed:
        click.echo(f"removed landmarks of assessment {item.assessment_id} (tenant {item.tenant}, {item.bytes} bytes)")
    if days == 0:
        click.echo("retention is off (PAIN_GATEWAY_RETENTION_DAYS=0): nothing removed")
    else:
        click.echo(f"removed {len(removed)} kept landmark files ({sum(r.bytes for r in removed)} bytes) older than {days} days")


@main.group()
def reviews() -> None:
    """Clinician reviews: export them as a training dataset."""


@reviews.command("export")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write the .npz clips to.")
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="Whose reviewed assessments to export.")
def reviews_export(out: Path, tenant: str) -> None:
    """Write every reviewed assessment with kept landmarks as a labelled clip (the clinician's level), ready
    for 'pain-gateway train OUT'. Patients appear as pseudonyms."""
    from gateway.service.review_export import export_reviewed
    from gateway.storage import audit

    settings = _settings()

    async def export(engine):
        summary = await export_reviewed(engine, tenant, settings.data_dir, out)
        await audit.record(engine, "export", "review_dataset", str(out), principal=audit.acting_for(tenant))
        return summary

    summary = _with_database(export, settings)
    for assessment_id, why in summary.skipped.items():
        click.echo(f"skipped {assessment_id}: {why}", err=True)
    click.echo(f"wrote {summary.written} reviewed clips to {out}")
    if summary.written:
        click.echo(f"next: pain-gateway train {out} --out CHECKPOINT_DIR")
