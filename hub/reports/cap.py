"""Alarms as CAP 1.2 messages (OASIS Common Alerting Protocol), for other systems to take.

One message per alarm, describing it as it is now:

- active: `msgType` Alert, identifier `<alarm id>`;
- acknowledged: Update, identifier `<alarm id>.ack`, referencing the Alert;
- resolved: Update with `responseType` AllClear, identifier `<alarm id>.end`, referencing the Alert.

A receiver that polls the feed therefore sees the alarm's life as CAP expects: an Alert, then
Updates that reference it. Alarms of test presses have `status` Test ("all recipients
disregard"). The scope is Restricted (the police and whoever the post shares with), with the
restriction said in words, as the standard requires. Times carry the post's numeric offset
(CAP forbids "Z"), to the second.

The schema's element order is followed exactly; `tests/hub/reports/test_cap.py` validates every
shape against the OASIS schema with `capvalidator`. Sources: OASIS CAP 1.2 (2010), sections
3.2.1 to 3.2.4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from hub.domain.kinds import KIND_LABELS
from hub.domain.model import Alarm, AlarmKind, AlarmState

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"

RESTRICTION = "Chỉ dành cho lực lượng Công an và đơn vị được chia sẻ / Police use only"

# CAP's categories by the alarm's kind; a hold-up (robbery) is the default kind of a press.
_CATEGORY: Final[Mapping[AlarmKind, str]] = {
    AlarmKind.HOLDUP: "Security",
    AlarmKind.FIRE: "Fire",
    AlarmKind.MEDICAL: "Health",
    AlarmKind.ASSISTANCE: "Safety",
    AlarmKind.COMM_LOSS: "Infra",
}
_EVENT: Final = KIND_LABELS["vi"]
_STATE_WORDS = {
    AlarmState.ACTIVE: "đang báo động, chưa có người tiếp nhận",
    AlarmState.ACKNOWLEDGED: "đã có người tiếp nhận",
    AlarmState.RESOLVED: "đã kết thúc",
}


@dataclass(frozen=True, slots=True)
class CapSource:
    """Who sends the messages and in which time zone their times are written."""

    sender: str
    """globally unique name of the sender, e.g. `chuong.<hub id>` (no spaces, commas, < or &)"""
    zone: ZoneInfo
    sender_name: str = "Trạm chuông cảnh báo"


def cap_time(moment: datetime, zone: ZoneInfo) -> str:
    """`2026-12-06T13:05:09+07:00`: CAP's dateTime, with a numeric offset and whole seconds."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def sender_of(hub_id: str) -> str:
    """The CAP sender of a hub: `chuong.<hub id>` with anything CAP forbids made a dash."""
    cleaned = "".join("-" if ch in " ,<&" else ch for ch in hub_id)
    return f"chuong.{cleaned}"


def identifier_of(alarm: Alarm) -> str:
    if alarm.state is AlarmState.ACTIVE:
        return alarm.id
    if alarm.state is AlarmState.ACKNOWLEDGED:
        return f"{alarm.id}.ack"
    return f"{alarm.id}.end"


def _sent(alarm: Alarm) -> datetime:
    if alarm.state is AlarmState.RESOLVED and alarm.resolved_at is not None:
        return alarm.resolved_at
    if alarm.state is AlarmState.ACKNOWLEDGED and alarm.acknowledged_at is not None:
        return alarm.acknowledged_at
    return alarm.raised_at


_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot hold at all, even escaped (a name or a note may carry them)."""


def xml_text(text: str) -> str:
    """`text` with what XML cannot hold made U+FFFD, so one odd note cannot spoil a feed."""
    return _NOT_XML.sub("\ufffd", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = xml_text(text)
    return element


def cap_alert(
    alarm: Alarm, source: CapSource, *, position: tuple[float, float] | None = None
) -> ET.Element:
    """The CAP `<alert>` of `alarm` as it is now; `position` is the site's (lat, lon), if known."""
    kind = alarm.kind
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", identifier_of(alarm))
    _sub(alert, "sender", source.sender)
    _sub(alert, "sent", cap_time(_sent(alarm), source.zone))
    _sub(alert, "status", "Test" if alarm.test else "Actual")
    _sub(alert, "msgType", "Alert" if alarm.state is AlarmState.ACTIVE else "Update")
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", RESTRICTION)
    if alarm.state is not AlarmState.ACTIVE:
        original = f"{source.sender},{alarm.id},{cap_time(alarm.raised_at, source.zone)}"
        _sub(alert, "references", original)
    _sub(alert, "incidents", alarm.id)

    info = _sub(alert, "info")
    _sub(info, "language", "vi-VN")
    _sub(info, "category", _CATEGORY[kind])
    _sub(info, "event", _EVENT[kind])
    if alarm.state is AlarmState.RESOLVED:
        _sub(info, "responseType", "AllClear")
    _sub(info, "urgency", "Past" if alarm.state is AlarmState.RESOLVED else "Immediate")
    _sub(info, "severity", "Minor" if alarm.test else "Severe")
    _sub(info, "certainty", "Observed")
    _sub(info, "onset", cap_time(alarm.raised_at, source.zone))
    _sub(info, "senderName", source.sender_name)
    place = alarm.site.name if alarm.site else f"nút chưa đăng ký {', '.join(alarm.buttons)}"
    _sub(info, "headline", f"{_EVENT[kind]}: {place}"[:160])
    _sub(info, "description", _description(alarm, source.zone))
    if alarm.site and alarm.site.phone:
        _sub(info, "contact", alarm.site.phone)
    for name, value in _parameters(alarm):
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    area = _sub(info, "area")
    if alarm.site:
        described = ", ".join(p for p in (alarm.site.name, alarm.site.address) if p)
    else:
        described = place
    _sub(area, "areaDesc", described)
    if position is not None:
        lat, lon = position
        _sub(area, "circle", f"{lat:.6f},{lon:.6f} 0")
    return alert


