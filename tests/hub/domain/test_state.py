"""Unit tests of hub/domain/state.py: the writer's in-memory state and the draft of one batch."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hub.domain import alarms
from hub.domain.model import Alarm, Button, DeviceState, Outcome, Site, Trouble, TroubleState
from hub.domain.state import Draft, HubState, Registry

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BANK = Site("bank", "Ngân hàng")
CLINIC = Site("clinic", "Phòng khám", test_mode=True)


def alarm(seq: int, button: str, site: Site | None = BANK, *, test: bool = False) -> Alarm:
    return alarms.raise_alarm(
        hub_id="post",
        seq=seq,
        button=button,
        event_id=f"e{seq}",
        site=site,
        registered=True,
        test=test,
        now=NOW,
    )


def resolved(open_alarm: Alarm) -> Alarm:
    return alarms.resolve(open_alarm, "admin", NOW, Outcome.GENUINE, "", may_skip_ack=True)


def trouble(trouble_id: int, kind: str, subject: str) -> Trouble:
    return Trouble(
        id=trouble_id,
        kind=kind,
        subject=subject,
        site_id=None,
        state=TroubleState.OPEN,
        raised_at=NOW,
        cleared_at=None,
        detail="",
    )


def device(button: str, battery: int | None = None) -> DeviceState:
    return DeviceState(button_id=button, first_seen=NOW, last_seen=NOW, battery=battery)


def snapshot(state: HubState) -> dict[str, object]:
    return copy.deepcopy(
        {
            "alarms": state.alarms,
            "by_button": state.by_button,
            "by_site": state.by_site,
            "troubles": state.troubles,
            "devices": state.devices,
            "seq": state.next_alarm_seq,
            "trouble_id": state.next_trouble_id,
        }
    )


# -- Registry -------------------------------------------------------------------------------------


def test_registry_site_of() -> None:
    """site_of gives the button's site; None for an unknown button, no site, or a missing site."""
    registry = Registry(
        sites={"bank": BANK},
        buttons={
            "b1": Button("b1", "bank"),
            "loose": Button("loose", None),
            "orphan": Button("orphan", "gone"),
        },
    )
    assert registry.site_of("b1") is BANK
    assert registry.site_of("loose") is None
    assert registry.site_of("orphan") is None
    assert registry.site_of("nobody") is None


# -- HubState -------------------------------------------------------------------------------------


def test_hub_state_indexes_open_alarms_by_button_and_site() -> None:
    """Open alarms given at start-up are found by each of their buttons and by their site."""
    joined = alarms.add_press(alarm(1, "b1"), "b2", "x", NOW)
    test_alarm = alarm(2, "c1", CLINIC, test=True)
    state = HubState(next_alarm_seq=3, next_trouble_id=1, open_alarms=[joined, test_alarm])
    assert state.alarm_of_button("b1", False) == "post-1"
    assert state.alarm_of_button("b2", False) == "post-1"
    assert state.alarm_of_site("bank", False) == "post-1"
    assert state.alarm_of_button("c1", True) == "post-2"
    assert state.alarm_of_site("clinic", True) == "post-2"


def test_hub_state_keys_test_and_real_apart() -> None:
    """A test alarm is not found when looking for a real one of the same button or site."""
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[alarm(1, "b1", test=True)])
    assert state.alarm_of_button("b1", False) is None
    assert state.alarm_of_site("bank", False) is None
    assert state.alarm_of_button("b1", True) == "post-1"


def test_hub_state_keys_troubles_and_devices() -> None:
    """Troubles are keyed by (kind, subject) and devices by button id."""
    state = HubState(
        next_alarm_seq=1,
        next_trouble_id=5,
        troubles=[trouble(4, "offline", "b1")],
        devices=[device("b1", 80)],
    )
    assert state.troubles[("offline", "b1")].id == 4
    assert state.devices["b1"].battery == 80
    assert state.registry == Registry()


# -- Draft reads ----------------------------------------------------------------------------------


