"""The registry file: the sites of a post and their buttons, in TOML.

    [[sites]]
    id = "vcb-xa-phuoc"                  # [a-z0-9][a-z0-9_-]{0,63}
    name = "Vietcombank PGD Xã Phước"
    address = "12 Quốc lộ 1A, ấp 3"
    phone = "0272 3812 345"
    lat = 10.5412                        # optional
    lon = 106.4021

    [[buttons]]
    id = "vcb-quay-1"                    # the button's MQTT id (and its broker user name)
    site = "vcb-xa-phuoc"
    label = "Quầy giao dịch"             # optional: where it is mounted
    profile = "shelly-gen1"              # optional: a vendor profile (devices/profiles)
    native_id = "shellybutton1-A4CF12"   # with a profile: the vendor's own id
    test_mode = false                    # optional
    power = "battery"                    # optional: mains or battery (default: the profile's)
    checkin_s = 43200                    # optional: longest silence of a healthy button
    kind = "holdup"                      # optional: holdup (default), fire, medical, assistance
    press_patterns = { long_press = "fire" }  # optional: presses that raise another kind

`chuong registry import FILE` upserts every entry (running it twice changes nothing the second
time); entries not in the file are left alone. A running hub picks the change up at its next batch.
"""

from __future__ import annotations

import sqlite3
import tomllib
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.messages import ButtonId, SiteId
from devices.profiles import PROFILE_NAMES, Power, check_native_id, supervised_by
from hub.config.strict import file_type_problems, key_of, suggestion
from hub.domain.kinds import ButtonKind, ButtonPatterns
from hub.domain.model import Button, Site
from hub.errors import RegistryError, coded
from hub.registry.credentials import RESERVED_PREFIX
from hub.store import admin


class SiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SiteId
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=500)
    phone: str = Field(default="", max_length=50)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    test_mode: bool = False


class ButtonEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ButtonId
    site: SiteId | None = None
    label: str = Field(default="", max_length=200)
    profile: str | None = Field(default=None, max_length=64)
    native_id: str | None = Field(default=None, max_length=200)
    test_mode: bool = False
    power: Power | None = None
    checkin_s: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    kind: ButtonKind
    press_patterns: ButtonPatterns

    @model_validator(mode="after")
    def _not_a_reserved_user(self) -> ButtonEntry:
        if self.id.startswith(RESERVED_PREFIX):
            raise ValueError(
                f"button ids starting with {RESERVED_PREFIX!r} are reserved: the broker user and"
                " client id of the hub (docs/BROKER.md)"
            )
        return self

    @model_validator(mode="after")
    def _profile_and_native_id(self) -> ButtonEntry:
        if self.profile is None:
            if self.native_id is not None:
                raise ValueError("native_id needs a profile")
            return self
        if self.profile not in PROFILE_NAMES:
            raise ValueError(
                f"unknown profile {self.profile!r} (known: {', '.join(PROFILE_NAMES)}; "
                "leave it out for a button that speaks the contract)"
            )
        if self.native_id is None:
            raise ValueError(f"a {self.profile} button needs its native_id (the vendor's own id)")
        check_native_id(self.profile, self.native_id)
        return self

    @model_validator(mode="after")
    def _battery_checkin(self) -> ButtonEntry:
        usual = supervised_by(self.profile).power
        if self.power is Power.BATTERY and usual is Power.MAINS and self.checkin_s is None:
            raise ValueError(
                "a battery button of this profile needs checkin_s: how often it wakes and "
                "checks in, in seconds"
            )
        return self


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sites: list[SiteEntry] = Field(default_factory=list)
    buttons: list[ButtonEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RegistryFile:
        for kind, ids in (
            ("site", [s.id for s in self.sites]),
            ("button", [b.id for b in self.buttons]),
        ):
            seen: set[str] = set()
            for entry_id in ids:
                if entry_id in seen:
                    raise ValueError(f"{kind} {entry_id!r} appears twice")
                seen.add(entry_id)
        natives: set[tuple[str, str]] = set()
        for button in self.buttons:
            if button.profile and button.native_id:
                key = (button.profile, button.native_id)
                if key in natives:
                    raise ValueError(f"{button.profile} device {button.native_id!r} appears twice")
                natives.add(key)
        return self


def load_registry_file(path: Path) -> RegistryFile:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise RegistryError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from exc
    return _validated(data, str(path))


def parse_registry_text(text: str, name: str) -> RegistryFile:
    """A registry file's text (an upload from the page), checked as `registry import` checks a
    file; problems are a `RegistryError` (code `registry_file`), one line each, named `name`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise coded(RegistryError(f"{name}: not valid TOML: {exc}"), "registry_file") from exc
    try:
        return _validated(data, name)
    except RegistryError as exc:
        raise coded(exc, "registry_file") from exc.__cause__


def _validated(data: dict[str, Any], path: str) -> RegistryFile:
    strict = file_type_problems(RegistryFile, data)
    problems = [f"{path}: {key}: {message}" for key, message in strict]
    try:
        registry = RegistryFile.model_validate(data)
    except ValidationError as exc:
        said = {key for key, _ in strict}
        for error in exc.errors():
            key = key_of(error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                close = suggestion(RegistryFile, data, error["loc"])
                message = "unknown key" + (f" (did you mean {close}?)" if close else "")
            where = f"{path}: {key}" if key else str(path)
            if key not in said:
                problems.append(f"{where}: {message.removeprefix('Value error, ')}")
        raise RegistryError("\n".join(problems)) from exc
    if problems:
        raise RegistryError("\n".join(problems))
    return registry


def site_of_entry(entry: SiteEntry) -> Site:
    return Site(
        entry.id, entry.name, entry.address, entry.phone, entry.lat, entry.lon, entry.test_mode
    )


def button_of_entry(entry: ButtonEntry) -> Button:
    return Button(
        entry.id,
        entry.site,
        entry.label,
        entry.profile,
        entry.native_id,
        entry.test_mode,
        entry.power.value if entry.power else None,
        entry.checkin_s,
        kind=entry.kind,
        press_patterns=tuple(entry.press_patterns.items()),
    )


def import_registry(
    conn: sqlite3.Connection, registry: RegistryFile, now: datetime, actor: str = "cli"
) -> dict[str, int]:
    """Upsert every site and button in one transaction; return how many of each changed.

    Test mode is kept as it is in the store for an entry whose file does not write `test_mode`
    (an admin's maintenance visit is not ended by re-importing the file); a file that writes it
    sets it."""
    known_sites = admin.site_ids(conn)
    referenced = {b.site for b in registry.buttons if b.site is not None}
    missing = referenced - known_sites - {s.id for s in registry.sites}
    if missing:
        raise RegistryError(
            f"buttons refer to sites that exist nowhere: {', '.join(sorted(missing))}"
        )
    testing = admin.test_modes(conn)

    def kept(table: str, entry: SiteEntry | ButtonEntry) -> bool:
        if "test_mode" in entry.model_fields_set:
            return entry.test_mode
        return testing[table].get(entry.id, entry.test_mode)

    sites = [replace(site_of_entry(e), test_mode=kept("sites", e)) for e in registry.sites]
    buttons = [replace(button_of_entry(e), test_mode=kept("buttons", e)) for e in registry.buttons]
    try:
        return admin.import_registry(conn, sites, buttons, now, actor)
    except admin.RowConflict as exc:
        button = next(b for b in registry.buttons if b.id == exc.key)
        raise RegistryError(
            f"button {button.id}: {exc.detail} (is {button.profile} device "
            f"{button.native_id!r} already registered as another button?)"
        ) from exc
