"""Caregiver summary routes: one assessment, a patient over a period, share links and their opening.

``CaregiverController`` holds thin handlers over ``service.Summaries`` (rendering, finding what a
summary covers, making and reading share links); the request and response shapes are in ``schemas.py``.
Reads are tenant-scoped (another tenant's assessment or patient is a 404) and audited as exports;
opening a share link is audited as a read by the link (no token), with the client's address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, TooManyRequestsException
from litestar.params import FromPath, FromQuery, JSONBody

from gateway import NO_TOKEN, PUBLIC, AssessmentStore, AuditPrincipal, FailureThrottle, audit_record, ok, problems
from plugins.caregiver_summary import share
from plugins.caregiver_summary.content import Facts, for_assessment
from plugins.caregiver_summary.schemas import SHARE_EXAMPLE, SUMMARY, Format, Lang, PatientShareRequest, ShareLink, ShareRequest, Tz
from plugins.caregiver_summary.service import OUTPUT, Summaries, find_assessment, parse_identifier

READERS = {"integrator", "telehealth", "clinician"}
TAGS = ["caregiver summaries"]
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # a share link must not leak through links the page might hold
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Robots-Tag": "noindex",
}
SHARED = ok(ShareLink, SHARE_EXAMPLE, status=201) | problems(400, 404, 409, 415, 422)


class CaregiverController(Controller):
    """``/v1/.../caregiver-summary``: summaries, share links, and a link's page.

    The site's settings arrive as the class attribute ``summaries``, set by ``caregiver_controller`` on a
    subclass: the one way shared with the FHIR facade (whose OpenAPI examples need the settings before
    any request), and simpler here than a dependency every handler would have to ask for.
    """

    path = "/v1"
    tags = TAGS
    summaries: ClassVar[Summaries]
    refused: ClassVar[FailureThrottle]  # refused share links per address: a budget apart from token logins

    def document(self, facts: Facts, lang: str | None, fmt: str | None, made_at: datetime, tz: str | None = None) -> Response:
        """The rendered summary with the security headers (a share link's page is opened by anyone)."""
        doc = self.summaries.render(facts, lang, fmt, made_at, tz)
        headers = dict(SECURITY_HEADERS)
        if doc.meta["format"] == "pdf":
            headers["Content-Disposition"] = 'inline; filename="caregiver-summary.pdf"'
        return Response(doc.content, media_type=doc.media_type, headers=headers)

    def link(self, shared: share.Shared) -> ShareLink:
        return ShareLink(self.summaries.share_url(shared), datetime.fromtimestamp(shared.expires, UTC), shared.lang)

    @get(f"/assessments/{{assessment_id:str}}/{OUTPUT}", opt={"roles": READERS}, responses=SUMMARY | problems(400, 404, 422))
    async def assessment_summary(
        self,
        assessment_id: FromPath[str],
        request: Request,
        store: NamedDependency[AssessmentStore],
        lang: Lang = None,
        format: Format = None,
        tz: Tz = None,
    ) -> Response:
        """A plain-language summary of one assessment for a patient's family or carers; times in the site's
        zone (or ``tz``), each with its zone."""
        found = await find_assessment(store, assessment_id, request.user.tenant)
        response = await sync_to_thread(self.document, for_assessment(found), lang, format, datetime.now(UTC), tz)
        await audit_record(store.engine, "export", OUTPUT, assessment_id, patient=found.patient)
        return response

    @get(f"/patients/{OUTPUT}", opt={"roles": READERS}, responses=SUMMARY | problems(400, 404, 422))
    async def patient_summary(
        self,
        request: Request,
        store: NamedDependency[AssessmentStore],
        identifier: FromQuery[str | None] = None,
        period: FromQuery[str | None] = None,
        lang: Lang = None,
        format: Format = None,
        tz: Tz = None,
    ) -> Response:
        """A patient's assessments over ``period`` up to now (24h by default), by ``identifier`` (``SYSTEM|VALUE``)."""
        patient = parse_identifier(identifier)
        self.summaries.language(lang)
        self.summaries.check_format(format)
        self.summaries.zone(tz)
        now = datetime.now(UTC)
        facts = await self.summaries.period_facts(store, request.user.tenant, patient, self.summaries.period(period), now)
        response = await sync_to_thread(self.document, facts, lang, format, now, tz)
        await audit_record(store.engine, "export", OUTPUT, None, patient=patient)
        return response

    @post(f"/assessments/{{assessment_id:str}}/{OUTPUT}/share", opt={"roles": READERS}, status_code=201, responses=SHARED)
    async def share_assessment(
        self, assessment_id: FromPath[str], data: JSONBody[ShareRequest], request: Request, store: NamedDependency[AssessmentStore]
    ) -> ShareLink:
        """A signed link to this summary that a caregiver opens without an account, until it expires."""
        found = await find_assessment(store, assessment_id, request.user.tenant)  # another tenant's: 404 before anything else
        shared = self.summaries.share_assessment(found, data.lang, data.expires_in)
        await audit_record(store.engine, "export", f"{OUTPUT}-link", found.id, patient=found.patient)
        return self.link(shared)

    @post(f"/patients/{OUTPUT}/share", opt={"roles": READERS}, status_code=201, responses=SHARED)
    async def share_patient(self, data: JSONBody[PatientShareRequest], request: Request, store: NamedDependency[AssessmentStore]) -> ShareLink:
        """A signed link to a patient's summary over ``period`` up to now; the link shows that period as it was shared."""
        patient, shared = await self.summaries.share_patient(store, request.user.tenant, data.identifier, data.period, data.lang, data.expires_in)
        await audit_record(store.engine, "export", f"{OUTPUT}-link", None, patient=patient)
        return self.link(shared)

    @get(f"/shared/{OUTPUT}/{{token:str}}", opt=dict(PUBLIC), security=NO_TOKEN, responses=SUMMARY | problems(400, 403, 404, 410, 422, 429, public=True))
    async def open_shared(
        self, token: FromPath[str], request: Request, store: NamedDependency[AssessmentStore], format: Format = None, tz: Tz = None
    ) -> Response:
        """What a caregiver opens: no token needed; 403 for an altered link, 410 once it has expired; an
        address refused too often is throttled (429) on a budget of its own, the size of the token logins'
        (``PAIN_GATEWAY_AUTH_FAILURE_*``): guessing writes no unbounded audit trail, and forged links never
        lock out the valid tokens of everyone behind the same address (a ward's NAT)."""
        address = request.client.host if request.client else None
        wait = self.refused.retry_after(address or "unknown")
        if wait is not None:
            raise TooManyRequestsException(f"too many refused links from this address; try again in {wait} s", headers={"Retry-After": str(wait)})
        try:
            shared = share.verify(token, self.summaries.config.share_secret)
        except share.LinkRefused as refused:
            self.refused.failed(address or "unknown")
            await audit_record(store.engine, "read", OUTPUT, None, outcome="failure", principal=AuditPrincipal(None, "share-link", None, address))
            raise ClientException(str(refused), status_code=refused.status) from None
        anchor, facts, end = await self.summaries.shared_facts(store, shared)
        response = await sync_to_thread(self.document, facts, shared.lang, format, end, tz)
        principal = AuditPrincipal(None, "share-link", shared.tenant, address)
        await audit_record(store.engine, "read", OUTPUT, anchor.id, patient=anchor.patient, principal=principal)
        return response


def caregiver_controller(summaries: Summaries, refused: FailureThrottle) -> type[CaregiverController]:
    """``CaregiverController`` with the site's ``summaries`` and the throttle of refused links; a subclass
    per app, so two apps built in one process (tests) never share settings or counts."""
    return type("CaregiverController", (CaregiverController,), {"summaries": summaries, "refused": refused})
