"""When the store cannot commit, the hub holds every acknowledgement (so the broker keeps the
presses), says so, and recovers without loss; a message that trips a bug is kept on record and
does not stop the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from hub.config import StoreSection
from hub.domain.model import Alarm
from hub.writer.plan import Plan
from simulator.button import VirtualButton
from tests.conftest import RunningHub, stalled_store, store_location, wait_for

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]


async def test_a_store_that_cannot_commit_holds_acks_and_recovers_without_loss(
    start_hub: StartHub, buttons: Buttons, tmp_path: Path
) -> None:
    """Another process holds the store's write lock (on PostgreSQL, a lock on every table) past
    the busy timeout: the press gets no `received` (the hub did not PUBACK it), /readyz is 503
    naming the store, the troubles list shows `store_unwritable`; when the lock goes, the alarm
    is raised, the button hears `received`, /readyz is 200 and the recovery is in the audit
    log."""
    running = await start_hub(
        store=StoreSection(
            path=tmp_path / "hub.db", busy_timeout_ms=100, retry_max_s=0.3, probe_interval_s=0.5
        )
    )
    button = await buttons("bank-1")
    api = running.api()
    async with stalled_store(store_location(running.config)):
        press = await button.press()
        assert press.acked_by_broker

        async def unready() -> bool:
            return (await api.get("/readyz")).status_code == 503

        await wait_for(unready, timeout=10)
        body = (await api.get("/readyz")).json()
        assert any(reason.startswith("store: cannot commit") for reason in body["reasons"])
        troubles = (await api.get("/api/v1/troubles")).json()
        assert [t["kind"] for t in troubles] == ["store_unwritable"]
        assert not button.acks, "nothing may be acknowledged while the store cannot commit"
        assert (await running.hub.store.list_alarms()) == []
    ack = await button.wait_ack(press.event_id, "received", timeout=15)
    assert [a["id"] for a in await running.alarms()] == [ack.ack.alarm]
    assert (await api.get("/readyz")).status_code == 200
    assert (await api.get("/api/v1/troubles")).json() == []
    metrics = (await api.get("/metrics")).text
    assert "chuong_commit_failures_total 0.0" not in metrics
    assert "chuong_store_writable 1.0" in metrics


async def test_a_message_that_trips_a_bug_is_quarantined_and_the_rest_go_on(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A bug hit by one press (here: an alarm hook that fails for one button) fails its batch; the
    batch is retried item by item, the others are committed and acknowledged, and the bad one is
    kept in the rejected log as `internal_error` with a hub trouble, instead of crashing the hub
    or blocking every press behind it forever."""
    running = await start_hub()
    pipeline = running.hub.pipeline
    assert pipeline is not None

    def buggy(plan: Plan, old: Alarm | None, new: Alarm, change: str) -> None:
        if "clinic-1" in new.buttons:
            raise ZeroDivisionError("a bug in a hook")

    pipeline.add_hook(buggy)
    good = await buttons("bank-1")
    bad = await buttons("clinic-1")
    presses = await asyncio.gather(good.press(), bad.press(), good.press())
    await good.wait_ack(presses[0].event_id)
    await good.wait_ack(presses[2].event_id)
    api = running.api()

    async def quarantined() -> bool:
        return any(
            r["reason"] == "internal_error" for r in (await api.get("/api/v1/rejected")).json()
        )

    await wait_for(quarantined)
    [row] = [
        r for r in (await api.get("/api/v1/rejected")).json() if r["reason"] == "internal_error"
    ]
    assert row["button_id"] == "clinic-1"
    assert presses[1].event_id in row["payload"]
    troubles = (await api.get("/api/v1/troubles")).json()
    assert [(t["kind"], t["subject"]) for t in troubles] == [("internal_error", "hub")]
    [alarm] = await running.alarms()
    assert alarm["devices"] == ["bank-1"]
    assert alarm["press_count"] == 2
    assert (await api.get("/readyz")).status_code == 200
