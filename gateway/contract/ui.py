"""What a plugin adds to the review UI: titled sections on the core pages and links in its navigation.

The core pages (``/ui/assessments/{id}``, ``/ui/patients``, ``/ui/worklist``, ``/ui/live``) ask every plugin
for sections through the ``ui_sections`` hook with a ``UiContext``: who is signed in, for which tenant,
and the assessment or patient the page shows. Sections are data, so the layout (tablet first, one
column) stays the core's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.contract.domain import Assessment, PatientRef
from gateway.ops.settings import Settings

UI_PAGES = ("assessment", "patient", "worklist", "live")
"""The core pages that render plugin sections, in the ``page`` argument of ``ui_sections``."""


class UiUser(Protocol):
    """Who is signed in to the UI (a ``TokenInfo``): ``tenant`` scopes every read a section makes."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def tenant(self) -> str: ...


@dataclass(frozen=True)
class UiSection:
    """A titled block a plugin adds below a core page's own content, in ascending ``order``.

    ``html`` is trusted only when it is a ``markupsafe.Markup`` (render it with an autoescaping template);
    a plain ``str`` is escaped and shown as text, so patient text formatted into a string cannot inject markup.
    ``id`` becomes the section's HTML id (letters, digits, ``-``), for links such as ``#trajectory``.
    """

    id: str
    title: str
    html: str
    order: int = 100


@dataclass(frozen=True)
class UiContext:
    """What the page is about and who asks. ``request`` is the Litestar request (its query string, a
    plugin's own form state); ``csrf_field()`` gives the hidden input every form posting to ``/ui`` needs;
    ``engine`` is the gateway's database, for the plugin's own tables (``read_only(engine)``) and
    ``AssessmentStore(engine)`` (always with ``tenant``)."""

    page: str
    request: Any
    user: UiUser
    settings: Settings
    csrf_field: Callable[[], str]
    assessment: Assessment | None = None
    patient: PatientRef | None = None
    engine: AsyncEngine | None = None

    @property
    def tenant(self) -> str:
        return self.user.tenant
