"""/api/v1/alarms: list, read with its audit log, acknowledge, resolve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, Field, field_validator

from hub.api.auth import Context, Officer, Viewer
from hub.api.errors import refused, responses, unprocessable
from hub.api.params import Moment
from hub.clock import iso
from hub.domain.alarms import NOTE_MAX_CHARS
from hub.domain.model import AlarmState, Outcome, Role
from hub.domain.views import AlarmView
from hub.errors import AlarmNotFound, InvalidTransition
from hub.writer.commands import AcknowledgeAlarm, ResolveAlarm

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])


class AuditEntry(BaseModel):
    id: int
    ts: str
    actor: str
    action: str
    button: str | None
    detail: dict[str, Any]


class PressRecord(BaseModel):
    button_id: str
    event_id: str
    type: str
    received_at: str
    device_ts: str | None
    battery: int | None


class AlarmDetail(AlarmView):
    audit: list[AuditEntry]
    presses: list[PressRecord]


class AckBody(BaseModel):
    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


class ResolveBody(BaseModel):
    outcome: Outcome
    note: str = Field(
        min_length=1, max_length=NOTE_MAX_CHARS, description="What happened; required."
    )

    @field_validator("note")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a note is required: say what happened")
        return value.strip()


def _states(values: list[str]) -> list[str]:
    states = [part.strip() for value in values for part in value.split(",") if part.strip()]
    valid = {s.value for s in AlarmState}
    unknown = [s for s in states if s not in valid]
    if unknown:
        raise unprocessable(
            f"unknown state {unknown[0]!r}: use {', '.join(sorted(valid))}", "query", "state"
        )
    return states


@router.get("", response_model=list[AlarmView], summary="Alarms, open ones first, newest first")
async def list_alarms(
    ctx: Context,
    _: Viewer,
    state: Annotated[
        list[str], Query(description="active, acknowledged, resolved; comma-separated or repeated")
    ] = [],  # noqa: B006
    site: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Moment | None, Query(description="raised at or after (ISO-8601)")] = None,
    until: Annotated[Moment | None, Query(description="raised before (ISO-8601)")] = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AlarmView]:
    found = await ctx.store.list_alarms(
        states=_states(state),
        site_id=site,
        since=iso(since) if since else None,
        until=iso(until) if until else None,
        outcome=outcome.value if outcome else None,
        limit=limit,
        offset=offset,
    )
    return [AlarmView.of(alarm) for alarm in found]


@router.get(
    "/{alarm_id}",
    response_model=AlarmDetail,
    summary="One alarm, with its audit log",
    responses=responses(404),
)
async def get_alarm(alarm_id: str, ctx: Context, _: Viewer) -> AlarmDetail:
    alarm = await ctx.store.get_alarm(alarm_id)
    if alarm is None:
        raise refused(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id!r}", "alarm_not_found")
    audit = await ctx.store.audit_of_alarm(alarm_id)
    presses = await ctx.store.presses_of_alarm(alarm_id)
    return AlarmDetail(
        **AlarmView.of(alarm).model_dump(),
        audit=[AuditEntry(**entry) for entry in audit],
        presses=[PressRecord(**press) for press in presses],
    )


async def _run(ctx: Context, alarm_id: str, command: AcknowledgeAlarm | ResolveAlarm) -> AlarmView:
    if await ctx.store.get_alarm(alarm_id) is None:
        raise refused(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id!r}", "alarm_not_found")
    try:
        alarm = await ctx.pipeline.execute(command)
    except AlarmNotFound:  # it exists but is not open any more
        raise refused(
            status.HTTP_409_CONFLICT, f"alarm {alarm_id} is resolved", "alarm_resolved"
        ) from None
    except InvalidTransition as exc:
        raise refused(status.HTTP_409_CONFLICT, exc) from None
    return AlarmView.of(alarm)


@router.post(
    "/{alarm_id}/ack",
    response_model=AlarmView,
    summary="Acknowledge: an officer is on it",
    responses=responses(404, 409),
)
async def acknowledge(
    alarm_id: str, ctx: Context, who: Officer, body: Annotated[AckBody | None, Body()] = None
) -> AlarmView:
    return await _run(
        ctx, alarm_id, AcknowledgeAlarm(alarm_id, who.actor, body.note if body else None)
    )


@router.post(
    "/{alarm_id}/resolve",
    response_model=AlarmView,
    summary="Resolve with an outcome and a note",
    responses=responses(404, 409),
)
async def resolve(alarm_id: str, body: ResolveBody, ctx: Context, who: Officer) -> AlarmView:
    command = ResolveAlarm(
        alarm_id, who.actor, body.outcome, body.note, may_skip_ack=who.role.allows(Role.ADMIN)
    )
    return await _run(ctx, alarm_id, command)
