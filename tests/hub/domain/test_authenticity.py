"""Signed presses inside a batch plan: authentic ones raise alarms, forged and replayed ones are
refused on record with a `possible_forgery` trouble, and a redelivery stays a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devices.messages import EventType, PressEvent
from devices.signing import key_id, sign
from hub.domain.authenticity import BACKLOG_GRACE
from hub.domain.bus import ButtonAck
from hub.domain.inbound import PressIn
from hub.domain.model import Button, Site
from hub.domain.state import HubState, Registry
from hub.writer.plan import Count, Plan

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
KEY = "a1" * 32
OTHER_KEY = "b2" * 32


def state(key: str | None = KEY) -> HubState:
    registry = Registry(
        sites={"bank": Site("bank", "Ngân hàng")},
        buttons={"b1": Button("b1", "bank", sign_key=key), "plain": Button("plain", "bank")},
    )
    hub = HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry)
    hub.listening_since = NOW - timedelta(hours=1)  # long connected: no backlog any more
    return hub


def signed(
    event_id: str,
    seq: int,
    *,
    key: str = KEY,
    at: datetime = NOW,
    ts: datetime | None = None,
    **override: Any,
) -> PressIn:
    epoch = int((ts or at).timestamp())
    values: dict[str, Any] = {
        "id": event_id,
        "type": EventType.PRESS,
        "seq": seq,
        "ts": datetime.fromtimestamp(epoch, UTC),
        "ts_epoch": epoch,
        "sig": sign(key, "b1", event_id, "press", seq, epoch),
    }
    values.update(override)
    return PressIn(
        "b1", PressEvent(**values), at, None, topic="chuong/v1/dev/b1/event", payload=b"{...}"
    )


def run(
    hub: HubState, *items: PressIn, earlier: dict[tuple[str, str], str | None] | None = None
) -> Plan:
    plan = Plan(hub_id="post", state=hub, now=NOW, earlier=earlier or {})
    for item in items:
        plan.inbound(item)
    hub.absorb(plan.draft)
    return plan


def refusals(plan: Plan) -> list[str]:
    return [row[4] for row in plan.changes.rejected]


def test_an_authentic_press_raises_its_alarm_and_remembers_its_counter() -> None:
    """A correctly signed press with a fresh counter raises the alarm; the counter is kept with
    the id of the key it was signed under."""
    hub = state()
    plan = run(hub, signed("e1", 5))
    assert [a.buttons for a in plan.changes.alarms.values()] == [("b1",)]
    assert refusals(plan) == []
    device = hub.devices["b1"]
    assert (device.last_seq, device.last_seq_key) == (5, key_id(KEY))


def test_forged_unsigned_and_replayed_presses_are_refused_with_a_trouble() -> None:
    """A wrong key, no signature, and a counter that does not increase are each refused: no
    alarm, no ack to the button, the rejected log says why, and one `possible_forgery` trouble
    opens for the button with its site."""
    hub = state()
    run(hub, signed("e1", 5))
    hub.alarms.clear()
    hub.by_button.clear()
    hub.by_site.clear()
    forged = signed("e2", 6, key=OTHER_KEY)
    unsigned = signed("e3", 7, sig=None)
    replayed = signed("e4", 5)
    plan = run(hub, forged, unsigned, replayed)
    assert refusals(plan) == ["bad_signature", "unsigned", "replayed"]
    assert plan.changes.alarms == {}
    assert not any(isinstance(e, ButtonAck) for e in plan.events)
    troubles = [(t.kind, t.subject, t.site_id) for t in plan.changes.troubles.values()]
    assert troubles == [("possible_forgery", "b1", "bank")]
    assert hub.devices["b1"].last_seq == 5, "a refused press must not move the counter"


def test_a_redelivered_signed_press_is_a_duplicate_not_a_replay() -> None:
    """The broker redelivers an accepted signed press (same id): it is re-acknowledged as a
    duplicate, not refused as a replay."""
    hub = state()
    first = run(hub, signed("e1", 5))
    alarm_id = next(iter(first.changes.alarms))
    again = run(hub, signed("e1", 5), earlier={("b1", "e1"): alarm_id})
    assert refusals(again) == []
    assert again.counts[(Count.DUPLICATE, "")] == 1
    assert [e.alarm_id for e in again.events if isinstance(e, ButtonAck)] == [alarm_id]


def test_an_old_time_is_stale_unless_the_hub_has_just_reconnected() -> None:
    """A press sent ten minutes before it arrives is stale while the hub has been listening for
    long; right after the hub (re)connects it may have waited in the broker, and it is accepted."""
    late = signed("e1", 5, ts=NOW - timedelta(minutes=10))
    hub = state()
    assert refusals(run(hub, late)) == ["stale"]
    hub = state()
    hub.listening_since = NOW - BACKLOG_GRACE / 2
    plan = run(hub, late)
    assert refusals(plan) == []
    assert len(plan.changes.alarms) == 1


def test_a_new_key_starts_the_counter_over() -> None:
    """After the button is given a new key (a reflashed button counts from 1 again), counter 1
    is accepted although the old key's counter stood at 900."""
    hub = state()
    run(hub, signed("e1", 900))
    hub.registry.buttons["b1"] = Button("b1", "bank", sign_key=OTHER_KEY)
    plan = run(hub, signed("e2", 1, key=OTHER_KEY))
    assert refusals(plan) == []
    assert hub.devices["b1"].last_seq == 1


def test_a_button_without_a_key_is_not_asked_to_sign() -> None:
    """Unsigned presses of a button that has no key raise alarms as always."""
    hub = state()
    event = PressEvent(id="x", type=EventType.PRESS)
    plan = run(hub, PressIn("plain", event, NOW, None))
    assert refusals(plan) == []
    assert len(plan.changes.alarms) == 1
