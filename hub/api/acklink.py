"""/ack/…: acknowledge an alarm from a phone, with the signed link a notification carried.

    GET  /ack/{alarm}/{person}/{expires}/{signature}   a small page: the alarm, and a button
    POST /ack/{alarm}/{person}/{expires}/{signature}   acknowledges, as `link:<person>`

When the person was called by a step with `ack = "each"`, POST records their acknowledgement and
the alarm stays active until all the step's people have (`AcknowledgeByLink`); the page says whom
it still waits for.

GET never changes anything: chat apps and mail scanners fetch links to preview them. The page is
one self-contained HTML document (no script, no external asset), in the hub's language. These
routes are outside /api/: the link is the credential (one alarm, one person, until it expires).
"""

from __future__ import annotations

import html
from typing import Annotated, Final

from fastapi import APIRouter, Path, status
from fastapi.responses import HTMLResponse

from hub.api.auth import Context
from hub.api.context import ApiContext
from hub.domain.kinds import KIND_LABELS
from hub.domain.model import Alarm, AlarmState
from hub.errors import AlarmNotFound, ChuongError, InvalidTransition
from hub.escalation.engine import AcknowledgeByLink
from hub.escalation.policies import Policies
from hub.escalation.policy import still_waiting
from hub.notify.links import SECRET_META_KEY, LinkCheck, check
from hub.notify.message import local_time, zone

router = APIRouter(tags=["acknowledge from a phone"])

PATH: Final = "/ack/{alarm_id}/{person}/{expires}/{signature}"
HEADERS: Final = {  # and the hub's defaults (hub/api/headers.py): no-store, no-referrer, …
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}

AlarmId = Annotated[str, Path(max_length=140)]
Person = Annotated[str, Path(max_length=64)]
Expires = Annotated[int, Path(ge=0, le=2**40)]
Signature = Annotated[str, Path(max_length=64)]

_TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "title": "Xác nhận báo động",
        "alarm": "Báo động {id}",
        "place": "Nơi",
        "address": "Địa chỉ",
        "phone": "Điện thoại",
        "time": "Lúc",
        "level": "Mức",
        "kind": "Loại",
        "unknown_place": "nút chưa đăng ký",
        "button": "Tôi đã nhận tin — xác nhận",
        "done": "Đã xác nhận. Trực ban thấy bạn ({person}) đang xử lý.",
        "partial": "Đã ghi nhận bạn ({person}) nhận tin. Báo động vẫn chờ những người khác "
        "cùng xác nhận: {waiting}.",
        "already": "Báo động này đã được xác nhận bởi {by} lúc {at}.",
        "post": "Báo động này do {post} tiếp nhận và xử lý; huyện không xác nhận thay. "
        "Hãy gọi điện cho công an xã.",
        "resolved": "Báo động này đã kết thúc.",
        "invalid": "Liên kết không hợp lệ.",
        "expired": "Liên kết đã hết hạn. Hãy gọi trực ban.",
        "missing": "Không có báo động này.",
        "busy": "Trung tâm chưa ghi được xác nhận. Hãy thử lại, hoặc gọi trực ban.",
    },
    "en": {
        "title": "Acknowledge an alarm",
        "alarm": "Alarm {id}",
        "place": "Place",
        "address": "Address",
        "phone": "Phone",
        "time": "Time",
        "level": "Level",
        "kind": "Kind",
        "unknown_place": "unregistered button",
        "button": "I have it — acknowledge",
        "done": "Acknowledged. The duty officer sees that you ({person}) are on it.",
        "partial": "Recorded that you ({person}) have it. The alarm still waits for the others "
        "to acknowledge: {waiting}.",
        "already": "This alarm was already acknowledged by {by} at {at}.",
        "post": "This alarm is acknowledged and handled by {post}; the district does not "
        "acknowledge it for them. Phone the post.",
        "resolved": "This alarm is resolved.",
        "invalid": "This link is not valid.",
        "expired": "This link has expired. Call the duty officer.",
        "missing": "There is no such alarm.",
        "busy": "The hub could not record it. Try again, or call the duty officer.",
    },
}


async def _check(
    ctx: ApiContext, alarm_id: str, person: str, expires: int, signature: str
) -> LinkCheck:
    secret = await ctx.store.meta(SECRET_META_KEY)
    if secret is None:
        return LinkCheck.INVALID
    return check(bytes.fromhex(secret), alarm_id, person, expires, signature, ctx.clock.now())


def _page(ctx: ApiContext, body: str, status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    language = ctx.config.hub.language
    text = _TEXT[language]
    document = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(text['title'])}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.2em;line-height:1.5;max-width:32em}"
        "h1{font-size:1.3em;color:#b00020}dt{font-weight:bold}dd{margin:0 0 .5em 0}"
        "button{font-size:1.2em;padding:.8em 1.2em;width:100%;background:#b00020;color:#fff;"
        "border:0;border-radius:.4em}p.note{font-size:1.1em}"
        f"</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=HEADERS)


def _paragraph(ctx: ApiContext, key: str, **values: str) -> str:
    message = _TEXT[ctx.config.hub.language][key].format(**values)
    return f'<p class="note">{html.escape(message)}</p>'


def _note(ctx: ApiContext, key: str, status_code: int, **values: str) -> HTMLResponse:
    return _page(ctx, _paragraph(ctx, key, **values), status_code)


