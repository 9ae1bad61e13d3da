"""Fixtures and helpers of the end-to-end escalation tests: loopback receivers, an MQTT watcher,
the alarm's audit log."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import RunningHub
from tests.integration.notify.loopback import HttpRecorder, http_recorder

__all__ = ["MqttWatcher", "audit_of", "http_recorder", "mqtt_watcher", "press", "webhook"]


async def press(button: VirtualButton, kind: str = "press") -> str:
    """Press, and return the alarm the hub's ack names."""
    sent = await button.press(kind)
    return (await button.wait_ack(sent.event_id)).ack.alarm


def webhook(server: HttpRecorder, path: str, **extra: Any) -> dict[str, Any]:
    """A webhook notifier for tests: short timeout and quick retries."""
    return {
        "type": "webhook",
        "url": f"{server.url}/{path}",
        "timeout_s": 2,
        "retry_min_s": 0.2,
        "retry_max_s": 1,
        **extra,
    }


async def audit_of(running: RunningHub, alarm_id: str) -> list[dict[str, Any]]:
    response = await running.api().get(f"/api/v1/alarms/{alarm_id}")
    response.raise_for_status()
    entries: list[dict[str, Any]] = response.json()["audit"]
    return entries


class MqttWatcher:
    """Records (topic, payload) of every message on the topics it watches."""

    def __init__(self, broker: Mosquitto) -> None:
        self.messages: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_message(self, client: object, userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload.decode()))

    async def watch(self, *topics: str) -> None:
        self._subscribed.clear()
        self._client.subscribe([(topic, 1) for topic in topics])
        await asyncio.to_thread(self._subscribed.wait, 10)

    def on(self, topic: str) -> list[str]:
        with self._lock:
            return [payload for t, payload in self.messages if t == topic]

    async def wait(
        self, topic: str, predicate: Callable[[list[str]], bool], timeout: float = 20
    ) -> list[str]:
        deadline = time.monotonic() + timeout
        while not predicate(found := self.on(topic)):
            if time.monotonic() > deadline:
                pytest.fail(f"on {topic}: condition not met; got {found}")
            await asyncio.sleep(0.02)
        return found

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
async def mqtt_watcher(broker: Mosquitto) -> AsyncIterator[MqttWatcher]:
    watcher = MqttWatcher(broker)
    yield watcher
    watcher.close()
