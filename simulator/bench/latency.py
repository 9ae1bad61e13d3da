"""Latency at a steady rate: the bare broker hop (the floor), then press → alarm and press → ack.

Both measurements use the same two clients, so that what differs is the hub alone:

- the publisher (`WirePublisher`, TCP_NODELAY) writes each message the moment it is due and notes
  `time.monotonic()` just before;
- the listener (paho, its own network thread, TCP_NODELAY, QoS 1 subscriptions) notes
  `time.monotonic()` as each message arrives.

The floor is publisher → broker → listener. A press goes publisher → broker → hub (validate,
plan, commit with fsync, PUBACK) → broker → listener, once on the retained alarm topic and once
on the button's `ack` topic (`received`). Each press comes from a button that has not pressed
before, so each raises a new alarm: the full path, never a repeat.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.topics import Topics
from simulator.bench.stats import Latency
from simulator.bench.wire import WirePublisher

FLOOR_TOPIC = "bench/floor"
SETTLE_S = 10.0
"""How long to wait for the last answers after the last message was sent."""


def paced(count: int, rate: float) -> Iterator[int]:
    """Yield 0..count-1, each at its due time (start + i / rate), never ahead of it."""
    start = time.monotonic()
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield index


class Listener:
    """A subscriber that notes when each message arrives (paho's network thread)."""

    def __init__(self, host: str, port: int, topics: Sequence[str], client_id: str) -> None:
        self.arrivals: list[tuple[float, str, bytes]] = []
        self._host = host
        self._port = port
        self._topics = list(topics)
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self._client.on_socket_open = _nodelay
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> None:
        self._client.connect(self._host, self._port, keepalive=60)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError("the listener's subscription was not confirmed")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait(self, done: Callable[[], bool], timeout: float = SETTLE_S) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.arrivals.append((time.monotonic(), message.topic, bytes(message.payload)))


def _nodelay(client: paho.Client, userdata: Any, sock: Any) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass(frozen=True, slots=True)
class HopResult:
    sent: int
    answered: int
    missing: int
    latency: Latency | None


def _hop(sent: dict[str, float], answered: dict[str, float]) -> HopResult:
    samples = [answered[key] - at for key, at in sent.items() if key in answered]
    return HopResult(len(sent), len(samples), len(sent) - len(samples), Latency.of(samples))


def press_payload(event_id: str, seq: int) -> bytes:
    """What a real button sends: id, type, its counter and its clock."""
    return json.dumps(
        {"id": event_id, "type": "press", "seq": seq, "ts": round(time.time(), 3)},
        separators=(",", ":"),
    ).encode()


def measure_floor(host: str, port: int, rate: float, count: int) -> HopResult:
    """Publisher → broker → listener at `rate` messages a second, QoS 1 both ways."""
    listener = Listener(host, port, [f"{FLOOR_TOPIC}/+"], "bench-floor-listener")
    publisher = WirePublisher(host, port, "bench-floor-publisher")
    listener.start()
    publisher.connect()
    sent: dict[str, float] = {}
    try:
        for index in paced(count, rate):
            topic = f"{FLOOR_TOPIC}/{index}"
            sent[topic] = time.monotonic()
            publisher.publish(topic, press_payload(f"floor-{index}", index), tag=index)
            publisher.flush()
            publisher.poll(0)
        publisher.drain()
        listener.wait(lambda: len(listener.arrivals) >= count)
    finally:
        publisher.close()
        listener.stop()
    arrived: dict[str, float] = {}
    for at, topic, _ in listener.arrivals:
        arrived.setdefault(topic, at)
    return _hop(sent, arrived)


@dataclass(frozen=True, slots=True)
class PressLatency:
    alarm: HopResult
    """press → the alarm on `{root}/alarms/{id}` (retained)"""
    ack: HopResult
    """press → `received` on `{root}/dev/{button}/ack`"""


class _Answers:
    """Matches what the listener heard with the presses sent (button → event id, sent at)."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._seen = 0
        self.sent: dict[str, tuple[str, float]] = {}
        self.alarm_at: dict[str, float] = {}
        self.ack_at: dict[str, float] = {}

    def reset(self) -> None:
        self.update()
        self.sent.clear()
        self.alarm_at.clear()
        self.ack_at.clear()

    def update(self) -> None:
        arrivals = self._listener.arrivals
        end = len(arrivals)
        for at, topic, payload in arrivals[self._seen : end]:
            self._match(at, topic, payload)
        self._seen = end

    def complete(self) -> bool:
        self.update()
        return len(self.alarm_at) >= len(self.sent) and len(self.ack_at) >= len(self.sent)

    def _match(self, at: float, topic: str, payload: bytes) -> None:
        if not payload:  # a cleared retained alarm
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if topic.endswith("/ack"):
            button = topic.rsplit("/", 2)[-2]
            wanted = self.sent.get(button)
            if wanted and body.get("event") == wanted[0] and body.get("state") == "received":
                self.ack_at.setdefault(button, at)
        elif isinstance(body, dict) and body.get("devices"):
            button = body["devices"][0]
            if button in self.sent:
                self.alarm_at.setdefault(button, at)


def measure_presses(
    host: str,
    port: int,
    root: str,
    rate: float,
    buttons: Sequence[str],
    *,
    warmup: int,
    warmed: Callable[[], None] = lambda: None,
) -> PressLatency:
    """One press from each of `buttons` at `rate` a second; the first `warmup` are not counted
    (they let the hub load its registry and warm its caches). `warmed` is called once they are
    answered, before the counted presses (the runner reads the hub's histograms there)."""
    topics = Topics(root)
    listener = Listener(
        host, port, [topics.alarm("+"), topics.ack("+")], f"bench-press-listener-{root}"
    )
    publisher = WirePublisher(host, port, f"bench-press-publisher-{root}")
    listener.start()
    publisher.connect()
    answers = _Answers(listener)

    def press_each(chosen: Sequence[str], first: int) -> None:
        for index in paced(len(chosen), rate):
            button, event_id = chosen[index], f"lat-{first + index}"
            answers.sent[button] = (event_id, time.monotonic())
            payload = press_payload(event_id, first + index)
            publisher.publish(topics.event(button), payload, tag=first + index)
            publisher.flush()
            publisher.poll(0)

    try:
        press_each(buttons[:warmup], 0)
        listener.wait(answers.complete)
        answers.reset()
        warmed()
        press_each(buttons[warmup:], warmup)
        publisher.drain()
        listener.wait(answers.complete)
    finally:
        publisher.close()
        listener.stop()
    answers.update()
    sent = {button: at for button, (_, at) in answers.sent.items()}
    return PressLatency(alarm=_hop(sent, answers.alarm_at), ack=_hop(sent, answers.ack_at))
