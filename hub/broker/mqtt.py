"""The broker adapter: the only module of the hub that imports the MQTT library.

It owns the connection, the persistent session, the subscriptions, the hub's retained status and
last will, and manual acknowledgement. Everything else sees typed `MqttMessage`s and calls `ack`
and `publish`.

How it keeps presses safe (the facts behind each point: docs/FACTS.md, "MQTT and paho-mqtt"):

- paho-mqtt 2.x with `manual_ack=True` set in the constructor, before any connection: a message is
  PUBACKed only when the pipeline calls `ack` after committing it.
- MQTT v5, a fixed client id, clean start off and a session expiry of days: presses that arrive
  while the hub is away wait for it in the broker. `session_present` is checked on every connect;
  when it is false although a session was expected, `on_connected(False)` lets the hub raise a
  trouble, because whatever was queued for the old session is gone.
- QoS 1, never 2 (paho answers QoS 2 before the application has the message).
- A PUBACK is sent only on the connection the message came on: after a reconnect the broker sends
  unacknowledged messages again with their old packet ids, and acking an old id could ack a new,
  unstored message that reuses it. Stale acks are dropped; the redelivery is deduplicated.
- Subscriptions use Retain Handling 1: retained messages are sent only when a subscription is new,
  so a reconnect with the session intact does not replay them. A press that arrives flagged
  retained is therefore a replay from retention, never a live press (checked against Mosquitto:
  messages queued in a session arrive unflagged), and ingest ignores it.
- TCP_NODELAY on the socket: Nagle's algorithm would hold small packets for ~40 ms.
- The hub's own QoS 1 publications (the fan-out) wait in paho until the broker takes them, at most
  `OUTGOING_LIMIT`: paho numbers them with 16-bit packet ids, and beyond 65,535 waiting it would
  refuse new ones silently. A publication refused there is logged and counted
  (`chuong_mqtt_publications_dropped_total`), and `on_publication_dropped` tells the topic repair
  (hub/broker/repair.py), which publishes the open alarms again once `outgoing` is low. The hub's
  own `online` status is retried every second until the queue has room.

Asyncio integration follows aiomqtt: paho's socket callbacks register the socket with the event
loop (`add_reader`/`add_writer`), a 1 s task runs `loop_misc` for keepalive, and paho's callbacks
run on the loop thread and only hand over or record state. The blocking TCP connect (and TLS
handshake) runs in an executor; reconnection uses exponential backoff with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.backoff import Backoff, Retries
from hub.clock import Clock
from hub.config import MqttSection
from hub.domain.inbound import Delivery

log = logging.getLogger(__name__)

MISC_INTERVAL_S: Final = 1.0
READS_PER_WAKEUP: Final = 64
OUTGOING_LIMIT: Final = 60_000
"""QoS 1 publications waiting for the broker, at most (below the 65,535 packet ids)."""
DROP_LOG_EVERY: Final = 1000
STOP_FLUSH_S: Final = 5.0
"""At a clean stop, how long the fan-out still queued may take to reach the broker ahead of the
hub's `stopped` status. The hub disconnects only once the broker has acknowledged everything: a
client that closes its socket while the broker's PUBACKs are still coming resets the connection
(unread data), the broker may lose the DISCONNECT behind it, and it publishes the last will."""
STABLE_CONNECTION_S: Final = 30.0
"""A connection that lasted this long resets the reconnect backoff."""


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_at: datetime
    delivery: Delivery | None
    topic_valid: bool = True
    """False when the topic was not UTF-8; `topic` then shows its bytes."""


@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    qos: int


@dataclass(frozen=True, slots=True)
class Login:
    """Who a connection logs in as, when it is not the hub's own user (`mqtt.username`)."""

    username: str | None
    password: str | None


