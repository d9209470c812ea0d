"""The worklist: the tenant's assessments, newest clip first, filtered the way a ward reviews them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.di import NamedDependency

from gateway.contract.domain import LEVELS, InputError
from gateway.contract.plugin_manager import Plugins
from gateway.storage import audit
from gateway.storage.assessments import AssessmentQuery, AssessmentStore
from gateway.web.ui.guard import ui_opt
from gateway.web.ui.render import page
from gateway.web.ui.sections import sections_for
from gateway.web.ui.urgency import needing_attention

PAGE_SIZE = 25
MAX_PAGE = 10_000
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Filters:
    """The worklist's query string, validated (a bad value names its field)."""

    needs_review: bool = False
    level: str = ""
    patient: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    @classmethod
    def parse(cls, params) -> Filters:
        level = params.get("level", "")
        if level and level not in LEVELS:
            raise InputError("level", f"must be one of {', '.join(LEVELS)} (or empty for any), got {level[:40]!r}")
        patient = params.get("patient", "").strip()
        if len(patient) > 300:
            raise InputError("patient", "must be at most 300 characters: an identifier value, or system|value")
        page_text = params.get("page", "1")
        if not (page_text.isascii() and page_text.isdigit() and 1 <= int(page_text) <= MAX_PAGE):
            raise InputError("page", f"must be a page number from 1 to {MAX_PAGE}, got {page_text[:20]!r}")
        needs_review = params.get("needs_review", "")
        if needs_review not in ("", "1"):
            raise InputError("needs_review", f"must be 1 (only assessments no clinician has reviewed) or absent, got {needs_review[:20]!r}")
        return cls(needs_review == "1", level, patient, _date(params, "from"), _date(params, "to"), int(page_text))

    @classmethod
    def lenient(cls, params) -> Filters:
        """What a query string with bad values keeps: every field that parses, for the form to show again."""
        kept = {name: params.get(name) for name in params.keys()}
        for _ in range(len(kept) + 1):
            try:
                return cls.parse(kept)
            except InputError as exc:  # the field names are the query's own (from, to, level...)
                kept.pop(exc.field, None)
        return cls()

    def query(self, tenant: str) -> AssessmentQuery:
        system, _, value = self.patient.rpartition("|") if "|" in self.patient else (None, "", self.patient)
        start_from = datetime.combine(self.date_from, time(), UTC) if self.date_from else None
        start_before = datetime.combine(self.date_to + timedelta(days=1), time(), UTC) if self.date_to else None
        return AssessmentQuery(
            tenant=tenant,
            system=system or None,
            value=value or None,
            level=self.level or None,
            clinical_status="preliminary" if self.needs_review else None,
            start_from=start_from,
            start_before=start_before,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
        )

    def link(self, page: int) -> str:
        """This worklist's URL at another page."""
        params = {
            "needs_review": "1" if self.needs_review else "",
            "level": self.level,
            "patient": self.patient,
            "from": self.date_from or "",
            "to": self.date_to or "",
            "page": page,
        }
        return "/ui/worklist?" + urlencode({k: v for k, v in params.items() if v})


def _date(params, name: str) -> date | None:
    text = params.get(name, "")
    if not text:
        return None
    try:
        if ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InputError(name, f"must be a date as YYYY-MM-DD, e.g. 2026-11-23, got {text[:40]!r}")


@get("/worklist", opt=ui_opt())
async def worklist(request: Request, store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]) -> Response:
    """Assessments of the signed-in tenant, filtered by AI level, patient and capture date, a page at a time;
    a bad filter shows the form again, the reason at its top and the other filters kept, and no list."""
    try:
        filters = Filters.parse(request.query_params)
    except InputError as exc:
        kept = Filters.lenient(request.query_params)
        nothing = {"assessments": [], "total": 0, "pages": 1, "previous": None, "next": None}
        return page(request, "worklist.html", status_code=422, filters=kept, levels=LEVELS, form_error=exc, **nothing)
    assessments, total = await store.search(filters.query(request.user.tenant))
    await audit.record(store.engine, "search", "assessment", None, patient=filters.patient or None)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(
        request,
        "worklist.html",
        assessments=assessments,
        total=total,
        filters=filters,
        pages=pages,
        levels=LEVELS,
        previous=filters.link(filters.page - 1) if filters.page > 1 else None,
        next=filters.link(filters.page + 1) if filters.page < pages else None,
        sections=await sections_for(request, plugins, "worklist"),
        urgent=await needing_attention(plugins, store, request.user.tenant, datetime.now(UTC)),
    )


ROUTES = [worklist]
