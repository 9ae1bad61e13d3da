"""Records to rows and back: the one place that knows how a record is laid out in SQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Protocol

from hub.clock import iso, parse_iso
from hub.domain.model import (
    Alarm,
    AlarmDevice,
    AlarmKind,
    AlarmState,
    Button,
    DeviceState,
    Outcome,
    PersonAck,
    PostRef,
    Site,
    SiteRef,
    Trouble,
    TroubleKind,
    TroubleState,
)
from hub.store.ops import Due, OutboxRow, UntestedButton


class Row(Protocol):
    """A row read by index or by column name: `sqlite3.Row`, or `pg.PgRow` on PostgreSQL."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> list[str]: ...


ALARM_COLUMNS: Final = (
    "id, seq, state, level, site_id, site_name, site_address, site_phone, devices, press_count, "
    "test, unregistered, raised_at, last_press_at, acknowledged_at, acknowledged_by, resolved_at, "
    "resolved_by, outcome, note, updated_at, kind, acks, post_id, post_name"
)


def _opt_iso(value: Any) -> str | None:
    return None if value is None else iso(value)


def _opt_time(value: str | None) -> Any:
    return None if value is None else parse_iso(value)


def alarm_to_row(alarm: Alarm) -> tuple[Any, ...]:
    site = alarm.site
    return (
        alarm.id,
        alarm.seq,
        alarm.state.value,
        alarm.level,
        site.id if site else None,
        site.name if site else None,
        site.address if site else None,
        site.phone if site else None,
        json.dumps([[d.button, d.last_event] for d in alarm.devices], separators=(",", ":")),
        alarm.press_count,
        int(alarm.test),
        int(alarm.unregistered),
        iso(alarm.raised_at),
        iso(alarm.last_press_at),
        _opt_iso(alarm.acknowledged_at),
        alarm.acknowledged_by,
        _opt_iso(alarm.resolved_at),
        alarm.resolved_by,
        alarm.outcome.value if alarm.outcome else None,
        alarm.note,
        iso(alarm.updated_at),
        alarm.kind.value,
        json.dumps([[a.person, iso(a.at)] for a in alarm.acks], separators=(",", ":")),
        alarm.post.id if alarm.post else None,
        alarm.post.name if alarm.post else None,
    )


