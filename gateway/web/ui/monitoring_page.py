"""The model monitoring page: per model version, how often clinicians agree with the AI (``gateway.storage.monitoring``).

Counts come first (assessments scored, awaiting review, reviews per model version); agreement statistics
from fewer than ``MIN_RELIABLE_REVIEWS`` reviews are shown marked unreliable, never as if they meant
something: two reviews give a κ of 0.00 or 1.00 by chance alone.
"""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency

from gateway.contract.domain import InputError
from gateway.storage.assessments import AssessmentQuery, AssessmentStore
from gateway.storage.monitoring import PERIODS, model_monitoring
from gateway.web.ui import charts
from gateway.web.ui.guard import ui_opt
from gateway.web.ui.render import page

MIN_RELIABLE_REVIEWS = 20
"""Below this many reviews of a model version, its override rate and κ are marked unreliable (the 95 %
interval of a rate from 20 reviews is still about ±0.2 wide)."""


@get("/monitoring", opt=ui_opt())
async def monitoring(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
    """Counts, then the confusion matrix, override rate, weighted kappa and their trend by ``period`` (day or week)."""
    period = request.query_params.get("period", "day")[:20]
    tenant = request.user.tenant
    _, scored = await store.search(AssessmentQuery(tenant=tenant, limit=0))
    _, awaiting = await store.search(AssessmentQuery(tenant=tenant, clinical_status="preliminary", limit=0))
    counts = {"scored": scored, "awaiting": awaiting}
    try:
        report = await model_monitoring(store.engine, tenant, period)
    except InputError as exc:  # the period form again, with what to fix (a day's trend meanwhile)
        report = await model_monitoring(store.engine, tenant, "day")
        return _render(request, report, counts, status_code=422, form_error=exc, period=period)
    return _render(request, report, counts, period=period)


def _render(request: Request, report, counts: dict[str, int], *, period: str, status_code: int = 200, form_error: InputError | None = None) -> Response:
    trends = {(m.model_id, m.model_version): charts.override_trend(m.trend, report.period) for m in report.models}
    return page(
        request,
        "monitoring.html",
        status_code=status_code,
        report=report,
        trends=trends,
        periods=PERIODS,
        counts=counts,
        min_reviews=MIN_RELIABLE_REVIEWS,
        form_error=form_error,
        chosen_period=period,
    )


ROUTES = [monitoring]
