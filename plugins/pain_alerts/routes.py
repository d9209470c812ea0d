"""``/v1/patients/trajectory``, ``/v1/patients/interventions`` and ``/v1/patients/alerts``: thin handlers over
``trajectory``, ``interventions`` and ``episodes``, every read scoped to the caller's tenant (another
tenant's patient is indistinguishable from an unknown one) and audited."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody, Parameter

from gateway import AssessmentFlow, AssessmentStore, InputError, PatientRef, Plugins, audit_record, ok, problems
from plugins.pain_alerts import config
from plugins.pain_alerts import interventions as iv
from plugins.pain_alerts import trajectory as tj
from plugins.pain_alerts.episodes import close_episode, get_episode, open_episodes, patient_key
from plugins.pain_alerts.evaluator import announce

READERS = {"clinician", "integrator"}
CLINICIANS = {"clinician"}
TAGS = ["pain over time"]
PATIENT_DOC = "The patient as system|value (e.g. urn:oid:1.2.3|MRN-1234), or an identifier value alone"


class AlertList(msgspec.Struct, frozen=True):
    """Open alert episodes of the tenant (or of one patient): AI-derived decision support."""

    episodes: list[tj.EpisodeOut]


class Acknowledgement(msgspec.Struct, forbid_unknown_fields=True):
    """``reason``: why the alert needs no more attention (e.g. 'seen, analgesia given'); not a review of the AI's level."""

    reason: str


_AT = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
EXAMPLE_EPISODE = tj.EpisodeOut(
    "5b0f3c8e-2f8e-5d0a-9a47-3f7f9d1c2b6e",
    "sustained",
    "open",
    _AT,
    _AT.replace(minute=17),
    _AT.replace(minute=17, second=5),
    None,
    None,
    None,
    "significant in 3 consecutive check(s) over 12 min (rule: at least 10 min)",
)
EXAMPLE_INTERVENTION = iv.Intervention(
    "c3a1e9a4-7d62-4c8e-9b1f-2a0d4e6f8b10", "analgesic", "parenteral", "morphine 2 mg IV", _AT, _AT.replace(minute=35), "a1b2c3d4", None, None, None, False
)
EXAMPLE_TRAJECTORY = tj.Trajectory(
    PatientRef(system="urn:oid:1.2.36.146.595.217.0.1", value="MRN-EXAMPLE-1"),
    _AT.replace(day=16),
    _AT,
    [
        tj.Point(
            "3f2b8c1d-9e4a-4b7c-8d6e-1a2b3c4d5e6f",
            _AT,
            _AT.replace(second=5),
            "keypoints",
            "significant",
            {"none": 0.05, "mild": 0.2, "significant": 0.81},
            None,
            "preliminary",
            1.0,
            5,
            0,
            "sta-lstm-synthetic 1.0.0",
        )
    ],
    [],
    [EXAMPLE_INTERVENTION],
    [EXAMPLE_EPISODE],
    [tj.Bucket(_AT.replace(minute=0), {"none": 0.0, "mild": 1.0, "significant": 4.0}, 0.0, "significant", 1)],
    [tj.Bucket(_AT.replace(hour=0, minute=0), {"none": 0.0, "mild": 1.0, "significant": 4.0}, 0.0, "significant", 1)],
    False,
    [],
)


def _episode_out(e) -> tj.EpisodeOut:
    return tj.EpisodeOut(
        e.id, e.rule, e.status, e.first_start, e.last_end, e.opened_at, e.closed_at, e.closed_reason, e.acknowledged_by, str((e.detail or {}).get("text", ""))
    )


async def _known(store: AssessmentStore, tenant: str, patient) -> None:
    if not await tj.known_patient(store, tenant, patient):
        raise NotFoundException("patient: this tenant has no assessment of that patient (check system|value)")


