"""What a notification says, in Vietnamese (default) or English (`hub.language`).

Every message to a person names the site, its address and phone, the time in the post's time zone
(`hub.timezone`, Asia/Ho_Chi_Minh by default), the escalation level and, when the hub has a
`hub.public_url`, the link that acknowledges the alarm. `short` is the one-paragraph form for SMS;
`ascii_fold` turns Vietnamese into plain ASCII for modems that mangle Unicode.

The alarm's kind is a line of every alarm message ("Loại: Cháy"); the title and the SMS name it
too, unless it is a hold-up: "BÁO ĐỘNG CHÁY: Nhà thuốc Minh Châu", "BÁO ĐỘNG: Ngân hàng ..."
(a plain alarm has always meant a hold-up on these buttons, and the SMS stays short).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, field_serializer

from hub.clock import iso
from hub.domain.kinds import KIND_LABELS
from hub.domain.model import AlarmKind, Trouble, TroubleKind
from hub.domain.views import AlarmView

log = logging.getLogger(__name__)

Language = Literal["vi", "en"]

VIETNAM: Final = timezone(timedelta(hours=7), "ICT")

_WORDS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "alarm": "BÁO ĐỘNG",
        "test": "BÁO ĐỘNG THỬ",
        "trouble": "SỰ CỐ",
        "cleared": "ĐÃ XỬ LÝ",
        "unknown_button": "nút chưa đăng ký",
        "headline": "Báo động {id}: mức {level}, chưa ai xác nhận",
        "repeat": ", nhắc lại lần {round}",
        "closed": "Báo động {id}: {state}",
        "place": "Nơi",
        "address": "Địa chỉ",
        "phone": "Điện thoại",
        "time": "Lúc",
        "buttons": "Nút",
        "presses": "{count} lần bấm",
        "lost": "cùng mất kết nối",
        "ack": "Xác nhận",
        "subject": "Đối tượng",
        "site": "Cơ sở",
        "detail": "Chi tiết",
        "level": "mức",
        "code": "Mã",
        "phone_short": "ĐT",
        "acknowledged": "đã xác nhận",
        "resolved": "đã kết thúc",
        "active": "đang báo động",
        "kind": "Loại",
    },
    "en": {
        "alarm": "ALARM",
        "test": "TEST ALARM",
        "trouble": "TROUBLE",
        "cleared": "CLEARED",
        "unknown_button": "unregistered button",
        "headline": "Alarm {id}: level {level}, not acknowledged",
        "repeat": ", reminder {round}",
        "closed": "Alarm {id}: {state}",
        "place": "Place",
        "address": "Address",
        "phone": "Phone",
        "time": "Time",
        "buttons": "Buttons",
        "presses": "{count} presses",
        "lost": "all lost contact",
        "ack": "Acknowledge",
        "subject": "Subject",
        "site": "Site",
        "detail": "Detail",
        "level": "level",
        "code": "Id",
        "phone_short": "Tel",
        "acknowledged": "acknowledged",
        "resolved": "resolved",
        "active": "active",
        "kind": "Kind",
    },
}

TROUBLE_LABELS: Final[dict[Language, dict[TroubleKind, str]]] = {
    "vi": {
        TroubleKind.TAMPER: "nút bị tháo hoặc phá",
        TroubleKind.BAD_MESSAGES: "nút gửi tin sai",
        TroubleKind.OFFLINE: "nút mất kết nối",
        TroubleKind.LOW_BATTERY: "nút yếu pin",
        TroubleKind.CLOCK_SKEW: "đồng hồ của nút bị lệch",
        TroubleKind.POSSIBLE_FORGERY: "tin có thể bị giả mạo",
        TroubleKind.TEST_MODE: "nút đang ở chế độ thử",
        TroubleKind.SITE_TEST_MODE: "địa điểm đang ở chế độ thử",
        TroubleKind.SESSION_LOST: "broker mất phiên của trung tâm",
        TroubleKind.BROKER_DISCONNECTED: "trung tâm mất kết nối broker",
        TroubleKind.STORE_UNWRITABLE: "không ghi được cơ sở dữ liệu",
        TroubleKind.INTERNAL_ERROR: "lỗi nội bộ",
        TroubleKind.NOTIFIER_FAILING: "kênh báo tin bị lỗi",
        TroubleKind.POST_SILENT: "công an xã mất liên lạc",
        TroubleKind.UPSTREAM_LOST: "mất liên lạc với công an huyện",
    },
    "en": {
        TroubleKind.TAMPER: "button tampered with",
        TroubleKind.BAD_MESSAGES: "button sends invalid messages",
        TroubleKind.OFFLINE: "button offline",
        TroubleKind.LOW_BATTERY: "button battery low",
        TroubleKind.CLOCK_SKEW: "button clock is off",
        TroubleKind.POSSIBLE_FORGERY: "possibly forged message",
        TroubleKind.TEST_MODE: "button in test mode",
        TroubleKind.SITE_TEST_MODE: "site in test mode",
        TroubleKind.SESSION_LOST: "the broker lost the hub's session",
        TroubleKind.BROKER_DISCONNECTED: "the hub is cut off from the broker",
        TroubleKind.STORE_UNWRITABLE: "the store cannot be written",
        TroubleKind.INTERNAL_ERROR: "internal error",
        TroubleKind.NOTIFIER_FAILING: "a notifier is failing",
        TroubleKind.POST_SILENT: "post silent",
        TroubleKind.UPSTREAM_LOST: "the link to the district is lost",
    },
}
"""One label per trouble kind and language (a test checks that none is missing)."""


_PUNCTUATION: Final = str.maketrans(
    {
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2022": "-",  # bullet
        "\u00b7": "-",  # middle dot
    }
)


class TroubleSnapshot(BaseModel):
    """A trouble as it was when a notification about it was queued."""

    id: int
    kind: str
    subject: str
    site_id: str | None
    raised_at: datetime
    detail: str

    @field_serializer("raised_at")
    def _utc(self, value: datetime) -> str:
        return iso(value)

    @classmethod
    def of(cls, trouble: Trouble) -> TroubleSnapshot:
        return cls(
            id=trouble.id,
            kind=trouble.kind,
            subject=trouble.subject,
            site_id=trouble.site_id,
            raised_at=trouble.raised_at,
            detail=trouble.detail,
        )


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    """several lines"""
    short: str
    """one paragraph, for SMS, without the link (SMS sends it apart)"""


def ascii_fold(text: str) -> str:
    """Vietnamese without diacritics ("Đồng Nai" → "Dong Nai"); anything else non-ASCII → '?'."""
    text = text.replace("đ", "d").replace("Đ", "D").translate(_PUNCTUATION)
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode("ascii")


@cache
def zone(name: str) -> tzinfo:
    """The post's time zone; UTC+7 if the name is unknown to this machine (logged once)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("message: unknown time zone %r; showing times in UTC+7", name)
        return VIETNAM


