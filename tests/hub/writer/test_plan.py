"""Unit tests of hub/writer/plan.py: what a batch of inbound messages changes, before any I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.messages import EventType, Heartbeat, PressEvent
from hub.domain import alarms
from hub.domain.bus import AlarmChanged, ButtonAck, DeviceChanged, TroubleChanged
from hub.domain.inbound import HeartbeatIn, PressIn, RejectedIn, StatusIn
from hub.domain.model import Alarm, AlarmState, Button, Outcome, Site, TroubleState
from hub.domain.state import HubState, Registry
from hub.store.ops import StopEscalation
from hub.writer.plan import AlarmHook, Count, Plan

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOW_ISO = "2026-11-22T08:00:00.000Z"
BANK = Site("bank", "Vietcombank PGD", "12 QL1A", "0272 3812 345")
CAFE = Site("cafe", "Cà phê Sáng", test_mode=True)


def registry() -> Registry:
    return Registry(
        sites={"bank": BANK, "cafe": CAFE},
        buttons={
            "b1": Button("b1", "bank"),
            "b2": Button("b2", "bank"),
            "t1": Button("t1", "bank", test_mode=True),
            "c1": Button("c1", "cafe"),
        },
    )


def new_state() -> HubState:
    return HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry())


def new_plan(
    state: HubState,
    earlier: Mapping[tuple[str, str], str | None] | None = None,
    hooks: Sequence[AlarmHook] = (),
    now: datetime = NOW,
) -> Plan:
    return Plan(hub_id="post", state=state, now=now, earlier=earlier or {}, hooks=hooks)


def press(
    button: str, event_id: str, kind: str = "press", *, at: datetime = NOW, **fields: Any
) -> PressIn:
    event = PressEvent(id=event_id, type=EventType(kind), **fields)
    return PressIn(button=button, event=event, received_at=at, delivery=None)


def rejected(button: str | None = "b1", reason: str = "invalid_json") -> RejectedIn:
    return RejectedIn(
        topic=f"chuong/v1/dev/{button}/event",
        payload=b"{oops",
        reason=reason,
        detail="Expecting property name",
        button=button,
        received_at=NOW,
        delivery=None,
    )


def run(state: HubState, *items: Any, **kwargs: Any) -> Plan:
    """Plan a batch and, as the writer does after a successful commit, fold it into the state."""
    plan = new_plan(state, **kwargs)
    for item in items:
        plan.inbound(item)
    state.absorb(plan.draft)
    return plan


def audit(plan: Plan) -> list[dict[str, Any]]:
    names = ("ts", "actor", "action", "alarm_id", "button", "trouble_id", "detail")
    rows = [dict(zip(names, row, strict=True)) for row in plan.changes.audit]
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows


def actions(plan: Plan) -> list[str]:
    return [row["action"] for row in audit(plan)]


def press_rows(plan: Plan) -> list[dict[str, Any]]:
    names = (
        "button",
        "event",
        "type",
        "alarm_id",
        "received_at",
        "device_ts",
        "seq",
        "battery",
        "test",
        "anomalies",
    )
    return [dict(zip(names, row, strict=True)) for row in plan.changes.presses]


def events_of(plan: Plan, kind: type) -> list[Any]:
    return [event for event in plan.events if isinstance(event, kind)]


def open_alarm(state: HubState, button: str = "b1", *, test: bool = False) -> Alarm:
    alarm_id = state.alarm_of_button(button, test)
    assert alarm_id is not None
    return state.alarms[alarm_id]


# -- raising --------------------------------------------------------------------------------------


def test_first_press_raises_an_alarm_with_every_row() -> None:
    """A first press raises alarm post-1: one press row, one audit entry, alarm, ack and counts."""
    state = new_state()
    plan = run(state, press("b1", "e1"))

    alarm = plan.changes.alarms["post-1"]
    assert alarm.state is AlarmState.ACTIVE
    assert alarm.site is not None
    assert alarm.site.id == "bank"
    assert (alarm.test, alarm.unregistered, alarm.press_count) == (False, False, 1)
    assert press_rows(plan) == [
        {
            "button": "b1",
            "event": "e1",
            "type": "press",
            "alarm_id": "post-1",
            "received_at": NOW_ISO,
            "device_ts": None,
            "seq": None,
            "battery": None,
            "test": 0,
            "anomalies": None,
        }
    ]
    assert audit(plan) == [
        {
            "ts": NOW_ISO,
            "actor": "button:b1",
            "action": "alarm.raised",
            "alarm_id": "post-1",
            "button": "b1",
            "trouble_id": None,
            "detail": {"event": "e1", "type": "press"},
        }
    ]
    assert [type(e) for e in plan.events] == [DeviceChanged, AlarmChanged, ButtonAck]
    assert plan.events[1] == AlarmChanged(alarm, "raised", "button:b1")
    assert plan.events[2] == ButtonAck("b1", "e1", "post-1", "received")
    assert plan.counts == {(Count.PRESS, "press"): 1, (Count.RAISED, "false"): 1}
    assert state.next_alarm_seq == 2
    assert state.alarm_of_button("b1", False) == "post-1"


def test_press_row_keeps_device_fields_and_anomalies() -> None:
    """The press row carries device ts, seq, battery and the anomalies of the parsed event."""
    event = PressEvent.parse(
        json.dumps(
            {"id": "e1", "type": "long_press", "ts": int(NOW.timestamp()), "seq": 4, "battery": 150}
        ).encode()
    )
    plan = run(new_state(), PressIn("b1", event, NOW + timedelta(seconds=2), None))
    (row,) = press_rows(plan)
    assert row["type"] == "long_press"
    assert row["device_ts"] == "2026-11-22T08:00:00.000Z"
    assert row["received_at"] == "2026-11-22T08:00:02.000Z"
    assert (row["seq"], row["battery"]) == (4, None)
    assert [a.split(":")[0] for a in json.loads(row["anomalies"])] == ["battery"]
    assert plan.counts[(Count.PRESS, "long_press")] == 1


def test_each_raise_takes_the_next_sequence() -> None:
    """Alarms of different sites raised in one batch get consecutive ids."""
    state = HubState(next_alarm_seq=41, next_trouble_id=1, registry=registry())
    plan = run(state, press("b1", "e1"), press("stray", "s1"))
    assert list(plan.changes.alarms) == ["post-41", "post-42"]
    assert plan.counts[(Count.RAISED, "false")] == 2
    assert state.next_alarm_seq == 43


# -- duplicates -----------------------------------------------------------------------------------


def test_same_event_twice_in_one_batch_is_recorded_once() -> None:
    """A redelivery inside the same batch adds no press row and no alarm change, only a re-ack."""
    plan = run(new_state(), press("b1", "e1"), press("b1", "e1"))
    assert len(press_rows(plan)) == 1
    assert actions(plan) == ["alarm.raised"]
    assert plan.changes.alarms["post-1"].press_count == 1
    assert events_of(plan, ButtonAck) == [
        ButtonAck("b1", "e1", "post-1", "received"),
        ButtonAck("b1", "e1", "post-1", "received"),
    ]
    assert len(events_of(plan, AlarmChanged)) == 1
    assert plan.counts == {
        (Count.PRESS, "press"): 1,
        (Count.RAISED, "false"): 1,
        (Count.DUPLICATE, ""): 1,
    }


def test_same_event_id_from_another_button_is_not_a_duplicate() -> None:
    """Event ids are unique per button: the same id from another button is a new press."""
    plan = run(new_state(), press("b1", "e1"), press("b2", "e1"))
    assert len(press_rows(plan)) == 2
    assert actions(plan) == ["alarm.raised", "alarm.joined"]
    assert (Count.DUPLICATE, "") not in plan.counts


def test_duplicate_of_stored_event_is_reacked_with_alarm_state() -> None:
    """A stored (button, event) is a duplicate; the ack tells the open alarm's current state."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = new_plan(state)
    plan.save_alarm(alarms.acknowledge(open_alarm(state), "user:lan", NOW), "acknowledged", "u")
    state.absorb(plan.draft)

    plan = run(
        state, press("b1", "e1", at=NOW + timedelta(minutes=1)), earlier={("b1", "e1"): "post-1"}
    )
    assert plan.changes.presses == []
    assert plan.changes.alarms == {}
    assert plan.changes.audit == []
    assert events_of(plan, ButtonAck) == [ButtonAck("b1", "e1", "post-1", "acknowledged")]
    assert plan.counts == {(Count.DUPLICATE, ""): 1}
    assert open_alarm(state).press_count == 1


