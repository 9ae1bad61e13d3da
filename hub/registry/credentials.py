"""`chuong registry credentials`: a broker user and password for every button, and the ACL that
keeps each one to its own topics.

Written into one directory, for Mosquitto's `password_file` and `acl_file`. Mosquitto 2.0 reads
them as its own user (it drops from root to `mosquitto` before reading them, and reads them again
as `mosquitto` on SIGHUP; an ACL it cannot read then means no ACL at all), so the directory is
root:<group> 0750 and the two files root:<group> 0640, the group being `mosquitto` when it exists
(or `--group`). Every file is replaced atomically with its mode and group already set, so a reload
in the middle of a run reads either the old file or the new one, never a file it may not read:

    passwd            the users, hashed by `mosquitto_passwd -U` (sha512-pbkdf2)
    acl               who may write and read what (below)
    credentials.toml  the passwords in clear, for provisioning the buttons (mode 0600, owner only):
                      keep it with the installer; running the command again keeps every password

Users: the hub (`mqtt.username`, else `chuong-hub`); its telemetry connection
(`mqtt.telemetry_username`, else the hub's user with `-telemetry`); every button that connects
itself, by its button id; every bridge (a Zigbee2MQTT bridge publishes for all its Zigbee
buttons). The broker uses each user name as the client id (`use_username_as_clientid`), so a user
name is an identity: a button id equal to the hub's user, to its telemetry user, to a bridge's,
or starting with `chuong-hub` is refused.

The ACL (checked against Mosquitto: a v5 client is told PUBACK 0x87 "not authorized", a v3.1.1
client's publish is silently dropped):

- a button writes only its own `event`, `heartbeat` and `status`, and reads only its own `ack`:
  one `pattern` line each. Not `pattern write {root}/dev/%u/#`: that would let a button write its
  own `ack` and tell its caller that help is coming when the hub never heard it;
- the hub reads `{root}/dev/+/#` and the vendor topics it subscribes to, writes the buttons'
  `ack`, and reads and writes `{root}/alarms/#` and `{root}/hub/#` (the contract's "hub to
  anyone"); the read-only users the installer names (`--reader`) read those two only;
- the hub's telemetry user reads `{root}/dev/+/heartbeat` and the vendors' check-in topics, and
  writes nothing;
- an off-the-shelf button writes its vendor's topics for its own native id (devices/profiles).
"""

from __future__ import annotations

import grp
import os
import re
import secrets
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from devices.profiles.base import DeviceAcl, Profile
from devices.topics import DEFAULT_ROOT
from hub.clock import iso
from hub.config.mqtt import TELEMETRY_SUFFIX
from hub.domain.model import Button
from hub.errors import ChuongError

DEFAULT_HUB_USER: Final = "chuong-hub"
RESERVED_PREFIX: Final = "chuong-hub"
"""No button may be a broker user starting with this: the hub's user and client ids."""
BROKER_GROUP: Final = "mosquitto"
READER_TOPICS: Final = ("alarms/#", "hub/#")
"""What a read-only client (`--reader`) may read: the hub's publications to anyone."""
_USER_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PASSWORD_BYTES: Final = 24
SEARCH_PATH: Final = ("/usr/bin", "/usr/local/bin", "/usr/sbin")


class CredentialsError(ChuongError):
    pass


@dataclass(frozen=True, slots=True)
class Written:
    directory: Path
    users: int
    new: list[str]
    """users given a new password this time"""
    dropped: list[str]
    """users of the previous run no longer in the registry"""


def telemetry_user_of(hub_user: str, configured: str | None = None) -> str:
    """The user of the hub's telemetry connection: `mqtt.telemetry_username`, else the hub's
    user with `-telemetry` (hub/config/mqtt.py)."""
    return configured or f"{hub_user}{TELEMETRY_SUFFIX}"


