"""Plugins on the review UI: their sections on the core pages and their own pages in the UI's layout."""

from __future__ import annotations

import functools
import re
from typing import Any

import jinja2
from litestar import Request, Response
from markupsafe import Markup, escape

from gateway.contract.domain import Assessment, PatientRef
from gateway.contract.plugin_manager import Plugins
from gateway.contract.ui import UiContext, UiSection
from gateway.web.ui.render import ENV, csrf_field_for, page

SECTION_ID = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


async def sections_for(
    request: Request[Any, Any, Any], plugins: Plugins, page_name: str, *, assessment: Assessment | None = None, patient: PatientRef | None = None
) -> list[UiSection]:
    """The plugins' sections for this page, safe to render: markup only where the plugin returned ``Markup``."""
    context = UiContext(
        page=page_name,
        request=request,
        user=request.user,
        settings=plugins.settings,
        csrf_field=csrf_field_for(request),
        assessment=assessment,
        patient=patient,
        engine=request.app.state.get("engine"),
    )
    safe: list[UiSection] = []
    for section in await plugins.ui_sections(page_name, context):
        html = section.html if isinstance(section.html, Markup) else escape(section.html)
        section_id = section.id if SECTION_ID.fullmatch(section.id) else "section-" + str(len(safe) + 1)
        safe.append(UiSection(id=section_id, title=section.title, html=html, order=section.order))
    return safe


@functools.cache
def _environment(package: str) -> jinja2.Environment:
    """The core's environment with the plugin's ``templates/`` first: ``{% extends "base.html" %}`` works."""
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader(package, "templates"), ENV.loader])  # type: ignore[list-item]  # ENV.loader is set above
    return ENV.overlay(loader=loader)


def ui_page(
    request: Request[Any, Any, Any], template: str, *, package: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Response[Any]:
    """A plugin's own page, rendered from ``<package>/templates/<template>`` inside the review UI's layout
    (navigation, the synthetic-model notice, CSRF field, security headers)."""
    return page(request, template, status_code=status_code, headers=headers, environment=_environment(package), **context)