def test_duplicate_of_event_whose_alarm_is_closed_acks_resolved() -> None:
    """A duplicate whose alarm is no longer open is re-acked as resolved."""
    plan = run(new_state(), press("b1", "e1"), earlier={("b1", "e1"): "post-9"})
    assert events_of(plan, ButtonAck) == [ButtonAck("b1", "e1", "post-9", "resolved")]
    assert plan.changes.alarms == {}


def test_duplicate_of_event_without_alarm_sends_no_ack() -> None:
    """A duplicate of an event that went to no alarm (a cancel) gets no ack and no rows."""
    plan = run(new_state(), press("b1", "c1", "cancel"), earlier={("b1", "c1"): None})
    assert events_of(plan, ButtonAck) == []
    assert plan.changes.presses == []
    assert plan.changes.audit == []
    assert plan.counts == {(Count.DUPLICATE, ""): 1}


def test_duplicate_wins_over_an_open_alarm_of_the_button() -> None:
    """A stored event from a button with an open alarm does not count as a repeat press."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = run(state, press("b1", "e0"), earlier={("b1", "e0"): "post-1"})
    assert open_alarm(state).press_count == 1
    assert plan.changes.alarms == {}


def test_duplicate_does_not_overwrite_newer_device_state() -> None:
    """A redelivered old press (battery 50) leaves the newer heartbeat's battery 40 in place."""
    state = new_state()
    run(state, press("b1", "e1", battery=50))
    run(state, HeartbeatIn("b1", Heartbeat(battery=40), NOW + timedelta(minutes=1), None))
    later = NOW + timedelta(minutes=2)
    plan = run(state, press("b1", "e1", at=later, battery=50), earlier={("b1", "e1"): "post-1"})
    assert state.devices["b1"].battery == 40
    assert events_of(plan, DeviceChanged) == []


