"""Request bodies over the limit are refused before they are read, whoever sends them.

A body's size is checked at the door, before routing and before any credential is looked at: a
`Content-Length` over the limit is answered 413 at once, and the connection is closed, so the
body is never read. A body sent without a length (chunked) is counted as it is read, and refused
with 413 as soon as it passes the limit. The answer says why, in `detail`.

The limit is `http.max_body_kib` for every route: the API's bodies are small (a resolve note is at
most 2,000 characters; a button or a site is a few hundred bytes). There is no import of a whole
registry over HTTP (that is `chuong registry import FILE` on the post's computer); a route that
needs more gets its own limit in `route_limits`.

Starlette's own `max_body_size` was not used: at the app's level its 413 is sent outside the
middleware that adds the security headers, it keeps the connection open (uvicorn then reads the
rest of the body and throws it away), and a route that never reads its body never checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = {"Connection": "close"}


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit), headers=CLOSE)


def too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit:,} bytes for this route"


class BodyLimit:
    """A pure ASGI middleware: a byte limit per request body (`route_limits` by path prefix,
    longest first, else `default`)."""

    def __init__(
        self,
        app: ASGIApp,
        default: int,
        route_limits: Mapping[str, int] | None = None,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self._app = app
        self._default = default
        self._routes = sorted((route_limits or {}).items(), key=lambda item: -len(item[0]))
        self._on_refused = on_refused or (lambda: None)

    def limit_of(self, path: str) -> int:
        return next(
            (limit for prefix, limit in self._routes if path.startswith(prefix)), self._default
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self.limit_of(scope["path"])
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(
                    scope, receive, send, 400, "the Content-Length header is not a number"
                )
                return
            if int(length) > limit:
                self._on_refused()
                await self._refuse(scope, receive, send, 413, too_large(limit))
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    self._on_refused()
                    raise _TooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, watched_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, 413, too_large(limit))

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str
    ) -> None:
        response = JSONResponse({"detail": detail}, status_code=status, headers=CLOSE)
        await response(scope, receive, send)
