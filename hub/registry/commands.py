"""Managing the registry while the hub runs: add and remove sites and buttons, test mode, clear a
latched trouble; the registry as a TOML file again; the report of buttons nobody has tested lately.

Through the API, every change is a `Command`: it is planned in order with the presses around it,
committed with its audit entry (`registry.*`, with the admin as actor), and the hub's registry
changes only once it is durable. The command line writes the store directly, like `registry
import`, and a running hub picks the change up at its next batch.

Test mode (a maintenance visit): presses of a button in test mode, or of any button of a site in
test mode, are recorded and shown as tests and never escalate. It stays on until it is turned off;
meanwhile the supervisor keeps a `test_mode` (or `site_test_mode`) trouble open, so that nobody
forgets a button that no longer raises real alarms.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from devices.signing import key_id
from hub.clock import iso
from hub.domain.bus import DeviceChanged
from hub.domain.model import Button, Site, Trouble
from hub.domain.state import Registry
from hub.errors import RegistryConflict, RegistryError, RegistryNotFound, coded
from hub.registry.file import (
    ButtonEntry,
    RegistryFile,
    SiteEntry,
    button_of_entry,
    site_of_entry,
)
from hub.store import admin
from hub.store.ops import (
    DeleteButton,
    DeleteSite,
    InsertButton,
    InsertSite,
    TestModeKind,
    UpdateButton,
    UpdateSite,
    UpdateTestMode,
)
from hub.writer.plan import Command, Plan


def _no_site(site_id: str) -> RegistryNotFound:
    return coded(RegistryNotFound(f"no site {site_id!r}"), "site_not_found", site=site_id)


def _no_button(button_id: str) -> RegistryNotFound:
    return coded(RegistryNotFound(f"no button {button_id!r}"), "button_not_found", button=button_id)


def _site_first(site_id: str) -> RegistryError:
    return coded(
        RegistryError(f"no site {site_id!r}: add the site first"), "site_first", site=site_id
    )


def _has_buttons(site_id: str, attached: list[str]) -> RegistryConflict:
    return coded(
        RegistryConflict(
            f"site {site_id!r} still has buttons ({', '.join(attached)}): remove or move them first"
        ),
        "site_has_buttons",
        site=site_id,
        buttons=", ".join(attached),
    )


def _device_taken(profile: str | None, native_id: str, other: str) -> RegistryConflict:
    return coded(
        RegistryConflict(f"{profile} device {native_id!r} is button {other!r} already"),
        "device_taken",
        device=native_id,
        button=other,
    )


def _changed(
    registry: Registry,
    *,
    sites: dict[str, Site] | None = None,
    buttons: dict[str, Button] | None = None,
) -> Registry:
    """A new registry (the old one may still be read until the change is committed)."""
    return Registry(
        dict(registry.sites) if sites is None else sites,
        dict(registry.buttons) if buttons is None else buttons,
    )


@dataclass(slots=True)
class AddSite(Command):
    entry: SiteEntry
    actor: str

    def plan(self, plan: Plan) -> Site:
        registry = plan.draft.registry
        if self.entry.id in registry.sites:
            raise coded(
                RegistryConflict(f"site {self.entry.id!r} exists already"),
                "site_exists",
                site=self.entry.id,
            )
        site = site_of_entry(self.entry)
        plan.draft.put_registry(_changed(registry, sites={**registry.sites, site.id: site}))
        plan.write(InsertSite(site, plan.now))
        plan.audit("registry.site_added", self.actor, site=site.id, name=site.name)
        return site


@dataclass(slots=True)
class RemoveSite(Command):
    site_id: str
    actor: str

    def plan(self, plan: Plan) -> Site:
        registry = plan.draft.registry
        site = registry.sites.get(self.site_id)
        if site is None:
            raise _no_site(self.site_id)
        attached = sorted(b.id for b in registry.buttons.values() if b.site_id == site.id)
        if attached:
            raise _has_buttons(site.id, attached)
        sites = {k: v for k, v in registry.sites.items() if k != site.id}
        plan.draft.put_registry(_changed(registry, sites=sites))
        plan.write(DeleteSite(site.id))
        plan.audit("registry.site_removed", self.actor, site=site.id, name=site.name)
        return site


@dataclass(slots=True)
class AddButton(Command):
    entry: ButtonEntry
    actor: str

    def plan(self, plan: Plan) -> Button:
        registry = plan.draft.registry
        entry = self.entry
        if entry.id in registry.buttons:
            raise coded(
                RegistryConflict(f"button {entry.id!r} exists already"),
                "button_exists",
                button=entry.id,
            )
        if entry.site is not None and entry.site not in registry.sites:
            raise _site_first(entry.site)
        for other in registry.buttons.values():
            if entry.native_id and (other.profile, other.native_id) == (
                entry.profile,
                entry.native_id,
            ):
                raise _device_taken(entry.profile, entry.native_id, other.id)
        button = button_of_entry(entry)
        plan.draft.put_registry(_changed(registry, buttons={**registry.buttons, button.id: button}))
        plan.write(InsertButton(button, plan.now))
        plan.audit(
            "registry.button_added",
            self.actor,
            button=button.id,
            site=button.site_id,
            profile=button.profile,
            native_id=button.native_id,
        )
        return button


@dataclass(slots=True)
class RemoveButton(Command):
    button_id: str
    actor: str

    def plan(self, plan: Plan) -> Button:
        registry = plan.draft.registry
        button = registry.buttons.get(self.button_id)
        if button is None:
            raise _no_button(self.button_id)
        buttons = {k: v for k, v in registry.buttons.items() if k != button.id}
        plan.draft.put_registry(_changed(registry, buttons=buttons))
        plan.write(DeleteButton(button.id))
        plan.audit("registry.button_removed", self.actor, button=button.id, site=button.site_id)
        return button


@dataclass(slots=True)
class SetTestMode(Command):
    kind: TestModeKind
    subject: str
    on: bool
    actor: str
    duration_s: int | None = None
    """on for this long, then off by itself (the supervisor turns it off); None: until turned off"""

    def plan(self, plan: Plan) -> Button | Site:
        registry = plan.draft.registry
        affected: list[str]
        until = (
            plan.now + timedelta(seconds=self.duration_s)
            if self.on and self.duration_s is not None
            else None
        )
        if self.kind == "site":
            site = registry.sites.get(self.subject)
            if site is None:
                raise _no_site(self.subject)
            changed_site = replace(site, test_mode=self.on, test_until=until)
            plan.draft.put_registry(
                _changed(registry, sites={**registry.sites, site.id: changed_site})
            )
            affected = [b.id for b in registry.buttons.values() if b.site_id == site.id]
            result: Button | Site = changed_site
        else:
            button = registry.buttons.get(self.subject)
            if button is None:
                raise _no_button(self.subject)
            changed_button = replace(button, test_mode=self.on, test_until=until)
            plan.draft.put_registry(
                _changed(registry, buttons={**registry.buttons, button.id: changed_button})
            )
            affected = [button.id]
            result = changed_button
        plan.write(UpdateTestMode(self.kind, self.subject, self.on, plan.now, until))
        ends = None if until is None else iso(until)
        if self.kind == "site":
            plan.audit("registry.test_mode", self.actor, site=self.subject, on=self.on, until=ends)
        else:
            plan.audit(
                "registry.test_mode", self.actor, button=self.subject, on=self.on, until=ends
            )
        _touch_devices(plan, affected)
        return result


SITE_EDITABLE: Final = frozenset({"name", "address", "phone", "lat", "lon"})
BUTTON_EDITABLE: Final = frozenset(
    {"site_id", "label", "checkin_s", "power", "kind", "press_patterns"}
)
"""A button's identity on the broker (its id, profile and native id) is not edited: an admin
removes it and adds the new one, so that no press of the old device is ever taken for the new
(docs/DECISIONS.md, "Editing a button")."""


_Edited = TypeVar("_Edited", Site, Button)


def _edited(
    item: _Edited, changes: dict[str, object], editable: frozenset[str], what: str
) -> tuple[_Edited, dict[str, object], dict[str, object]]:
    """The item with `changes` applied, and what the changed fields were and became (for the
    audit); a field that may not be changed here is refused by name."""
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise coded(
            RegistryError(f"a {what}'s {', '.join(unknown)} cannot be changed here"),
            "not_editable",
            fields=", ".join(unknown),
        )
    changed = replace(item, **changes)  # type: ignore[arg-type]
    before = {name: getattr(item, name) for name in sorted(changes)}
    return changed, before, dict(sorted(changes.items()))


def _touch_devices(plan: Plan, button_ids: list[str]) -> None:
    """The page shows each button with its site and test mode: tell it they changed."""
    for button_id in button_ids:
        device = plan.draft.device(button_id)
        if device is not None:
            plan.events.append(DeviceChanged(device))


@dataclass(slots=True)
class EditSite(Command):
    """Change a site's name, address, phone or position (its id and test mode stay)."""

    site_id: str
    changes: dict[str, object]
    actor: str

    def plan(self, plan: Plan) -> Site:
        registry = plan.draft.registry
        site = registry.sites.get(self.site_id)
        if site is None:
            raise _no_site(self.site_id)
        changed, before, after = _edited(site, self.changes, SITE_EDITABLE, "site")
        plan.draft.put_registry(_changed(registry, sites={**registry.sites, site.id: changed}))
        plan.write(UpdateSite(changed, plan.now))
        plan.audit("registry.site_changed", self.actor, site=site.id, before=before, after=after)
        _touch_devices(plan, [b.id for b in registry.buttons.values() if b.site_id == site.id])
        return changed