# -- repeat and join ------------------------------------------------------------------------------


def test_repeat_press_grows_press_count() -> None:
    """A second press of the same button is a repeat on its alarm, not a new alarm."""
    state = new_state()
    run(state, press("b1", "e1"))
    later = NOW + timedelta(seconds=20)
    plan = run(state, press("b1", "e2", at=later))

    alarm = plan.changes.alarms["post-1"]
    assert alarm.press_count == 2
    assert alarm.buttons == ("b1",)
    assert alarm.devices[0].last_event == "e2"
    assert alarm.last_press_at == later
    assert actions(plan) == ["alarm.press"]
    assert audit(plan)[0]["detail"] == {"event": "e2", "type": "press"}
    assert events_of(plan, AlarmChanged) == [AlarmChanged(alarm, "press", "button:b1")]
    assert events_of(plan, ButtonAck) == [ButtonAck("b1", "e2", "post-1", "received")]
    assert press_rows(plan)[0]["alarm_id"] == "post-1"
    assert plan.counts == {(Count.PRESS, "press"): 1}
    assert state.next_alarm_seq == 2


def test_repeats_in_one_batch_accumulate() -> None:
    """Three presses of one button in one batch give one alarm with press_count 3."""
    plan = run(new_state(), press("b1", "e1"), press("b1", "e2"), press("b1", "e3"))
    assert list(plan.changes.alarms) == ["post-1"]
    assert plan.changes.alarms["post-1"].press_count == 3
    assert actions(plan) == ["alarm.raised", "alarm.press", "alarm.press"]