def _description(alarm: Alarm, zone: ZoneInfo) -> str:
    raised = alarm.raised_at.astimezone(zone).strftime("%H:%M:%S %d/%m/%Y")
    lines = [
        f"Báo động lúc {raised}, {_STATE_WORDS[alarm.state]}.",
        f"Số lần bấm: {alarm.press_count}; nút: {', '.join(alarm.buttons)}.",
    ]
    if alarm.post is not None:  # at a district: the post it came from (docs/DISTRICT.md)
        lines.insert(0, f"Đơn vị: {alarm.post.name or alarm.post.id}.")
    if alarm.site and alarm.site.address:
        lines.append(f"Địa chỉ: {alarm.site.address}.")
    if alarm.outcome is not None:
        lines.append(f"Kết quả: {alarm.outcome.value}.")
    return "\n".join(lines)


def _parameters(alarm: Alarm) -> Iterable[tuple[str, str]]:
    yield "alarmId", alarm.id
    yield "state", alarm.state.value
    yield "level", str(alarm.level)
    yield "pressCount", str(alarm.press_count)
    if alarm.site:
        yield "siteId", alarm.site.id
    if alarm.post is not None:
        yield "postId", alarm.post.id
        yield "postName", alarm.post.name
    if alarm.outcome is not None:
        yield "outcome", alarm.outcome.value


def cap_xml(
    alarm: Alarm, source: CapSource, *, position: tuple[float, float] | None = None
) -> bytes:
    """The CAP message as a UTF-8 XML document."""
    ET.register_namespace("", CAP_NS)
    body: bytes = ET.tostring(
        cap_alert(alarm, source, position=position), encoding="utf-8", xml_declaration=True
    )
    return body


def atom_feed(
    alarms: Sequence[tuple[Alarm, tuple[float, float] | None]],
    source: CapSource,
    *,
    self_url: str,
    entry_url: str,
    now: datetime,
) -> bytes:
    """An Atom feed whose entries carry the CAP message of each alarm inline.

    `entry_url` is a format string with `{id}` for the alarm's CAP document.
    """
    ET.register_namespace("", ATOM_NS)
    ET.register_namespace("cap", CAP_NS)

    def atom(parent: ET.Element | None, tag: str, text: str | None = None) -> ET.Element:
        name = f"{{{ATOM_NS}}}{tag}"
        element = ET.Element(name) if parent is None else ET.SubElement(parent, name)
        if text is not None:
            element.text = xml_text(text)
        return element

    feed = atom(None, "feed")
    atom(feed, "id", f"urn:chuong:{source.sender}:cap")
    atom(feed, "title", f"{source.sender_name}: báo động (CAP 1.2)")
    atom(feed, "updated", cap_time(now, source.zone))
    author = atom(feed, "author")
    atom(author, "name", source.sender)
    link = atom(feed, "link")
    link.set("rel", "self")
    link.set("href", self_url)
    for alarm, position in alarms:
        alert = cap_alert(alarm, source, position=position)
        entry = atom(feed, "entry")
        atom(entry, "id", f"urn:chuong:{source.sender}:{identifier_of(alarm)}")
        headline = alert.find(f"{{{CAP_NS}}}info/{{{CAP_NS}}}headline")
        atom(entry, "title", headline.text if headline is not None else alarm.id)
        atom(entry, "updated", cap_time(_sent(alarm), source.zone))
        alternate = atom(entry, "link")
        alternate.set("rel", "alternate")
        alternate.set("type", CAP_MEDIA_TYPE)
        alternate.set("href", entry_url.format(id=alarm.id))
        content = atom(entry, "content")
        content.set("type", CAP_MEDIA_TYPE)
        content.append(alert)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
