"""The canonical wire messages of the MQTT contract, version 1 (docs/CONTRACT.md, "MQTT").

Buttons publish `event`, `heartbeat` and `status`; the hub answers on `ack`. Every parser here takes
the raw payload bytes and either returns a typed message or raises `WireError` with a short
machine-readable `reason` (used as the rejected-message reason and the metric label) and a
human-readable `detail`.

Leniency is chosen per field by what losing it would cost:

- the fields an alarm cannot do without (`id`, `type`) are strict: a wrong type is a rejection;
- optional telemetry (`seq`, `ts`, `battery`, and the heartbeat fields) that does not validate is
  dropped from the message and reported in `anomalies`; a bad battery reading never costs an alarm;
- unknown extra fields are ignored, so newer firmware can add fields without breaking older hubs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

BUTTON_ID_PATTERN: Final = r"[a-z0-9][a-z0-9_-]{0,63}"
BUTTON_ID_RE: Final = re.compile(rf"{BUTTON_ID_PATTERN}\Z")
EVENT_ID_RE: Final = re.compile(r"[\x21-\x7e]{1,64}\Z")
"""An event id is 1 to 64 visible ASCII characters (no spaces, no control characters)."""

MAX_PAYLOAD_BYTES: Final = 4096
"""Largest payload a button message may have; matches `max_packet_size` in config/mosquitto."""

EPOCH_MS_THRESHOLD: Final = 100_000_000_000
"""Epoch values above this are taken as milliseconds (year 5138 in seconds, 1973 in ms)."""


class WireError(ValueError):
    """A payload that does not fit the contract. `reason` is a short stable label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EventType(StrEnum):
    PRESS = "press"
    DOUBLE_PRESS = "double_press"
    LONG_PRESS = "long_press"
    TEST = "test"
    TAMPER = "tamper"
    CANCEL = "cancel"

    @property
    def raises_alarm(self) -> bool:
        """Presses of every kind (and test presses) raise or join an alarm."""
        return self in _ALARM_TYPES


_ALARM_TYPES: Final = frozenset(
    {EventType.PRESS, EventType.DOUBLE_PRESS, EventType.LONG_PRESS, EventType.TEST}
)