def test_repeat_on_acknowledged_alarm_acks_acknowledged() -> None:
    """The button of an acknowledged alarm is told 'acknowledged' when it presses again."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = new_plan(state)
    plan.save_alarm(alarms.acknowledge(open_alarm(state), "user:lan", NOW), "acknowledged", "u")
    state.absorb(plan.draft)

    plan = run(state, press("b1", "e2"))
    assert plan.changes.alarms["post-1"].state is AlarmState.ACKNOWLEDGED
    assert events_of(plan, ButtonAck) == [ButtonAck("b1", "e2", "post-1", "acknowledged")]


def test_second_button_of_the_site_joins() -> None:
    """Another button of the same site joins the open alarm; its devices grow in order."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = run(state, press("b2", "x1"))

    alarm = plan.changes.alarms["post-1"]
    assert alarm.buttons == ("b1", "b2")
    assert alarm.press_count == 2
    assert actions(plan) == ["alarm.joined"]
    assert audit(plan)[0]["button"] == "b2"
    assert audit(plan)[0]["actor"] == "button:b2"
    assert events_of(plan, AlarmChanged)[0].change == "joined"
    assert events_of(plan, ButtonAck) == [ButtonAck("b2", "x1", "post-1", "received")]
    assert state.alarm_of_button("b2", False) == "post-1"


def test_button_of_another_site_raises_its_own_alarm() -> None:
    """A press at another site raises a separate alarm, even while the bank's is open."""
    state = new_state()
    state.registry.buttons["d1"] = Button("d1", "drugstore")
    state.registry.sites["drugstore"] = Site("drugstore", "Nhà thuốc")
    plan = run(state, press("b1", "e1"), press("d1", "e1"))
    assert list(plan.changes.alarms) == ["post-1", "post-2"]
    assert actions(plan) == ["alarm.raised", "alarm.raised"]


def test_press_after_resolve_raises_a_new_alarm() -> None:
    """Once the alarm is resolved (in the same batch), the next press raises a new alarm."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = new_plan(state)
    closed = alarms.resolve(
        open_alarm(state), "admin", NOW, Outcome.FALSE_ALARM, "", may_skip_ack=True
    )
    plan.save_alarm(closed, "resolved", "user:admin")
    plan.inbound(press("b1", "e2"))
    state.absorb(plan.draft)

    assert plan.changes.alarms["post-1"].state is AlarmState.RESOLVED
    assert plan.changes.alarms["post-2"].state is AlarmState.ACTIVE
    assert actions(plan) == ["alarm.resolved", "alarm.raised"]
    assert set(state.alarms) == {"post-2"}


# -- unregistered and test alarms -----------------------------------------------------------------


def test_unregistered_button_still_raises_flagged_alarm() -> None:
    """A press from a button the registry does not know raises an alarm: no site, unregistered."""
    plan = run(new_state(), press("stray-9", "e1"))
    alarm = plan.changes.alarms["post-1"]
    assert alarm.site is None
    assert alarm.unregistered is True
    assert alarm.test is False
    assert audit(plan)[0]["detail"] == {"event": "e1", "type": "press", "unregistered": True}
    assert events_of(plan, ButtonAck) == [ButtonAck("stray-9", "e1", "post-1", "received")]


def test_two_unregistered_buttons_do_not_join() -> None:
    """Two unknown buttons have no site in common: each raises its own alarm."""
    plan = run(new_state(), press("stray-1", "e1"), press("stray-2", "e1"))
    assert len(plan.changes.alarms) == 2


def test_button_in_test_mode_raises_test_alarm() -> None:
    """A plain press from a button in test mode raises a test alarm, flagged in row and audit."""
    plan = run(new_state(), press("t1", "e1"))
    alarm = plan.changes.alarms["post-1"]
    assert alarm.test is True
    assert press_rows(plan)[0]["test"] == 1
    assert audit(plan)[0]["detail"] == {"event": "e1", "type": "press", "test": True}


def test_button_of_site_in_test_mode_raises_test_alarm() -> None:
    """A press from a button of a site in test mode raises a test alarm."""
    plan = run(new_state(), press("c1", "e1"))
    assert plan.changes.alarms["post-1"].test is True


def test_a_press_after_the_test_mode_ended_is_real() -> None:
    """A test mode whose end has come is off for a press, before the hub has written it off: a
    press at the end (of the button's, or of its site's test mode) raises a real alarm; one a
    second before, a test alarm."""
    end = NOW + timedelta(minutes=5)

    def ending() -> HubState:
        state = new_state()
        cafe = Site("cafe", "Cà phê Sáng", test_mode=True, test_until=end)
        t1 = Button("t1", "bank", test_mode=True, test_until=end)
        state.registry = Registry(
            {"bank": BANK, "cafe": cafe}, {"t1": t1, "c1": Button("c1", "cafe")}
        )
        return state

    before = run(ending(), press("t1", "e1", at=end - timedelta(seconds=1)), now=end)
    assert before.changes.alarms["post-1"].test is True
    plan = run(ending(), press("t1", "e1", at=end), press("c1", "e2", at=end), now=end)
    assert [alarm.test for alarm in plan.changes.alarms.values()] == [False, False]


def test_test_press_raises_test_alarm() -> None:
    """A press of type test from a normal button raises a test alarm."""
    plan = run(new_state(), press("b1", "e1", "test"))
    assert plan.changes.alarms["post-1"].test is True
    assert plan.counts[(Count.PRESS, "test")] == 1


def test_real_press_while_test_alarm_open_raises_separate_real_alarm() -> None:
    """A real press at a site with an open test alarm raises a separate real alarm."""
    state = new_state()
    run(state, press("t1", "e1"))
    plan = run(state, press("b1", "e1"), press("b2", "e1"))

    test_alarm = state.alarms["post-1"]
    real_alarm = state.alarms["post-2"]
    assert (test_alarm.test, test_alarm.press_count) == (True, 1)
    assert (real_alarm.test, real_alarm.buttons) == (False, ("b1", "b2"))
    assert actions(plan) == ["alarm.raised", "alarm.joined"]
    assert state.alarm_of_site("bank", True) == "post-1"
    assert state.alarm_of_site("bank", False) == "post-2"


def test_test_press_does_not_absorb_into_real_alarm() -> None:
    """A test press of a button with an open real alarm raises a test alarm, not a repeat."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = run(state, press("b1", "e2", "test"))
    assert open_alarm(state).press_count == 1
    assert plan.changes.alarms["post-2"].test is True


