"""What a vendor profile is, and the helpers every profile shares.

A profile translates one off-the-shelf device family's own topics and payloads into the canonical
messages of the contract (`devices.messages`): a `VendorPress` (a `PressEvent`, flagged `sos` when
the device's action is itself a call for help), a `VendorStatus` (online or offline) or a
`VendorCheckin` (a sign of life, with what telemetry it carried). A message with nothing to record
translates to an empty list; one that does not fit raises `WireError` with a reason.

Vendor devices send no event id, so the profile makes one (`event_id`). Where the device gives a
time of its own for the press (Shelly gen2 `ts`, Zigbee2MQTT `last_seen`), the id is built from it
and a redelivery of the same message is recognised as a duplicate. Otherwise the id carries the
time the hub received the message: two presses are never merged, and a redelivery after a hub crash
(possible only in the moment between the commit and the broker's PUBACK) counts as one more press
on the same open alarm. A press is never lost to a guessed id; at worst `press_count` is one high.
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Final, Literal

from devices.messages import (
    EVENT_ID_RE,
    MAX_PAYLOAD_BYTES,
    EventType,
    Heartbeat,
    PressEvent,
    WireError,
    is_button_id,
    parse_timestamp,
)

PLAUSIBLE_CLOCK: Final = timedelta(days=1)
"""A device time further than this from the hub's is not trusted to identify a press."""

MEMORY_LIMIT: Final = 20_000
"""Per-device states remembered for edge detection (a shared Zigbee network may be large)."""

_TOPIC_LEVEL_RE: Final = re.compile(r"[^/+#\x00-\x1f\x7f]{1,128}\Z")


class Power(StrEnum):
    MAINS = "mains"
    BATTERY = "battery"


@dataclass(frozen=True, slots=True)
class Supervised:
    """How a device family is watched unless its registry entry says otherwise."""

    power: Power
    checkin_s: int | None
    """The longest a healthy device stays silent: its heartbeat, telemetry or wake period.
    None: it sends nothing periodic, and only its last will tells that it is gone."""
    sleep_will: bool
    """On battery, its `offline` is the last will firing as it goes to sleep, not a fault."""


CANONICAL: Final = Supervised(Power.MAINS, None, sleep_will=True)
"""Buttons of the contract itself: a last will, and heartbeats at least every 60 s, so that
silence beyond `supervision.offline_after_s` (90 s) means offline (hub/supervision/policy.py)."""


@dataclass(frozen=True, slots=True)
class VendorPress:
    event: PressEvent
    action: str
    """The vendor's own word for it (`S`, `single_push`, `emergency`), for logs and rejections."""
    sos: bool = False
    """The action is itself a call for help (a panic button's `emergency`), whoever the device."""


@dataclass(frozen=True, slots=True)
class VendorStatus:
    online: bool


@dataclass(frozen=True, slots=True)
class VendorCheckin:
    beat: Heartbeat = field(default_factory=Heartbeat)


VendorMessage = VendorPress | VendorStatus | VendorCheckin


@dataclass(frozen=True, slots=True)
class Received:
    """One message on a profile's topic, with what the hub knows of the device."""

    native_id: str
    topic: str
    payload: bytes
    received_at: datetime
    last_event: str | None = None
    """The id of the last event the hub recorded from this device, if it is registered."""


@dataclass(frozen=True, slots=True)
class DeviceAcl:
    """The broker ACL lines for one device's MQTT user: topics it may write and read."""

    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()


class Memory:
    """Per-device states remembered between messages, for edge detection: a state sent again
    (`sos: true` in every Zigbee report, an ESPHome binary sensor republished on reconnect) is
    not a new press. Bounded; lost on restart, when an unknown earlier state counts as a change,
    so that a press is never lost to it."""

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self._limit = limit
        self._values: OrderedDict[tuple[str, str], object] = OrderedDict()

    def swap(self, native_id: str, key: str, value: object) -> object | None:
        """Remember `value`; return what was remembered before (None if nothing)."""
        slot = (native_id, key)
        old = self._values.pop(slot, None)
        self._values[slot] = value
        if len(self._values) > self._limit:
            self._values.popitem(last=False)
        return old


ProfileName = Literal["shelly-gen1", "shelly-gen2", "tasmota", "esphome", "zigbee2mqtt"]
"""The registry's `profile` values (a test checks it against `devices.profiles.PROFILES`)."""


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    """What a profile may need to know when it is made: the hub's `[profiles]` keys."""

    zigbee2mqtt_base: str = "zigbee2mqtt"
    """Zigbee2MQTT's `mqtt.base_topic`."""


