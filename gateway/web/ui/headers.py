"""Security headers on every ``/ui`` answer, error pages included.

The pages load nothing but their own ``/ui/static`` files: no inline script (charts are server-side
SVG), no framing (clickjacking) but by the origins a plugin registers (an EMR embedding the app),
no referrer (URLs hold assessment ids), nothing cached (patient data).
A page may answer with its own, narrowly relaxed Content-Security-Policy (the live page adds WebAssembly).
"""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

CSP_HEADER = b"content-security-policy"
HEADERS = [
    (CSP_HEADER, CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
NO_STORE = (b"cache-control", b"no-store")


def framed_by(headers: list[tuple[bytes, bytes]], origins: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    """``headers`` letting ``origins`` frame the page (an EMR embedding the UI, ``register_frame_ancestors``):
    ``frame-ancestors 'self' <origins>`` instead of ``'none'``, and no ``X-Frame-Options`` (it cannot name
    origins). Unchanged when no origin is registered: then nothing may frame the UI."""
    if not origins:
        return headers
    allowed = b"frame-ancestors 'self' " + " ".join(origins).encode()
    return [
        (name, value.replace(b"frame-ancestors 'none'", allowed) if name.lower() == CSP_HEADER else value)
        for name, value in headers
        if name.lower() != b"x-frame-options"
    ]


def security_headers(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        origins = scope["app"].state.get("frame_ancestors", ()) if "app" in scope else ()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                own_csp = [h for h in message.get("headers", []) if h[0].lower() == CSP_HEADER][:1]
                headers = [h for h in message.get("headers", []) if h[0].lower() not in {name for name, _ in HEADERS}]
                cached = any(name.lower() == b"cache-control" for name, _ in headers)
                defaults = [h for h in HEADERS if not (own_csp and h[0] == CSP_HEADER)]
                message = {**message, "headers": framed_by([*headers, *own_csp, *defaults, *([] if cached else [NO_STORE])], origins)}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