# -- cancel and tamper ----------------------------------------------------------------------------


def test_cancel_with_open_alarm_is_recorded_and_does_not_close_it() -> None:
    """A cancel is put on the alarm's record; the alarm stays active and the button is acked."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = run(state, press("b1", "c1", "cancel"))

    assert actions(plan) == ["button.cancel_requested"]
    entry = audit(plan)[0]
    assert (entry["alarm_id"], entry["button"], entry["detail"]) == (
        "post-1",
        "b1",
        {"event": "c1"},
    )
    assert plan.changes.alarms == {}
    assert open_alarm(state).state is AlarmState.ACTIVE
    assert open_alarm(state).press_count == 1
    assert press_rows(plan)[0]["alarm_id"] == "post-1"
    assert events_of(plan, ButtonAck) == [ButtonAck("b1", "c1", "post-1", "received")]
    assert plan.counts == {(Count.EVENT, "cancel"): 1}  # a cancel is no press


def test_cancel_without_alarm_is_recorded_only() -> None:
    """A cancel with nothing open raises no alarm and gets no ack, but is recorded."""
    plan = run(new_state(), press("b1", "c1", "cancel"))
    assert actions(plan) == ["button.cancel_requested"]
    assert audit(plan)[0]["alarm_id"] is None
    assert plan.changes.alarms == {}
    assert press_rows(plan)[0]["alarm_id"] is None
    assert events_of(plan, ButtonAck) == []


def test_tamper_opens_one_tamper_trouble() -> None:
    """A tamper is audited and opens a 'tamper' trouble for the button, with its site."""
    plan = run(new_state(), press("b1", "x1", "tamper"))
    assert actions(plan) == ["button.tamper", "trouble.raised"]
    (trouble,) = plan.changes.troubles.values()
    assert (trouble.kind, trouble.subject, trouble.site_id) == ("tamper", "b1", "bank")
    assert trouble.state is TroubleState.OPEN
    assert trouble.detail == "event x1"
    assert events_of(plan, TroubleChanged) == [TroubleChanged(trouble)]
    assert plan.changes.alarms == {}
    assert events_of(plan, ButtonAck) == []
    trouble_entry = audit(plan)[1]
    assert trouble_entry["trouble_id"] == trouble.id
    assert trouble_entry["button"] == "b1"


def test_second_tamper_does_not_open_a_second_trouble() -> None:
    """A second tamper (same batch or a later one) is audited but opens no new trouble."""
    state = new_state()
    first = run(state, press("b1", "x1", "tamper"), press("b1", "x2", "tamper"))
    assert actions(first) == ["button.tamper", "trouble.raised", "button.tamper"]
    second = run(state, press("b1", "x3", "tamper"))
    assert actions(second) == ["button.tamper"]
    assert second.changes.troubles == {}
    assert state.next_trouble_id == 2


def test_tamper_with_open_alarm_is_recorded_on_it_without_change() -> None:
    """A tamper of a button with an open alarm goes on its record; the alarm is unchanged."""
    state = new_state()
    run(state, press("b1", "e1"))
    plan = run(state, press("b1", "x1", "tamper"))
    assert audit(plan)[0]["alarm_id"] == "post-1"
    assert plan.changes.alarms == {}
    assert open_alarm(state).press_count == 1


# -- rejected messages and bad_messages troubles --------------------------------------------------


def test_rejected_message_is_logged_counted_and_opens_trouble() -> None:
    """A rejected message from a button is kept, counted, and opens a 'bad_messages' trouble."""
    state = new_state()
    plan = run(state, rejected("b1"))
    assert plan.changes.rejected == [
        (
            NOW_ISO,
            "chuong/v1/dev/b1/event",
            b"{oops",
            5,
            "invalid_json",
            "Expecting property name",
            "b1",
        )
    ]
    assert plan.counts == {(Count.REJECTED, "invalid_json"): 1}
    (trouble,) = plan.changes.troubles.values()
    assert (trouble.kind, trouble.subject, trouble.site_id) == ("bad_messages", "b1", "bank")
    assert trouble.detail == "invalid_json: Expecting property name"
    assert actions(plan) == ["trouble.raised"]
    assert ("bad_messages", "b1") in state.troubles


def test_rejected_message_without_button_opens_no_trouble() -> None:
    """A rejected message whose topic names no valid button is logged but opens no trouble."""
    plan = run(new_state(), rejected(None, "invalid_button_id"))
    assert len(plan.changes.rejected) == 1
    assert plan.changes.troubles == {}
    assert plan.counts == {(Count.REJECTED, "invalid_button_id"): 1}


def test_repeated_rejections_open_one_trouble() -> None:
    """Many bad messages from one button open a single bad_messages trouble."""
    plan = run(new_state(), rejected("b1"), rejected("b1", "unknown_type"), rejected("b1"))
    assert len(plan.changes.rejected) == 3
    assert len(plan.changes.troubles) == 1
    assert plan.counts == {(Count.REJECTED, "invalid_json"): 2, (Count.REJECTED, "unknown_type"): 1}


def test_valid_press_clears_bad_messages_trouble() -> None:
    """A later valid press from the button clears its bad_messages trouble (and still raises)."""
    state = new_state()
    run(state, rejected("b1"))
    plan = run(state, press("b1", "e1", at=NOW + timedelta(seconds=5)))

    (cleared,) = plan.changes.troubles.values()
    assert cleared.kind == "bad_messages"
    assert cleared.state is TroubleState.CLEARED
    assert cleared.cleared_at == NOW + timedelta(seconds=5)
    assert actions(plan) == ["trouble.cleared", "alarm.raised"]
    assert TroubleChanged(cleared) in plan.events
    assert ("bad_messages", "b1") not in state.troubles


def test_press_from_another_button_does_not_clear_trouble() -> None:
    """A valid press from another button leaves the first button's trouble open."""
    state = new_state()
    run(state, rejected("b1"))
    plan = run(state, press("b2", "e1"))
    assert plan.changes.troubles == {}
    assert ("bad_messages", "b1") in state.troubles


