"""The hub's telemetry connection against the shipped broker with generated credentials: its own
user reads the heartbeats and nothing else, the hub hears heartbeats on it and presses on its
persistent session, and while it is refused supervision pauses and says so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from hub.config import MqttSection, SupervisionSection
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for
from tests.integration.supervision.conftest import REGISTRY, RawClient, open_troubles, trouble

NOT_AUTHORIZED = 0x87
StartHub = Callable[..., Awaitable[RunningHub]]
Raw = Callable[..., Awaitable[RawClient]]
TELEMETRY_USER = "hub-post-telemetry"  # the `credentials` fixture's hub is `hub-post`


def as_button(broker: Mosquitto, name: str, passwords: dict[str, str]) -> VirtualButton:
    return VirtualButton(
        name, host=broker.host, port=broker.port, username=name, password=passwords[name]
    )


def login(broker: Mosquitto, passwords: dict[str, str], telemetry: str | None) -> MqttSection:
    return MqttSection(
        port=broker.port,
        username="hub-post",
        password=passwords["hub-post"],
        telemetry_password=telemetry,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )


async def test_the_telemetry_user_reads_the_heartbeats_only_and_the_hub_hears_them(
    shipped_secured: Mosquitto,
    credentials: tuple[Path, dict[str, str]],
    start_hub: StartHub,
    raw: Raw,
) -> None:
    """As the telemetry user: publishing anything is refused (0x87), a press is not delivered
    to it, a heartbeat is. Then the hub, logged in with both of its users, hears bank-1's
    heartbeat on its telemetry connection and records its press on its own session."""
    _, passwords = credentials
    broker = shipped_secured
    beats = await raw(TELEMETRY_USER, passwords[TELEMETRY_USER], to=broker)
    await beats.subscribe("chuong/v1/dev/+/#")
    bank_1 = await raw("bank-1", passwords["bank-1"], to=broker)
    press = '{"id": "before-the-hub", "type": "press"}'
    assert await beats.publish("chuong/v1/dev/bank-1/event", press) == NOT_AUTHORIZED
    assert await beats.publish("chuong/v1/dev/bank-1/heartbeat", "{}") == NOT_AUTHORIZED
    assert await beats.publish("chuong/v1/alarms/post-1", "{}") == NOT_AUTHORIZED
    assert await bank_1.publish("chuong/v1/dev/bank-1/event", press) < 0x80
    assert await bank_1.publish("chuong/v1/dev/bank-1/heartbeat", '{"battery": 50}') < 0x80
    await wait_for(lambda: beats.received != [], 10)
    assert [topic for topic, _ in beats.received] == ["chuong/v1/dev/bank-1/heartbeat"]
    beats.close()
    bank_1.close()

    running = await start_hub(
        REGISTRY,
        mqtt=login(broker, passwords, passwords[TELEMETRY_USER]),
        supervision=SupervisionSection(offline_after_s=3600),
    )
    telemetry = running.hub.telemetry
    assert telemetry is not None
    await wait_for(lambda: telemetry.subscribed, 10)
    button = as_button(broker, "bank-1", passwords)
    await button.connect()
    try:
        await button.heartbeat(battery=42)
        assert running.hub.pipeline is not None
        devices = running.hub.pipeline.state.devices

        def heard() -> bool:
            device = devices.get("bank-1")
            return device is not None and device.battery == 42

        await wait_for(heard, 10)
        pressed = await button.press()
        await button.wait_ack(pressed.event_id)
    finally:
        await button.close()
    assert any("bank-1" in alarm["devices"] for alarm in await running.alarms())


async def test_supervision_pauses_while_the_telemetry_connection_is_refused(
    shipped_secured: Mosquitto,
    credentials: tuple[Path, dict[str, str]],
    start_hub: StartHub,
) -> None:
    """A wrong telemetry password: the hub is ready and records presses (its own session), but
    hears no heartbeat, so it judges no button silent (no `offline` trouble, though every
    button would be overdue after 1 s) and raises `broker_disconnected` about `hub-telemetry`
    instead."""
    _, passwords = credentials
    broker = shipped_secured
    running = await start_hub(
        REGISTRY,
        mqtt=login(broker, passwords, "wrong"),
        supervision=SupervisionSection(tick_s=0.1, offline_after_s=1),
    )
    found = await trouble(running, "broker_disconnected", "hub-telemetry", timeout=30)
    assert "supervision is paused" in found["detail"]
    assert (await running.api().get("/readyz")).status_code == 200
    assert not [key for key in await open_troubles(running) if key[0] == "offline"]
    button = as_button(broker, "bank-2", passwords)
    await button.connect()
    try:
        pressed = await button.press()
        await button.wait_ack(pressed.event_id)
    finally:
        await button.close()
    assert not [key for key in await open_troubles(running) if key[0] == "offline"]