class AckState(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def is_button_id(value: str) -> bool:
    return BUTTON_ID_RE.match(value) is not None


def _id_check(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not is_button_id(value):
            raise ValueError(f"{kind} id must match {BUTTON_ID_PATTERN}")
        return value

    return check


def _check_event_id(value: str) -> str:
    if not EVENT_ID_RE.match(value):
        raise ValueError("event id must be 1 to 64 visible ASCII characters")
    return value


ButtonId = Annotated[str, AfterValidator(_id_check("button"))]
SiteId = Annotated[str, AfterValidator(_id_check("site"))]
"""Sites use the same pattern as buttons: both end up in topics and alarm ids."""
EventId = Annotated[str, AfterValidator(_check_event_id)]


def _reject_constant(name: str) -> Any:
    raise WireError("invalid_json", f"{name} is not valid JSON")


def load_json_object(payload: bytes) -> dict[str, Any]:
    """Decode a UTF-8 JSON object, rejecting NaN/Infinity, deep nesting and non-objects."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("too_large", f"{len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("invalid_utf8", f"byte {exc.start} is not UTF-8") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise WireError("invalid_json", "nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise WireError(
            "invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(value, dict):
        raise WireError("invalid_json", f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_timestamp(value: object) -> datetime:
    """An ISO-8601 string (naive means UTC) or epoch seconds (or milliseconds) as a number."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("epoch time must be a finite, non-negative number")
        seconds = value / 1000 if value > EPOCH_MS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"expected ISO-8601 text or epoch number, got {type(value).__name__}")


def _int_in_range(value: object, low: int | None, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"expected an integer, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{value} is outside {low}..{high}")
    return value


def _short_str(value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


def _hex(value: object) -> str:
    text = _short_str(value, 256)
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
        raise ValueError("not an even-length hex string")
    return text.lower()


_OPTIONAL_FIELDS: Final = {
    "seq": lambda v: _int_in_range(v, 0, 2**63 - 1),
    "ts": parse_timestamp,
    "battery": lambda v: _int_in_range(v, 0, 100),
    "rssi": lambda v: _int_in_range(v, -200, 50),
    "fw": lambda v: _short_str(v, 64),
    "uptime_s": lambda v: _int_in_range(v, 0, 2**63 - 1),
    "sig": _hex,
}


def _optional(raw: dict[str, Any], names: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """Validate optional fields one by one; bad ones are dropped and reported."""
    values: dict[str, Any] = {}
    anomalies: list[str] = []
    for name in names:
        if name not in raw or raw[name] is None:
            continue
        try:
            values[name] = _OPTIONAL_FIELDS[name](raw[name])
        except (ValueError, OverflowError, OSError) as exc:
            anomalies.append(f"{name}: {exc}")
    return values, anomalies


class PressEvent(BaseModel):
    """`{root}/dev/{button}/event`: one press, test press, tamper or cancel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: EventId = Field(description="event id, unique per button")
    type: EventType
    seq: int | None = None
    ts: datetime | None = Field(default=None, description="device time, UTC")
    battery: int | None = Field(default=None, ge=0, le=100)
    sig: str | None = Field(default=None, description="HMAC-SHA256 of the canonical fields, hex")
    ts_epoch: int | None = Field(
        default=None, description="`ts` as sent, when it was whole epoch seconds (what is signed)"
    )
    anomalies: tuple[str, ...] = Field(default=(), description="optional fields that were dropped")

    @classmethod
    def parse(cls, payload: bytes) -> PressEvent:
        raw = load_json_object(payload)
        event_id = raw.get("id")
        if not isinstance(event_id, str):
            raise WireError("invalid_field", f"id: expected text, got {_type_name(event_id)}")
        if not EVENT_ID_RE.match(event_id):
            raise WireError("invalid_field", "id: must be 1 to 64 visible ASCII characters")
        kind = raw.get("type")
        if not isinstance(kind, str):
            raise WireError("invalid_field", f"type: expected text, got {_type_name(kind)}")
        try:
            event_type = EventType(kind)
        except ValueError:
            raise WireError(
                "unknown_type", f"type: {kind[:40]!r} is not a known event type"
            ) from None
        values, anomalies = _optional(raw, ("seq", "ts", "battery", "sig"))
        raw_ts = raw.get("ts")
        if isinstance(raw_ts, int) and not isinstance(raw_ts, bool) and "ts" in values:
            values["ts_epoch"] = raw_ts
        return cls(id=event_id, type=event_type, anomalies=tuple(anomalies), **values)


class Heartbeat(BaseModel):
    """`{root}/dev/{button}/heartbeat`: a check-in, every field optional telemetry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int | None = None
    battery: int | None = Field(default=None, ge=0, le=100)
    rssi: int | None = None
    fw: str | None = None
    uptime_s: int | None = None
    anomalies: tuple[str, ...] = ()

    @classmethod
    def parse(cls, payload: bytes) -> Heartbeat:
        raw = {} if payload.strip() == b"" else load_json_object(payload)
        values, anomalies = _optional(raw, ("seq", "battery", "rssi", "fw", "uptime_s"))
        return cls(anomalies=tuple(anomalies), **values)


class DeviceStatus(BaseModel):
    """`{root}/dev/{button}/status`: `{"online": bool}` or the text `online`/`offline`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    online: bool

    @classmethod
    def parse(cls, payload: bytes) -> DeviceStatus:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise WireError("too_large", f"{len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
        text = payload.strip().lower()
        if text in (b"online", b"offline"):
            return cls(online=text == b"online")
        raw = load_json_object(payload)
        online = raw.get("online")
        if not isinstance(online, bool):
            raise WireError(
                "invalid_field", f"online: expected true or false, got {_type_name(online)}"
            )
        return cls(online=online)


class AckMessage(BaseModel):
    """`{root}/dev/{button}/ack`: the hub telling the button that help is coming."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event: str
    alarm: str
    state: AckState

    @classmethod
    def parse(cls, payload: bytes) -> AckMessage:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise WireError("invalid_field", str(exc.errors()[0]["msg"])) from exc


def _type_name(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
