"""Unit tests of hub/broker/vendors.py: vendor messages become the pipeline's items for registered
buttons; strangers' presses raise only when they are SOS; replays and sleeps are told apart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from devices.messages import EventType, Heartbeat
from devices.profiles import make_profiles
from hub.broker.mqtt import MqttMessage, Subscription
from hub.broker.vendors import VendorRouter
from hub.config import SupervisionSection
from hub.domain.inbound import Delivery, HeartbeatIn, IgnoredIn, PressIn, RejectedIn, StatusIn
from hub.domain.model import Button, Site
from hub.domain.state import HubState, Registry

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
DELIVERY = Delivery(mid=7, qos=1, connection=1)


def registry() -> Registry:
    return Registry(
        sites={"bank": Site("bank", "Ngân hàng")},
        buttons={
            "quay-1": Button("quay-1", "bank", profile="shelly-gen1", native_id="shellybutton1-A1"),
            "quay-2": Button("quay-2", "bank", profile="zigbee2mqtt", native_id="sos-quay-2"),
            "tasmota-1": Button("tasmota-1", "bank", profile="tasmota", native_id="tasmota_1"),
            "diy-1": Button("diy-1", "bank"),
            "diy-sleepy": Button("diy-sleepy", "bank", power="battery", checkin_s=600),
        },
    )


class Harness:
    def __init__(self, listen: Sequence[str] = ()) -> None:
        self.state = HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry())
        self.subscribed: list[Subscription] = []
        self.router = VendorRouter(
            profiles=make_profiles(),
            listen=listen,
            supervision=SupervisionSection(),
            state=lambda: self.state,
            subscribe=self.subscribed.extend,
        )
        self.router.sync()

    def send(
        self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 1
    ) -> list[object] | None:
        data = payload.encode() if isinstance(payload, str) else payload
        delivery = DELIVERY if qos else None
        message = MqttMessage(topic, data, qos, retain, NOW, delivery)
        result = self.router.translate(message)
        return None if result is None else list(result)


def test_only_profiles_in_use_or_listened_to_are_subscribed() -> None:
    """The registry uses shelly-gen1, zigbee2mqtt and tasmota; `listen` adds esphome."""
    harness = Harness(listen=["esphome"])
    topics = {s.topic for s in harness.subscribed}
    assert "shellies/+/input_event/+" in topics
    assert "zigbee2mqtt/+" in topics
    assert "stat/+/+" in topics
    assert "+/status" in topics
    assert "+/events/rpc" not in topics  # shelly-gen2: nobody uses it
    assert harness.send("x/events/rpc", "{}") is None


def test_a_new_profile_in_the_registry_is_subscribed_to() -> None:
    harness = Harness()
    before = len(harness.subscribed)
    buttons = dict(harness.state.registry.buttons)
    buttons["plus"] = Button("plus", "bank", profile="shelly-gen2", native_id="shellyplusi4-1")
    harness.state.registry = Registry(harness.state.registry.sites, buttons)
    harness.router.sync()
    assert {s.topic for s in harness.subscribed[before:]} == {
        "+/events/rpc",
        "+/online",
        "+/status/devicepower:0",
    }
    harness.router.sync()  # nothing new: nothing subscribed twice
    assert len(harness.subscribed) == before + 3


def test_a_registered_device_press_is_its_buttons_press_acked_once_stored() -> None:
    harness = Harness()
    [item] = harness.send(
        "shellies/shellybutton1-A1/input_event/0", '{"event":"S","event_cnt":3}'
    ) or [None]
    assert isinstance(item, PressIn)
    assert (item.button, item.source, item.delivery) == ("quay-1", "shelly-gen1", DELIVERY)
    assert item.event.type is EventType.PRESS


def test_several_events_in_one_message_carry_the_delivery_on_the_last() -> None:
    harness = Harness()
    items = harness.send(
        "stat/tasmota_1/RESULT", '{"Button1":{"Action":"SINGLE"},"Button2":{"Action":"DOUBLE"}}'
    )
    assert items is not None
    assert [type(i) for i in items] == [PressIn, PressIn]
    assert [i.delivery for i in items] == [None, DELIVERY]  # type: ignore[attr-defined]


def test_an_unregistered_sos_raises_and_another_action_is_rejected() -> None:
    """A stranger's `emergency` is an alarm (as `z2m-<name>`); its `single` is not."""
    harness = Harness()
    [sos] = harness.send("zigbee2mqtt/sos-kitchen", '{"action":"emergency","battery":80}') or []
    assert isinstance(sos, PressIn)
    assert sos.button == "z2m-sos-kitchen"
    [remote] = harness.send("zigbee2mqtt/ikea-remote", '{"action":"single"}') or []
    assert isinstance(remote, RejectedIn)
    assert remote.reason == "unregistered_device"
    assert remote.button is None
    assert "ikea-remote" in remote.detail
    assert remote.delivery == DELIVERY