def users_for(
    buttons: Iterable[Button],
    profiles: Mapping[str, Profile],
    hub_user: str,
    *,
    telemetry_user: str | None = None,
    root: str = DEFAULT_ROOT,
    readers: Iterable[str] = (),
) -> dict[str, DeviceAcl | None]:
    """Every broker user: None for the hub, its telemetry connection and the contract's buttons
    (their lines are written apart), the device's own lines for a vendor button, the bridge's
    for a bridge, read-only lines for a reader. A button id that would be another identity's
    user name is refused."""
    buttons = sorted(buttons, key=lambda b: b.id)
    bridges = {name for profile in profiles.values() for name in profile.bridge_acls()}
    readers = sorted(set(readers))
    telemetry_user = telemetry_user or telemetry_user_of(hub_user)
    hub_users = {hub_user, telemetry_user}
    for button in buttons:
        if button.id in hub_users or button.id.startswith(RESERVED_PREFIX):
            raise CredentialsError(
                f"button {button.id!r}: the broker user {button.id!r} is the hub's (or reserved"
                f" for it: names starting with {RESERVED_PREFIX!r}); rename the button"
            )
        if button.id in bridges or button.id in readers:
            kind = "a bridge" if button.id in bridges else "a reader (--reader)"
            raise CredentialsError(
                f"button {button.id!r}: the broker user {button.id!r} is {kind}'s; rename one"
            )
    for reader in readers:
        if reader in hub_users or reader in bridges or not _USER_RE.match(reader):
            raise CredentialsError(
                f"--reader {reader!r}: not a usable user name (the hub's or a bridge's, or not"
                " 1-64 letters, digits, '.', '_' or '-')"
            )
    users: dict[str, DeviceAcl | None] = {hub_user: None, telemetry_user: None}
    for button in buttons:
        profile = profiles.get(button.profile or "")
        if profile is None:
            users[button.id] = None
        elif profile.per_device_users and button.native_id:
            users[button.id] = profile.device_acl(button.native_id)
        else:
            users.update(profile.bridge_acls())
    for reader in readers:
        users[reader] = DeviceAcl(write=(), read=tuple(f"{root}/{t}" for t in READER_TOPICS))
    return users


def acl_text(
    *,
    root: str,
    hub_user: str,
    users: Mapping[str, DeviceAcl | None],
    hub_reads: Sequence[str],
    now: datetime,
    telemetry_user: str | None = None,
    telemetry_reads: Sequence[str] = (),
) -> str:
    """`hub_reads`: the vendor filters the hub subscribes to; `telemetry_reads`: those of them
    its telemetry connection takes (the profiles' check-ins)."""
    telemetry_user = telemetry_user or telemetry_user_of(hub_user)
    lines = [
        f"# chuong broker ACL for {len(users) - 1} users, written by `chuong registry "
        f"credentials` at {iso(now)}.",
        "# Written again from the registry each time: do not edit by hand.",
        "",
        "# Buttons that speak the contract log in with their button id: each writes only its own",
        "# event, heartbeat and status and reads only its own ack (never writes it).",
        f"pattern write {root}/dev/%u/event",
        f"pattern write {root}/dev/%u/heartbeat",
        f"pattern write {root}/dev/%u/status",
        f"pattern read {root}/dev/%u/ack",
        "",
        "# The hub.",
        f"user {hub_user}",
        f"topic read {root}/dev/+/#",
        f"topic write {root}/dev/+/ack",
        f"topic readwrite {root}/alarms/#",
        f"topic readwrite {root}/hub/#",
    ]
    lines += [f"topic read {topic}" for topic in hub_reads]
    lines += [
        "",
        "# The hub's telemetry connection (a clean session: nothing is queued for it): it reads",
        "# the heartbeats and the vendors' check-ins, and writes nothing.",
        f"user {telemetry_user}",
        f"topic read {root}/dev/+/heartbeat",
    ]
    lines += [f"topic read {topic}" for topic in telemetry_reads]
    vendor = [(name, acl) for name, acl in users.items() if acl is not None]
    if vendor:
        lines += [
            "",
            "# Off-the-shelf buttons and bridges: their vendor's topics, their own only; read-only",
            "# clients: the hub's alarms and status.",
        ]
    for name, acl in vendor:
        lines.append(f"user {name}")
        lines += [f"topic write {topic}" for topic in acl.write]
        lines += [f"topic read {topic}" for topic in acl.read]
    return "\n".join(lines) + "\n"