class MqttAdapter:
    def __init__(
        self,
        config: MqttSection,
        *,
        client_id: str,
        status_topic: str,
        version: str,
        subscriptions: Sequence[Subscription],
        clock: Clock,
        on_message: Callable[[MqttMessage], None],
        on_connected: Callable[[bool], None],
        on_disconnected: Callable[[str], None],
        on_publication_dropped: Callable[[], None] = lambda: None,
        clean: bool = False,
        login: Login | None = None,
        unsubscribe: Sequence[str] = (),
    ) -> None:
        """`clean`: a clean session, expiring at disconnection, with no last will and no
        status of the hub: nothing is queued for it while it is away (the telemetry connection,
        docs/BROKER.md, hub/broker/watch.py). `login` replaces `mqtt.username` and `mqtt.password`.
        `unsubscribe`: filters this session must not hold (taken over by another connection,
        perhaps subscribed by an earlier version of the hub), unsubscribed at every connection
        so that the broker stops queueing their messages here."""
        self._config = config
        self._client_id = client_id
        self._clean = clean
        self._login = login
        self._unsubscribe = list(unsubscribe)
        self.label = "mqtt-telemetry" if clean else "mqtt"
        """The connection's name in the log."""
        self._status_topic = status_topic
        self._version = version
        self._subscriptions = list(subscriptions)
        self._clock = clock
        self._on_message_cb = on_message
        self._on_connected_cb = on_connected
        self._on_disconnected_cb = on_disconnected
        self._on_publication_dropped = on_publication_dropped
        self._dropped = 0
        self.outgoing_limit = OUTGOING_LIMIT
        """The most QoS 1 publications that may wait for the broker (see `outgoing`)."""
        self._online_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._client: paho.Client | None = None
        self._sock: Any = None
        self._connection = 0
        self._connected_at = 0.0
        self._subscribe_mid: int | None = None
        self._retained_reads: dict[int, tuple[asyncio.Future[bool], bool]] = {}
        self._disconnected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._stopping = False
        self._run_task: asyncio.Task[None] | None = None
        self._misc_task: asyncio.Task[None] | None = None
        self._reads = 0
        self.connected = False
        self.last_error: str | None = "not connected yet"
        self._refused = False

    # -- public ------------------------------------------------------------------------------------

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    async def start(self) -> None:
        """Begin connecting (in the background; see `wait_subscribed`)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._client = self._make_client()
        self._run_task = asyncio.create_task(self._run(), name="mqtt-connection")

    async def wait_subscribed(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def outgoing(self) -> int:
        """QoS 1 publications waiting for the broker's PUBACK: in flight or queued in paho."""
        client = self._client
        return 0 if client is None else len(client._out_messages)

    def ack(self, delivery: Delivery) -> None:
        """PUBACK one message, only on the connection it arrived on."""
        client = self._client
        if client is None or not self.connected or delivery.connection != self._connection:
            return
        client.ack(delivery.mid, delivery.qos)

    def add_subscriptions(self, subscriptions: Sequence[Subscription]) -> None:
        """Subscribe to more topics: now if connected, and on every later connection."""
        new = [s for s in subscriptions if s not in self._subscriptions]
        if not new:
            return
        self._subscriptions.extend(new)
        log.info("%s: subscribing also to %s", self.label, ", ".join(s.topic for s in new))
        if self._client is not None and self.connected:
            self._client.subscribe(
                [(s.topic, SubscribeOptions(qos=s.qos, retainHandling=1)) for s in new]
            )

    def read_retained(self, topic: str) -> asyncio.Future[bool]:
        """Have the broker send again what it retains on `topic` (a filter): the retained
        messages arrive through `on_message`, flagged retained, at QoS 0 (nothing of them is queued
        or persisted for the hub's session). The future is True once all have arrived, False if
        the broker refused the subscription or the connection ended first.

        Two SUBSCRIBEs to the same filter, No Local (the hub's own live publications on it never
        come back): the first with Retain Handling 0 (send the retained messages), the second
        with 2 (send none). Mosquitto sends a subscription's retained messages before it answers
        the next packet, so the second SUBACK closes the read (checked with Mosquitto 2.0.11: 3,000
        retained messages, all before it; tests/hub/broker/test_mqtt_read_retained.py)."""
        assert self._loop is not None
        future: asyncio.Future[bool] = self._loop.create_future()
        client = self._client
        if client is None or not self.connected:
            future.set_result(False)
            return future
        mids = []
        for handling in (0, 2):
            options = SubscribeOptions(qos=0, noLocal=True, retainHandling=handling)
            result, mid = client.subscribe([(topic, options)])
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
                future.set_result(False)
                return future
            mids.append(mid)
        self._retained_reads[mids[0]] = (future, False)
        self._retained_reads[mids[1]] = (future, True)
        return future

    def flush(self) -> None:
        """Write what paho has queued (the PUBACKs of a committed batch) now, on the loop's
        thread, rather than when the loop next finds the socket writable: by then the fan-out of
        the batch (an alarm and an ack per press) would be queued in front of the next batch's
        PUBACKs. What the socket does not take now is written when it is writable, as always."""
        if self._client is not None and self._sock is not None and self.connected:
            self._client.loop_write()

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Queue a message. QoS 1 messages published while disconnected go out on reconnect."""
        if self._client is None:
            return
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self._dropped += 1
            self._on_publication_dropped()
            if self._dropped % DROP_LOG_EVERY == 1:
                log.error(
                    "mqtt: %d publications wait for the broker; dropped the one on %s (%d so far);"
                    " the open alarms are published again once the queue is low",
                    self.outgoing_limit,
                    topic,
                    self._dropped,
                )

    async def stop(self) -> None:
        """Say goodbye (retained `offline`, reason `stopped`), disconnect cleanly, stop."""
        self._stopping = True
        client = self._client
        if client is not None and self.connected and self._clean:
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 2.0)
        elif client is not None and self.connected:
            stopped = self._status_payload(False, "stopped")
            info = client.publish(self._status_topic, stopped, qos=1, retain=True)
            published = False
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                deadline = self._clock.monotonic() + STOP_FLUSH_S
                # paho's own wait blocks a thread; polling its flag briefly is the non-blocking
                # way.
                while (  # noqa: ASYNC110
                    not (published := info.is_published())
                    and self.connected
                    and self._clock.monotonic() < deadline
                ):
                    await asyncio.sleep(0.01)
            if not published:
                log.warning(
                    "mqtt: the broker has not taken the hub's last publications in %.0f s; it may"
                    " report the hub `lost` instead of `stopped`; the next hub publishes the open"
                    " alarms again",
                    STOP_FLUSH_S,
                )
            client.disconnect()
            try:
                await asyncio.wait_for(self._disconnected.wait(), 2.0)
            except TimeoutError:
                log.warning("mqtt: the broker did not close the connection in time")
        for task in (self._run_task, self._misc_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._run_task, self._misc_task) if t), return_exceptions=True
        )
        self._drop_socket()

    # -- the connection loop -----------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        cfg = self._config
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=paho.MQTTv5,
            # Before connecting: queued messages follow CONNACK at once. A clean connection
            # subscribes at QoS 0 only and has nothing to acknowledge after a commit.
            manual_ack=not self._clean,
            reconnect_on_failure=False,  # this adapter reconnects, with jitter
        )
        client.max_queued_messages_set(self.outgoing_limit)
        client.max_inflight_messages_set(100)
        client.connect_timeout = cfg.connect_timeout_s
        if self._login is not None:
            if self._login.username is not None:
                client.username_pw_set(self._login.username, self._login.password)
        elif cfg.username is not None:
            password = cfg.password.get_secret_value() if cfg.password else None
            client.username_pw_set(cfg.username, password)
        if cfg.tls:
            client.tls_set(
                ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                certfile=str(cfg.cert_file) if cfg.cert_file else None,
                keyfile=str(cfg.key_file) if cfg.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if not self._clean:
            client.will_set(
                self._status_topic, self._status_payload(False, "lost"), qos=1, retain=True
            )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        return client

    async def _run(self) -> None:
        backoff = Retries(Backoff(self._config.reconnect_min_s, self._config.reconnect_max_s))
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._disconnected.clear()
            try:
                await loop.run_in_executor(None, self._connect_blocking)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._note_error(
                    f"cannot reach the broker at {self._config.host}:{self._config.port}: {exc}"
                )
            else:
                self._register_socket()
                self._misc_task = asyncio.create_task(self._misc(), name="mqtt-keepalive")
                await self._disconnected.wait()
                self._misc_task.cancel()
                if (
                    self._connected_at
                    and self._clock.monotonic() - self._connected_at > STABLE_CONNECTION_S
                ):
                    backoff.reset()
            if self._stopping:
                return
            delay = backoff.next()
            log.info("%s: reconnecting in %.1fs", self.label, delay)
            await asyncio.sleep(delay)

    def _connect_blocking(self) -> None:
        """Runs in an executor thread: TCP connect (and TLS handshake), then CONNECT is queued."""
        assert self._client is not None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0 if self._clean else self._config.session_expiry_s
        props.ReceiveMaximum = self._config.receive_maximum
        self._client.connect(
            self._config.host,
            self._config.port,
            keepalive=self._config.keepalive_s,
            clean_start=self._clean,
            properties=props,
        )

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(MISC_INTERVAL_S)
            if (
                self._client is not None
                and self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS
            ):
                self._disconnected.set()
            if self._online_due:
                self._publish_online()

    def _publish_online(self) -> None:
        """The hub's retained `online` status, once per connection. paho refuses it while the
        outgoing queue is full (a backlog from the last connection); then it is tried again
        every second, so the status never keeps saying `lost` while the hub is up."""
        client = self._client
        if client is None or not self.connected or self._stopping:
            return
        if self._clean:  # the hub's status is its persistent connection's
            self._online_due = False
            return
        info = client.publish(self._status_topic, self._status_payload(True), qos=1, retain=True)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            log.warning("mqtt: the hub's online status waits for room in the outgoing queue")
            return
        self._online_due = False

    # -- socket callbacks (the event-loop side of paho) --------------------------------------------

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            log.debug("mqtt: TCP_NODELAY not available on this socket")
        self._sock = sock
        if self._on_loop_thread():
            self._register_socket()

    def _register_socket(self) -> None:
        """Called on the loop thread once connect() has returned."""
        sock = self._sock
        if self._loop is None or self._client is None:
            return
        if sock is None:
            return
        self._loop.add_reader(sock, self._readable)
        if self._client.want_write():
            self._loop.add_writer(sock, self._writable)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._on_loop_thread():
            self._drop_socket(sock)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._drop_socket, sock)

    def _drop_socket(self, sock: Any = None) -> None:
        sock = sock if sock is not None else self._sock
        if sock is None or self._loop is None:
            return
        try:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        except (ValueError, OSError):  # already closed: nothing left to unregister
            pass
        if sock is self._sock:
            self._sock = None

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # During connect() (an executor thread) registration waits for _register_socket.
        if self._on_loop_thread() and self._loop is not None and sock is self._sock:
            self._loop.add_writer(sock, self._writable)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._on_loop_thread() and self._loop is not None:
            self._loop.remove_writer(sock)

    def _readable(self) -> None:
        client = self._client
        if client is None:
            return
        for _ in range(READS_PER_WAKEUP):
            before = self._reads
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or self._reads == before:
                break

    def _writable(self) -> None:
        if self._client is not None:
            self._client.loop_write()

    # -- MQTT callbacks (on the loop thread) -------------------------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused = True  # the disconnect that follows says less ("Protocol error")
            self._note_error(f"the broker refused the connection: {reason}")
            return
        self._connection += 1
        self.connected = True
        self.last_error = None
        self._connected_at = self._clock.monotonic()
        session_present = bool(flags.session_present)
        log.info(
            "%s: connected to %s:%s as %s (session %s)",
            self.label,
            self._config.host,
            self._config.port,
            self._client_id,
            "clean" if self._clean else "resumed" if session_present else "new",
        )
        options = [
            (s.topic, SubscribeOptions(qos=s.qos, retainHandling=1)) for s in self._subscriptions
        ]
        result, mid = client.subscribe(options)
        self._subscribe_mid = mid if result == MQTTErrorCode.MQTT_ERR_SUCCESS else None
        if self._unsubscribe:
            client.unsubscribe(self._unsubscribe)
        self._online_due = True
        self._publish_online()
        self._on_connected_cb(session_present)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if (read := self._retained_reads.pop(mid, None)) is not None:
            future, last = read
            if not future.done() and (last or any(r.is_failure for r in reasons)):
                future.set_result(not any(r.is_failure for r in reasons))
            return
        if mid != self._subscribe_mid:
            return
        refused = [
            s.topic for s, r in zip(self._subscriptions, reasons, strict=False) if r.is_failure
        ]
        if refused:
            self._note_error(f"the broker refused the subscriptions {refused}; check the hub's ACL")
            return
        log.info(
            "%s: subscribed to %s", self.label, ", ".join(s.topic for s in self._subscriptions)
        )
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self.connected
        self.connected = False
        self._subscribed.clear()
        for future, _ in self._retained_reads.values():
            if not future.done():
                future.set_result(False)
        self._retained_reads.clear()
        self._disconnected.set()
        refused, self._refused = self._refused, False
        if self._stopping or refused:
            return
        text = f"disconnected from the broker: {reason}"
        if was_connected:
            log.warning("%s: %s", self.label, text)
        self._note_error(text)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._reads += 1
        try:
            topic, valid = message.topic, True
        except UnicodeDecodeError:
            topic, valid = repr(message._topic)[:200], False  # raw bytes, for the log
        # Never a delivery from a clean connection: the pipeline's PUBACKs go to the hub's own
        # session (`ack` would match this connection's numbers against that one's).
        acked_later = message.qos > 0 and not self._clean
        delivery = Delivery(message.mid, message.qos, self._connection) if acked_later else None
        item = MqttMessage(
            topic=topic,
            payload=bytes(message.payload),
            qos=message.qos,
            retain=bool(message.retain),
            received_at=self._clock.now(),
            delivery=delivery,
            topic_valid=valid,
        )
        try:
            self._on_message_cb(item)
        except Exception:  # ingest never raises; if it did, the message stays unacked (resent)
            log.exception("%s: the message handler failed on %s", self.label, topic)

    # -- helpers -----------------------------------------------------------------------------------

    def _note_error(self, text: str) -> None:
        self.last_error = text
        log.warning("%s: %s", self.label, text)
        self._on_disconnected_cb(text)

    def _status_payload(self, online: bool, reason: str | None = None) -> str:
        payload: dict[str, Any] = {"online": online, "version": self._version}
        if reason is not None:
            payload["reason"] = reason
        return json.dumps(payload)