@get(
    "/v1/patients/trajectory",
    opt={"roles": READERS},
    tags=TAGS,
    summary="A patient's pain over time",
    responses=ok(tj.Trajectory, EXAMPLE_TRAJECTORY) | problems(400, 404, 422),
)
async def trajectory(
    request: Request,
    store: NamedDependency[AssessmentStore],
    plugins: NamedDependency[Plugins],
    patient: str = Parameter(description=PATIENT_DOC),
    since: str | None = Parameter(default=None, description="ISO 8601 with a zone; default: 7 days before until"),
    until: str | None = Parameter(default=None, description="ISO 8601 with a zone; default: now. At most 31 days after since"),
) -> tj.Trajectory:
    """Every assessment and finished live session of the patient in time order (AI level and probabilities,
    clinician level when reviewed, quality), other plugins' entries (reference scales, interventions), alert
    episodes, and per-hour and per-day aggregates. AI values are decision support from a model trained on
    synthetic data."""
    now = datetime.now(UTC)
    start, end = tj.period(since, until, now)
    who = iv.parse_patient(patient)
    tenant = request.user.tenant
    await _known(store, tenant, who)
    await audit_record(store.engine, "read", "trajectory", None, patient=who)
    return await tj.build(store, plugins.trajectory_sources, tenant, who, start, end, now)


@post(
    "/v1/patients/interventions",
    opt={"roles": CLINICIANS},
    tags=TAGS,
    status_code=201,
    summary="Record an intervention",
    responses=ok(iv.Intervention, EXAMPLE_INTERVENTION, 201) | problems(400, 404, 415, 422),
)
async def record_intervention(
    request: Request, data: JSONBody[iv.InterventionIn], store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]
) -> iv.Intervention:
    """An analgesic, non-drug or other intervention given at ``given_at``; its reassessment is due 30 min
    later for a parenteral analgesic, else 60 (``PAIN_GATEWAY_PLUGIN_PAIN_ALERTS_REASSESS_MINUTES``)."""
    tenant = request.user.tenant
    now = datetime.now(UTC)
    patient, _ = iv.validated(data, now)
    await _known(store, tenant, patient)
    recorded, patient = await iv.record(store.engine, tenant, data, config(plugins.settings).rules_for(tenant), request.user.id, now)
    await audit_record(store.engine, "create", "intervention", recorded.id, patient=patient)
    return recorded


@get(
    "/v1/patients/alerts",
    opt={"roles": READERS},
    tags=TAGS,
    summary="Open pain alerts",
    responses=ok(AlertList, AlertList([EXAMPLE_EPISODE])) | problems(400, 422),
)
async def open_alerts(
    request: Request, store: NamedDependency[AssessmentStore], patient: str | None = Parameter(default=None, description=PATIENT_DOC)
) -> AlertList:
    """Open alert episodes of the tenant, or of one patient: AI-derived decision support."""
    tenant = request.user.tenant
    key = patient_key(iv.parse_patient(patient)) if patient else None
    async with store.engine.connect() as connection:
        episodes = await open_episodes(connection, tenant, key)
    await audit_record(store.engine, "search", "pain_alert", None, patient=iv.parse_patient(patient) if patient else None)
    return AlertList([_episode_out(e) for e in episodes])


@post(
    "/v1/patients/alerts/{episode_id:str}/acknowledge",
    opt={"roles": CLINICIANS},
    tags=TAGS,
    status_code=200,
    summary="Acknowledge an alert",
    responses=ok(tj.EpisodeOut, EXAMPLE_EPISODE) | problems(400, 404, 409, 415, 422),
)
async def acknowledge(
    request: Request, episode_id: FromPath[str], data: JSONBody[Acknowledgement], store: NamedDependency[AssessmentStore], flow: NamedDependency[AssessmentFlow]
) -> tj.EpisodeOut:
    """Close an open alert with a reason (audited): its Flag becomes inactive and ``pain_alert.resolved`` is
    sent. This is not a review of the AI's level; the same run of checks does not alert again."""
    reason = data.reason.strip()
    if not reason or len(reason) > 500:
        raise InputError("reason", "say why the alert needs no more attention, at most 500 characters")
    tenant = request.user.tenant
    episode = await get_episode(store.engine, episode_id, tenant)
    if episode is None:
        raise NotFoundException(f"episode_id: no alert {episode_id[:40]}")
    if episode.status != "open":
        return _episode_out(episode)
    now = datetime.now(UTC)
    async with store.engine.begin() as connection:
        event = await close_episode(connection, flow, episode, f"acknowledged by a clinician: {reason}", now, by=request.user.id)
        await audit_record(connection, "update", "pain_alert", episode.id, patient=PatientRef(**episode.patient))
    if event is not None:
        await announce(flow, store.engine, [event], tenant)
    closed = await get_episode(store.engine, episode_id, tenant)
    assert closed is not None
    return _episode_out(closed)


ROUTES = [trajectory, record_intervention, open_alerts, acknowledge]