# -- hooks ----------------------------------------------------------------------------------------


def test_alarm_hook_sees_every_change_with_old_and_new() -> None:
    """Each alarm change calls the hook with (plan, old, new, change); rows it adds commit too."""
    calls: list[tuple[Alarm | None, Alarm, str]] = []

    def hook(plan: Plan, old: Alarm | None, new: Alarm, change: str) -> None:
        calls.append((old, new, change))
        plan.write(StopEscalation(new.id, plan.now))

    plan = new_plan(new_state(), hooks=[hook])
    plan.inbound(press("b1", "e1"))
    plan.inbound(press("b1", "e2"))
    plan.inbound(press("b2", "x1"))

    raised_alarm = calls[0][1]
    assert calls[0] == (None, raised_alarm, "raised")
    assert calls[1][0] == raised_alarm
    assert (calls[1][1].press_count, calls[1][2]) == (2, "press")
    assert calls[2][0] == calls[1][1]
    assert (calls[2][1].buttons, calls[2][2]) == (("b1", "b2"), "joined")
    assert len(calls) == 3
    assert plan.changes.ops == [StopEscalation(c[1].id, NOW) for c in calls]


def test_alarm_hook_not_called_for_duplicates_or_records() -> None:
    """Duplicates, cancels and tampers change no alarm, so the hook is not called."""
    calls: list[str] = []
    plan = new_plan(
        new_state(),
        earlier={("b1", "old"): "post-9"},
        hooks=[lambda _plan, _old, _new, change: calls.append(change)],
    )
    plan.inbound(press("b1", "old"))
    plan.inbound(press("b1", "c1", "cancel"))
    plan.inbound(press("b1", "x1", "tamper"))
    assert calls == []


