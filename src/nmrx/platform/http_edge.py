"""The HTTP edge: what every request and response passes before and after the app.

Pure ASGI middleware (no ``BaseHTTPMiddleware``, which would buffer bodies):

* :class:`BodyLimit` refuses a body larger than its route allows *before it is read*: at once
  on ``Content-Length``, and by counting the chunks of a streamed (chunked) body. Upload
  routes allow the predictions file limit plus the multipart envelope; everything else a
  small JSON or form body.
* :class:`SecurityHeaders` adds a Content-Security-Policy, ``nosniff``, a referrer policy,
  ``X-Frame-Options`` and, over https, HSTS to every response.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# multipart boundaries, part headers and the small fields beside the file
MULTIPART_ALLOWANCE = 64 * 1024

# the routes that take a predictions file (JSON API and the seller's page)
UPLOAD_ROUTES = (
    re.compile(r"^/api/v1/models/[^/]+/uploads/?$"),
    re.compile(r"^/sell/models/[^/]+/upload/?$"),
)


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


class _TooLarge(Exception):
    """Raised from ``receive`` once a streamed body passes its limit."""


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_routes: Iterable[re.Pattern[str]] = UPLOAD_ROUTES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_routes = tuple(upload_routes)

    def limit_for(self, path: str) -> tuple[int, str]:
        """(bytes allowed on the wire, what to tell the caller) for a path."""
        if any(r.match(path) for r in self.upload_routes):
            return (
                self.max_upload_bytes + MULTIPART_ALLOWANCE,
                f"a predictions file may be at most {_size(self.max_upload_bytes)}",
            )
        return self.max_body_bytes, f"a request body may be at most {_size(self.max_body_bytes)}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit, rule = self.limit_for(path)
        declared: bytes | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            text = declared.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit()):
                await _refuse(scope, send, 400, "the Content-Length header is not a number")
                return
            if int(text) > limit:
                await _refuse(scope, send, 413, f"the request is too large: {rule}")
                return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app answers to the cut-off body, the caller gets the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not started:
            await _refuse(scope, send, 413, f"the request is too large: {rule}")


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    path: str = scope.get("path", "")
    if path.startswith("/api/"):
        body = json.dumps({"error": message}).encode()
        media = b"application/json"
    else:
        title = "Too large" if status == 413 else "Bad request"
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{title} · NMRX</title>"
            '<link rel="stylesheet" href="/static/style.css"></head><body><main id="main">'
            f'<h1>{title}</h1><p class="flash error">{html.escape(message)}.</p>'
            '<p><a href="/">Back to NMRX</a></p></main></body></html>'
        ).encode()
        media = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- security headers -------------------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI's React components set inline style attributes; only its page allows them.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
DOCS_PATH = "/api/docs"
HSTS = b"max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        """``https``: the site is served over https (HSTS on every response); otherwise HSTS
        is sent on requests that arrived over https (``scope['scheme']``, e.g. behind a
        proxy with ``--proxy-headers``)."""
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope.get("path") == DOCS_PATH else CSP
        hsts = self.https or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if hsts:
                    extra.append((b"strict-transport-security", HSTS))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- the API docs, from local assets ----------------------------------------------------------

docs_router = APIRouter(include_in_schema=False)

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>NMRX JSON API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/api/v1/openapi.json"></div>
  <script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/swagger-init.js"></script>
</body>
</html>
"""


@docs_router.get(DOCS_PATH, response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    """Swagger UI, served from ``web/static/swagger-ui`` (swagger-ui-dist, Apache-2.0):
    nothing is fetched from another origin."""
    return HTMLResponse(DOCS_HTML)