def test_strangers_reports_are_dropped() -> None:
    """A lamp's state on the shared Zigbee network: nothing to record; acknowledged in order."""
    harness = Harness()
    lamp = '{"state":"ON","brightness":254,"linkquality":120}'
    assert harness.send("zigbee2mqtt/lamp", lamp, qos=0) == []
    [ignored] = harness.send("zigbee2mqtt/lamp", lamp) or []
    assert isinstance(ignored, IgnoredIn)
    assert (ignored.reason, ignored.delivery) == ("nothing_to_record", DELIVERY)
    assert harness.send("zigbee2mqtt/lamp/availability", "offline") == [
        IgnoredIn("zigbee2mqtt/lamp/availability", "nothing_to_record", NOW, DELIVERY)
    ]


def test_a_retained_replay_gives_its_status_but_never_a_press() -> None:
    harness = Harness()
    replay = harness.send("stat/tasmota_1/RESULT", '{"Button1":{"Action":"SINGLE"}}', retain=True)
    assert replay == [IgnoredIn("stat/tasmota_1/RESULT", "retained", NOW, DELIVERY)]
    [status] = harness.send("tele/tasmota_1/LWT", "Offline", retain=True) or []
    assert status == StatusIn("tasmota-1", False, NOW, DELIVERY)


def test_a_sleeping_buttons_offline_is_a_check_in_and_a_bridges_is_not() -> None:
    """Shelly Button1 on battery: its will fires as it sleeps. Zigbee2MQTT's availability is the
    bridge's verdict: an offline then is real."""
    harness = Harness()
    [sleep] = harness.send("shellies/shellybutton1-A1/online", "false") or []
    assert sleep == HeartbeatIn("quay-1", Heartbeat(), NOW, DELIVERY)
    assert harness.send("shellies/shellybutton1-A1/online", "false", retain=True) == [
        IgnoredIn("shellies/shellybutton1-A1/online", "retained", NOW, DELIVERY)
    ]
    [gone] = harness.send("zigbee2mqtt/sos-quay-2/availability", '{"state":"offline"}') or []
    assert gone == StatusIn("quay-2", False, NOW, DELIVERY)


def test_canonical_status_follows_the_same_sleep_rule() -> None:
    harness = Harness()
    topic = "chuong/v1/dev/diy-sleepy/status"
    sleepy = StatusIn("diy-sleepy", False, NOW, DELIVERY)
    assert harness.router.canonical_status(sleepy, topic, retained=False) == HeartbeatIn(
        "diy-sleepy", Heartbeat(), NOW, DELIVERY
    )
    assert harness.router.canonical_status(sleepy, topic, retained=True) == IgnoredIn(
        topic, "retained", NOW, DELIVERY
    )
    mains = StatusIn("diy-1", False, NOW, DELIVERY)
    assert harness.router.canonical_status(mains, topic, retained=False) == mains


@pytest.mark.parametrize(
    ("topic", "payload", "button"),
    [
        ("shellies/shellybutton1-A1/input_event/0", b'{"event": 5}', "quay-1"),
        ("zigbee2mqtt/stranger", b"\xff", None),
    ],
)
def test_malformed_vendor_payloads_are_rejected_with_their_reason(
    topic: str, payload: bytes, button: str | None
) -> None:
    [rejected] = Harness().send(topic, payload) or []
    assert isinstance(rejected, RejectedIn)
    assert rejected.button == button
    assert rejected.reason in {"invalid_field", "invalid_utf8"}
    assert rejected.delivery == DELIVERY


def test_gen2_notification_with_a_device_time_is_a_press_with_that_time() -> None:
    harness = Harness(listen=["shelly-gen2"])
    body = {
        "method": "NotifyEvent",
        "params": {
            "events": [{"component": "input:0", "event": "single_push", "ts": NOW.timestamp()}]
        },
    }
    [stranger] = harness.send("shellyplusi4-9/events/rpc", json.dumps(body)) or []
    assert isinstance(stranger, RejectedIn)  # not an SOS, not registered
