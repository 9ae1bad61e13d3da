"""Load: one MQTT connection publishing presses for many virtual buttons.

A province has thousands of buttons; one connection per button is not how to generate a burst of
thousands of presses a second. `LoadPublisher` publishes canonical events for any number of button
ids over one connection and records exactly which presses the broker acknowledged (PUBACK with a
success code): from that moment the press is the hub's to keep, which is what the no-loss tests
count.

Like the reference button, the publisher presses again (same button, same id, same payload) every
`repeat_s` (5 s) whatever it has not heard `received` for (it listens to the buttons' acks): the
hub's `received`, sent after its commit, is what survives a power cut of the broker; the broker's
PUBACK is not (docs/BROKER.md). A repeat is not counted in `acknowledged` again. `repeat_s=None`
makes a plain QoS 1 publisher that stops at the PUBACK, for measurements of the broker's
acknowledgement alone.

paho numbers QoS 1 publications with 16-bit packet ids and refuses a new one while 65,535 wait
for the broker; a publication it refuses raises `QueueFull` here instead of vanishing, so a
caller publishing faster than the broker takes them must `drain` now and then.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from devices.messages import AckMessage, WireError
from devices.topics import DEFAULT_ROOT, Topics
from simulator.button import REPEAT_S, new_event_id


@dataclass(frozen=True, slots=True)
class Sent:
    button: str
    event_id: str
    sent_at: float


class QueueFull(RuntimeError):
    """paho's outgoing queue has no packet id left: drain before publishing more."""


def _nodelay(client: paho.Client, userdata: Any, sock: Any) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class LoadPublisher:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        root: str = DEFAULT_ROOT,
        client_id: str | None = None,
        max_inflight: int = 1000,
        username: str | None = None,
        password: str | None = None,
        listen_acks: bool = False,
        repeat_s: float | None = REPEAT_S,
    ) -> None:
        self.topics = Topics(root)
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._pending: dict[int, Sent] = {}
        self._raw_pending: set[int] = set()
        self._early: dict[int, bool] = {}
        self.acknowledged: list[Sent] = []
        self.refused: list[Sent] = []
        self.puback_at: dict[tuple[str, str], float] = {}
        self.received: set[tuple[str, str]] = set()
        """(button, event id) of every press the hub said it received (with `listen_acks`): what
        a button that repeats until it hears `received` may stop repeating."""
        self._listen_acks = listen_acks or repeat_s is not None
        self.repeat_s = repeat_s
        self.repeats = 0
        """presses published again for want of `received`"""
        self._unheard: dict[tuple[str, str], tuple[str, float]] = {}
        """(button, event id): (payload, last sent) of each press not yet heard `received`"""
        self._repeater: asyncio.Task[None] | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"load-{new_event_id()[:12]}",
            protocol=paho.MQTTv5,
        )
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        self._client.on_publish = self._on_publish
        self._client.on_socket_open = _nodelay
        self._connected = threading.Event()
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    async def connect(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._client.connect, self._host, self._port, 30)
        self._client.loop_start()
        if not await loop.run_in_executor(None, self._connected.wait, timeout):
            raise TimeoutError("the broker did not answer CONNECT")
        if self.repeat_s is not None and self._repeater is None:
            self._repeater = asyncio.create_task(self._repeat(self.repeat_s), name="load-repeat")

    async def _repeat(self, every: float) -> None:
        """Press again, same id and payload, whatever has not been heard `received` for
        `every`; a repeat waits for its PUBACK like a raw publication (see `drain`)."""
        while True:
            await asyncio.sleep(min(every, 1.0))
            now = time.monotonic()
            with self._lock:
                due = [
                    (key, payload)
                    for key, (payload, sent) in self._unheard.items()
                    if now - sent >= every and key not in self.received
                ]
                for key, payload in due:
                    self._unheard[key] = (payload, now)
            for (button, _), payload in due:
                try:
                    self.publish_raw(self.topics.event(button), payload.encode())
                except QueueFull:
                    break  # the rest wait for the next round
                self.repeats += 1

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if self._listen_acks and not reason.is_failure:
            client.subscribe(self.topics.ack("+"), qos=1)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        button = message.topic.split("/")[-2]
        try:
            ack = AckMessage.parse(bytes(message.payload))
        except WireError:
            return
        with self._lock:  # any state: `acknowledged` and `resolved` come after `received`
            self.received.add((button, ack.event))
            self._unheard.pop((button, ack.event), None)

    def press(self, button: str, event_id: str | None = None, type_: str = "press") -> Sent:
        """Queue one press (non-blocking); its PUBACK is recorded when it arrives."""
        sent = Sent(button, event_id or new_event_id(), time.monotonic())
        payload = json.dumps({"id": sent.event_id, "type": type_})
        info = self._client.publish(self.topics.event(button), payload, qos=1)
        _refused_if_full(info)
        with self._lock:
            key = (button, sent.event_id)
            if self.repeat_s is not None and key not in self.received:
                self._unheard[key] = (payload, sent.sent_at)
            early = self._early.pop(info.mid, None)
            if early is None:
                self._pending[info.mid] = sent
        if early is not None:
            self._record(sent, early, time.monotonic())
        return sent

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Anything at all, at QoS 1 (for the bad-input floods); `drain` waits for it too."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        _refused_if_full(info)
        with self._lock:
            if self._early.pop(info.mid, None) is None:
                self._raw_pending.add(info.mid)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._raw_pending)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every QoS 1 publication has its PUBACK (or the time is up)."""
        deadline = time.monotonic() + timeout
        # PUBACKs are recorded in paho's thread; a short poll is the simplest safe wait.
        while self.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return self.in_flight == 0

    @property
    def unheard(self) -> int:
        """Presses not yet heard `received` (while repeating)."""
        with self._lock:
            return len(self._unheard)

    async def close(self) -> None:
        if self._repeater is not None:
            self._repeater.cancel()
            self._repeater = None
        self._client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, self._client.loop_stop)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        now = time.monotonic()
        with self._lock:
            sent = self._pending.pop(mid, None)
            if sent is None:
                if mid in self._raw_pending:
                    self._raw_pending.discard(mid)
                else:
                    self._early[mid] = not reason.is_failure
                return
        self._record(sent, not reason.is_failure, now)

    def _record(self, sent: Sent, accepted: bool, at: float) -> None:
        with self._lock:
            (self.acknowledged if accepted else self.refused).append(sent)
            if accepted:
                self.puback_at[(sent.button, sent.event_id)] = at


def _refused_if_full(info: paho.MQTTMessageInfo) -> None:
    if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
        raise QueueFull("65,535 publications wait for the broker; drain before publishing more")
