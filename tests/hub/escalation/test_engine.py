"""hub/escalation/engine.py inside real plans committed to a real SQLite store (no broker, no
sleeping, fixed times): deadlines stored with the raise, steps fired by `RunDue`, stopped by an
acknowledgement, troubles held back while their site alarms."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices.messages import EventType, PressEvent
from hub.config import Config
from hub.domain.bus import AlarmChanged
from hub.domain.inbound import PressIn
from hub.domain.model import AlarmState, Button, Outcome, Site
from hub.domain.state import HubState, Registry
from hub.escalation.engine import Adopt, EscalationHooks, RunDue
from hub.escalation.policies import Policies
from hub.escalation.scheduler import BATCH
from hub.store import Store
from hub.writer.commands import AcknowledgeAlarm, ResolveAlarm
from hub.writer.plan import Command, Plan

RAISED = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

CONFIG: dict[str, Any] = {
    "notifiers": {
        "siren": {"type": "mqtt", "topic": "post/siren", "tests": True},
        "phone": {"type": "webhook", "url": "http://127.0.0.1:9/phone"},
        "boss": {"type": "webhook", "url": "http://127.0.0.1:9/boss"},
    },
    "escalation": {
        "steps": [
            {"after_s": 0, "notify": ["siren"]},
            {"after_s": 30, "notify": ["phone"], "repeat_s": 60},
        ],
        "policies": {"market": {"steps": [{"after_s": 0, "notify": ["boss", "siren"]}]}},
        "rules": [{"sites": ["market-*"], "policy": "market"}],
        "troubles": {"steps": [{"after_s": 60, "notify": ["phone"]}]},
    },
}


def at(seconds: float) -> datetime:
    return RAISED + timedelta(seconds=seconds)


class Harness:
    """A hub's writer without the pipeline's task: plan, commit, fold into the state."""

    def __init__(self, store: Store, config: dict[str, Any]) -> None:
        loaded = Config(**config)
        self.policies = Policies(loaded.escalation, loaded.notifiers)
        self.hooks = EscalationHooks(self.policies)
        self.store = store
        self.state = HubState(
            next_alarm_seq=1,
            next_trouble_id=1,
            registry=Registry(
                sites={
                    "bank": Site("bank", "Ngân hàng"),
                    "market-phuoc": Site("market-phuoc", "Chợ Phước"),
                },
                buttons={
                    "bank-1": Button("bank-1", "bank"),
                    "bank-2": Button("bank-2", "bank"),
                    "m-1": Button("m-1", "market-phuoc"),
                },
            ),
        )

    async def run(self, now: datetime, *items: PressIn | Command) -> tuple[Plan, list[object]]:
        plan = Plan(
            hub_id="post",
            state=self.state,
            now=now,
            earlier={},
            hooks=[self.hooks.on_alarm],
            trouble_hooks=[self.hooks.on_trouble],
        )
        results = [
            item.plan(plan) if isinstance(item, Command) else plan.inbound(item) for item in items
        ]
        await self.store.commit(plan.changes)
        self.state.absorb(plan.draft)
        return plan, results

    async def press(self, button: str, now: datetime, kind: str = "press") -> Plan:
        event = PressEvent(id=f"{button}-{now.timestamp()}", type=EventType(kind))
        plan, _ = await self.run(now, PressIn(button, event, now, None))
        return plan

    async def run_due(self, now: datetime) -> list[object]:
        results = []
        for due in await self.store.due_escalations(BATCH):
            if due.next_due_at <= now:
                _, [decision] = await self.run(now, RunDue(self.policies, due))
                results.append(decision)
        return results

    async def rows(self, sql: str, *params: object) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.store.reader.execute_fetchall(sql, params)]

    async def escalation(self, alarm_id: str) -> dict[str, Any]:
        [row] = await self.rows("SELECT * FROM escalations WHERE alarm_id = ?", alarm_id)
        return row

    async def outbox(self, **where: object) -> list[dict[str, Any]]:
        clause = " AND ".join(f"{k} = ?" for k in where) or "1"
        return await self.rows(f"SELECT * FROM outbox WHERE {clause} ORDER BY seq", *where.values())

    async def audit(self, action: str) -> list[dict[str, Any]]:
        return await self.rows("SELECT * FROM audit WHERE action = ? ORDER BY id", action)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store(tmp_path / "hub.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_raise_stores_the_first_deadline_with_the_alarm(store: Store) -> None:
    """The raise's own commit holds the alarm and its escalation: policy, empty progress, first
    deadline at the raise (step 1's after_s is 0)."""
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED)
    row = await hub.escalation("post-1")
    assert row["subject"] == "alarm:post-1"
    assert row["policy"] == "default"
    assert json.loads(row["progress"]) == {}
    assert row["next_due_at"] == "2026-11-22T03:00:00.000Z"
    assert row["state"] == "running"
    assert await hub.rows("SELECT id FROM alarms") == [{"id": "post-1"}]