class Profile(ABC):
    """One device family. Subclasses set the class attributes and implement the four methods."""

    name: ClassVar[ProfileName]
    """The registry's `profile` value, e.g. `shelly-gen1`."""
    tag: ClassVar[str]
    """Short prefix of the ids the profile makes (event ids, ids of unregistered devices)."""
    supervised: ClassVar[Supervised]
    per_device_users: ClassVar[bool] = True
    """Each device connects to the broker itself (False: a bridge publishes for all of them)."""

    def __init__(self) -> None:
        self.memory = Memory()

    @classmethod
    def make(cls, settings: ProfileSettings) -> Profile:
        """One instance for the hub (a profile that needs a setting overrides this)."""
        return cls()

    @abstractmethod
    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        """Topic filters the hub subscribes to for this profile, with their QoS."""

    def checkins(self) -> tuple[str, ...]:
        """The filters of `subscriptions` whose messages are periodic telemetry only (a battery
        reading, a Tasmota STATE): never a press, never a status. The hub takes them on its
        clean telemetry connection, so that they are not queued while it is away
        (docs/BROKER.md); tests/devices/profiles/test_properties.py checks that nothing on them
        translates into anything but a check-in."""
        return ()

    @abstractmethod
    def native_id_of(self, topic: str) -> str | None:
        """The device a topic belongs to, or None when the topic is not this profile's."""

    @abstractmethod
    def translate(self, message: Received) -> list[VendorMessage]:
        """The canonical messages in one vendor message; raise `WireError` if it does not fit."""

    @abstractmethod
    def device_acl(self, native_id: str) -> DeviceAcl:
        """What the device's own MQTT user may write and read (nothing for bridged devices)."""

    def bridge_acls(self) -> dict[str, DeviceAcl]:
        """MQTT users that publish for many devices (a Zigbee2MQTT bridge), with their lines."""
        return {}

    @classmethod
    def check_native_id(cls, native_id: str) -> str:
        """Raise `ValueError` unless `native_id` can name a device of this profile."""
        if not _TOPIC_LEVEL_RE.match(native_id):
            raise ValueError(
                "native_id must be one MQTT topic level: 1-128 characters, "
                "without '/', '+', '#' or control characters"
            )
        return native_id

    def unregistered_id(self, native_id: str) -> str:
        """A button id for a device the registry does not know (for its `unregistered` alarm)."""
        slug = re.sub(r"[^a-z0-9_-]+", "-", native_id.lower()).strip("-_")
        if slug == native_id and is_button_id(f"{self.tag}-{slug}"):
            return f"{self.tag}-{slug}"
        # Changed by the slug or too long: a digest keeps two such devices apart.
        digest = hashlib.sha1(native_id.encode(), usedforsecurity=False).hexdigest()[:8]
        base = slug[: 64 - len(self.tag) - 10].strip("-_")
        return f"{self.tag}-{base}-{digest}" if base else f"{self.tag}-{digest}"


# -- helpers for the profiles ---------------------------------------------------------------------


def event_id(*parts: object) -> str:
    """An event id from parts joined by `-`: kept as is when it fits the contract (1-64 visible
    ASCII characters), otherwise the first part and a digest of the whole."""
    text = "-".join(str(part) for part in parts)
    if EVENT_ID_RE.match(text):
        return text
    digest = hashlib.sha1(text.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
    return f"{parts[0]}-{digest[:40]}"


def received_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def plausible(device_time: datetime | None, received_at: datetime) -> bool:
    """A device time close enough to the hub's to identify a press by it."""
    return device_time is not None and abs(device_time - received_at) <= PLAUSIBLE_CLOCK


def press(
    event_type: EventType,
    ident: str,
    *,
    action: str,
    ts: datetime | None = None,
    battery: int | None = None,
    seq: int | None = None,
    sos: bool = False,
    anomaly: str | None = None,
) -> VendorPress:
    event = PressEvent(
        id=ident,
        type=event_type,
        ts=ts,
        battery=battery,
        seq=seq,
        anomalies=(anomaly,) if anomaly else (),
    )
    return VendorPress(event, action, sos)


def checkin(
    *,
    battery: int | None = None,
    rssi: int | None = None,
    fw: str | None = None,
    uptime_s: int | None = None,
) -> VendorCheckin:
    return VendorCheckin(Heartbeat(battery=battery, rssi=rssi, fw=fw, uptime_s=uptime_s))


def text(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("too_large", f"{len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise WireError("invalid_utf8", f"byte {exc.start} is not UTF-8") from exc


def online_word(payload: bytes, *, online: str, offline: str) -> VendorStatus:
    """A plain availability word (`true`/`false`, `Online`/`Offline`), any case."""
    word = text(payload).lower()
    if word in (online.lower(), offline.lower()):
        return VendorStatus(word == online.lower())
    raise WireError("invalid_field", f"expected {online!r} or {offline!r}, got {word[:40]!r}")


def percent(value: object) -> int | None:
    """A battery percentage from a number or numeric text; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 100:
        return round(value)
    return None


def whole(value: object, low: int, high: int) -> int | None:
    """An integer in [low, high] from a JSON number; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    number = round(value)
    return number if low <= number <= high else None


def short_text(value: object, limit: int = 64) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def epoch_time(value: object) -> datetime | None:
    """Epoch seconds (or milliseconds) or ISO-8601 text; None if it is neither."""
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError, OSError):
        return None
