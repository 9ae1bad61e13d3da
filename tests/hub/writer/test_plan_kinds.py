"""Alarm kinds in planning: a press raises the kind of its button or of its press pattern, and
correlates only with open alarms of that kind."""

from __future__ import annotations

from datetime import UTC, datetime

from devices.messages import EventType, PressEvent
from hub.domain.inbound import PressIn
from hub.domain.model import AlarmKind, Button, Site
from hub.domain.state import HubState, Registry
from hub.writer.plan import Plan

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PHARMACY = Site("pharmacy", "Nhà thuốc Minh Châu")
FIRE, MEDICAL = AlarmKind.FIRE, AlarmKind.MEDICAL


def state() -> HubState:
    registry = Registry(
        sites={"pharmacy": PHARMACY},
        buttons={
            "counter": Button("counter", "pharmacy", press_patterns=(("long_press", FIRE),)),
            "back": Button("back", "pharmacy"),
            "clinic": Button("clinic", "pharmacy", kind=MEDICAL),
            "sos": Button("sos", "pharmacy", profile="zigbee2mqtt", native_id="sos"),
        },
    )
    return HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry)


def press(
    button: str, event_id: str, kind: str = "press", source: str = "canonical", **more: str
) -> PressIn:
    event = PressEvent(id=event_id, type=EventType(kind))
    return PressIn(button, event, NOW, None, source=source, action=more.get("action"))


def run(hub: HubState, *items: PressIn) -> Plan:
    plan = Plan(
        hub_id="post",
        state=hub,
        now=NOW,
        earlier={},
        press_patterns={
            "zigbee2mqtt": {"emergency": MEDICAL},
            "canonical": {"double_press": FIRE, "long_press": MEDICAL},
        },
    )
    for item in items:
        plan.inbound(item)
    hub.absorb(plan.draft)
    return plan


def kinds(hub: HubState) -> dict[str, tuple[AlarmKind, tuple[str, ...], int]]:
    return {a.id: (a.kind, a.buttons, a.press_count) for a in hub.alarms.values()}


def test_a_fire_press_at_a_site_with_an_open_holdup_raises_its_own_alarm() -> None:
    """The long press of `counter` is fire (its own pattern): not absorbed by the site's hold-up;
    a later fire press of another button (`back`'s double press, the profile's pattern) joins the
    fire alarm, and a plain press of `counter` the hold-up."""
    hub = state()
    run(hub, press("back", "e1"), press("counter", "e2", "long_press"))
    assert kinds(hub) == {
        "post-1": (AlarmKind.HOLDUP, ("back",), 1),
        "post-2": (FIRE, ("counter",), 1),
    }
    run(hub, press("back", "e3", "double_press"), press("counter", "e4"))
    assert kinds(hub) == {
        "post-1": (AlarmKind.HOLDUP, ("back", "counter"), 2),
        "post-2": (FIRE, ("counter", "back"), 2),
    }


def test_a_button_of_another_kind_and_a_profile_pattern() -> None:
    """`clinic` is a medical button; the Zigbee profile's `emergency` is medical too, so both
    make one medical alarm; a test press of `clinic` is a medical test."""
    hub = state()
    plan = run(
        hub,
        press("clinic", "e1"),
        press("sos", "e2", source="zigbee2mqtt", action="emergency"),
        press("clinic", "e3", "test"),
    )
    assert kinds(hub) == {
        "post-1": (MEDICAL, ("clinic", "sos"), 2),
        "post-2": (MEDICAL, ("clinic",), 1),
    }
    assert hub.alarms["post-2"].test
    raised = [row for row in plan.changes.audit if row[2] == "alarm.raised"]
    assert all('"kind":"medical"' in (row[-1] or "").replace(" ", "") for row in raised)


def test_the_button_s_own_pattern_comes_before_the_profile_s() -> None:
    """The canonical profile's long press is medical, but `counter`'s own long press is fire; a
    plain press stays a hold-up."""
    hub = state()
    run(
        hub,
        press("back", "e1", "long_press"),
        press("counter", "e2", "long_press"),
        press("back", "e3"),
    )
    assert kinds(hub) == {
        "post-1": (MEDICAL, ("back",), 1),
        "post-2": (FIRE, ("counter",), 1),
        "post-3": (AlarmKind.HOLDUP, ("back",), 1),
    }


def test_a_cancel_is_recorded_on_the_button_s_open_alarm_of_another_kind() -> None:
    """`counter`'s long press raised a fire alarm; its cancel (which has no pattern) is put on
    that alarm's record, though the button's own kind is a hold-up."""
    hub = state()
    run(hub, press("counter", "e1", "long_press"))
    plan = run(hub, press("counter", "e2", "cancel"))
    [row] = [row for row in plan.changes.audit if row[2] == "button.cancel_requested"]
    assert row[3] == "post-1"
    assert hub.alarms["post-1"].kind is FIRE