def _refusal(ctx: ApiContext, verdict: LinkCheck) -> HTMLResponse:
    if verdict is LinkCheck.EXPIRED:
        return _note(ctx, "expired", status.HTTP_410_GONE)
    return _note(ctx, "invalid", status.HTTP_403_FORBIDDEN)


async def _linked_alarm(
    ctx: ApiContext, alarm_id: str, person: str, expires: int, signature: str
) -> Alarm | HTMLResponse:
    """The alarm a valid link names, or the page that refuses the link or finds no alarm."""
    verdict = await _check(ctx, alarm_id, person, expires, signature)
    if verdict is not LinkCheck.VALID:
        return _refusal(ctx, verdict)
    alarm = await ctx.store.get_alarm(alarm_id)
    if alarm is None:
        return _note(ctx, "missing", status.HTTP_404_NOT_FOUND)
    return alarm


def _details(ctx: ApiContext, alarm: Alarm) -> str:
    text = _TEXT[ctx.config.hub.language]
    where = zone(ctx.config.hub.timezone)
    site = alarm.site
    rows = [
        (text["kind"], KIND_LABELS[ctx.config.hub.language][alarm.kind]),
        (
            text["place"],
            site.name if site else f"{text['unknown_place']} {', '.join(alarm.buttons)}",
        ),
        (text["address"], site.address if site else ""),
        (text["phone"], site.phone if site else ""),
        (text["time"], local_time(alarm.raised_at, where)),
        (text["level"], str(alarm.level)),
    ]
    items = "".join(
        f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>"
        for name, value in rows
        if value
    )
    title = html.escape(text["alarm"].format(id=alarm.id))
    return f"<h1>{title}</h1><dl>{items}</dl>"


def _settled(ctx: ApiContext, alarm: Alarm) -> str:
    """What became of an alarm that is no longer active."""
    if alarm.state is AlarmState.RESOLVED:
        return _paragraph(ctx, "resolved")
    if alarm.post is not None and alarm.state is AlarmState.ACTIVE:  # at a district
        return _paragraph(ctx, "post", post=alarm.post.name or alarm.post.id)
    when = alarm.acknowledged_at
    at = local_time(when, zone(ctx.config.hub.timezone)) if when else ""
    return _paragraph(ctx, "already", by=alarm.acknowledged_by or "?", at=at)


async def _waiting(ctx: ApiContext, alarm: Alarm, person: str) -> str:
    """This person has acknowledged; the alarm waits for the others of an `ack = "each"` step."""
    policies = Policies(ctx.config.escalation, ctx.config.notifiers)
    policy = policies.for_alarm(alarm, await ctx.store.escalation_policy(alarm.id))
    acked = {ack.person for ack in alarm.acks}
    waiting = ", ".join(still_waiting(policy, alarm.level, acked)) or "?"
    return _paragraph(ctx, "partial", person=person, waiting=waiting)


@router.get(PATH, response_class=HTMLResponse, summary="The alarm, and a button to acknowledge")
async def show(
    alarm_id: AlarmId, person: Person, expires: Expires, signature: Signature, ctx: Context
) -> HTMLResponse:
    alarm = await _linked_alarm(ctx, alarm_id, person, expires, signature)
    if isinstance(alarm, HTMLResponse):
        return alarm
    if alarm.state is not AlarmState.ACTIVE:
        return _page(ctx, _details(ctx, alarm) + _settled(ctx, alarm))
    if any(ack.person == person for ack in alarm.acks):
        return _page(ctx, _details(ctx, alarm) + await _waiting(ctx, alarm, person))
    label = html.escape(_TEXT[ctx.config.hub.language]["button"])
    form = f'<form method="post"><button type="submit">{label}</button></form>'
    return _page(ctx, _details(ctx, alarm) + form)


@router.post(PATH, response_class=HTMLResponse, summary="Acknowledge the alarm as this person")
async def confirm(
    alarm_id: AlarmId, person: Person, expires: Expires, signature: Signature, ctx: Context
) -> HTMLResponse:
    alarm = await _linked_alarm(ctx, alarm_id, person, expires, signature)
    if isinstance(alarm, HTMLResponse):
        return alarm
    policies = Policies(ctx.config.escalation, ctx.config.notifiers)
    policy = await ctx.store.escalation_policy(alarm_id)
    command = AcknowledgeByLink(policies, alarm_id, person, policy)
    try:
        updated: Alarm = await ctx.pipeline.execute(command)
    except (AlarmNotFound, InvalidTransition):
        current = await ctx.store.get_alarm(alarm_id) or alarm
        resolved = current.state is AlarmState.RESOLVED
        refused = resolved or (current.post is not None and current.state is AlarmState.ACTIVE)
        code = status.HTTP_409_CONFLICT if refused else status.HTTP_200_OK
        return _page(ctx, _settled(ctx, current), code)
    except ChuongError:  # the hub is stopping, or could not record it: say so, try again
        return _note(ctx, "busy", status.HTTP_503_SERVICE_UNAVAILABLE)
    if updated.state is AlarmState.ACTIVE:  # a step whose people must each acknowledge
        return _page(ctx, await _waiting(ctx, updated, person))
    return _note(ctx, "done", status.HTTP_200_OK, person=person)