def test_draft_reads_fall_through_to_state() -> None:
    """With nothing planned, every read of a draft answers what the state holds."""
    registry = Registry(sites={"bank": BANK}, buttons={"b1": Button("b1", "bank")})
    state = HubState(
        next_alarm_seq=8,
        next_trouble_id=3,
        open_alarms=[alarm(7, "b1")],
        registry=registry,
        troubles=[trouble(2, "tamper", "b1")],
        devices=[device("b1", 90)],
    )
    draft = Draft(state)
    assert draft.registry is registry
    assert draft.alarm("post-7") == state.alarms["post-7"]
    assert draft.alarm("post-99") is None
    assert draft.alarm_of_button("b1", False) == "post-7"
    assert draft.alarm_of_site("bank", False) == "post-7"
    assert draft.trouble("tamper", "b1") == state.troubles[("tamper", "b1")]
    assert draft.trouble("offline", "b1") is None
    assert draft.device("b1") == state.devices["b1"]
    assert draft.device("b2") is None
    assert (draft.next_alarm_seq, draft.next_trouble_id) == (8, 3)


def test_draft_writes_shadow_state() -> None:
    """What a draft puts is what it reads back, ahead of the state."""
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[alarm(1, "b1")])
    draft = Draft(state)
    repeated = alarms.add_press(state.alarms["post-1"], "b1", "e2", NOW)
    draft.put_alarm(repeated)
    draft.put_device(device("b1", 10))
    draft.put_trouble(trouble(1, "tamper", "b1"))
    assert draft.alarm("post-1") == repeated
    assert draft.device("b1") == device("b1", 10)
    assert draft.trouble("tamper", "b1") == trouble(1, "tamper", "b1")


def test_draft_new_alarm_is_indexed_in_draft_only() -> None:
    """A newly put open alarm is found through the draft, and not through the state."""
    state = HubState(next_alarm_seq=1, next_trouble_id=1)
    draft = Draft(state)
    draft.put_alarm(alarm(1, "b1"))
    assert draft.alarm_of_button("b1", False) == "post-1"
    assert draft.alarm_of_site("bank", False) == "post-1"
    assert state.alarm_of_button("b1", False) is None
    assert state.alarms == {}


def test_draft_put_resolved_alarm_clears_its_index_entries() -> None:
    """Putting a resolved alarm removes its button and site entries from the draft's view."""
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[alarm(1, "b1")])
    draft = Draft(state)
    draft.put_alarm(resolved(state.alarms["post-1"]))
    assert draft.alarm_of_button("b1", False) is None
    assert draft.alarm_of_site("bank", False) is None
    assert draft.alarm("post-1") is not None
    assert state.alarm_of_button("b1", False) == "post-1"


def test_draft_put_resolved_alarm_spares_entries_of_other_alarms() -> None:
    """A resolved alarm whose button or site is indexed to another alarm leaves those entries."""
    current = alarm(5, "b1")
    state = HubState(next_alarm_seq=6, next_trouble_id=1, open_alarms=[current])
    draft = Draft(state)
    stale = resolved(alarm(2, "b1"))  # an older alarm of the same button and site
    draft.put_alarm(stale)
    assert draft.alarm_of_button("b1", False) == "post-5"
    assert draft.alarm_of_site("bank", False) == "post-5"


def test_draft_put_resolved_then_new_alarm_of_same_button() -> None:
    """After resolving a button's alarm, a new alarm of that button takes over its entries."""
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[alarm(1, "b1")])
    draft = Draft(state)
    draft.put_alarm(resolved(state.alarms["post-1"]))
    draft.put_alarm(alarm(2, "b1"))
    assert draft.alarm_of_button("b1", False) == "post-2"
    assert draft.alarm_of_site("bank", False) == "post-2"


def test_draft_cleared_trouble_reads_as_none() -> None:
    """A trouble cleared in the draft reads as absent, though the state still has it open."""
    state = HubState(next_alarm_seq=1, next_trouble_id=2, troubles=[trouble(1, "tamper", "b1")])
    draft = Draft(state)
    cleared = replace(trouble(1, "tamper", "b1"), state=TroubleState.CLEARED, cleared_at=NOW)
    draft.put_trouble(cleared)
    assert draft.trouble("tamper", "b1") is None
    assert draft.troubles[("tamper", "b1")] is None
    assert ("tamper", "b1") in state.troubles


def test_draft_take_ids_counts_up_without_touching_state() -> None:
    """take_alarm_seq and take_trouble_id hand out consecutive numbers from the draft only."""
    state = HubState(next_alarm_seq=10, next_trouble_id=20)
    draft = Draft(state)
    assert [draft.take_alarm_seq() for _ in range(3)] == [10, 11, 12]
    assert [draft.take_trouble_id() for _ in range(2)] == [20, 21]
    assert (state.next_alarm_seq, state.next_trouble_id) == (10, 20)
    assert (draft.next_alarm_seq, draft.next_trouble_id) == (13, 22)