async def test_without_configuration_nothing_is_stored(store: Store) -> None:
    """No [escalation]: a raise stores no deadline and queues nothing."""
    hub = Harness(store, {})
    await hub.press("bank-1", RAISED)
    assert await hub.rows("SELECT * FROM escalations") == []
    assert await hub.run_due(at(1000)) == []
    assert await hub.outbox() == []


async def test_due_step_queues_notifications_and_raises_the_level(store: Store) -> None:
    """RunDue at the raise fires step 1: one outbox row per notifier (written before anything is
    sent, with its audit entry), the alarm at level 1 (change `escalated`, published), and the
    next deadline 30 s later. At 30 s step 2 fires, at 90 s it repeats (round 1, level stays)."""
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED)
    await hub.run_due(at(0))
    [siren] = await hub.outbox()
    assert (siren["notifier"], siren["event"], siren["state"]) == ("siren", "alarm", "pending")
    assert siren["key"] == "alarm:post-1/1.0/siren"
    body = json.loads(siren["body"])
    assert (body["step"], body["round"], body["alarm"]["level"]) == (1, 0, 1)
    assert hub.state.alarms["post-1"].level == 1
    [queued] = await hub.audit("notify.queued")
    assert json.loads(queued["detail"])["notifier"] == "siren"
    assert len(await hub.audit("alarm.escalated")) == 1
    assert (await hub.escalation("post-1"))["next_due_at"] == "2026-11-22T03:00:30.000Z"

    assert await hub.run_due(at(29)) == []
    await hub.run_due(at(30))
    await hub.run_due(at(90))
    phone = await hub.outbox(notifier="phone")
    assert [r["key"] for r in phone] == ["alarm:post-1/2.0/phone", "alarm:post-1/2.1/phone"]
    assert hub.state.alarms["post-1"].level == 2
    assert len(await hub.audit("alarm.escalated")) == 2
    row = await hub.escalation("post-1")
    assert json.loads(row["progress"]) == {"1": 1, "2": 2}
    assert row["next_due_at"] == "2026-11-22T03:02:30.000Z"


async def test_escalated_change_is_published_with_the_level(store: Store) -> None:
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED)
    [due] = await store.due_escalations(BATCH)
    plan, _ = await hub.run(at(0), RunDue(hub.policies, due))
    [event] = [e for e in plan.events if isinstance(e, AlarmChanged)]
    assert (event.change, event.alarm.level, event.actor) == ("escalated", 1, "hub")


async def test_acknowledge_stops_cancels_and_switches_the_siren_off(store: Store) -> None:
    """Acknowledging stops the escalation in the same commit: no deadline left, pending phone
    notifications cancelled, a `clear` queued for the siren step 1 switched on."""
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED)
    await hub.run_due(at(0))
    await hub.run_due(at(30))
    await hub.run(at(31), AcknowledgeAlarm("post-1", "token:duty"))
    row = await hub.escalation("post-1")
    assert (row["state"], row["next_due_at"]) == ("stopped", None)
    assert [r["state"] for r in await hub.outbox(notifier="phone")] == ["cancelled"]
    clear = await hub.outbox(event="clear")
    assert [(r["notifier"], r["key"], r["state"]) for r in clear] == [
        ("siren", "alarm:post-1/clear/siren", "pending")
    ]
    assert json.loads(clear[0]["body"])["alarm"]["state"] == "acknowledged"
    [stopped] = await hub.audit("escalation.stopped")
    assert json.loads(stopped["detail"]) == {"reason": "acknowledged", "level": 2}
    assert await hub.run_due(at(1000)) == []


async def test_step_that_comes_after_an_acknowledgement_fires_nothing(store: Store) -> None:
    """A RunDue read before the acknowledgement but planned after it finds the alarm no longer
    active: nothing is queued and the level stays."""
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED)
    [due] = await store.due_escalations(BATCH)
    _, results = await hub.run(
        at(0), AcknowledgeAlarm("post-1", "token:duty"), RunDue(hub.policies, due)
    )
    assert results[1].firings == ()  # type: ignore[attr-defined]
    assert await hub.outbox(event="alarm") == []
    assert hub.state.alarms["post-1"].level == 0


