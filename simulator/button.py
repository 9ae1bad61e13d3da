"""A virtual call button with its own real MQTT connection.

It behaves as the contract's reference button does: a retained `online` status with an `offline`
last will, presses published with QoS 1 and a fresh event id, heartbeats, and it listens on its own
`ack` topic to learn that the hub received the press (and later that an officer acknowledged it).
Like the reference button (devices/esphome), it publishes a press again, with the same id and
payload, every `repeat_s` (5 s) until it hears `received`: the broker's PUBACK does not survive a
power cut of the broker, the hub's `received` does (docs/BROKER.md). `repeat_s=None` makes a plain
QoS 1 publisher, which stops at the PUBACK.

The network loop runs in paho's thread; every method is a coroutine for asyncio callers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.messages import AckMessage, WireError
from devices.signing import sign
from devices.topics import DEFAULT_ROOT, Topics

REPEAT_S: Final = 5.0
"""The reference button publishes a press again every 5 s until it hears `received`."""


class ButtonError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Press:
    event_id: str
    sent_at: float
    """time.monotonic() when it was handed to the network"""
    acked_by_broker: bool
    """the broker answered PUBACK with success: from now on the press is the hub's to keep"""
    puback_at: float | None


@dataclass(frozen=True, slots=True)
class AckReceived:
    ack: AckMessage
    at: float
    """time.monotonic() when it arrived"""


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    match: Callable[[AckMessage], bool] = field(default=lambda ack: True)