@dataclass(slots=True)
class EditButton(Command):
    """Change a button's site, label, check-in period or power (id, device, test mode stay)."""

    button_id: str
    changes: dict[str, object]
    actor: str

    def plan(self, plan: Plan) -> Button:
        registry = plan.draft.registry
        button = registry.buttons.get(self.button_id)
        if button is None:
            raise _no_button(self.button_id)
        changed, before, after = _edited(button, self.changes, BUTTON_EDITABLE, "button")
        if changed.site_id is not None and changed.site_id not in registry.sites:
            raise _site_first(changed.site_id)
        plan.draft.put_registry(
            _changed(registry, buttons={**registry.buttons, button.id: changed})
        )
        plan.write(UpdateButton(changed, plan.now))
        plan.audit(
            "registry.button_changed", self.actor, button=button.id, before=before, after=after
        )
        _touch_devices(plan, [button.id])
        return changed


@dataclass(slots=True)
class ClearTroubleById(Command):
    """An admin clears a trouble by hand: a latched one (a tamper, once the button is checked)."""

    trouble_id: int
    actor: str
    note: str

    def plan(self, plan: Plan) -> Trouble:
        draft = plan.draft
        for trouble in (*draft.troubles.values(), *draft.state.troubles.values()):
            # Open in this batch's view: the draft's own copy, or the state's if untouched.
            if (
                trouble is not None
                and trouble.id == self.trouble_id
                and (draft.trouble(trouble.kind, trouble.subject) is trouble)
            ):
                cleared = plan.clear_trouble(
                    trouble.kind, trouble.subject, detail=self.note, actor=self.actor
                )
                assert cleared is not None
                return cleared
        raise coded(
            RegistryNotFound(f"no open trouble {self.trouble_id}"),
            "trouble_not_found",
            trouble=self.trouble_id,
        )


