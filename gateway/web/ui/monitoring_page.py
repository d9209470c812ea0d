"""The model monitoring page: per model version, how often clinicians agree with the AI (``gateway.storage.monitoring``)."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency

from gateway.storage.assessments import AssessmentStore
from gateway.storage.monitoring import PERIODS, model_monitoring
from gateway.web.ui import charts
from gateway.web.ui.guard import ui_opt
from gateway.web.ui.render import page


@get("/monitoring", opt=ui_opt())
async def monitoring(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
    """Confusion matrix, override rate, weighted kappa and their trend by ``period`` (day or week)."""
    period = request.query_params.get("period", "day")[:20]
    report = await model_monitoring(store.engine, request.user.tenant, period)  # InputError names ``period``
    trends = {(m.model_id, m.model_version): charts.override_trend(m.trend, period) for m in report.models}
    return page(request, "monitoring.html", report=report, trends=trends, periods=PERIODS)


ROUTES = [monitoring]
