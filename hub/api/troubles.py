"""/api/v1/troubles: faults that are not alarms; /api/v1/rejected: messages that did not fit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, field_serializer

from hub.api.auth import Context, Viewer
from hub.clock import iso
from hub.domain.model import Trouble

router = APIRouter(prefix="/api/v1", tags=["troubles"])


class TroubleView(BaseModel):
    id: int
    """0 for a trouble the hub cannot store right now (the store itself failing)"""
    kind: str
    subject: str
    site_id: str | None
    state: str
    raised_at: datetime
    cleared_at: datetime | None
    detail: str

    @field_serializer("raised_at", "cleared_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else iso(value)

    @classmethod
    def of(cls, trouble: Trouble) -> TroubleView:
        return cls(
            id=trouble.id,
            kind=trouble.kind,
            subject=trouble.subject,
            site_id=trouble.site_id,
            state=trouble.state.value,
            raised_at=trouble.raised_at,
            cleared_at=trouble.cleared_at,
            detail=trouble.detail,
        )


class RejectedView(BaseModel):
    id: int
    received_at: str
    topic: str
    payload: str
    size: int
    reason: str
    detail: str
    button_id: str | None


@router.get(
    "/troubles", response_model=list[TroubleView], summary="Open troubles (or all, newest first)"
)
async def list_troubles(
    ctx: Context,
    _: Viewer,
    state: Literal["open", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TroubleView]:
    stored = await ctx.store.list_troubles(open_only=state == "open", limit=limit)
    return [TroubleView.of(t) for t in [*ctx.system_troubles(), *stored]]


@router.get("/rejected", response_model=list[RejectedView], summary="The latest rejected messages")
async def list_rejected(
    ctx: Context, _: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return await ctx.store.list_rejected(limit)
