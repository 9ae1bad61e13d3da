"""What ingest hands to the pipeline: typed, validated messages, each with its broker delivery.

A `Delivery` is the broker's handle on one QoS 1 message. The pipeline gives it back to the MQTT
adapter (`Acker.ack`) only after the message's effects are committed, in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from devices.messages import Heartbeat, PressEvent


@dataclass(frozen=True, slots=True)
class Delivery:
    mid: int
    qos: int
    connection: int
    """The connection it arrived on: a PUBACK on a later connection would ack the wrong message."""


class Acker(Protocol):
    def ack(self, delivery: Delivery) -> None:
        """Send the PUBACK, unless the connection it came on is gone (the broker resends)."""
        ...

    def flush(self) -> None:
        """Write the PUBACKs now, ahead of whatever the fan-out is about to publish."""
        ...


@dataclass(frozen=True, slots=True)
class PressIn:
    button: str
    event: PressEvent
    received_at: datetime
    delivery: Delivery | None
    source: str = "canonical"
    """The profile that produced it (`canonical` for the contract's own topics)."""
    action: str | None = None
    """The vendor's own word for the press (`L`, `emergency`): a press pattern."""
    topic: str = ""
    payload: bytes = b""
    """The message as received, kept only to record it if it is refused (a bad signature)."""


@dataclass(frozen=True, slots=True)
class StatusIn:
    button: str
    online: bool
    received_at: datetime
    delivery: Delivery | None


@dataclass(frozen=True, slots=True)
class HeartbeatIn:
    button: str
    beat: Heartbeat
    received_at: datetime
    delivery: Delivery | None


@dataclass(frozen=True, slots=True)
class RejectedIn:
    topic: str
    payload: bytes
    reason: str
    detail: str
    button: str | None
    received_at: datetime
    delivery: Delivery | None


@dataclass(frozen=True, slots=True)
class IgnoredIn:
    """A message with nothing to record (another device's report on a shared vendor network, a
    retained replay): it goes through the pipeline only so that its PUBACK keeps arrival order."""

    topic: str
    reason: str
    received_at: datetime
    delivery: Delivery | None


Inbound = PressIn | StatusIn | HeartbeatIn | RejectedIn | IgnoredIn
