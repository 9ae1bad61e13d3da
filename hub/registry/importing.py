"""Importing the registry file into the running hub (the page's "Nhập từ tệp"), in two steps.

First a preview: what the file would change, compared with the registry the hub has now (sites
and buttons added, changed field by field, removed, left alone), and a fingerprint of that
registry. Then the admin applies it, sending the fingerprint back: if the registry changed in
between (another admin, the command line, a test mode ending), the import is refused with
`registry_changed`, so that nothing is applied that was not shown.

The rules are those of `chuong registry import` (hub/registry/file.py): every entry of the file is
added or updated; test mode is kept as it is for an entry whose file does not write `test_mode`
(re-importing never ends a maintenance visit, nor its automatic end); a file that writes it sets
it (on with no end, or off). Entries not in the file are left alone, unless the admin asks for
them to be removed (`remove_missing`). Unlike the command line, a button's identity on the broker
(its profile and native id) is not changed by an import: the admin removes it and adds the new
one (docs/DECISIONS.md, "Editing a button").

Applied, it is one pipeline command (`ImportRegistry`): every row, and one `registry.imported`
audit entry with the ids added, changed and removed and the admin as actor, in one transaction
with the presses of its batch. Nothing it writes can fail in SQL: every conflict (a button of a
site that does not exist, a device id taken twice) is found first, and the rows are written in an
order that never breaks a key (buttons removed before others are added, sites removed last).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from hub.clock import iso
from hub.domain.bus import DeviceChanged
from hub.domain.model import Button, Site
from hub.domain.state import Registry
from hub.errors import RegistryConflict, RegistryError, coded
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry, button_of_entry, site_of_entry
from hub.store.ops import (
    DeleteButton,
    DeleteSite,
    InsertButton,
    InsertSite,
    UpdateButton,
    UpdateSite,
    UpdateTestMode,
)
from hub.writer.plan import Command, Plan

SITE_FIELDS = ("name", "address", "phone", "lat", "lon", "test_mode")
BUTTON_FIELDS = ("site_id", "label", "power", "checkin_s", "kind", "press_patterns", "test_mode")


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(slots=True)
class Changed:
    id: str
    name: str
    fields: list[FieldChange]


@dataclass(slots=True)
class Diff:
    """What an import changes, per table; `final` is the registry it leaves."""

    final: Registry
    sites_added: list[Site] = field(default_factory=list)
    sites_changed: list[Changed] = field(default_factory=list)
    sites_removed: list[Site] = field(default_factory=list)
    sites_kept: list[str] = field(default_factory=list)
    """ids not in the file, left as they are"""
    sites_unchanged: list[str] = field(default_factory=list)
    buttons_added: list[Button] = field(default_factory=list)
    buttons_changed: list[Changed] = field(default_factory=list)
    buttons_removed: list[Button] = field(default_factory=list)
    buttons_kept: list[str] = field(default_factory=list)
    buttons_unchanged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.sites_added
            or self.sites_changed
            or self.sites_removed
            or self.buttons_added
            or self.buttons_changed
            or self.buttons_removed
        )


def _as_stored(value: object) -> str:
    """A value as the store keeps it (a time to the millisecond), so that a registry read back
    from the store has the fingerprint of the one the hub kept in memory."""
    return iso(value) if isinstance(value, datetime) else str(value)


def fingerprint(registry: Registry) -> str:
    """A short digest of the registry as an import sees it (signing keys left out)."""
    sites = [asdict(s) for s in sorted(registry.sites.values(), key=lambda s: s.id)]
    buttons = [
        {**asdict(b), "sign_key": b.sign_key is not None}
        for b in sorted(registry.buttons.values(), key=lambda b: b.id)
    ]
    text = json.dumps({"sites": sites, "buttons": buttons}, default=_as_stored, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _changes(before: object, after: object, names: tuple[str, ...]) -> list[FieldChange]:
    return [
        FieldChange(name, getattr(before, name), getattr(after, name))
        for name in names
        if getattr(before, name) != getattr(after, name)
    ]


def _site(entry: SiteEntry, old: Site | None) -> Site:
    site = site_of_entry(entry)
    if old is None:
        return site
    if "test_mode" not in entry.model_fields_set or entry.test_mode == old.test_mode:
        return replace(site, test_mode=old.test_mode, test_until=old.test_until)
    return site  # the file sets it: on with no end, or off


def _button(entry: ButtonEntry, old: Button | None) -> Button:
    button = button_of_entry(entry)
    if old is None:
        return button
    if (old.profile, old.native_id) != (button.profile, button.native_id):
        raise coded(
            RegistryError(
                f"button {old.id}: the file gives it another device ({button.profile} "
                f"{button.native_id!r}, registered as {old.profile} {old.native_id!r}); remove "
                "the button and add the new one"
            ),
            "identity_changed",
            button=old.id,
        )
    button = replace(button, sign_key=old.sign_key)
    if "test_mode" not in entry.model_fields_set or entry.test_mode == old.test_mode:
        return replace(button, test_mode=old.test_mode, test_until=old.test_until)
    return button


_Item = TypeVar("_Item", Site, Button)


def _place(
    added: list[_Item],
    changed: list[Changed],
    unchanged: list[str],
    old: _Item | None,
    new: _Item,
) -> None:
    """Count `new` as added, changed (field by field) or unchanged."""
    if old is None:
        added.append(new)
        return
    names = SITE_FIELDS if isinstance(new, Site) else BUTTON_FIELDS
    fields = _changes(old, new, names)
    if fields:
        changed.append(Changed(new.id, new.name if isinstance(new, Site) else new.label, fields))
    else:
        unchanged.append(new.id)


def diff(registry: Registry, file: RegistryFile, *, remove_missing: bool) -> Diff:
    """What importing `file` into `registry` would do; a `RegistryError` (with its code) when it
    cannot be done."""
    in_file_sites = {entry.id for entry in file.sites}
    in_file_buttons = {entry.id for entry in file.buttons}
    sites = {} if remove_missing else dict(registry.sites)
    buttons = {} if remove_missing else dict(registry.buttons)
    result = Diff(final=registry)
    for entry in file.sites:
        old = registry.sites.get(entry.id)
        site = sites[entry.id] = _site(entry, old)
        _place(result.sites_added, result.sites_changed, result.sites_unchanged, old, site)
    for button_entry in file.buttons:
        old_button = registry.buttons.get(button_entry.id)
        button = buttons[button_entry.id] = _button(button_entry, old_button)
        _place(
            result.buttons_added,
            result.buttons_changed,
            result.buttons_unchanged,
            old_button,
            button,
        )
    missing_sites = sorted(set(registry.sites) - in_file_sites)
    missing_buttons = sorted(set(registry.buttons) - in_file_buttons)
    if remove_missing:
        result.sites_removed = [registry.sites[site_id] for site_id in missing_sites]
        result.buttons_removed = [registry.buttons[button_id] for button_id in missing_buttons]
    else:
        result.sites_kept, result.buttons_kept = missing_sites, missing_buttons
    _check(sites, buttons)
    result.final = Registry(sites, buttons)
    return result


def _check(sites: dict[str, Site], buttons: dict[str, Button]) -> None:
    """The registry an import leaves: every button's site exists, no device is two buttons."""
    missing = sorted({b.site_id for b in buttons.values() if b.site_id} - set(sites))
    if missing:
        raise coded(
            RegistryError(f"buttons refer to sites that exist nowhere: {', '.join(missing)}"),
            "sites_missing",
            sites=", ".join(missing),
        )
    devices: dict[tuple[str | None, str], str] = {}
    for button in sorted(buttons.values(), key=lambda b: b.id):
        if button.native_id is None:
            continue
        key = (button.profile, button.native_id)
        if key in devices:
            raise coded(
                RegistryConflict(
                    f"{button.profile} device {button.native_id!r} would be both button "
                    f"{devices[key]!r} and {button.id!r}"
                ),
                "device_taken",
                device=button.native_id,
                button=devices[key],
            )
        devices[key] = button.id


