"""The people who log in to the page: users (argon2id password hashes) and their sessions.

Two sides, like `hub.api.tokens`:
- the command line (`chuong user …`, `chuong demo`) changes users with a short-lived synchronous
  connection, each change with its audit entry (actor `cli` or `demo`);
- the running hub reads users and sessions from the store (`Store.find_user`, `find_session`),
  and writes sessions through the pipeline (`OpenSession`, `CloseSession`, `RecordLoginFailure`),
  so that every write keeps to the single writer and lands on the record.

A session is known in the store only by the SHA-256 of its id; the id itself lives in the
browser's cookie. Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's
low-memory profile), which is slow on purpose: verifying one takes a tenth of a second.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.domain.model import Role
from hub.errors import ChuongError, coded
from hub.store import admin
from hub.store.ops import (
    DeleteExpiredSessions,
    DeleteSession,
    InsertSession,
    RehashPassword,
    UserRecord,
    UserSummary,
)
from hub.writer.plan import Command, Plan

USERNAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
PASSWORD_MIN: Final = 8
PASSWORD_MAX: Final = 1024
"""Characters; argon2 takes any length, the cap only keeps a request from costing much."""

_hasher: Final = PasswordHasher()  # argon2id


def user_actor(username: str) -> str:
    """How a person appears in the audit log."""
    return f"user:{username}"


def check_username(name: str) -> str:
    """The user name as stored (trimmed, lower case), or a `ChuongError` saying what is wrong."""
    normalized = name.strip().lower()
    if not USERNAME_RE.match(normalized):
        raise coded(
            ChuongError(
                "a user name is 1-64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
            ),
            "username_invalid",
        )
    return normalized


DISPLAY_NAME_MAX: Final = 100


def check_display_name(text: str) -> str:
    """The name the page shows ("Nguyễn Văn An"), trimmed; '' for none."""
    shown = " ".join(text.split())
    if len(shown) > DISPLAY_NAME_MAX:
        raise ChuongError(f"a display name may have at most {DISPLAY_NAME_MAX} characters")
    return shown


def set_display_name(
    conn: sqlite3.Connection, username: str, display_name: str, now: datetime
) -> str:
    """Set (or, with '', clear) the name the page shows for a user; return it as stored."""
    name = check_username(username)
    shown = check_display_name(display_name)
    if not admin.set_display_name(conn, name, shown, now, "cli"):
        raise ChuongError(f"no user named {name!r}")
    return shown


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise coded(
            ChuongError(f"a password needs at least {PASSWORD_MIN} characters"),
            "password_short",
            min=PASSWORD_MIN,
        )
    if len(password) > PASSWORD_MAX:
        raise coded(
            ChuongError(f"a password may have at most {PASSWORD_MAX} characters"),
            "password_long",
            max=PASSWORD_MAX,
        )
    if not password.strip():
        raise coded(ChuongError("a password cannot be only spaces"), "password_blank")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; never raises for a wrong password or a damaged hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than today's; rehash at the next login."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


# -- the command line's side (synchronous, short-lived connection) ---------------------------------


def add_user(
    conn: sqlite3.Connection,
    username: str,
    role: Role,
    password: str,
    now: datetime,
    *,
    actor: str = "cli",
    display_name: str = "",
) -> str:
    """Create a user; return the user name as stored. An existing name is an error."""
    name = check_username(username)
    shown = check_display_name(display_name)
    password_hash = hash_password(check_password(password))
    if not admin.add_user(conn, name, role, password_hash, now, actor, shown):
        raise ChuongError(
            f"a user named {name!r} exists already; use `chuong user passwd` to change the password"
        )
    return name


def set_password(
    conn: sqlite3.Connection,
    username: str,
    password: str,
    now: datetime,
    *,
    role: Role | None = None,
    actor: str = "cli",
) -> int:
    """Give a user a new password (and a new role, if given), ending every session they have.
    Return how many sessions were ended."""
    name = check_username(username)
    password_hash = hash_password(check_password(password))
    ended = admin.set_password(conn, name, password_hash, role, now, actor)
    if ended is None:
        raise ChuongError(f"no user named {name!r}")
    return ended


def remove_user(conn: sqlite3.Connection, username: str, now: datetime) -> None:
    """Remove a user; their sessions end with them."""
    name = check_username(username)
    if not admin.remove_user(conn, name, now, "cli"):
        raise ChuongError(f"no user named {name!r}")


def list_users(conn: sqlite3.Connection, now: datetime) -> list[UserSummary]:
    return admin.list_users(conn, now)


# -- the hub's side: writes, as pipeline commands --------------------------------------------------


@dataclass(slots=True)
class OpenSession(Command):
    """A successful login: the new session (expired ones are swept on the way)."""

    id_hash: str
    user: UserRecord
    expires_at: datetime
    address: str
    new_password_hash: str | None = None

    def plan(self, plan: Plan) -> None:
        plan.write(DeleteExpiredSessions(plan.now))
        plan.write(
            InsertSession(self.id_hash, self.user.id, plan.now, self.expires_at, self.address)
        )
        if self.new_password_hash is not None:
            plan.write(RehashPassword(self.user.id, self.new_password_hash, plan.now))
        plan.audit("user.login", user_actor(self.user.username), address=self.address)


@dataclass(slots=True)
class CloseSession(Command):
    """Logout: the session row is deleted, so its cookie is worth nothing from now on."""

    id_hash: str
    username: str

    def plan(self, plan: Plan) -> None:
        plan.write(DeleteSession(self.id_hash))
        plan.audit("user.logout", user_actor(self.username))


@dataclass(slots=True)
class RecordLoginFailure(Command):
    """A wrong password (or user name) on the record. An unknown name is not written down: people
    type their password into the name field."""

    username: str | None
    address: str
    reason: str
    locked: str | None = None
    """what this failure locked (`user`: the name from this address, `address`, `device`)"""

    def plan(self, plan: Plan) -> None:
        detail: dict[str, Any] = {"address": self.address, "reason": self.reason}
        if self.username is not None:
            detail["username"] = self.username
        plan.audit("user.login_failed", "hub", **detail)
        if self.locked is not None:
            del detail["reason"]
            plan.audit("user.login_locked", "hub", scope=self.locked, **detail)


@dataclass(slots=True)
class RecordLoginUnlock(Command):
    """An admin lifted the login locks of a user name."""

    username: str
    actor: str
    lifted: int

    def plan(self, plan: Plan) -> None:
        plan.audit("user.login_unlocked", self.actor, username=self.username, lifted=self.lifted)
