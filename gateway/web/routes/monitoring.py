"""Model monitoring: agreement between the AI and reviewing clinicians, and the reviewed dataset export."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.response import File

from gateway.contract.domain import LEVELS
from gateway.service.flow import AssessmentFlow
from gateway.service.review_export import export_reviewed
from gateway.storage import audit
from gateway.storage.monitoring import PERIODS, ModelAgreement, ModelMonitoring, TrendPoint, model_monitoring, quadratic_kappa
from gateway.web.openapi import binary, ok, problems

WATCHERS = {"clinician", "integrator"}
EXPORTERS = {"integrator"}  # and admin: landmarks of patients, for the site's own retraining
TAGS = ["model monitoring"]
_CONFUSION = [[20, 2, 0], [1, 12, 3], [0, 1, 9]]
EXAMPLE = ModelMonitoring(
    levels=list(LEVELS),
    period="day",
    generated_at=datetime(2026, 11, 28, 18, 0, tzinfo=UTC),
    models=[
        ModelAgreement(
            model_id="sta-lstm-synthetic",
            model_version="1.0.0",
            reviewed=48,
            confirmed=41,
            overridden=7,
            override_rate=0.1458,
            weighted_kappa=quadratic_kappa(_CONFUSION),
            confusion=_CONFUSION,
            ai_gave_no_level=0,
            trend=[TrendPoint(date(2026, 11, 27), 20, 4, 0.2), TrendPoint(date(2026, 11, 28), 28, 3, 0.1071)],
        )
    ],
)
ARCHIVE = (
    "A zip of training clips in the gateway.pipeline.dataset format, labelled with the clinician's level, patients as pseudonyms "
    "(headers X-Exported-Clips, X-Skipped-Clips): unzip and run 'pain-gateway train DIR'"
)


@get("/v1/model-monitoring", opt={"roles": WATCHERS}, tags=TAGS, responses=ok(ModelMonitoring, EXAMPLE) | problems(400, 422))
async def monitoring(
    request: Request,
    flow: NamedDependency[AssessmentFlow],
    period: str = Parameter(default="day", description=f"trend bucket: {' or '.join(PERIODS)}"),
) -> ModelMonitoring:
    """Per model version: confusion matrix AI x clinician, override rate, quadratic-weighted kappa and
    its trend, from the latest review of each reviewed assessment of the caller's tenant."""
    return await model_monitoring(flow.engine, request.user.tenant, period)


@get(
    "/v1/model-monitoring/export", opt={"roles": EXPORTERS}, tags=TAGS, media_type="application/zip", responses=binary("application/zip", ARCHIVE) | problems()
)
async def export(request: Request, flow: NamedDependency[AssessmentFlow]) -> File:
    """The tenant's reviewed assessments as a zip of training clips (``gateway.pipeline.dataset`` format, labelled
    with the clinician's level, patients as pseudonyms): unzip and run ``pain-gateway train DIR``."""
    work = Path(tempfile.mkdtemp(prefix="pgw-export-"))
    try:
        summary = await export_reviewed(flow.engine, request.user.tenant, flow.settings.data_dir, work / "clips")
        archive = await sync_to_thread(shutil.make_archive, str(work / "reviewed"), "zip", work / "clips")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    await audit.record(flow.engine, "export", "review_dataset", f"{summary.written} clips")
    return File(
        archive,
        filename="reviewed-dataset.zip",
        media_type="application/zip",
        headers={"X-Exported-Clips": str(summary.written), "X-Skipped-Clips": str(len(summary.skipped))},
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )


ROUTES = [monitoring, export]
