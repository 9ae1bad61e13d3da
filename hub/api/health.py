"""/healthz, /readyz and /metrics: for systemd, load balancers and Prometheus (no auth)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.auth import Context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The hub process answers")
async def healthz(ctx: Context) -> dict[str, str]:
    return {"status": "ok", "version": ctx.version}


@router.get(
    "/readyz",
    summary="200 only when the broker is connected and the store writable; 503 on a standby",
)
async def readyz(ctx: Context) -> JSONResponse:
    readiness = ctx.readiness()
    if readiness.ready:
        return JSONResponse({"status": "ready", "role": readiness.role})
    return JSONResponse(
        {"status": "not ready", "role": readiness.role, "reasons": readiness.reasons},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(ctx: Context) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
