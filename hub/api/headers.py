"""Security headers on every answer of the hub: the API, the page, the phone's ack page, refusals.

A route may set its own (the page's Content-Security-Policy and `Cache-Control: no-cache`, the ack
page's policy); what it does not set, this adds:

    X-Content-Type-Options: nosniff     a browser never runs JSON or CSV as a script or a page
    Referrer-Policy: no-referrer        a link out of the hub never carries a URL of the hub (an
                                        ack link's signature is its credential)
    X-Frame-Options: DENY               no other site frames the hub to trick a click (older
                                        browsers; the others read frame-ancestors)
    Content-Security-Policy             `default-src 'none'; frame-ancestors 'none'` for data
                                        (JSON, CSV, text); only `frame-ancestors 'none'` for an
                                        HTML page that sets no policy of its own
    Cache-Control: no-store             alarms, sites and phone numbers are kept by no browser
                                        cache and no proxy

A pure ASGI middleware, so that the live stream is passed through untouched. An unhandled error
is answered outside it, by Starlette's outermost middleware: `internal_error`, its handler, adds
the headers itself. The answers the HTTP server writes on its own (400, 408, 503) carry them too
(`hub.api.guard`).
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULTS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
DATA_POLICY: Final = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY: Final = "frame-ancestors 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_defaults(MutableHeaders(scope=message))
            await send(message)

        await self._app(scope, receive, send_with_headers)


def _add_defaults(headers: MutableHeaders) -> None:
    for name, value in DEFAULTS.items():
        if name not in headers:
            headers[name] = value
    if "Content-Security-Policy" not in headers:
        html = headers.get("Content-Type", "").startswith("text/html")
        headers["Content-Security-Policy"] = PAGE_POLICY if html else DATA_POLICY


async def internal_error(request: Request, exc: Exception) -> Response:
    """The answer to an unhandled error (Starlette logs its traceback): no detail of the error,
    and the security headers, which the middleware above cannot add to it."""
    headers = {**DEFAULTS, "Content-Security-Policy": DATA_POLICY}
    return JSONResponse(
        {"detail": "internal error: the hub logged it"}, status_code=500, headers=headers
    )
