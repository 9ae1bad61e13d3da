"""Unit tests of hub/registry/commands.py: registry commands planned against an in-memory state,
and the TOML export read back by the importer."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest

from hub.domain.model import Button, Site
from hub.domain.state import HubState, Registry
from hub.errors import RegistryConflict, RegistryError, RegistryNotFound
from hub.registry.commands import (
    AddButton,
    AddSite,
    RemoveButton,
    RemoveSite,
    SetTestMode,
    registry_file,
    to_toml,
)
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry
from hub.store.ops import InsertButton
from hub.writer.plan import Command, Plan

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def new_state() -> HubState:
    registry = Registry(
        sites={"bank": Site("bank", "Ngân hàng")},
        buttons={"b1": Button("b1", "bank", profile="tasmota", native_id="t1")},
    )
    return HubState(next_alarm_seq=1, next_trouble_id=1, registry=registry)


def run(state: HubState, command: Command) -> Plan:
    plan = Plan(hub_id="post", state=state, now=NOW, earlier={})
    command.plan(plan)
    state.absorb(plan.draft)
    return plan


def test_adding_a_button_changes_the_registry_only_once_committed_with_its_audit() -> None:
    state = new_state()
    plan = Plan(hub_id="post", state=state, now=NOW, earlier={})
    AddButton(ButtonEntry(id="b2", site="bank", power="battery", checkin_s=600), "token:a").plan(
        plan
    )
    assert "b2" not in state.registry.buttons
    state.absorb(plan.draft)
    assert state.registry.buttons["b2"] == Button("b2", "bank", power="battery", checkin_s=600)
    assert plan.changes.ops == [InsertButton(state.registry.buttons["b2"], NOW)]
    [(sql, rows)] = plan.changes.statements(rejected_keep=100)[-1:]
    assert sql.startswith("INSERT INTO buttons")
    assert rows[0][:8] == ("b2", "bank", "", None, None, 0, "battery", 600)
    assert plan.changes.audit[0][1:3] == ("token:a", "registry.button_added")


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (AddButton(ButtonEntry(id="b1"), "a"), RegistryConflict),
        (AddButton(ButtonEntry(id="b9", profile="tasmota", native_id="t1"), "a"), RegistryConflict),
        (AddButton(ButtonEntry(id="b9", site="nowhere"), "a"), RegistryError),
        (RemoveButton("b9", "a"), RegistryNotFound),
        (AddSite(SiteEntry(id="bank", name="x"), "a"), RegistryConflict),
        (RemoveSite("bank", "a"), RegistryConflict),
        (RemoveSite("nowhere", "a"), RegistryNotFound),
        (SetTestMode("button", "b9", True, "a"), RegistryNotFound),
        (SetTestMode("site", "nowhere", True, "a"), RegistryNotFound),
    ],
)
def test_refusals_change_nothing(command: Command, error: type[Exception]) -> None:
    state = new_state()
    plan = Plan(hub_id="post", state=state, now=NOW, earlier={})
    with pytest.raises(error):
        command.plan(plan)
    assert not plan.changes
    assert plan.draft.new_registry is None


def test_a_site_in_test_mode_and_removals() -> None:
    state = new_state()
    run(state, SetTestMode("site", "bank", True, "a"))
    assert state.registry.sites["bank"].test_mode is True
    run(state, RemoveButton("b1", "a"))
    run(state, RemoveSite("bank", "a"))
    assert state.registry.sites == {}
    assert state.registry.buttons == {}


def test_the_toml_export_reads_back_the_same() -> None:
    """Quotes, backslashes, newlines, DEL and Vietnamese survive; defaults are left out."""
    registry = RegistryFile(
        sites=[
            SiteEntry(
                id="bank",
                name='Ngân hàng "Phước Hòa"\\ quầy\n2\x7f',
                lat=10.5412,
                lon=-0.00001,
                test_mode=True,
            )
        ],
        buttons=[
            ButtonEntry(id="b1", site="bank", label="Quầy 1"),
            ButtonEntry(
                id="b2", site="bank", profile="zigbee2mqtt", native_id="SOS quầy 2", power="battery"
            ),
            ButtonEntry(id="b3", power="battery", checkin_s=3600),
            ButtonEntry.model_validate(
                {
                    "id": "b4",
                    "kind": "medical",
                    "press_patterns": {"long_press": "fire", "input:0.long_push": "assistance"},
                }
            ),
        ],
    )
    text = to_toml(registry)
    assert "test_mode = false" not in text
    assert 'kind = "holdup"' not in text
    assert "press_patterns = {}" not in text
    assert 'press_patterns = { "long_press" = "fire", "input:0.long_push" = "assistance" }' in text
    assert RegistryFile.model_validate(tomllib.loads(text)) == registry


def test_the_export_leaves_out_a_test_mode_that_ends_by_itself() -> None:
    """A test mode with an end is not written (the file has no place for the end, and imported
    again after it, `test_mode = true` would keep the site in test mode for good, its real
    presses taken for tests); one with no end is."""
    until = datetime(2026, 12, 6, 10, tzinfo=UTC)
    exported = registry_file(
        [
            Site("bank", "Ngân hàng", test_mode=True, test_until=until),
            Site("shop", "Tiệm vàng", test_mode=True),
        ],
        [
            Button("b1", "bank", test_mode=True, test_until=until),
            Button("b2", "shop", test_mode=True),
        ],
    )
    text = tomllib.loads(to_toml(exported))
    assert [s.get("test_mode") for s in text["sites"]] == [None, True]
    assert [b.get("test_mode") for b in text["buttons"]] == [None, True]
