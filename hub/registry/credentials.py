"""`chuong registry credentials`: a broker user and password for every button, and the ACL that
keeps each one to its own topics.

Written into one directory (mode 0700), for Mosquitto's `password_file` and `acl_file`:

    passwd            the users, hashed by `mosquitto_passwd -U` (sha512-pbkdf2)
    acl               who may write and read what (below)
    credentials.toml  the passwords in clear, for provisioning the buttons (mode 0600): keep it
                      with the installer; running the command again keeps every password in it

Users: the hub (`mqtt.username`, else `chuong-hub`); every button that connects itself, by its
button id; every bridge (a Zigbee2MQTT bridge publishes for all its Zigbee buttons).

The ACL (checked against Mosquitto: a v5 client is told PUBACK 0x87 "not authorized", a v3.1.1
client's publish is silently dropped):

- a button writes only its own `event`, `heartbeat` and `status`, and reads only its own `ack`:
  one `pattern` line each. Not `pattern write {root}/dev/%u/#`: that would let a button write its
  own `ack` and tell its caller that help is coming when the hub never heard it;
- the hub reads `{root}/dev/+/#` and the vendor topics it subscribes to, and writes the buttons'
  `ack`, `{root}/alarms/#` (which it also reads: hub/broker/repair.py) and `{root}/hub/#`;
- an off-the-shelf button writes its vendor's topics for its own native id (devices/profiles).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from devices.profiles.base import DeviceAcl, Profile
from hub.clock import iso
from hub.domain.model import Button
from hub.errors import ChuongError

DEFAULT_HUB_USER: Final = "chuong-hub"
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


def users_for(
    buttons: Iterable[Button], profiles: Mapping[str, Profile], hub_user: str
) -> dict[str, DeviceAcl | None]:
    """Every broker user: None for the hub and the contract's buttons (their lines are shared),
    the device's own lines for a vendor button, the bridge's for a bridge."""
    users: dict[str, DeviceAcl | None] = {hub_user: None}
    for button in sorted(buttons, key=lambda b: b.id):
        profile = profiles.get(button.profile or "")
        if profile is None:
            users[button.id] = None
        elif profile.per_device_users and button.native_id:
            users[button.id] = profile.device_acl(button.native_id)
        else:
            users.update(profile.bridge_acls())
    return users


def acl_text(
    *,
    root: str,
    hub_user: str,
    users: Mapping[str, DeviceAcl | None],
    hub_reads: Sequence[str],
    now: datetime,
) -> str:
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
        f"topic write {root}/hub/#",
    ]
    lines += [f"topic read {topic}" for topic in hub_reads]
    vendor = [(name, acl) for name, acl in users.items() if acl is not None]
    if vendor:
        lines += ["", "# Off-the-shelf buttons and bridges: their vendor's topics, their own only."]
    for name, acl in vendor:
        lines.append(f"user {name}")
        lines += [f"topic write {topic}" for topic in acl.write]
        lines += [f"topic read {topic}" for topic in acl.read]
    return "\n".join(lines) + "\n"


def write_credentials(
    directory: Path,
    *,
    users: Mapping[str, DeviceAcl | None],
    acl: str,
    rotate: Iterable[str] = (),
) -> Written:
    """Keep the passwords of `credentials.toml`, make new ones for new users (and for those to
    `rotate`), then write the three files."""
    try:
        return _write(directory, users, acl, set(rotate))
    except OSError as exc:
        raise CredentialsError(f"cannot write the credentials in {directory}: {exc}") from exc


def _write(
    directory: Path, users: Mapping[str, DeviceAcl | None], acl: str, rotated: set[str]
) -> Written:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
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
    _write_private(
        clear,
        "# Broker passwords, in clear: for provisioning the buttons. Keep this file private.\n"
        "[users]\n" + "".join(f'"{name}" = "{pw}"\n' for name, pw in passwords.items()),
    )
    hashed = directory / "passwd"
    _write_private(hashed, "".join(f"{name}:{pw}\n" for name, pw in passwords.items()))
    _hash_in_place(hashed)
    hashed.chmod(0o640)  # Mosquitto drops to its own user: give it the group
    (directory / "acl").write_text(acl, encoding="utf-8")
    (directory / "acl").chmod(0o640)
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


def _write_private(path: Path, text: str) -> None:
    """Written whole or not at all, never readable by others, not even for a moment."""
    temporary = path.with_suffix(path.suffix + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


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
    if result.returncode != 0:
        path.unlink(missing_ok=True)  # never leave the passwords in clear there
        raise CredentialsError(f"mosquitto_passwd failed: {result.stderr.strip()}")
