"""The simulator's buttons repeat a press until they hear `received`, as the reference button does
(devices/esphome); with `repeat_s=None` they are plain QoS 1 publishers that stop at the PUBACK."""

from __future__ import annotations

import asyncio
import json

from devices.topics import Topics
from simulator.broker import Mosquitto
from simulator.button import REPEAT_S, VirtualButton
from simulator.load import LoadPublisher
from tests.conftest import wait_for
from tests.integration.supervision.conftest import RawClient

TOPICS = Topics()


def test_repeating_is_the_default_every_five_seconds() -> None:
    assert REPEAT_S == 5.0
    assert VirtualButton("a").repeat_s == REPEAT_S
    assert LoadPublisher(host="127.0.0.1", port=1).repeat_s == REPEAT_S


async def _events(hub: RawClient, button: str) -> list[bytes]:
    return [payload for topic, payload in hub.received if topic == TOPICS.event(button)]


async def test_a_virtual_button_repeats_the_same_press_until_it_hears_received(
    broker: Mosquitto,
) -> None:
    """No hub answers: the press comes again, the same bytes, every `repeat_s`; once the hub
    says `received`, no more; a button with `repeat_s=None` publishes once."""
    hub = RawClient(broker)
    await hub.connect()
    await hub.subscribe(TOPICS.event("+"))
    button = VirtualButton("rep-1", host=broker.host, port=broker.port, repeat_s=0.2)
    plain = VirtualButton("plain-1", host=broker.host, port=broker.port, repeat_s=None)
    await button.connect()
    await plain.connect()
    try:
        press = await button.press()
        await plain.press()

        async def repeated() -> bool:
            return len(await _events(hub, "rep-1")) >= 3

        await wait_for(repeated, 10)
        sent = await _events(hub, "rep-1")
        assert set(sent) == {button.last_sent}
        ack = {"event": press.event_id, "alarm": "post-1", "state": "received"}
        assert await hub.publish(TOPICS.ack("rep-1"), json.dumps(ack)) < 0x80
        await button.wait_ack(press.event_id)
        await asyncio.sleep(0.3)  # a repeat already due may still be on its way
        settled = len(await _events(hub, "rep-1"))
        await asyncio.sleep(0.8)
        assert len(await _events(hub, "rep-1")) == settled
        assert button.repeats == settled - 1
        assert len(await _events(hub, "plain-1")) == 1
        assert plain.repeats == 0
    finally:
        await button.close()
        await plain.close()
        hub.close()


async def test_the_load_publisher_repeats_what_was_not_received_without_counting_it_twice(
    broker: Mosquitto,
) -> None:
    """Two presses, one heard `received`: only the other comes again, with its id; the broker's
    acknowledgements are still one per press."""
    hub = RawClient(broker)
    await hub.connect()
    await hub.subscribe(TOPICS.event("+"))
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=0.2)
    await publisher.connect()
    try:
        heard = publisher.press("load-1")
        unheard = publisher.press("load-2")
        assert await publisher.drain()
        ack = {"event": heard.event_id, "alarm": "post-1", "state": "received"}
        assert await hub.publish(TOPICS.ack("load-1"), json.dumps(ack)) < 0x80
        await wait_for(lambda: publisher.unheard == 1, 10)

        async def repeated() -> bool:
            return len(await _events(hub, "load-2")) >= 3

        await wait_for(repeated, 10)
        ids = {json.loads(p)["id"] for p in await _events(hub, "load-2")}
        assert ids == {unheard.event_id}
        assert len(await _events(hub, "load-1")) <= 2  # at most one repeat before its ack
        assert await publisher.drain()
        assert len(publisher.acknowledged) == 2
    finally:
        await publisher.close()
        hub.close()
