"""A standby hub's API is read-only (docs/HA.md): every request that would change something
answers 503, saying that this hub is the standby, in the hub's language and in English."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
REASON: Final = (
    "hub dự phòng: chỉ xem, không ghi; hãy dùng hub đang hoạt động "
    "(this hub is the standby: read-only; use the active hub)"
)


def refuse_writes(app: FastAPI, is_standby: Callable[[], bool]) -> None:
    """While `is_standby()`, answer every request but GET, HEAD and OPTIONS with 503."""

    @app.middleware("http")
    async def standby_guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method not in SAFE_METHODS and is_standby():
            return JSONResponse({"detail": REASON}, status_code=503, headers={"Retry-After": "5"})
        return await call_next(request)