# -- the command line's side (a synchronous connection) ----------------------------------------


def set_test_mode(
    conn: sqlite3.Connection,
    kind: TestModeKind,
    subject: str,
    on: bool,
    now: datetime,
    actor: str = "cli",
    duration_s: int | None = None,
) -> datetime | None:
    """Turn test mode on (for `duration_s`, None: until turned off) or off for a button or a site,
    with its audit entry, in one transaction; return when it ends by itself."""
    until = now + timedelta(seconds=duration_s) if on and duration_s is not None else None
    if not admin.set_test_mode(conn, kind, subject, on, now, actor, until):
        raise RegistryNotFound(f"no {kind} {subject!r}")
    return until


def remove_from_registry(
    conn: sqlite3.Connection, kind: TestModeKind, subject: str, now: datetime, actor: str = "cli"
) -> None:
    """Remove a button, or a site without buttons, with its audit entry, in one transaction (as
    RemoveButton and RemoveSite do for the API)."""
    if kind == "button":
        if not admin.remove_button(conn, subject, now, actor):
            raise RegistryNotFound(f"no button {subject!r}")
        return
    attached = admin.remove_site(conn, subject, now, actor)
    if attached is None:
        raise RegistryNotFound(f"no site {subject!r}")
    if attached:
        raise RegistryConflict(
            f"site {subject!r} still has buttons ({', '.join(attached)}): remove or move them first"
        )


