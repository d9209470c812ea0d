"""``/v1/reference-scales``, ``/v1/patients/scale-scores`` and ``/v1/concordance``: thin handlers over
``recording`` (checks), ``ScoreStore`` (the tenant's scores) and ``service`` (pairs and figures).

``controller(config)`` builds the controller around the site's settings (its scales are the ``scale`` filter's enum). Every
read and write passes the caller's tenant; another tenant's scores and assessments never pair.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, Parameter

from gateway import AssessmentFlow, AssessmentStore, audit_record, ok, problems
from plugins.reference_scales import ReferenceScalesSettings
from plugins.reference_scales.documents import EVENT
from plugins.reference_scales.recording import ScoreInput, check_score
from plugins.reference_scales.schema import EXAMPLE_SCORE, ConcordanceOut, PairList, ScaleList, ScaleOut, ScaleScoreIn, ScaleScoreOut
from plugins.reference_scales.scores import Score, ScoreStore
from plugins.reference_scales.service import Filters, concordance_report, pair_list, pairs_csv, pairs_for, report_csv

RECORDERS = {"clinician"}
READERS = {"clinician", "integrator"}
EVERYONE = {"integrator", "telehealth", "clinician"}
TAGS = ["reference scales"]
CSV = "text/csv"
EXAMPLE_CSV = "scale,mapping_version,model_id,model_version,pairs,patients,reliable,figure,value,ci_low,ci_high\n"
EXAMPLE_PAIRS_CSV = (
    "score_id,scale,observed_at,total,scale_level,mapping_version,assessment_id,model_version,ai_level,p_none,p_mild,p_significant,seconds_apart\n"
)

SINCE = Parameter(default=None, description="scores observed at or after this ISO-8601 date-time (with a time zone)")
UNTIL = Parameter(default=None, description="scores observed before this ISO-8601 date-time (with a time zone)")
MODEL_VERSION = Parameter(default=None, description="only AI assessments of this model version", schema_extra={"maxLength": 64})


def check_body(data: ScaleScoreIn) -> dict[str, Any]:
    body: dict[str, Any] = {"patient": data.patient, "scale": data.scale, "observed_at": data.observed_at, "assessor": data.assessor}
    body["items"], body["total"] = data.items, data.total
    return body


async def record(flow: AssessmentFlow, store: AssessmentStore, tenant: str, checked: ScoreInput, recorded_by: str) -> Score:
    """Store the score and its ``reference_scale.recorded`` event (so its Observation and ORU reach the
    destinations through the ledger) in one transaction, then tell the event's observers."""
    events = []

    async def publish(connection, score: Score) -> None:
        events.append(await flow.publish(EVENT, score.id, tenant, event_id=score.id, connection=connection))

    score = await ScoreStore(store.engine, tenant).add(checked, recorded_by, publish)
    for event in events:
        flow.announce(event)
    return score