# -- heartbeats and status ------------------------------------------------------------------------


def heartbeat(battery: int | None = None, at: datetime = NOW, **fields: Any) -> HeartbeatIn:
    return HeartbeatIn("b1", Heartbeat(battery=battery, **fields), at, None)


def test_heartbeat_device_changed_only_when_something_visible_changes() -> None:
    """First contact and a new battery emit DeviceChanged; the same battery does not."""
    state = new_state()
    first = run(state, heartbeat(80, fw="1.0"))
    assert len(events_of(first, DeviceChanged)) == 1
    assert state.devices["b1"].first_seen == NOW

    later = NOW + timedelta(minutes=5)
    same = run(state, heartbeat(80, at=later))
    assert events_of(same, DeviceChanged) == []
    assert same.changes.devices["b1"].last_seen == later
    assert same.changes.devices["b1"].fw == "1.0"

    changed = run(state, heartbeat(79, at=later + timedelta(minutes=5)))
    (event,) = events_of(changed, DeviceChanged)
    assert event.device.battery == 79
    assert event.device.first_seen == NOW


def test_heartbeat_without_battery_keeps_the_last_reading() -> None:
    """A heartbeat with no battery does not erase the known battery level."""
    state = new_state()
    run(state, heartbeat(80))
    plan = run(state, heartbeat(None, rssi=-60, at=NOW + timedelta(minutes=1)))
    assert state.devices["b1"].battery == 80
    assert state.devices["b1"].rssi == -60
    assert len(events_of(plan, DeviceChanged)) == 1


def test_heartbeat_received_out_of_order_does_not_move_last_seen_back() -> None:
    """A message stamped earlier than the last one keeps last_seen at the latest time."""
    state = new_state()
    run(state, heartbeat(80, at=NOW + timedelta(minutes=1)))
    run(state, heartbeat(80, at=NOW))
    assert state.devices["b1"].last_seen == NOW + timedelta(minutes=1)


def test_press_updates_device_last_event_and_battery() -> None:
    """A press is contact too: the device records its battery and last event id."""
    state = new_state()
    run(state, press("b1", "e1", battery=64))
    assert state.devices["b1"].battery == 64
    assert state.devices["b1"].last_event == "e1"


def test_status_changes_are_audited_once() -> None:
    """online is audited on first report and on change; a repeated status is not."""
    state = new_state()
    first = run(state, StatusIn("b1", True, NOW, None))
    assert actions(first) == ["button.online"]
    assert len(events_of(first, DeviceChanged)) == 1
    assert state.devices["b1"].online is True

    again = run(state, StatusIn("b1", True, NOW + timedelta(seconds=1), None))
    assert actions(again) == []
    assert events_of(again, DeviceChanged) == []

    gone = run(state, StatusIn("b1", False, NOW + timedelta(seconds=2), None))
    assert actions(gone) == ["button.offline"]
    assert audit(gone)[0]["actor"] == "button:b1"
    assert events_of(gone, DeviceChanged)[0].device.online is False


def test_plan_with_nothing_has_no_changes() -> None:
    """A plan given no items has empty changes, events and counts."""
    plan = new_plan(new_state())
    assert not plan.changes
    assert plan.events == []
    assert plan.counts == {}