class VirtualButton:
    def __init__(
        self,
        button_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        root: str = DEFAULT_ROOT,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        nodelay: bool = True,
        session_expiry_s: int | None = None,
        sign_key: str | None = None,
        repeat_s: float | None = REPEAT_S,
    ) -> None:
        """With `session_expiry_s`, the button keeps a persistent session (clean start off) and
        reconnects by itself: presses made while the broker is away wait in the button and go out
        when it returns, as a real button's firmware does. With `sign_key`, it signs every
        event (devices/signing.py), counting `seq` up from `self.seq`. With `repeat_s`, a press
        not heard `received` is published again that often (None: never)."""
        self.id = button_id
        self.repeat_s = repeat_s
        self.repeats = 0
        """presses published again for want of `received`"""
        self._unheard: dict[str, tuple[bytes, float]] = {}
        """event id: (payload, last sent) of every press not yet heard `received`"""
        self._heard: set[str] = set()
        self._repeater: asyncio.Task[None] | None = None
        self.session_expiry_s = session_expiry_s
        self.sign_key = sign_key
        self.seq = 0
        self.last_sent = b""
        """the payload of the last press, as it went over the wire (what an eavesdropper has)"""
        self.host = host
        self.port = port
        self.topics = Topics(root)
        self.keepalive = keepalive
        self.nodelay = nodelay
        self.acks: list[AckReceived] = []
        self._lock = threading.Lock()
        self._pubacks: dict[
            int, tuple[asyncio.AbstractEventLoop, asyncio.Future[tuple[bool, float]]]
        ] = {}
        self._early: dict[int, tuple[bool, float]] = {}
        self._ignored: set[int] = set()
        self._ack_waiters: list[_Waiter] = []
        self._connected: tuple[asyncio.AbstractEventLoop, asyncio.Future[ReasonCode]] | None = None
        self._subscribed: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"btn-{button_id}", protocol=paho.MQTTv5
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.will_set(
            self.topics.status(button_id), json.dumps({"online": False}), qos=1, retain=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_socket_open = self._on_socket_open

    # -- connection --------------------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        connected: asyncio.Future[ReasonCode] = loop.create_future()
        subscribed: asyncio.Future[None] = loop.create_future()
        self._connected = (loop, connected)
        self._subscribed = (loop, subscribed)
        properties = None
        if self.session_expiry_s is not None:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.session_expiry_s
            self._client.reconnect_delay_set(1, 2)

        def connect() -> None:
            self._client.connect(
                self.host,
                self.port,
                self.keepalive,
                clean_start=self.session_expiry_s is None,
                properties=properties,
            )

        await loop.run_in_executor(None, connect)
        self._client.loop_start()
        reason = await asyncio.wait_for(connected, timeout)
        if reason.is_failure:
            self._client.loop_stop()
            raise ButtonError(f"{self.id}: the broker refused the connection: {reason}")
        await asyncio.wait_for(subscribed, timeout)
        await self.publish(self.topics.status(self.id), json.dumps({"online": True}), retain=True)
        if self.repeat_s is not None and self._repeater is None:
            self._repeater = asyncio.create_task(self._repeat(self.repeat_s), name=f"{self.id}-rep")

    def _stop_repeating(self) -> None:
        if self._repeater is not None:
            self._repeater.cancel()
            self._repeater = None

    async def _repeat(self, every: float) -> None:
        """Publish again, same id and payload, each press not heard `received` for `every`."""
        while True:
            await asyncio.sleep(min(every, 1.0))
            now = time.monotonic()
            with self._lock:
                due = [
                    (event_id, payload)
                    for event_id, (payload, sent) in self._unheard.items()
                    if now - sent >= every
                ]
                for event_id, payload in due:
                    self._unheard[event_id] = (payload, now)
            for _, payload in due:
                self.repeats += 1
                await self.publish(self.topics.event(self.id), payload, wait=False)

    async def go_offline(self) -> None:
        """A clean goodbye: retained `offline`, then DISCONNECT (no last will)."""
        await self.publish(self.topics.status(self.id), json.dumps({"online": False}), retain=True)
        await self.close()

    async def close(self) -> None:
        self._stop_repeating()
        self._client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, self._client.loop_stop)

    def kill(self) -> None:
        """Vanish as a button losing power does: the socket closes with no DISCONNECT, so the
        broker publishes the last will (`offline`)."""
        self._stop_repeating()
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
        self._client.loop_stop()

    def freeze(self) -> None:
        """Hang as a button whose firmware locked up: the connection stays open but nothing more
        is sent, not even keepalive pings (the broker sends the last will after 1.5 x keepalive)."""
        self._stop_repeating()
        self._client.loop_stop()

    # -- what a button sends -----------------------------------------------------------------------

    async def press(
        self,
        type: str = "press",  # the contract's field name
        *,
        event_id: str | None = None,
        ts: datetime | None = None,
        battery: int | None = None,
        seq: int | None = None,
        wait_puback: bool = True,
    ) -> Press:
        event_id = event_id or new_event_id()
        moment = ts or datetime.now(UTC)
        body: dict[str, Any] = {"id": event_id, "type": type, "ts": moment.isoformat()}
        if battery is not None:
            body["battery"] = battery
        if seq is not None:
            body["seq"] = seq
        if self.sign_key is not None:
            self.seq = seq if seq is not None else self.seq + 1
            body["seq"], body["ts"] = self.seq, int(moment.timestamp())
            body["sig"] = sign(self.sign_key, self.id, event_id, type, self.seq, body["ts"])
        self.last_sent = json.dumps(body).encode()
        sent_at = time.monotonic()
        if self.repeat_s is not None:
            with self._lock:
                if event_id not in self._heard:
                    self._unheard[event_id] = (self.last_sent, sent_at)
        acked, at = await self.publish(self.topics.event(self.id), self.last_sent, wait=wait_puback)
        return Press(event_id, sent_at, acked, at)

    async def heartbeat(
        self, *, battery: int | None = None, rssi: int | None = None, fw: str | None = None
    ) -> None:
        body = {
            k: v for k, v in {"battery": battery, "rssi": rssi, "fw": fw}.items() if v is not None
        }
        await self.publish(self.topics.heartbeat(self.id), json.dumps(body), qos=0)

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        wait: bool = True,
    ) -> tuple[bool, float | None]:
        """Publish anything; with `wait` (and QoS 1), return (accepted by the broker?, when)
        once the PUBACK arrives."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bool, float]] = loop.create_future()
        # Not under self._lock: paho calls on_publish holding its own lock, which publish() takes.
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                if qos == 0 or not wait:
                    self._ignored.add(info.mid)
                else:
                    self._pubacks[info.mid] = (loop, future)
        if qos == 0 or not wait:
            return True, None
        if early is not None:
            return early
        return await asyncio.wait_for(future, 30)

    # -- what a button hears -----------------------------------------------------------------------

    async def wait_ack(
        self, event_id: str | None = None, state: str = "received", timeout: float = 5.0
    ) -> AckReceived:
        """The first ack (already arrived or still to come) for the event in that state."""

        def match(ack: AckMessage) -> bool:
            return ack.state == state and (event_id is None or ack.event == event_id)

        loop = asyncio.get_running_loop()
        future: asyncio.Future[AckReceived] = loop.create_future()
        with self._lock:
            for received in self.acks:
                if match(received.ack):
                    return received
            self._ack_waiters.append(_Waiter(future, loop, match))
        return await asyncio.wait_for(future, timeout)

    # -- paho callbacks (paho's thread) ------------------------------------------------------------

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self.nodelay and isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if not reason.is_failure:
            client.subscribe(self.topics.ack(self.id), qos=1)
        if self._connected is not None:
            loop, future = self._connected
            loop.call_soon_threadsafe(_resolve, future, reason)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        props: Properties | None,
    ) -> None:
        if self._subscribed is not None:
            loop, future = self._subscribed
            loop.call_soon_threadsafe(_resolve, future, None)

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        result = (not reason.is_failure, time.monotonic())
        with self._lock:
            if mid in self._ignored:
                self._ignored.discard(mid)
                return
            waiter = self._pubacks.pop(mid, None)
            if waiter is None:  # PUBACK before publish() returned: keep it for publish()
                self._early[mid] = result
                return
        loop, future = waiter
        loop.call_soon_threadsafe(_resolve, future, result)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            ack = AckMessage.parse(bytes(message.payload))
        except WireError:
            return
        received = AckReceived(ack, time.monotonic())
        with self._lock:
            self.acks.append(received)
            self._unheard.pop(ack.event, None)  # any state: the hub has the press
            self._heard.add(ack.event)
            matched = [w for w in self._ack_waiters if w.match(ack)]
            self._ack_waiters = [w for w in self._ack_waiters if not w.match(ack)]
        for waiter in matched:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future, received)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
