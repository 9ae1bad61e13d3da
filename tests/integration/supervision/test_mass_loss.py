"""Mass loss is an alarm, against a real Mosquitto with virtual buttons: both buttons of a site
losing power within the window raise one `comm_loss` alarm there, escalated like a hold-up;
one of two raises none; a broker outage or a restart of the hub raises none."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hub.clock import SystemClock
from hub.config import SupervisionSection
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for
from tests.integration.escalation.conftest import webhook
from tests.integration.notify.loopback import HttpRecorder, http_recorder
from tests.integration.supervision.conftest import heard, open_troubles, ticks, trouble

__all__ = ["http_recorder"]

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]

REGISTRY = RegistryFile(
    sites=[
        SiteEntry(id="bank", name="Ngân hàng Phước Hòa", phone="0272 3812 345"),
        SiteEntry(id="pharmacy", name="Nhà thuốc An"),
    ],
    buttons=[
        ButtonEntry(id="bank-1", site="bank"),
        ButtonEntry(id="bank-2", site="bank"),
        ButtonEntry(id="ph-1", site="pharmacy"),
        ButtonEntry(id="ph-2", site="pharmacy"),
    ],
)
SETTLE_S = 2.0


def supervision(**changes: Any) -> SupervisionSection:
    """Reviews ten times a second, a 1 s flap grace, no silence bound unless a test sets one;
    drops count once the hub has listened for 2 s."""
    settings: dict[str, Any] = {
        "tick_s": 0.1,
        "flap_grace_s": 1.0,
        "offline_after_s": 3600.0,
        "mass_loss": {"settle_s": SETTLE_S},
        **changes,
    }
    return SupervisionSection(**settings)


async def comm_losses(running: RunningHub) -> list[dict[str, Any]]:
    return [a for a in await running.alarms() if a["kind"] == "comm_loss"]


async def settled(running: RunningHub) -> None:
    """Until the hub has listened for longer than the settle time."""

    def long_enough() -> bool:
        since = running.hub.pipeline.state.listening_since
        return since is not None and (SystemClock().now() - since).total_seconds() > SETTLE_S + 0.2

    await wait_for(long_enough, timeout=SETTLE_S + 10)


async def connect_all(running: RunningHub, buttons: Buttons) -> dict[str, VirtualButton]:
    connected = {name: await buttons(name) for name in ("bank-1", "bank-2", "ph-1", "ph-2")}
    for name in connected:
        await heard(running, name)
    return connected


async def test_both_buttons_of_a_site_dropping_raise_one_comm_loss_alarm(
    start_hub: StartHub, buttons: Buttons, http_recorder: Callable[[], HttpRecorder]
) -> None:
    """The bank's two buttons lose power a moment apart: once both are confirmed offline, ONE
    alarm of kind `comm_loss` is raised at the bank, listing both, and the escalation's first
    step calls the duty phone about it as it would for a hold-up there. The pharmacy, whose
    buttons stay, has none; more reviews raise no second alarm."""
    server = http_recorder()
    running = await start_hub(
        REGISTRY,
        supervision=supervision(),
        notifiers={"duty": webhook(server, "duty")},
        escalation={"steps": [{"after_s": 0, "notify": ["duty"]}]},
    )
    connected = await connect_all(running, buttons)
    await settled(running)
    connected["bank-1"].kill()
    await asyncio.sleep(0.3)
    connected["bank-2"].kill()
    await trouble(running, "offline", "bank-1")
    await trouble(running, "offline", "bank-2")

    await wait_for(lambda: _one(comm_losses(running)), timeout=10)
    (alarm,) = await comm_losses(running)
    assert alarm["site"]["id"] == "bank"
    assert sorted(alarm["devices"]) == ["bank-1", "bank-2"]
    assert alarm["state"] == "active"
    sent = await server.wait(1, "/duty")
    assert sent[0].json()["alarm"]["id"] == alarm["id"]
    assert sent[0].json()["alarm"]["kind"] == "comm_loss"
    detail = await running.api().get(f"/api/v1/alarms/{alarm['id']}")
    raised = [e for e in detail.json()["audit"] if e["action"] == "alarm.raised"]
    assert raised[0]["detail"]["rule"] == "site"
    await ticks(running, 10)
    assert len(await comm_losses(running)) == 1


async def _one(found: Awaitable[list[dict[str, Any]]]) -> bool:
    return len(await found) == 1


async def test_one_of_two_dropping_is_a_trouble_not_an_alarm(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """Only one of the bank's two buttons loses power: its `offline` trouble, and no alarm (the
    mass-loss rule is looked at in the very commit that opens the trouble)."""
    running = await start_hub(REGISTRY, supervision=supervision())
    connected = await connect_all(running, buttons)
    await settled(running)
    connected["bank-1"].kill()
    await trouble(running, "offline", "bank-1")
    await ticks(running, 5)
    assert await running.alarms() == []


async def test_a_broker_outage_of_the_hub_raises_no_comm_loss(
    start_hub: StartHub, buttons: Buttons, broker: Mosquitto
) -> None:
    """The broker goes away and comes back; the buttons (which do not reconnect) fall silent
    past their bound (here 4 s) after the hub is back: every button is confirmed offline at
    once, but they were last heard before the outage, which says nothing about when they were
    lost. The hub's own loss was its `broker_disconnected` trouble; the buttons get `offline`
    troubles; no `comm_loss` alarm."""
    running = await start_hub(REGISTRY, supervision=supervision(offline_after_s=4.0))
    await connect_all(running, buttons)
    await settled(running)
    broker.stop()
    await trouble(running, "broker_disconnected", "hub")
    broker.start()
    assert running.hub.mqtt is not None
    assert await running.hub.mqtt.wait_subscribed(15)
    for name in ("bank-1", "bank-2", "ph-1", "ph-2"):
        await trouble(running, "offline", name, timeout=20)
    await ticks(running, 5)
    assert await running.alarms() == []
    assert ("broker_disconnected", "hub") not in await open_troubles(running)


async def test_a_restart_of_the_hub_raises_no_comm_loss(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """Both of the bank's buttons lose power while the hub is stopped: the broker hands their
    last wills to the restarted hub at once; they become `offline` troubles, not an alarm."""
    running = await start_hub(REGISTRY, supervision=supervision())
    connected = await connect_all(running, buttons)
    await running.hub.stop()
    connected["bank-1"].kill()
    connected["bank-2"].kill()
    again = await start_hub(REGISTRY, supervision=supervision())
    await trouble(again, "offline", "bank-1")
    await trouble(again, "offline", "bank-2")
    await ticks(again, 5)
    assert await again.alarms() == []


COMMUNE = RegistryFile(
    sites=[
        SiteEntry(id="a", name="Tiệm vàng A"),
        SiteEntry(id="b", name="Nhà thuốc B"),
        SiteEntry(id="c", name="Ngân hàng C"),
    ],
    buttons=[
        ButtonEntry(id=name, site=name[0]) for name in ("a1", "a2", "b1", "b2", "c1", "c2", "c3")
    ],
)


async def test_a_commune_wide_loss_is_one_alarm_that_later_drops_join(
    start_hub: StartHub, buttons: Buttons, http_recorder: Callable[[], HttpRecorder]
) -> None:
    """Half the commune's seven mains buttons (at least 3), at three sites, drop together: ONE
    alarm at the pseudo-site `_commune` (its address names the sites), which a rule sends to
    the commander; no site lost all its buttons. Then the rest of site A drops: it joins the
    commune's alarm instead of raising A's own."""
    server = http_recorder()
    running = await start_hub(
        COMMUNE,
        supervision=supervision(
            mass_loss={"settle_s": SETTLE_S, "commune_percent": 50.0, "commune_min_buttons": 3}
        ),
        notifiers={"boss": webhook(server, "boss")},
        escalation={
            "policies": {"ca-xa": {"steps": [{"after_s": 0, "notify": ["boss"]}]}},
            "rules": [{"sites": ["_commune"], "policy": "ca-xa"}],
        },
    )
    connected = {}
    for name in ("a1", "a2", "b1", "b2", "c1", "c2", "c3"):
        connected[name] = await buttons(name)
        await heard(running, name)
    await settled(running)
    for name in ("a1", "b1", "c1", "c2"):
        connected[name].kill()
    await wait_for(lambda: _one(comm_losses(running)), timeout=10)
    (alarm,) = await comm_losses(running)
    assert alarm["site"]["id"] == "_commune"
    assert sorted(alarm["devices"]) == ["a1", "b1", "c1", "c2"]
    assert all(name in alarm["site"]["address"] for name in ("Tiệm vàng A", "Ngân hàng C"))
    sent = await server.wait(1, "/boss")
    assert sent[0].json()["alarm"]["id"] == alarm["id"]

    connected["a2"].kill()
    await trouble(running, "offline", "a2")
    (joined,) = await running.alarms()
    assert sorted(joined["devices"]) == ["a1", "a2", "b1", "c1", "c2"]