def controller(config: ReferenceScalesSettings) -> type[Controller]:
    """The routes bound to ``config``: its enabled scales are the ``scale`` filter's enum in the OpenAPI
    document, so a client (and the probe) knows the values the routes accept."""
    scale_filter = Parameter(
        default=None, description="a scale id: one of the site's scales (empty: every scale)", schema_extra={"enum": [*config.enabled(), ""]}
    )

    def concordance_filters(
        scale: str | None = scale_filter, since: str | None = SINCE, until: str | None = UNTIL, model_version: str | None = MODEL_VERSION
    ) -> Filters:
        """The concordance routes' query filters, declared and checked once (a 422 names the one at fault)."""
        return Filters(config, scale, since, until, model_version)

    class ReferenceScales(Controller):
        """The routes, bound to the site's settings."""

        path = "/v1"
        tags = TAGS
        dependencies = {"filters": Provide(concordance_filters, sync_to_thread=False)}

        @get("/reference-scales", opt={"roles": EVERYONE}, summary="List the site's reference pain scales", responses=ok(ScaleList, None) | problems())
        async def list_scales(self) -> ScaleList:
            """Each scale's id, items with their keys and ranges, total range, published bands with their
            source, the code of the total (LOINC 72514-3 for NRS, else a local code system) and the site's
            versioned mapping of the total onto none/mild/significant."""
            return ScaleList([ScaleOut.of(s) for s in config.enabled().values()], config.pair_minutes)

        @post(
            "/patients/scale-scores",
            status_code=201,
            opt={"roles": RECORDERS},
            summary="Record a reference-scale score",
            responses=ok(ScaleScoreOut, EXAMPLE_SCORE, 201) | problems(400, 415, 422),
        )
        async def record_score(
            self, request: Request, data: JSONBody[ScaleScoreIn], store: NamedDependency[AssessmentStore], flow: NamedDependency[AssessmentFlow]
        ) -> ScaleScoreOut:
            """Items are checked against the scale's definition and the total computed from them (a total
            sent beside them must agree). The score is a clinician's observation, never AI-asserted; it is
            paired with the AI assessment of the same patient captured within ``pair_minutes``. Example body:
            ``{"patient": {"identifier": {...}}, "scale": "painad", "items": {...}, "observed_at": "...", "assessor": "..."}``."""
            checked = check_score(config.enabled(), check_body(data))
            return ScaleScoreOut.of(await record(flow, store, request.user.tenant, checked, request.user.id))

        @get("/concordance/pairs", opt={"roles": READERS}, summary="Inspect the score-AI pairs", responses=ok(PairList, None) | problems(400, 422))
        async def pairs(
            self,
            request: Request,
            store: NamedDependency[AssessmentStore],
            filters: NamedDependency[Filters],
        ) -> PairList:
            """Every pair the concordance uses, with the pairing rule: the score, the AI's level and
            probabilities (AI-asserted, with model and version) and how far apart they were."""
            await audit_record(store.engine, "search", "scale_score")
            return pair_list(await pairs_for(store, request.user.tenant, config, filters), config)

        @get(
            "/concordance/pairs.csv",
            opt={"roles": READERS},
            summary="The pairs as CSV",
            media_type=CSV,
            responses=ok(str, EXAMPLE_PAIRS_CSV, media_type=CSV) | problems(400, 422),
        )
        async def pairs_as_csv(
            self,
            request: Request,
            store: NamedDependency[AssessmentStore],
            filters: NamedDependency[Filters],
        ) -> Response[str]:
            """One row per pair (no patient identifiers); audited as a search like the JSON list."""
            await audit_record(store.engine, "search", "scale_score")
            pairs = pair_list(await pairs_for(store, request.user.tenant, config, filters), config)
            return Response(pairs_csv(pairs), media_type=CSV, headers={"Content-Disposition": 'attachment; filename="concordance-pairs.csv"'})

        @get(
            "/concordance",
            opt={"roles": READERS},
            summary="Local concordance of the AI with the reference scales",
            responses=ok(ConcordanceOut, None) | problems(400, 422),
        )
        async def concordance(
            self,
            request: Request,
            store: NamedDependency[AssessmentStore],
            filters: NamedDependency[Filters],
        ) -> ConcordanceOut:
            """Per scale, mapping version and model version: pairs and patients, quadratic weighted kappa,
            Spearman rho, sensitivity and specificity for 'significant' and 'any pain' with patient-clustered
            bootstrap 95 % CIs, the confusion matrix, calibration (reliability bins, ECE) and Bland-Altman;
            each group marked unreliable below 50 pairs or 10 patients. The model is trained on synthetic
            data: these figures are how a site measures it on its own patients."""
            return await concordance_report(store, request.user.tenant, config, filters)

        @get(
            "/concordance.csv",
            opt={"roles": READERS},
            summary="Local concordance as CSV",
            media_type=CSV,
            responses=ok(str, EXAMPLE_CSV, media_type=CSV) | problems(400, 422),
        )
        async def concordance_as_csv(
            self,
            request: Request,
            store: NamedDependency[AssessmentStore],
            filters: NamedDependency[Filters],
        ) -> Response[str]:
            """One row per group and figure, with its 95 % CI, the group's counts and reliability."""
            out = await concordance_report(store, request.user.tenant, config, filters)
            return Response(report_csv(out), media_type=CSV, headers={"Content-Disposition": 'attachment; filename="concordance.csv"'})

    return ReferenceScales
