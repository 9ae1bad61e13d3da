"""An `MqttAdapter` for tests: one subscription to button events, quick reconnects, what it
receives and the reasons of its disconnections recorded in lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.broker.mqtt import MqttAdapter, MqttMessage, Subscription
from hub.clock import SystemClock
from hub.config import MqttSection

EVENTS = "chuong/v1/dev/+/event"


def make_adapter(
    port: int,
    seen: list[MqttMessage] | None = None,
    errors: list[str] | None = None,
    *,
    client_id: str = "adapter-test",
    unsubscribe: Sequence[str] = (),
    **settings: Any,
) -> MqttAdapter:
    """`settings` are `mqtt` settings (MqttSection) besides the port and the reconnect delays."""
    values: dict[str, Any] = {"port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}
    return MqttAdapter(
        MqttSection.model_validate(values | settings),
        client_id=client_id,
        status_topic=f"chuong/v1/hub/{client_id}/status",
        version="test",
        subscriptions=[Subscription(EVENTS, 1)],
        clock=SystemClock(),
        on_message=(seen if seen is not None else []).append,
        on_connected=lambda session_present: None,
        on_disconnected=(errors if errors is not None else []).append,
        unsubscribe=unsubscribe,
    )
