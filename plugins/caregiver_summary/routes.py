"""Caregiver summary routes: one assessment, a patient over a period, share links and their opening.

Reads are tenant-scoped (another tenant's assessment or patient is a 404) and audited as exports;
opening a share link is audited as a read by the link (no token), with the client's address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException, TooManyRequestsException
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from gateway import NO_TOKEN, PUBLIC, Assessment, AssessmentQuery, AssessmentStore, AuditPrincipal, InputError, PatientRef, audit_record, ok, problems
from plugins.caregiver_summary import share
from plugins.caregiver_summary.content import Facts, for_assessment, for_period
from plugins.caregiver_summary.service import OUTPUT, Summaries

READERS = {"integrator", "telehealth", "clinician"}
TAGS = ["caregiver summaries"]
SHARED_PATH = "/v1/shared/caregiver-summary"
MAX_IDENTIFIER = 255
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # a share link must not leak through links the page might hold
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Robots-Tag": "noindex",
}

Lang = Annotated[str | None, Parameter(description="Catalogue language, e.g. en or zh (default: the site's)", max_length=20)]
Format = Annotated[str | None, Parameter(description="html (default), text, sms (one short message) or pdf", max_length=10)]


class ShareRequest(msgspec.Struct):
    """``expires_in``: 30m, 72h, 7d... (default 72 h, at most the site's ``share_max_h``)."""

    lang: Annotated[str | None, msgspec.Meta(examples=["zh"])] = None
    expires_in: Annotated[str | None, msgspec.Meta(examples=["72h"])] = None


class PatientShareRequest(ShareRequest, kw_only=True):
    """The patient by ``identifier`` (``SYSTEM|VALUE``) and the ``period`` up to now (e.g. 24h)."""

    identifier: Annotated[str, msgspec.Meta(examples=["urn:oid:1.2.36.146.595.217.0.1|MRN-1234"])]
    period: Annotated[str, msgspec.Meta(examples=["24h"])] = "24h"


class ShareLink(msgspec.Struct):
    """Open ``url`` in any browser, no account needed, until ``expires_at``; add ``?format=pdf`` for the PDF."""

    url: Annotated[str, msgspec.Meta(examples=["https://pain.example.org/v1/shared/caregiver-summary/eyJ0ZW5hbnQiOi....Zk3Q"])]
    expires_at: datetime
    lang: Annotated[str, msgspec.Meta(examples=["zh"])]


SHARE_EXAMPLE = ShareLink(
    "https://pain.example.org/v1/shared/caregiver-summary/eyJ0ZW5hbnQiOiJkZWZhdWx0Ii....Zk3Q", datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "zh"
)
SUMMARY = ok(
    str,
    '<!doctype html>\n<html lang="en">...<h1>Pain check summary</h1>...',
    media_type="text/html",
    description="The summary as HTML; format=text or sms answer text/plain, format=pdf application/pdf",
)


def _identifier(text: str | None) -> PatientRef:
    system, bar, value = (text or "").partition("|")
    if not bar or not system or not value or len(text) > 2 * MAX_IDENTIFIER:
        raise InputError("identifier", "must be SYSTEM|VALUE, e.g. urn:oid:1.2.36.146.595.217.0.1|MRN-1234")
    return PatientRef(system=system, value=value)


def build_routes(summaries: Summaries) -> list:
    def document(facts: Facts, lang: str | None, fmt: str | None, made_at: datetime) -> Response:
        doc = summaries.render(facts, lang, fmt, made_at)
        headers = dict(SECURITY_HEADERS)
        if doc.meta["format"] == "pdf":
            headers["Content-Disposition"] = 'inline; filename="caregiver-summary.pdf"'
        return Response(doc.content, media_type=doc.media_type, headers=headers)

    async def assessment(store: AssessmentStore, assessment_id: str, tenant: str) -> Assessment:
        found = await store.get(assessment_id, tenant)
        if found is None:
            raise NotFoundException(f"no assessment {assessment_id[:64]!r}")
        return found

    async def period_facts(store: AssessmentStore, tenant: str, patient: PatientRef, length: timedelta, end: datetime) -> Facts:
        start = end - length
        query = AssessmentQuery(
            tenant=tenant,
            reference=patient.reference,
            system=None if patient.reference else patient.system,
            value=None if patient.reference else patient.value,
            start_from=start,
            start_before=end,
            limit=summaries.config.max_checks,
        )
        found, total = await store.search(query)
        if not found:
            raise NotFoundException("this patient has no assessments in that period; try a longer period")
        return for_period(found, start, end, total)

    def check_sharing() -> None:
        if not summaries.config.share_secret:
            raise ClientException(
                "sharing is off on this gateway: an operator sets PAIN_GATEWAY_PLUGIN_CAREGIVER_SUMMARY_SHARE_SECRET (at least 32 characters) to turn it on",
                status_code=409,
            )

    def link(shared: share.Shared) -> ShareLink:
        token = share.sign(shared, summaries.config.share_secret)
        return ShareLink(f"{summaries.base_url}{SHARED_PATH}/{token}", datetime.fromtimestamp(shared.expires, UTC), shared.lang)

    @get(f"/v1/assessments/{{assessment_id:str}}/{OUTPUT}", opt={"roles": READERS}, tags=TAGS, responses=SUMMARY | problems(400, 404, 422))
    async def assessment_summary(
        assessment_id: FromPath[str], request: Request, store: NamedDependency[AssessmentStore], lang: Lang = None, format: Format = None
    ) -> Response:
        """A plain-language summary of one assessment for a patient's family or carers."""
        found = await assessment(store, assessment_id, request.user.tenant)
        response = await sync_to_thread(document, for_assessment(found), lang, format, datetime.now(UTC))
        await audit_record(store.engine, "export", OUTPUT, assessment_id, patient=found.patient)
        return response

    @get(f"/v1/patients/{OUTPUT}", opt={"roles": READERS}, tags=TAGS, responses=SUMMARY | problems(400, 404, 422))
    async def patient_summary(
        request: Request,
        store: NamedDependency[AssessmentStore],
        identifier: FromQuery[str | None] = None,
        period: FromQuery[str | None] = None,
        lang: Lang = None,
        format: Format = None,
    ) -> Response:
        """A patient's assessments over ``period`` up to now (24h by default), by ``identifier`` (``SYSTEM|VALUE``)."""
        patient = _identifier(identifier)
        summaries.language(lang)
        summaries.check_format(format)
        now = datetime.now(UTC)
        facts = await period_facts(store, request.user.tenant, patient, summaries.period(period), now)
        response = await sync_to_thread(document, facts, lang, format, now)
        await audit_record(store.engine, "export", OUTPUT, None, patient=patient)
        return response

    @post(
        f"/v1/assessments/{{assessment_id:str}}/{OUTPUT}/share",
        opt={"roles": READERS},
        tags=TAGS,
        status_code=201,
        responses=ok(ShareLink, SHARE_EXAMPLE, status=201) | problems(400, 404, 409, 415, 422),
    )
    async def share_assessment(
        assessment_id: FromPath[str], data: JSONBody[ShareRequest], request: Request, store: NamedDependency[AssessmentStore]
    ) -> ShareLink:
        """A signed link to this summary that a caregiver opens without an account, until it expires."""
        found = await assessment(store, assessment_id, request.user.tenant)  # another tenant's: 404 before anything else
        check_sharing()
        language, lifetime = summaries.language(data.lang), summaries.lifetime(data.expires_in)
        shared = share.Shared(found.tenant, found.id, language.code, share.expiry(datetime.now(UTC), lifetime))
        await audit_record(store.engine, "export", f"{OUTPUT}-link", found.id, patient=found.patient)
        return link(shared)

    @post(
        f"/v1/patients/{OUTPUT}/share",
        opt={"roles": READERS},
        tags=TAGS,
        status_code=201,
        responses=ok(ShareLink, SHARE_EXAMPLE, status=201) | problems(400, 404, 409, 415, 422),
    )
    async def share_patient(data: JSONBody[PatientShareRequest], request: Request, store: NamedDependency[AssessmentStore]) -> ShareLink:
        """A signed link to a patient's summary over ``period`` up to now; the link shows that period as it was shared."""
        check_sharing()
        patient, language = _identifier(data.identifier), summaries.language(data.lang)
        length, lifetime, now = summaries.period(data.period), summaries.lifetime(data.expires_in), datetime.now(UTC)
        facts_end = int(now.timestamp())
        found, _ = await store.search(
            AssessmentQuery(tenant=request.user.tenant, system=patient.system, value=patient.value, start_from=now - length, start_before=now, limit=1)
        )
        if not found:
            raise NotFoundException("this patient has no assessments in that period; try a longer period")
        anchor = found[0]  # identifies the patient inside the link without putting an identifier in the URL
        shared = share.Shared(anchor.tenant, anchor.id, language.code, share.expiry(now, lifetime), int(length.total_seconds()), facts_end)
        await audit_record(store.engine, "export", f"{OUTPUT}-link", None, patient=patient)
        return link(shared)

    @get(f"{SHARED_PATH}/{{token:str}}", opt=dict(PUBLIC), security=NO_TOKEN, tags=TAGS,
         responses=SUMMARY | problems(400, 403, 404, 410, 422, 429, public=True))
    async def open_shared(token: FromPath[str], request: Request, store: NamedDependency[AssessmentStore], format: Format = None) -> Response:
        """What a caregiver opens: no token needed; 403 for an altered link, 410 once it has expired; an
        address refused too often is throttled like failed token logins (429), so guessing writes no
        unbounded audit trail."""
        address = request.client.host if request.client else None
        throttle = request.app.state.get("auth_failures")
        wait = throttle.retry_after(address or "unknown") if throttle is not None else None
        if wait is not None:
            raise TooManyRequestsException(f"too many refused links from this address; try again in {wait} s", headers={"Retry-After": str(wait)})
        try:
            shared = share.verify(token, summaries.config.share_secret)
        except share.LinkRefused as refused:
            if throttle is not None:
                throttle.failed(address or "unknown")
            await audit_record(store.engine, "read", OUTPUT, None, outcome="failure", principal=AuditPrincipal(None, "share-link", None, address))
            raise ClientException(str(refused), status_code=refused.status) from None
        principal = AuditPrincipal(None, "share-link", shared.tenant, address)
        anchor = await store.get(shared.assessment_id, shared.tenant)
        if anchor is None:
            raise NotFoundException("what this link showed is no longer available; ask the care team")
        if shared.period_s:
            end = datetime.fromtimestamp(shared.end, UTC)
            facts = await period_facts(store, shared.tenant, anchor.patient, timedelta(seconds=shared.period_s), end)
        else:
            facts, end = for_assessment(anchor), datetime.now(UTC)
        response = await sync_to_thread(document, facts, shared.lang, format, end)
        await audit_record(store.engine, "read", OUTPUT, anchor.id, patient=anchor.patient, principal=principal)
        return response

    return [assessment_summary, patient_summary, share_assessment, share_patient, open_shared]