def local_time(moment: datetime, where: tzinfo, *, seconds: bool = True) -> str:
    return moment.astimezone(where).strftime("%H:%M:%S %d/%m/%Y" if seconds else "%H:%M %d/%m")


def render(
    event: str,
    body: dict[str, Any],
    *,
    language: Language,
    where: tzinfo,
    link: str | None,
) -> Message:
    """The message for an outbox row's event and body."""
    if "trouble" in body:
        return _trouble(TroubleSnapshot.model_validate(body["trouble"]), language, where)
    alarm = AlarmView.model_validate(body["alarm"])
    if event == "clear":
        return _closed(alarm, language)
    return _alarm(alarm, int(body.get("round") or 0), language, where, link)


def _place(alarm: AlarmView, words: dict[str, str]) -> str:
    if alarm.site is not None:
        return alarm.site.name
    return f"{words['unknown_button']} {', '.join(alarm.devices)}"


def _alarm(
    alarm: AlarmView, round_no: int, language: Language, where: tzinfo, link: str | None
) -> Message:
    words = _WORDS[language]
    place = _place(alarm, words)
    kind = KIND_LABELS[language][alarm.kind]
    head = words["test" if alarm.test else "alarm"]
    if alarm.kind is not AlarmKind.HOLDUP:  # a plain "alarm" has always meant a hold-up
        head = f"{head} {kind.upper()}"
    title = f"{head}: {place}"
    headline = words["headline"].format(id=alarm.id, level=alarm.level)
    if round_no:
        headline += words["repeat"].format(round=round_no)
    raised_at = alarm.raised_at
    site = alarm.site
    lines = [headline, f"{words['kind']}: {kind}", f"{words['place']}: {place}"]
    if site is not None and site.address:
        lines.append(f"{words['address']}: {site.address}")
    if site is not None and site.phone:
        lines.append(f"{words['phone']}: {site.phone}")
    lines.append(f"{words['time']}: {local_time(raised_at, where)}")
    presses = words["presses"].format(count=alarm.press_count)
    if alarm.kind is AlarmKind.COMM_LOSS:  # nobody pressed: the buttons went silent together
        presses = words["lost"]
    lines.append(f"{words['buttons']}: {', '.join(alarm.devices)} ({presses})")
    if link:
        lines.append(f"{words['ack']}: {link}")
    parts = [f"{head} {place}"]
    if site is not None and site.address:
        parts.append(site.address)
    if site is not None and site.phone:
        parts.append(f"{words['phone_short']} {site.phone}")
    short = ", ".join(parts) + (
        f". {local_time(raised_at, where, seconds=False)}, {words['level']} {alarm.level}. "
        f"{words['code']} {alarm.id}."
    )
    return Message(title, "\n".join(lines), short)


def _closed(alarm: AlarmView, language: Language) -> Message:
    words = _WORDS[language]
    text = words["closed"].format(id=alarm.id, state=words[alarm.state.value])
    return Message(f"{words['cleared']}: {_place(alarm, words)}", text, text)


def _trouble(trouble: TroubleSnapshot, language: Language, where: tzinfo) -> Message:
    words = _WORDS[language]
    labels = TROUBLE_LABELS[language]
    label = next((text for kind, text in labels.items() if kind == trouble.kind), trouble.kind)
    lines = [f"{words['trouble']} #{trouble.id}: {label}", f"{words['subject']}: {trouble.subject}"]
    if trouble.site_id:
        lines.append(f"{words['site']}: {trouble.site_id}")
    if trouble.detail:
        lines.append(f"{words['detail']}: {trouble.detail}")
    lines.append(f"{words['time']}: {local_time(trouble.raised_at, where)}")
    short = (
        f"{words['trouble']} #{trouble.id}: {label} ({trouble.subject}), "
        f"{local_time(trouble.raised_at, where, seconds=False)}."
    )
    return Message(f"{words['trouble']}: {label}", "\n".join(lines), short)
