"""What the FHIR facade does, without HTTP: resolve resource ids, read versions, run searches, state
capabilities. ``routes.py`` is the HTTP side (content negotiation, OperationOutcome errors, the handlers).

Reads resolve the deterministic resource ids (UUIDv5, see ``resources.py``) through the store's alias
index: a miss first indexes the tenant's assessments not indexed yet, then looks again, so ids from
older deliveries resolve without a full scan on every read.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar.exceptions import NotFoundException

from gateway import EXAMPLE_ASSESSMENT, Assessment, AssessmentStore, audit_record, review_history
from gateway import review_versions as versions
from plugins.fhir_observation.resources import (
    FhirObservationOutput,
    assessment_identifier_system,
    capability_statement,
    code_matches,
    device_id,
    device_resource,
    document_reference_id,
    document_reference_resource,
    has_explanation,
    history_bundle,
    observation_id,
    observation_resource,
    operation_outcome,
    provenance_id,
    provenance_resource,
    searchset,
)
from plugins.fhir_observation.search import SEARCH_PARAMS, parse_search

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def software_version() -> str:
    try:
        return importlib.metadata.version("pain-gateway")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class FhirService:
    """The facade for one site: ``output`` holds the code mappings and ``base_url`` (the scope ids and
    identifier systems derive from, so the alias index is kept per scope); ``public_base``
    (``PAIN_GATEWAY_PUBLIC_URL``) makes every URL handed out, the ``Host`` header never does."""

    output: FhirObservationOutput
    public_base: str

    @property
    def base(self) -> str:
        return f"{self.public_base}/fhir"

    @property
    def scope(self) -> str:
        return self.output.base_url

    # resources

    def observation(self, assessment: Assessment) -> dict[str, Any]:
        return observation_resource(assessment, self.output.mappings, self.scope)

    def provenance(self, assessment: Assessment) -> dict[str, Any]:
        return provenance_resource(assessment, self.output.mappings, self.scope)

    def document_reference(self, assessment: Assessment) -> dict[str, Any]:
        """Draws the heatmap PNG: call it in a worker thread."""
        return document_reference_resource(assessment, self.output.mappings, self.scope)

    def device(self, assessment: Assessment) -> dict[str, Any]:
        return device_resource(assessment.model, self.output.mappings, self.scope)

    # reads

    async def index_tenant(self, store: AssessmentStore, tenant: str) -> None:
        """Alias every assessment of ``tenant`` not aliased yet (Observation, Provenance, Device ids)."""
        scope = self.scope
        done: set[str] = set()
        while batch := [a for a in await store.unaliased(tenant, scope, "fhir:Observation") if a.id not in done]:
            done.update(a.id for a in batch)  # a batch that did not stick is not retried forever
            aliases = {}
            for a in batch:
                aliases[("fhir:Observation", observation_id(a.id, scope))] = a
                aliases[("fhir:Provenance", provenance_id(a.id, scope))] = a
                if has_explanation(a):
                    aliases[("fhir:DocumentReference", document_reference_id(a.id, scope))] = a
                aliases.setdefault(("fhir:Device", device_id(a.model, scope)), a)
            await store.add_aliases(scope, [(a, kind, alias) for (kind, alias), a in aliases.items()])

    async def resolve(self, store: AssessmentStore, tenant: str, resource_type: str, resource_id: str) -> Assessment:
        """The assessment behind ``Type/id`` in the caller's tenant; another tenant's is the same 404 as none."""
        found = None
        if _ID.fullmatch(resource_id):
            kind = f"fhir:{resource_type}"
            found = await store.by_alias(tenant, self.scope, kind, resource_id)
            if found is None:
                await self.index_tenant(store, tenant)
                found = await store.by_alias(tenant, self.scope, kind, resource_id)
        if found is None:
            raise NotFoundException(f"{resource_type}/{resource_id} is not known to this server")
        return found

    async def read(self, store: AssessmentStore, tenant: str, resource_type: str, resource_id: str) -> Assessment:
        """``resolve``, audited as a read of the patient's data."""
        found = await self.resolve(store, tenant, resource_type, resource_id)
        await audit_record(store.engine, "read", resource_type, resource_id, patient=found.patient)
        return found

    async def observation_versions(self, store: AssessmentStore, tenant: str, observation_id: str) -> list[Assessment]:
        """Every version of an Observation, oldest first: the AI's preliminary result, then one per review."""
        found = await self.read(store, tenant, "Observation", observation_id)
        return versions(found, await review_history(store.engine, tenant, found.id))

    def history(self, observation_id: str, found: list[Assessment]) -> dict[str, Any]:
        """A ``history`` Bundle, newest version first."""
        return history_bundle([self.observation(a) for a in reversed(found)], f"{self.base}/Observation/{observation_id}/_history", self.base)

    @staticmethod
    def version(observation_id: str, version_id: str, found: list[Assessment]) -> Assessment:
        """Version ``version_id`` (1-based) of ``found``, or 404."""
        if not (version_id.isascii() and version_id.isdigit() and len(version_id) < 10 and 1 <= int(version_id) <= len(found)):
            raise NotFoundException(f"Observation/{observation_id} has versions 1 to {len(found)}, not {version_id!r}")
        return found[int(version_id) - 1]

    # search

    async def search(self, store: AssessmentStore, tenant: str, params: list[tuple[str, str]], strict: bool) -> dict[str, Any]:
        """A searchset Bundle of pain Observations, newest first; ``params`` as in ``search.py``."""
        search = parse_search(params, assessment_identifier_system(self.scope), tenant, strict=strict)
        if search.matches_nothing or not all(code_matches(self.output.mappings, code) for code in search.codes):
            assessments, total = [], 0
        else:
            assessments, total = await store.search(search.query)
        for patient in {a.patient for a in assessments}:  # whose data this page disclosed
            await audit_record(store.engine, "search", "Observation", patient=patient)

        def link(offset: int) -> str:
            return f"{self.base}/Observation?" + urlencode([*search.echo, ("_count", str(search.count)), ("_offset", str(offset))])

        links = {"self": link(search.offset)}
        if not search.summary_count and search.count and search.offset + search.count < total:
            links["next"] = link(search.offset + search.count)
        if not search.summary_count and search.count and search.offset > 0:
            links["previous"] = link(max(search.offset - search.count, 0))
        outcome = operation_outcome(search.notes) if search.notes else None
        return searchset([self.observation(a) for a in assessments], total, links, self.base, outcome)

    # capabilities

    def capability_statement(self, served: Iterable[tuple[str, str]], version: str) -> dict[str, Any]:
        """The CapabilityStatement of the ``(resource type, interaction)`` pairs served, in their order,
        so it cannot advertise an unrouted interaction."""
        resources: dict[str, dict[str, Any]] = {}
        for resource_type, interaction in served:
            entry = resources.setdefault(resource_type, {"interactions": [], "search_params": []})
            entry["interactions"].append(interaction)
            if interaction == "search-type":
                entry["search_params"] = [(name, kind, doc) for name, (kind, doc) in SEARCH_PARAMS.items() if ":" not in name and not name.startswith("_")]
        return capability_statement(self.base, dict(sorted(resources.items())), version)

    # OpenAPI examples: rendered by resources.py from the example assessment with this site's settings

    def example_observation(self) -> dict[str, Any]:
        return self.observation(EXAMPLE_ASSESSMENT)

    def example_history(self) -> dict[str, Any]:
        return history_bundle([self.example_observation()], f"{self.base}/Observation/example/_history", self.base)

    def example_searchset(self) -> dict[str, Any]:
        return searchset([self.example_observation()], 1, {"self": f"{self.base}/Observation?subject:identifier=urn:oid:1.2.3%7CMRN-1234"}, self.base)

    def example_provenance(self) -> dict[str, Any]:
        return self.provenance(EXAMPLE_ASSESSMENT)

    def example_device(self) -> dict[str, Any]:
        return self.device(EXAMPLE_ASSESSMENT)

    def example_capability_statement(self) -> dict[str, Any]:
        return capability_statement(self.base, {"Observation": {"interactions": ["read"], "search_params": []}}, "0.1.0")
