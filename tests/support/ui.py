"""Driving the review UI's forms over HTTP as a browser would: read the form's CSRF token, post it."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client, token: str, next_path: str = "") -> httpx.Response:
    """Open the sign-in form and submit ``token``; the client keeps the session cookie."""
    form = client.get("/ui/sign-in")
    assert form.status_code == 200, form.text
    return client.post("/ui/sign-in", data={"token": token, "csrf": csrf_of(form.text), "next": next_path}, follow_redirects=False)


def post_form(client, path: str, fields: dict[str, str], page: str | None = None) -> httpx.Response:
    """Post a form of ``page`` (default: ``path``'s own page) with that page's CSRF token."""
    html = client.get(page or path).text
    return client.post(path, data={"csrf": csrf_of(html), **fields}, follow_redirects=False)