# -- absorb and discard ---------------------------------------------------------------------------


def test_absorb_folds_in_every_change() -> None:
    """After absorb, the state holds the draft's alarms, indexes, troubles, devices and counters."""
    state = HubState(
        next_alarm_seq=2,
        next_trouble_id=2,
        open_alarms=[alarm(1, "b1")],
        troubles=[trouble(1, "tamper", "b1")],
        devices=[device("b1", 90)],
    )
    draft = Draft(state)
    joined = alarms.add_press(state.alarms["post-1"], "b2", "x", NOW)
    draft.put_alarm(joined)
    new = alarm(draft.take_alarm_seq(), "c1", CLINIC)
    draft.put_alarm(new)
    draft.put_trouble(replace(trouble(1, "tamper", "b1"), state=TroubleState.CLEARED))
    draft.put_trouble(trouble(draft.take_trouble_id(), "offline", "c1"))
    draft.put_device(device("b1", 50))
    draft.put_device(device("c1", 70))

    state.absorb(draft)

    assert state.alarms == {"post-1": joined, "post-2": new}
    assert state.alarm_of_button("b2", False) == "post-1"
    assert state.alarm_of_button("c1", False) == "post-2"
    assert state.alarm_of_site("clinic", False) == "post-2"
    assert set(state.troubles) == {("offline", "c1")}
    assert state.devices == {"b1": device("b1", 50), "c1": device("c1", 70)}
    assert (state.next_alarm_seq, state.next_trouble_id) == (3, 3)


def test_absorb_resolved_alarm_leaves_state() -> None:
    """A resolved alarm is dropped from the state's open alarms and from its indexes."""
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[alarm(1, "b1")])
    draft = Draft(state)
    draft.put_alarm(resolved(state.alarms["post-1"]))
    state.absorb(draft)
    assert state.alarms == {}
    assert state.by_button == {}
    assert state.by_site == {}


def test_absorb_resolved_alarm_removes_only_entries_pointing_at_it() -> None:
    """Absorbing a resolved alarm keeps index entries that point at another open alarm."""
    first = alarm(1, "b1")
    second = alarm(2, "b2")  # same site; indexed last, so the site points at it
    state = HubState(next_alarm_seq=3, next_trouble_id=1, open_alarms=[first, second])
    assert state.alarm_of_site("bank", False) == "post-2"
    draft = Draft(state)
    draft.put_alarm(resolved(first))
    state.absorb(draft)
    assert state.alarm_of_button("b1", False) is None
    assert state.alarm_of_button("b2", False) == "post-2"
    assert state.alarm_of_site("bank", False) == "post-2"
    assert set(state.alarms) == {"post-2"}


def test_absorb_resolve_and_raise_for_same_button() -> None:
    """A batch that resolves a button's alarm and then raises a new one leaves the new one open."""
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[alarm(1, "b1")])
    draft = Draft(state)
    draft.put_alarm(resolved(state.alarms["post-1"]))
    draft.put_alarm(alarm(draft.take_alarm_seq(), "b1"))
    state.absorb(draft)
    assert state.alarm_of_button("b1", False) == "post-2"
    assert state.alarm_of_site("bank", False) == "post-2"
    assert set(state.alarms) == {"post-2"}


def test_discarded_draft_leaves_state_unchanged() -> None:
    """A draft that is thrown away (the commit failed) changes nothing in the state."""
    state = HubState(
        next_alarm_seq=2,
        next_trouble_id=2,
        open_alarms=[alarm(1, "b1")],
        troubles=[trouble(1, "tamper", "b1")],
        devices=[device("b1", 90)],
    )
    before = snapshot(state)
    draft = Draft(state)
    draft.put_alarm(resolved(state.alarms["post-1"]))
    draft.put_alarm(alarm(draft.take_alarm_seq(), "b9", CLINIC))
    draft.put_trouble(replace(trouble(1, "tamper", "b1"), state=TroubleState.CLEARED))
    draft.put_trouble(trouble(draft.take_trouble_id(), "offline", "b9"))
    draft.put_device(device("b1", 5))
    draft.put_device(replace(device("b9"), last_seen=NOW + timedelta(seconds=1)))
    del draft
    assert snapshot(state) == before
