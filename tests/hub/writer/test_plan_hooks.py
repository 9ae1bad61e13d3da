"""Unit tests of what issue 5 added to the planner: ignored messages, press hooks, when `online`
changed, and registry changes made by commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.messages import EventType, PressEvent
from hub.domain.inbound import IgnoredIn, PressIn, StatusIn
from hub.domain.model import Button, Site
from hub.domain.state import HubState, Registry
from hub.writer.plan import Count, Plan

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def new_state() -> HubState:
    registry = Registry(
        sites={"bank": Site("bank", "Ngân hàng")}, buttons={"b1": Button("b1", "bank")}
    )
    return HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry)


def test_an_ignored_message_is_counted_and_records_nothing() -> None:
    plan = Plan(hub_id="post", state=new_state(), now=NOW, earlier={})
    plan.inbound(IgnoredIn("zigbee2mqtt/lamp", "nothing_to_record", NOW, None))
    assert plan.counts[(Count.IGNORED, "nothing_to_record")] == 1
    assert not plan.changes
    assert plan.events == []


def test_press_hooks_see_new_events_but_not_duplicates() -> None:
    seen: list[str] = []
    press = PressIn("b1", PressEvent(id="e1", type=EventType.PRESS), NOW, None)
    fresh = Plan(
        hub_id="post",
        state=new_state(),
        now=NOW,
        earlier={},
        press_hooks=[lambda plan, item: seen.append(item.event.id)],
    )
    fresh.inbound(press)
    again = Plan(
        hub_id="post",
        state=new_state(),
        now=NOW,
        earlier={("b1", "e1"): "post-1"},
        press_hooks=[lambda plan, item: seen.append("duplicate " + item.event.id)],
    )
    again.inbound(press)
    assert seen == ["e1"]


def test_online_since_moves_only_when_online_changes() -> None:
    state = new_state()
    for minute, online in ((0, True), (1, True), (2, False), (3, False)):
        plan = Plan(hub_id="post", state=state, now=NOW, earlier={})
        plan.inbound(StatusIn("b1", online, NOW + timedelta(minutes=minute), None))
        state.absorb(plan.draft)
        if minute == 1:
            assert state.devices["b1"].online_since == NOW
    assert state.devices["b1"].online_since == NOW + timedelta(minutes=2)
    assert state.devices["b1"].last_seen == NOW + timedelta(minutes=3)


def test_a_registry_change_in_a_plan_is_seen_by_later_items_and_kept_after_commit() -> None:
    state = new_state()
    plan = Plan(hub_id="post", state=state, now=NOW, earlier={})
    changed = Registry(dict(state.registry.sites), {**state.registry.buttons})
    changed.buttons["b1"] = Button("b1", "bank", test_mode=True)
    plan.draft.put_registry(changed)
    plan.inbound(PressIn("b1", PressEvent(id="e1", type=EventType.PRESS), NOW, None))
    assert next(iter(plan.draft.alarms.values())).test is True
    assert state.registry.buttons["b1"].test_mode is False  # nothing real before the commit
    state.absorb(plan.draft)
    assert state.registry is changed
