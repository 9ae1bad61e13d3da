"""A flood of malformed messages with valid presses in between: no crash, every bad message counted
by its reason, every valid press an alarm."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devices.messages import DeviceStatus, Heartbeat, PressEvent, WireError
from simulator.broker import Mosquitto
from simulator.load import LoadPublisher
from tests.conftest import HubProcess, wait_for

FLOOD = int(os.environ.get("PROOF_FLOOD", "10000"))
"""10,000 in `make test`; `make proof` floods 100,000."""
VALID_EVERY = 100


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """The test's Mosquitto, saving its persistence every 10,000 changes instead of at every
    change. Saved at every change, it rewrites every message still queued for the hub each time:
    100,000 messages took 294 s that way against 16 s here (docs/BENCHMARKS.md explains the
    cost). This test is about the hub's handling of bad input; the broker's own durability is
    proven by the kill -9 and broker-restart tests."""
    mosquitto = Mosquitto(tmp_path / "mosquitto", save_every=10_000).start()
    yield mosquitto
    mosquitto.kill()


def _garbage(rng: random.Random) -> Iterator[tuple[str, bytes, str]]:
    """Endless (topic, payload, expected reason) of every kind of bad message."""
    root = "chuong/v1/dev"
    makers: list[Callable[[], tuple[str, bytes, str]]] = [
        lambda: (f"{root}/b1/event", rng.randbytes(rng.randint(0, 300)), ""),
        lambda: (
            f"{root}/b1/event",
            b'{"id":"x","type":"press","pad":"' + b"a" * rng.randint(4100, 20000) + b'"}',
            "too_large",
        ),
        lambda: (f"{root}/b1/event", b"[" * rng.randint(1100, 3000) + b"]" * 10, "invalid_json"),
        lambda: (f"{root}/b1/event", b'{"id":"\xc3\x28","type":"press"}', "invalid_utf8"),
        lambda: (
            f"{root}/b1/event",
            rng.choice([b"NaN", b"Infinity", b"-Infinity"]).join(
                [b'{"id":"x","type":"press","seq":', b"}"]
            ),
            "invalid_json",
        ),
        lambda: (
            f"{root}/b1/event",
            json.dumps({"id": rng.randint(0, 9), "type": "press"}).encode(),
            "invalid_field",
        ),
        lambda: (
            f"{root}/b1/event",
            json.dumps({"id": "x", "type": [rng.random()]}).encode(),
            "invalid_field",
        ),
        lambda: (
            f"{root}/b1/event",
            json.dumps({"id": "x" * rng.randint(65, 300), "type": "press"}).encode(),
            "invalid_field",
        ),
        lambda: (
            f"{root}/b1/event",
            json.dumps({"id": "has space", "type": "press"}).encode(),
            "invalid_field",
        ),
        lambda: (
            f"{root}/b1/event",
            json.dumps({"id": "x", "type": rng.choice(["boom", "PRESS", ""])}).encode(),
            "unknown_type",
        ),
        lambda: (
            f"{root}/b1/event",
            json.dumps(rng.choice([[], "press", 42, None])).encode(),
            "invalid_json",
        ),
        lambda: (
            f"{root}/{rng.choice(['Bad ID', 'x' * 65, '', '-lead', 'ÿ'])}/event",
            b'{"id":"x","type":"press"}',
            "invalid_button_id",
        ),
        lambda: (f"{root}/b1/status", rng.choice([b"maybe", b'{"online": "yes"}', b"{}"]), ""),
        lambda: (f"{root}/b1/heartbeat", rng.choice([b"[]", b"nonsense", b'"x"']), ""),
    ]
    while True:
        topic, payload, reason = rng.choice(makers)()
        yield topic, payload, reason or _reason_of(topic, payload)


def _reason_of(topic: str, payload: bytes) -> str:
    """The contract's own reason for a message whose generator could not know it in advance."""
    parse = {"event": PressEvent.parse, "status": DeviceStatus.parse, "heartbeat": Heartbeat.parse}
    try:
        parse[topic.rsplit("/", 1)[1]](payload)
    except WireError as exc:
        return exc.reason
    return "valid"


async def test_a_flood_of_malformed_messages_is_counted_and_survived(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """FLOOD malformed messages (10,000; 100,000 in `make proof`: random bytes, huge, deeply
    nested, invalid UTF-8, NaN, wrong types, bad ids, unknown types, bad topics) with a valid press
    from a fresh button every 100: the hub never stops, counts every bad message under its reason,
    and raises an alarm for every valid press."""
    hub = hub_process().start()
    await hub.wait_ready()
    rng = random.Random(20261122)
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    expected: Counter[str] = Counter()
    valid = []
    garbage = _garbage(rng)
    for n in range(FLOOD):
        topic, payload, reason = next(garbage)
        if reason == "valid":  # random bytes can, very rarely, be a valid heartbeat or status
            continue
        expected[reason] += 1
        publisher.publish_raw(topic, payload)
        if n % VALID_EVERY == 0:
            valid.append(publisher.press(f"flood-{n:06d}"))
        if n % 5000 == 4999:  # paho has 65,535 packet ids: never let that many wait
            assert await publisher.drain(120), "the broker did not take the flood"
    assert await publisher.drain(max(120.0, FLOOD / 250)), "the broker did not take the flood"
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:

        async def all_counted() -> bool:
            return sum(_rejected(await client.get("/metrics")).values()) >= sum(expected.values())

        await wait_for(all_counted, timeout=300, interval=0.5)
        metrics = await client.get("/metrics")
        assert _rejected(metrics) == expected
        assert (await client.get("/readyz")).status_code == 200
    await publisher.close()
    with contextlib.closing(sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True)) as conn:
        alarms = {row[0] for row in conn.execute("SELECT devices FROM alarms")}
        rejected_rows = conn.execute("SELECT count(*) FROM rejected").fetchone()[0]
    assert {json.loads(d)[0][0] for d in alarms} == {sent.button for sent in valid}
    assert rejected_rows <= 10_000, "the rejected log is bounded"
    assert hub.process is not None
    assert hub.process.poll() is None, "the hub is still running"


def _rejected(response: httpx.Response) -> Counter[str]:
    counts: Counter[str] = Counter()
    for reason, value in re.findall(
        r'^chuong_rejected_messages_total\{reason="([^"]+)"\} (\S+)$', response.text, re.M
    ):
        counts[reason] = int(float(value))
    return counts