def alarm_from_row(row: Row) -> Alarm:
    site = None
    if row["site_id"] is not None:
        site = SiteRef(
            row["site_id"],
            row["site_name"] or "",
            row["site_address"] or "",
            row["site_phone"] or "",
        )
    return Alarm(
        id=row["id"],
        seq=row["seq"],
        state=AlarmState(row["state"]),
        level=row["level"],
        site=site,
        devices=tuple(AlarmDevice(button, event) for button, event in json.loads(row["devices"])),
        press_count=row["press_count"],
        test=bool(row["test"]),
        unregistered=bool(row["unregistered"]),
        raised_at=parse_iso(row["raised_at"]),
        last_press_at=parse_iso(row["last_press_at"]),
        updated_at=parse_iso(row["updated_at"]),
        acknowledged_at=_opt_time(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_at=_opt_time(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        note=row["note"],
        kind=AlarmKind(row["kind"]),
        acks=tuple(PersonAck(person, parse_iso(at)) for person, at in json.loads(row["acks"])),
        post=PostRef(row["post_id"], row["post_name"] or "") if row["post_id"] else None,
    )


TROUBLE_COLUMNS: Final = "id, kind, subject, site_id, state, raised_at, cleared_at, detail"


def trouble_to_row(trouble: Trouble) -> tuple[Any, ...]:
    return (
        trouble.id,
        trouble.kind,
        trouble.subject,
        trouble.site_id,
        trouble.state.value,
        iso(trouble.raised_at),
        _opt_iso(trouble.cleared_at),
        trouble.detail,
    )


def trouble_from_row(row: Row) -> Trouble:
    return Trouble(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        site_id=row["site_id"],
        state=TroubleState(row["state"]),
        raised_at=parse_iso(row["raised_at"]),
        cleared_at=_opt_time(row["cleared_at"]),
        detail=row["detail"],
    )


DEVICE_COLUMNS: Final = (
    "button_id, first_seen, last_seen, online, battery, rssi, fw, last_event, online_since, "
    "last_seq, last_seq_key"
)


def device_to_row(device: DeviceState) -> tuple[Any, ...]:
    return (
        device.button_id,
        iso(device.first_seen),
        iso(device.last_seen),
        None if device.online is None else int(device.online),
        device.battery,
        device.rssi,
        device.fw,
        device.last_event,
        _opt_iso(device.online_since),
        device.last_seq,
        device.last_seq_key,
    )


def device_from_row(row: Row) -> DeviceState:
    online = row["online"]
    return DeviceState(
        button_id=row["button_id"],
        first_seen=parse_iso(row["first_seen"]),
        last_seen=parse_iso(row["last_seen"]),
        online=None if online is None else bool(online),
        battery=row["battery"],
        rssi=row["rssi"],
        fw=row["fw"],
        last_event=row["last_event"],
        online_since=_opt_time(row["online_since"]),
        last_seq=row["last_seq"],
        last_seq_key=row["last_seq_key"],
    )


def due_from_row(row: Row) -> Due:
    return Due(
        subject=row["subject"],
        alarm_id=row["alarm_id"],
        trouble_id=row["trouble_id"],
        trouble_kind=None if row["kind"] is None else TroubleKind(row["kind"]),
        trouble_subject=row["trouble_subject"],
        policy=row["policy"],
        started_at=parse_iso(row["started_at"]),
        progress={int(k): int(v) for k, v in json.loads(row["progress"]).items()},
        next_due_at=parse_iso(row["next_due_at"]),
    )


OUTBOX_COLUMNS: Final = (
    "seq, key, notifier, event, alarm_id, trouble_id, body, created_at, next_attempt_at, attempts"
)


def outbox_from_row(row: Row) -> OutboxRow:
    return OutboxRow(
        seq=row["seq"],
        key=row["key"],
        notifier=row["notifier"],
        event=row["event"],
        alarm_id=row["alarm_id"],
        trouble_id=row["trouble_id"],
        body=json.loads(row["body"]),
        created_at=parse_iso(row["created_at"]),
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        attempts=row["attempts"],
    )


UNTESTED_SQL: Final = (
    "SELECT b.id AS button_id, b.site_id, s.name AS site_name, b.label, "
    "max(p.received_at) AS last_test_at "
    "FROM buttons AS b LEFT JOIN sites AS s ON s.id = b.site_id "
    "LEFT JOIN presses AS p ON p.button_id = b.id AND p.test = 1 "
    "GROUP BY b.id, s.name HAVING max(p.received_at) IS NULL OR max(p.received_at) < ? "
    "ORDER BY max(p.received_at) IS NOT NULL, max(p.received_at), b.id"
)
"""Registered buttons whose last test press (type `test`, or any press in test mode) is older
than the cutoff, or that never had one: never tested first, then the longest untested."""


def untested_from_row(row: Row) -> UntestedButton:
    return UntestedButton(
        button_id=row["button_id"],
        site_id=row["site_id"],
        site_name=row["site_name"],
        label=row["label"],
        last_test_at=row["last_test_at"],
    )


def site_from_row(row: Row) -> Site:
    return Site(
        id=row["id"],
        name=row["name"],
        address=row["address"],
        phone=row["phone"],
        lat=row["lat"],
        lon=row["lon"],
        test_mode=bool(row["test_mode"]),
        test_until=_moment(row["test_until"]),
    )


def _moment(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


def button_from_row(row: Row) -> Button:
    return Button(
        id=row["id"],
        site_id=row["site_id"],
        label=row["label"],
        profile=row["profile"],
        native_id=row["native_id"],
        test_mode=bool(row["test_mode"]),
        power=row["power"],
        checkin_s=row["checkin_s"],
        sign_key=row["sign_key"],
        test_until=_moment(row["test_until"]),
        kind=AlarmKind(row["kind"]),
        press_patterns=patterns_from_text(row["press_patterns"]),
    )


def patterns_to_text(patterns: tuple[tuple[str, AlarmKind], ...]) -> str | None:
    """A button's press patterns as stored: a JSON object, or NULL for none."""
    if not patterns:
        return None
    return json.dumps({word: kind.value for word, kind in patterns}, separators=(",", ":"))


def patterns_from_text(text: str | None) -> tuple[tuple[str, AlarmKind], ...]:
    if not text:
        return ()
    return tuple((word, AlarmKind(kind)) for word, kind in json.loads(text).items())
