"""Pages from Jinja2 templates (autoescaped) and the UI's errors as pages rather than problem JSON."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import quote

import jinja2
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from markupsafe import Markup

from gateway.contract.domain import SYNTHETIC_DISCLAIMER, InputError
from gateway.web import problems
from gateway.web.ui.guard import CSRF_FIELD, SignInRequired, current_session
from gateway.web.ui.headers import HEADERS as SECURITY_HEADERS
from gateway.web.ui.headers import NO_STORE

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway.web.ui", "templates"), autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


def csrf_field_for(request: Request, csrf: str = "") -> Callable[[], Markup]:
    """The hidden CSRF input of forms on this page (the session's token; before sign-in, the form's own)."""
    session = current_session(request)
    token = session.csrf if session is not None else csrf
    return lambda: Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


def page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    environment: jinja2.Environment = ENV,
    **context,
) -> Response:
    """Render ``template`` with the signed-in session (if any), its CSRF field, the disclaimer and the
    plugins' navigation links."""
    body = environment.get_template(template).render(
        session=current_session(request),
        path=request.url.path,
        disclaimer=SYNTHETIC_DISCLAIMER,
        csrf_field=csrf_field_for(request, context.pop("sign_in_csrf", "")),
        ui_links=request.app.state.get("ui_links", ()),
        **{"sections": (), **context},
    )
    return Response(body, media_type="text/html", status_code=status_code, headers=headers or {})  # Litestar adds "; charset=utf-8" (once)


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    """To the sign-in page, coming back here afterwards (for a page; a form post starts over)."""
    target = "/ui/sign-in"
    if request.method == "GET":
        target += "?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
    return Redirect(target, status_code=303)


def http_error(request: Request, exc: HTTPException) -> Response:
    """The error page, with the UI's security headers itself: a ``/ui`` path no route matches is answered
    here too (``gateway.web.app.unrouted_error``), outside the router's ``security_headers``."""
    if exc.status_code >= 500:
        return problems.http_error(request, exc)
    headers = {name.decode(): value.decode() for name, value in [*SECURITY_HEADERS, NO_STORE]} | dict(exc.headers or {})
    title, detail = HTTPStatus(exc.status_code).phrase, exc.detail
    if exc.status_code == 404 and detail == title:  # no route matched: say which address, not just "Not Found"
        title, detail = "Page not found", f"There is no page at {request.url.path[:200]}; check the address, or go to the worklist."
    not_found = title == "Page not found"  # the worklist link signs in first when needed
    return page(request, "error.html", status_code=exc.status_code, title=title, detail=detail, headers=headers, not_found=not_found)


def input_error(request: Request, exc: InputError) -> Response:
    return page(request, "error.html", status_code=422, title="Invalid input", detail=f"{exc.field}: {exc.message}")


HANDLERS = {SignInRequired: sign_in_redirect, HTTPException: http_error, InputError: input_error}


def fixed(value: float, digits: int = 2) -> str:
    """``value`` to ``digits`` places, never ``-0.000``: a value that rounds to zero has no sign."""
    text = f"{value:.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0 else text


ENV.filters["fixed"] = fixed