def _write(plan: Plan, registry: Registry, result: Diff) -> None:
    """The rows, in an order that never breaks a key."""
    final, now = result.final, plan.now
    changed_sites = sorted(c.id for c in result.sites_changed)
    changed_buttons = sorted(c.id for c in result.buttons_changed)
    for site in result.sites_added:
        plan.write(InsertSite(site, now))
    for site_id in changed_sites:
        plan.write(UpdateSite(final.sites[site_id], now))
    for button in result.buttons_removed:
        plan.write(DeleteButton(button.id))
    for button in result.buttons_added:
        plan.write(InsertButton(button, now))
    for button_id in changed_buttons:
        plan.write(UpdateButton(final.buttons[button_id], now))
    for site in result.sites_removed:
        plan.write(DeleteSite(site.id))
    for site_id in changed_sites:
        site = final.sites[site_id]
        if site.test_mode != registry.sites[site_id].test_mode:
            plan.write(UpdateTestMode("site", site_id, site.test_mode, now, site.test_until))
    for button_id in changed_buttons:
        button = final.buttons[button_id]
        if button.test_mode != registry.buttons[button_id].test_mode:
            plan.write(
                UpdateTestMode("button", button_id, button.test_mode, now, button.test_until)
            )


@dataclass(slots=True)
class ImportRegistry(Command):
    """Apply a registry file previewed against the registry of fingerprint `expect`."""

    file: RegistryFile
    remove_missing: bool
    expect: str
    actor: str

    def plan(self, plan: Plan) -> Diff:
        registry = plan.draft.registry
        if fingerprint(registry) != self.expect:
            raise coded(
                RegistryConflict(
                    "the sites and buttons changed since the preview: preview the file again"
                ),
                "registry_changed",
            )
        result = diff(registry, self.file, remove_missing=self.remove_missing)
        if result.empty:
            return result
        _write(plan, registry, result)
        final = result.final
        changed_sites = {c.id for c in result.sites_changed}
        changed_buttons = {c.id for c in result.buttons_changed}
        plan.draft.put_registry(final)
        plan.audit(
            "registry.imported",
            self.actor,
            sites_added=[s.id for s in result.sites_added] or None,
            sites_changed=sorted(changed_sites) or None,
            sites_removed=[s.id for s in result.sites_removed] or None,
            buttons_added=[b.id for b in result.buttons_added] or None,
            buttons_changed=sorted(changed_buttons) or None,
            buttons_removed=[b.id for b in result.buttons_removed] or None,
        )
        touched = set(changed_buttons) | {b.id for b in result.buttons_added}
        touched |= {b.id for b in final.buttons.values() if b.site_id in changed_sites}
        for button_id in sorted(touched):
            device = plan.draft.device(button_id)
            if device is not None:
                plan.events.append(DeviceChanged(device))
        return result
