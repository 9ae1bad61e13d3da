"""Records to rows and back: the one place that knows how a record is laid out in SQL."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final, TypeAlias

from hub.clock import iso, parse_iso
from hub.domain.model import (
    Alarm,
    AlarmDevice,
    AlarmState,
    DeviceState,
    Outcome,
    SiteRef,
    Trouble,
    TroubleState,
)

Row: TypeAlias = sqlite3.Row

ALARM_COLUMNS: Final = (
    "id, seq, state, level, site_id, site_name, site_address, site_phone, devices, press_count, "
    "test, unregistered, raised_at, last_press_at, acknowledged_at, acknowledged_by, resolved_at, "
    "resolved_by, outcome, note, updated_at"
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