def set_sign_key(
    conn: sqlite3.Connection, button_id: str, key: str | None, now: datetime, actor: str = "cli"
) -> None:
    """Give a button a signing key (devices/signing.py), or take it away (None), with its audit
    entry. The key itself is never written to the audit log, only its id."""
    detail: dict[str, Any] = {"key_id": key_id(key)} if key else {"removed": True}
    if not admin.set_sign_key(conn, button_id, key, detail, now, actor):
        raise RegistryNotFound(f"no button {button_id!r}")


def read_registry(conn: sqlite3.Connection) -> RegistryFile:
    """The registry in the store, as a registry file (what `registry export` writes)."""
    return registry_file(admin.all_sites(conn), admin.all_buttons(conn))


def registry_file(sites: Iterable[Site], buttons: Iterable[Button]) -> RegistryFile:
    """Sites and buttons as a registry file (no signing key: those are never written out).

    A test mode that ends by itself is not written: the file has no place for its end, and a
    `test_mode = true` imported again after that end would put the site back in test mode for
    good, its real presses taken for tests. Left out, an import keeps the store's test mode as
    it is. A test mode with no end is written (importing it gives the same)."""
    return RegistryFile(
        sites=[
            SiteEntry(
                id=s.id,
                name=s.name,
                address=s.address,
                phone=s.phone,
                lat=s.lat,
                lon=s.lon,
                test_mode=s.test_mode and s.test_until is None,
            )
            for s in sites
        ],
        buttons=[
            ButtonEntry.model_validate(
                {
                    "id": b.id,
                    "site": b.site_id,
                    "label": b.label,
                    "profile": b.profile,
                    "native_id": b.native_id,
                    "test_mode": b.test_mode and b.test_until is None,
                    "power": b.power,
                    "checkin_s": b.checkin_s,
                    "kind": b.kind,
                    "press_patterns": dict(b.press_patterns),
                }
            )
            for b in buttons
        ],
    )


def to_toml(registry: RegistryFile) -> str:
    """The registry file's TOML (defaults left out), which `registry import` reads back."""
    blocks = []
    for table, entries in (("sites", registry.sites), ("buttons", registry.buttons)):
        for entry in entries:
            lines = [f"[[{table}]]"]
            defaults = type(entry).model_fields
            for name, value in entry.model_dump(mode="json").items():
                if value is None or value == {} or value == defaults[name].default:
                    continue
                lines.append(f"{name} = {_toml_value(value)}")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, dict):  # an inline table, its keys quoted (a pattern may hold a dot)
        pairs = (f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A JSON string is a TOML basic string, once DEL (which JSON leaves alone) is escaped.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


# -- the report of buttons without a recent test press ----------------------------------------


def untested_cutoff(now: datetime, days: int) -> datetime:
    """The moment before which a button's last test press is too old."""
    return now - timedelta(days=days)
