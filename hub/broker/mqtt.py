"""The broker adapter: the only module of the hub that speaks MQTT (with hub/broker/wire.py, its
connection).

It owns the connection, the persistent session, the subscriptions, the hub's retained status and
last will, and manual acknowledgement. Everything else sees typed `MqttMessage`s and calls `ack`
and `publish`.

How it keeps presses safe (the facts behind each point: docs/FACTS.md, "MQTT and the hub's
client"):

- The hub's own MQTT v5 client (hub/broker/wire.py: asyncio's Protocol/Transport, the `mqtt5`
  codec for the packets) sends a PUBACK only when the pipeline calls `ack` after committing the
  message: nothing acknowledges a message by itself.
- A fixed client id, clean start off and a session expiry of days: presses that arrive while the
  hub is away wait for it in the broker. `session_present` is checked on every connect; when it
  is false although a session was expected, `on_connected(False)` lets the hub raise a trouble,
  because whatever was queued for the old session is gone.
- QoS 1, never 2: every subscription asks for at most QoS 1, and a PUBLISH at QoS 2 is a broker
  fault that closes the connection.
- A PUBACK is sent only on the connection the message came on: after a reconnect the broker sends
  unacknowledged messages again with their old packet ids, and acking an old id could ack a new,
  unstored message that reuses it. Stale acks are dropped; the redelivery is deduplicated.
  PUBACKs leave in the order `ack` is called (MQTT 5 §4.6), ahead of whatever is published after
  them (`flush`).
- Subscriptions use Retain Handling 1 and Retain As Published off: retained messages are sent only
  when a subscription is new, so a reconnect with the session intact does not replay them, and a
  live message never arrives flagged retained. A press that arrives flagged retained is therefore
  a replay from retention, never a live press (checked against Mosquitto: messages queued in a
  session arrive unflagged), and ingest ignores it.
- TCP_NODELAY on the socket: Nagle's algorithm would hold small packets for ~40 ms.
- The hub's own QoS 1 publications (the fan-out) wait in the session's outbox until the broker
  takes them, at most `OUTGOING_LIMIT` (below the 65,535 packet ids), at most the broker's Receive
  Maximum of them in flight; after a reconnection with the session present, those in flight are
  sent again with DUP set (§4.4). A publication refused because the outbox is full is logged and
  counted (`chuong_mqtt_publications_dropped_total`), and `on_publication_dropped` tells the
  topic repair (hub/broker/repair.py), which publishes the open alarms again once `outgoing` is
  low. The hub's own `online` status is retried every second until the outbox has room.
- Keepalive: PINGREQ when the connection is quiet; a broker silent for 1.5 keepalive intervals
  is taken as gone and the connection is closed (a half-open TCP connection would otherwise keep
  the hub waiting for presses that never come).
- Whatever the broker sends that is not MQTT closes the connection with a message in the log and
  `last_error`; the adapter reconnects, with exponential backoff and jitter (hub/backoff.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import mqtt5

from hub.backoff import Backoff, Retries
from hub.broker.wire import Connection, Outbox, reason_text
from hub.clock import Clock
from hub.config import MqttSection
from hub.domain.inbound import Delivery

log = logging.getLogger(__name__)

MISC_INTERVAL_S: Final = 1.0
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
GATE_POLL_S: Final = 0.05
"""How often a connection held back by `may_connect` asks again."""
REFUSED: Final = 0x80
"""Reason codes from here up are failures (MQTT 5 §2.4)."""


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_at: datetime
    delivery: Delivery | None
    topic_valid: bool = True
    """False when the topic was not UTF-8; `topic` then shows its bytes. Mosquitto refuses such
    topics from publishers (MQTT 5 §1.5.4), so only another broker could send one."""


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
        on_publication_too_large: Callable[[], None] = lambda: None,
        clean: bool = False,
        login: Login | None = None,
        unsubscribe: Sequence[str] = (),
        may_connect: Callable[[], bool] = lambda: True,
    ) -> None:
        """`clean`: a clean session, expiring at disconnection, with no last will and no
        status of the hub: nothing is queued for it while it is away (the telemetry connection,
        docs/BROKER.md, hub/broker/watch.py). `login` replaces `mqtt.username` and `mqtt.password`.
        `unsubscribe`: filters this session must not hold (taken over by another connection,
        perhaps subscribed by an earlier version of the hub), unsubscribed at every connection
        so that the broker stops queueing their messages here.
        `may_connect`: false while this hub must not speak to the broker (a standby, or a hub
        whose store lease is not confirmed, docs/HA.md): no connection and no publication.
        `on_publication_too_large`: a publication larger than the broker's Maximum Packet Size
        was dropped, not sent (the broker would close the connection on it)."""
        self._may_connect = may_connect
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
        self._on_publication_too_large = on_publication_too_large
        self._dropped = 0
        self._too_large = 0
        self.outgoing_limit = OUTGOING_LIMIT
        """The most QoS 1 publications that may wait for the broker (see `outgoing`)."""
        self._outbox = Outbox(self.outgoing_limit)
        self._online_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Connection | None = None
        self._sock: Any = None
        self._connection = 0
        self._connected_at = 0.0
        self._subscribe_id: int | None = None
        self._retained_reads: dict[int, tuple[asyncio.Future[bool], bool]] = {}
        self._subscribed = asyncio.Event()
        self._stopping = False
        self._run_task: asyncio.Task[None] | None = None
        self._misc_task: asyncio.Task[None] | None = None
        self.connected = False
        self.last_error: str | None = "not connected yet"

    # -- public ------------------------------------------------------------------------------------

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    async def start(self) -> None:
        """Begin connecting (in the background; see `wait_subscribed`)."""
        self._loop = asyncio.get_running_loop()
        self._outbox.limit = self.outgoing_limit
        self._run_task = asyncio.create_task(self._run(), name="mqtt-connection")

    async def wait_subscribed(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def outgoing(self) -> int:
        """QoS 1 publications waiting for the broker's PUBACK: in flight or queued."""
        return len(self._outbox)

    def ack(self, delivery: Delivery) -> None:
        """PUBACK one message, only on the connection it arrived on."""
        conn = self._conn
        if conn is None or not self.connected or delivery.connection != self._connection:
            return
        conn.write(mqtt5.PubAckPacket(delivery.mid).write())

    def add_subscriptions(self, subscriptions: Sequence[Subscription]) -> None:
        """Subscribe to more topics: now if connected, and on every later connection."""
        new = [s for s in subscriptions if s not in self._subscriptions]
        if not new:
            return
        self._subscriptions.extend(new)
        log.info("%s: subscribing also to %s", self.label, ", ".join(s.topic for s in new))
        if self._conn is not None and self.connected:
            self._subscribe(self._conn, [_filter(s.topic, s.qos) for s in new])

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
        conn = self._conn
        if conn is None or not self.connected:
            future.set_result(False)
            return future
        for handling, last in (
            (mqtt5.RetainHandling.SEND_ALWAYS, False),
            (mqtt5.RetainHandling.SEND_NEVER, True),
        ):
            wanted = mqtt5.TopicFilter(
                topic,
                max_qos=mqtt5.QoS.AT_MOST_ONCE,
                no_local=True,
                retain_as_published=False,
                retain_handling=handling,
            )
            self._retained_reads[self._subscribe(conn, [wanted])] = (future, last)
        return future

    def flush(self) -> None:
        """Write what is queued (the PUBACKs of a committed batch) now, rather than at the next
        turn of the event loop: by then the fan-out of the batch (an alarm and an ack per press)
        would be queued in front of the next batch's PUBACKs."""
        if self._conn is not None and self.connected:
            self._conn.flush()

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Queue a message. QoS 1 messages published while disconnected go out on reconnect."""
        if self._loop is None or not self._may_connect():
            return
        data = payload.encode() if isinstance(payload, str) else payload
        conn = self._conn if self.connected else None
        if qos == 0:
            if conn is not None:
                packet = mqtt5.PublishPacket(topic, data, retain=retain).write()
                if conn.max_packet is not None and len(packet) > conn.max_packet:
                    self.on_too_large(topic, len(packet), conn.max_packet)
                else:
                    conn.write(packet)
            return
        if self._outbox.add(topic, data, retain) is None:
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
        elif conn is not None:
            conn.send_queued()

    async def stop(self) -> None:
        """Say goodbye (retained `offline`, reason `stopped`), disconnect cleanly, stop."""
        self._stopping = True
        conn = self._conn
        if conn is not None and self.connected and not self._clean:
            stopped = self._status_payload(False, "stopped")
            published = False
            if self._outbox.add(self._status_topic, stopped.encode(), True) is not None:
                conn.send_queued()
                deadline = self._clock.monotonic() + STOP_FLUSH_S
                while (  # noqa: ASYNC110  # the outbox empties as PUBACKs arrive
                    not (published := not self._outbox)
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
        if conn is not None and self.connected:
            await conn.disconnect(2.0)
            if not conn.closed.done():
                log.warning("mqtt: the broker did not close the connection in time")
        for task in (self._run_task, self._misc_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._run_task, self._misc_task) if t), return_exceptions=True
        )
        if self._conn is not None:
            self._conn.close("stopped", abort=True)

    def cut(self) -> None:
        """Drop the connection at once, sending nothing more (not even DISCONNECT: the broker
        publishes the hub's last will). Messages not acknowledged stay the broker's. With
        `may_connect` false, no new connection is made."""
        conn = self._conn
        if conn is not None and conn.transport is not None:
            conn.deliver = False
            conn.close("cut: this hub does not hold the store's lease", abort=True)
            log.warning("%s: connection cut: this hub does not hold the store's lease", self.label)

    # -- the connection loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Retries(Backoff(self._config.reconnect_min_s, self._config.reconnect_max_s))
        while not self._stopping:
            while not self._may_connect() and not self._stopping:  # noqa: ASYNC110
                await asyncio.sleep(GATE_POLL_S)
            if self._stopping:
                return
            try:
                conn = await self._connect()
            except (OSError, ssl.SSLError, ValueError, TimeoutError) as exc:
                self._note_error(
                    f"cannot reach the broker at {self._config.host}:{self._config.port}: "
                    f"{exc or type(exc).__name__}"
                )
            else:
                if conn is not None:
                    self._misc_task = asyncio.create_task(self._misc(), name="mqtt-keepalive")
                    await asyncio.shield(conn.closed)
                    self._misc_task.cancel()
                    if self._clock.monotonic() - self._connected_at > STABLE_CONNECTION_S:
                        backoff.reset()
            if self._stopping:
                return
            delay = backoff.next()
            log.info("%s: reconnecting in %.1fs", self.label, delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> Connection | None:
        """Open a connection, log in, and subscribe: the connection, or None if refused."""
        assert self._loop is not None
        cfg = self._config
        timeout = cfg.connect_timeout_s
        _, conn = await asyncio.wait_for(
            self._loop.create_connection(
                lambda: Connection(self, self._outbox, clean=self._clean),
                cfg.host,
                cfg.port,
                ssl=self._tls() if cfg.tls else None,
            ),
            timeout,
        )
        if not self._may_connect() or self._stopping:
            # The lease was lost (or the hub stops) while the connection was being made.
            conn.close("not connecting: this hub may not speak to the broker now", abort=True)
            return None
        self._conn = conn
        self._sock = conn.sock
        conn.write(self._connect_packet().write())
        conn.flush()
        try:
            connack = await asyncio.wait_for(asyncio.shield(conn.connack), timeout)
        except (TimeoutError, ConnectionError):
            conn.close("no CONNACK", abort=True)
            raise
        return None if connack.reason_code.value >= REFUSED else conn

    def _connect_packet(self) -> mqtt5.ConnectPacket:
        cfg = self._config
        username: str | None = None
        password: str | None = None
        if self._login is not None:
            username, password = self._login.username, self._login.password
        elif cfg.username is not None:
            username = cfg.username
            password = cfg.password.get_secret_value() if cfg.password else None
        will = None
        if not self._clean:
            will = mqtt5.Will(
                self._status_topic,
                payload=self._status_payload(False, "lost").encode(),
                qos=mqtt5.QoS.AT_LEAST_ONCE,
                retain=True,
            )
        return mqtt5.ConnectPacket(
            self._client_id,
            username=username,
            password=password.encode() if password is not None and username is not None else None,
            clean_start=self._clean,
            will=will,
            keep_alive=cfg.keepalive_s,
            session_expiry_interval=0 if self._clean else cfg.session_expiry_s,
            receive_max=cfg.receive_maximum,
        )

    def _tls(self) -> ssl.SSLContext:
        cfg = self._config
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(cfg.ca_file) if cfg.ca_file else None
        )
        if cfg.cert_file is not None and cfg.key_file is not None:
            context.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
        return context

    def _connected(self, conn: Connection, session_present: bool) -> None:
        self._connection += 1
        self.connected = True
        self.last_error = None
        self._connected_at = self._clock.monotonic()
        log.info(
            "%s: connected to %s:%s as %s (session %s)",
            self.label,
            self._config.host,
            self._config.port,
            self._client_id,
            "clean" if self._clean else "resumed" if session_present else "new",
        )
        conn.start_keepalive(float(self._config.keepalive_s))
        self._outbox.rewind(session_present)
        self._subscribe_id = self._subscribe(
            conn, [_filter(s.topic, s.qos) for s in self._subscriptions]
        )
        if self._unsubscribe:
            packet_id = self._outbox.reserve()
            conn.write(mqtt5.UnsubscribePacket(packet_id, list(self._unsubscribe)).write())
        conn.send_queued()
        self._online_due = True
        self._publish_online()
        conn.flush()
        self._callback(self._on_connected_cb, session_present)

    def _subscribe(self, conn: Connection, filters: list[mqtt5.TopicFilter]) -> int:
        packet_id = self._outbox.reserve()
        conn.write(mqtt5.SubscribePacket(packet_id, filters).write())
        return packet_id

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(MISC_INTERVAL_S)
            if self._online_due:
                self._publish_online()

    def _publish_online(self) -> None:
        """The hub's retained `online` status, once per connection. It is refused while the
        outbox is full (a backlog from the last connection); then it is tried again every second,
        so the status never keeps saying `lost` while the hub is up."""
        conn = self._conn
        if conn is None or not self.connected or self._stopping or not self._may_connect():
            return
        if self._clean:  # the hub's status is its persistent connection's
            self._online_due = False
            return
        online = self._status_payload(True).encode()
        if self._outbox.add(self._status_topic, online, True) is None:
            log.warning("mqtt: the hub's online status waits for room in the outgoing queue")
            return
        conn.send_queued()
        self._online_due = False

    # -- from the connection (wire.Handler, on the loop) -------------------------------------------

    def on_connack(self, conn: Connection, packet: mqtt5.ConnAckPacket) -> None:
        """Synchronously, before the packets that follow CONNACK in the same read."""
        if conn is not self._conn:
            conn.close("an older connection", abort=True)
            return
        if packet.reason_code.value >= REFUSED:
            conn.close("refused", abort=True)
            why = f" ({packet.reason_str})" if packet.reason_str else ""
            refused = reason_text(packet.reason_code)
            self._note_error(f"the broker refused the connection: {refused}{why}")
            return
        if not self._may_connect():
            conn.close("the lease was lost during the connection", abort=True)
            return
        self._connected(conn, packet.session_present)

    def on_suback(self, conn: Connection, packet_id: int, reasons: list[int]) -> None:
        if conn is not self._conn:
            return
        if (read := self._retained_reads.pop(packet_id, None)) is not None:
            future, last = read
            if not future.done() and (last or any(r >= REFUSED for r in reasons)):
                future.set_result(not any(r >= REFUSED for r in reasons))
            return
        if packet_id != self._subscribe_id:
            return
        refused = [
            s.topic for s, r in zip(self._subscriptions, reasons, strict=False) if r >= REFUSED
        ]
        if refused:
            self._note_error(f"the broker refused the subscriptions {refused}; check the hub's ACL")
            return
        log.info(
            "%s: subscribed to %s", self.label, ", ".join(s.topic for s in self._subscriptions)
        )
        self._subscribed.set()

    def on_closed(self, conn: Connection, reason: str) -> None:
        if conn is not self._conn:
            return  # an older connection, ended already: nothing of it is this one's state
        was_connected = self.connected
        self.connected = False
        self._sock = None
        self._outbox.release_all()
        self._subscribed.clear()
        for future, _ in self._retained_reads.values():
            if not future.done():
                future.set_result(False)
        self._retained_reads.clear()
        if self._stopping or not was_connected:
            return
        text = f"disconnected from the broker: {reason}"
        log.warning("%s: %s", self.label, text)
        self._note_error(text)

    def on_too_large(self, topic: str, size: int, limit: int) -> None:
        """A publication larger than the broker takes was dropped (`wire.Outbox.take`)."""
        self._too_large += 1
        if self._too_large % DROP_LOG_EVERY == 1:
            log.error(
                "%s: a publication on %s is %d bytes, more than the broker's limit of %d"
                " (max_packet_size); it was dropped, not sent (%d so far). The alarm is in the"
                " store and on the page; raise the broker's max_packet_size to publish it",
                self.label,
                topic,
                size,
                limit,
                self._too_large,
            )
        self._callback(self._on_publication_too_large)

    def on_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        packet_id: int | None,
        topic_valid: bool,
    ) -> None:
        # A clean connection answers QoS 1 itself (packet_id None): never a delivery from it, as
        # the pipeline's PUBACKs go to the hub's own session.
        delivery = Delivery(packet_id, qos, self._connection) if packet_id is not None else None
        item = MqttMessage(
            topic=topic,
            payload=payload,
            qos=qos,
            retain=retain,
            received_at=self._clock.now(),
            delivery=delivery,
            topic_valid=topic_valid,
        )
        try:
            self._on_message_cb(item)
        except Exception:  # ingest never raises; if it did, the message stays unacked (resent)
            log.exception("%s: the message handler failed on %s", self.label, topic)

    # -- helpers -----------------------------------------------------------------------------------

    def _note_error(self, text: str) -> None:
        self.last_error = text
        log.warning("%s: %s", self.label, text)
        self._callback(self._on_disconnected_cb, text)

    def _callback(self, callback: Callable[..., None], *args: Any) -> None:
        """Tell the hub, on the connection's own stack: an error of the hub's code here must not
        escape into the connection (asyncio would close it, and the hub would reconnect for
        ever)."""
        try:
            callback(*args)
        except Exception:
            log.exception("%s: a callback of the hub failed", self.label)

    def _status_payload(self, online: bool, reason: str | None = None) -> str:
        payload: dict[str, Any] = {"online": online, "version": self._version}
        if reason is not None:
            payload["reason"] = reason
        return json.dumps(payload)


def _filter(topic: str, qos: int) -> mqtt5.TopicFilter:
    """A subscription of the hub: Retain Handling 1 (retained messages only when it is new) and
    Retain As Published off (live messages arrive unflagged; the codec's default is on)."""
    return mqtt5.TopicFilter(
        topic,
        max_qos=mqtt5.QoS.AT_LEAST_ONCE if qos else mqtt5.QoS.AT_MOST_ONCE,
        retain_as_published=False,
        retain_handling=mqtt5.RetainHandling.SEND_IF_SUBSCRIPTION_NOT_EXISTS,
    )