def broker_group(name: str | None) -> int | None:
    """The group id the broker's files get: `name`'s, else `mosquitto`'s when that group exists,
    else None (the files keep the group they are created with)."""
    try:
        gid = grp.getgrnam(name or BROKER_GROUP).gr_gid
    except KeyError:
        if name is not None:
            raise CredentialsError(f"--group {name!r}: no such group") from None
        return None
    if name is None and os.geteuid() != 0 and gid not in os.getgroups():
        return None  # not ours to give (a developer's machine): root installs give it
    return gid


def write_credentials(
    directory: Path,
    *,
    users: Mapping[str, DeviceAcl | None],
    acl: str,
    rotate: Iterable[str] = (),
    group: int | None = None,
) -> Written:
    """Keep the passwords of `credentials.toml`, make new ones for new users (and for those to
    `rotate`), then write the three files; `passwd` and `acl` (and the directory) get `group`."""
    try:
        return _write(directory, users, acl, set(rotate), group)
    except OSError as exc:
        raise CredentialsError(f"cannot write the credentials in {directory}: {exc}") from exc


def _write(
    directory: Path,
    users: Mapping[str, DeviceAcl | None],
    acl: str,
    rotated: set[str],
    group: int | None,
) -> Written:
    directory.mkdir(parents=True, exist_ok=True)
    if group is not None:
        os.chown(directory, -1, group)
    directory.chmod(0o750 if group is not None else 0o700)
    clear = directory / "credentials.toml"
    old = _read_passwords(clear)
    unknown = rotated - set(users)
    if unknown:
        raise CredentialsError(f"cannot rotate unknown users: {', '.join(sorted(unknown))}")
    passwords: dict[str, str] = {}
    new: list[str] = []
    for name in users:
        if name in old and name not in rotated:
            passwords[name] = old[name]
        else:
            passwords[name] = secrets.token_urlsafe(PASSWORD_BYTES)
            new.append(name)
    _replace(
        clear,
        "# Broker passwords, in clear: for provisioning the buttons. Keep this file private.\n"
        "[users]\n" + "".join(f'"{name}" = "{pw}"\n' for name, pw in passwords.items()),
    )
    clear_lines = "".join(f"{name}:{pw}\n" for name, pw in passwords.items())
    _replace(directory / "passwd", clear_lines, group=group, prepare=_hash_in_place)
    _replace(directory / "acl", acl, group=group)
    return Written(directory, len(passwords), new, sorted(set(old) - set(passwords)))


def read_passwords(directory: Path) -> dict[str, str]:
    return _read_passwords(directory / "credentials.toml")


def _read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        users = tomllib.loads(path.read_text(encoding="utf-8")).get("users", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CredentialsError(f"{path}: cannot read the existing passwords: {exc}") from exc
    if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
        raise CredentialsError(f"{path}: [users] must map user names to passwords")
    return dict(users)


def _replace(
    path: Path,
    text: str,
    *,
    group: int | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> None:
    """Write a file whole or not at all, never readable by others, not even for a moment: a
    private temporary file, `prepare`d (hashed), given its group and mode 0640 (0600 without a
    group), synced, then renamed over `path`. A reader sees the old file or the new one."""
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        if prepare is not None:
            prepare(temporary)
        if group is not None:
            os.chown(temporary, -1, group)
            temporary.chmod(0o640)
        else:
            temporary.chmod(0o600)
        with temporary.open("rb") as synced:
            os.fsync(synced.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _hash_in_place(path: Path) -> None:
    tool = shutil.which("mosquitto_passwd") or shutil.which(
        "mosquitto_passwd", path=os.pathsep.join(SEARCH_PATH)
    )
    if tool is None:
        raise CredentialsError(
            "mosquitto_passwd is not installed (apt-get install mosquitto, or run `make install`)"
        )
    result = subprocess.run(  # noqa: S603  # the broker's own tool, on our own file
        [tool, "-U", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:  # the caller removes the file: no passwords left in clear
        raise CredentialsError(f"mosquitto_passwd failed: {result.stderr.strip()}")