async def test_rule_picks_the_policy_and_it_is_stored(store: Store) -> None:
    """An alarm at a market site follows the `market` policy (boss and siren at once); the
    policy's name is kept with the escalation."""
    hub = Harness(store, CONFIG)
    await hub.press("m-1", RAISED)
    assert (await hub.escalation("post-1"))["policy"] == "market"
    await hub.run_due(at(0))
    assert sorted(r["notifier"] for r in await hub.outbox()) == ["boss", "siren"]


async def test_test_alarm_reaches_only_local_devices_marked_for_tests(store: Store) -> None:
    """A test press escalates only to notifiers with `tests = true` (the siren); the phone step
    is dropped, so nothing is ever queued for a person."""
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED, kind="test")
    assert hub.state.alarms["post-1"].test
    await hub.run_due(at(1000))
    assert [r["notifier"] for r in await hub.outbox()] == ["siren"]
    without_siren = dict(
        CONFIG, notifiers={**CONFIG["notifiers"], "siren": {"type": "mqtt", "topic": "s"}}
    )
    other = Harness(store, without_siren)
    other.state.next_alarm_seq = 2
    await other.press("bank-2", RAISED, kind="test")
    assert await hub.rows("SELECT * FROM escalations WHERE alarm_id = 'post-2'") == []


async def test_trouble_waits_while_its_site_alarms_then_goes_when_resolved(store: Store) -> None:
    """A tamper at the bank while the bank's alarm is open: the trouble's step (60 s) is held,
    looked at again every 30 s; resolving the alarm brings its deadline forward and it fires."""
    hub = Harness(store, CONFIG)
    await hub.press("bank-1", RAISED)
    await hub.press("bank-2", at(1), kind="tamper")
    [trouble] = await hub.rows("SELECT * FROM escalations WHERE trouble_id IS NOT NULL")
    assert (trouble["site_id"], trouble["next_due_at"]) == ("bank", "2026-11-22T03:01:01.000Z")
    await hub.run_due(at(61))
    assert await hub.outbox(event="trouble") == []
    [held] = await hub.rows("SELECT * FROM escalations WHERE trouble_id IS NOT NULL")
    assert held["next_due_at"] == "2026-11-22T03:01:31.000Z"
    await hub.run(at(70), AcknowledgeAlarm("post-1", "token:duty"))
    await hub.run(at(71), ResolveAlarm("post-1", "token:duty", Outcome.FALSE_ALARM, "bấm nhầm"))
    [brought] = await hub.rows("SELECT * FROM escalations WHERE trouble_id IS NOT NULL")
    assert brought["next_due_at"] == "2026-11-22T03:01:11.000Z"
    await hub.run_due(at(71))
    [sent] = await hub.outbox(event="trouble")
    assert sent["notifier"] == "phone"
    assert json.loads(sent["body"])["trouble"]["kind"] == "tamper"


async def test_cleared_trouble_stops_and_cancels(store: Store) -> None:
    hub = Harness(
        store,
        dict(
            CONFIG,
            escalation={
                **CONFIG["escalation"],
                "troubles": {"steps": [{"after_s": 0, "notify": ["phone"], "repeat_s": 60}]},
            },
        ),
    )
    await hub.press("bank-2", RAISED, kind="tamper")
    await hub.run_due(at(0))
    assert [r["state"] for r in await hub.outbox(event="trouble")] == ["pending"]
    from hub.writer.commands import ClearTrouble

    await hub.run(at(5), ClearTrouble("tamper", "bank-2", "fixed"))
    assert [r["state"] for r in await hub.outbox(event="trouble")] == ["cancelled"]
    [row] = await hub.rows("SELECT * FROM escalations WHERE trouble_id IS NOT NULL")
    assert (row["state"], row["next_due_at"]) == ("stopped", None)
    assert await hub.run_due(at(1000)) == []


async def test_adopt_gives_open_alarms_an_escalation_and_leaves_others_alone(
    store: Store,
) -> None:
    """An alarm raised while nothing was configured is adopted at start-up (counted from its
    raise, so its overdue steps fire at once); an escalation that exists is left as it is."""
    bare = Harness(store, {})
    await bare.press("bank-1", RAISED)
    hub = Harness(store, CONFIG)
    hub.state = bare.state
    await hub.press("m-1", at(1))
    await hub.run_due(at(1))
    before = await hub.escalation("post-2")
    await hub.run(at(100), Adopt(hub.policies))
    adopted = await hub.escalation("post-1")
    assert (adopted["started_at"], adopted["next_due_at"]) == (
        "2026-11-22T03:00:00.000Z",
        "2026-11-22T03:00:00.000Z",
    )
    assert await hub.escalation("post-2") == before
    await hub.run_due(at(100))
    assert hub.state.alarms["post-1"].level == 2
    assert hub.state.alarms["post-1"].state is AlarmState.ACTIVE
