"""Users on the command line's side: names, passwords, argon2id hashes, and the audit log."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hub.domain.model import Role
from hub.errors import ChuongError
from hub.store.db import open_sync
from hub.web.accounts import (
    add_user,
    check_password,
    check_username,
    list_users,
    needs_rehash,
    remove_user,
    set_password,
    verify_password,
)

NOW = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as connection:
        yield connection


def _session(conn: sqlite3.Connection, username: str, key: str, expires: str) -> None:
    conn.execute(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) "
        "SELECT ?, id, '2026-01-05T07:00:00.000Z', ? FROM users WHERE username = ?",
        (key, expires, username),
    )


def _audit(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [tuple(row) for row in conn.execute("SELECT actor, action FROM audit ORDER BY id")]


@pytest.mark.parametrize(
    ("given", "stored"), [("officer", "officer"), ("  Truc.Ban_2 ", "truc.ban_2"), ("a", "a")]
)
def test_user_names_are_trimmed_and_lower_cased(given: str, stored: str) -> None:
    assert check_username(given) == stored


@pytest.mark.parametrize("name", ["", " ", "-lead", "has space", "ồ", "x" * 65, "a/b"])
def test_bad_user_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ChuongError, match="1-64 of a-z"):
        check_username(name)


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 8"), (" " * 12, "only spaces"), ("x" * 1025, "at most 1024")],
)
def test_weak_or_absurd_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(ChuongError, match=reason):
        check_password(password)


def test_add_user_keeps_only_an_argon2id_hash_and_audits(conn: sqlite3.Connection) -> None:
    """The stored hash is argon2id and verifies the password; the password is nowhere in the
    store; the creation is on the record; a second user of that name is refused with a hint."""
    assert add_user(conn, "Officer", Role.OFFICER, "mật khẩu dài", NOW) == "officer"
    (stored,) = conn.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "mật khẩu dài")
    assert not verify_password(stored, "mật khẩu sai")
    assert "mật khẩu dài" not in "".join(conn.iterdump())
    assert _audit(conn) == [("cli", "user.created")]
    with pytest.raises(ChuongError, match="chuong user passwd"):
        add_user(conn, "officer", Role.ADMIN, "another-password", NOW)


def test_set_password_ends_sessions_and_may_change_the_role(conn: sqlite3.Connection) -> None:
    add_user(conn, "officer", Role.OFFICER, "first-password", NOW)
    _session(conn, "officer", "a", "2026-01-06T07:00:00.000Z")
    _session(conn, "officer", "b", "2026-01-06T07:00:00.000Z")
    assert set_password(conn, "officer", "second-password", NOW, role=Role.ADMIN) == 2
    row = conn.execute("SELECT role, password_hash FROM users").fetchone()
    assert row[0] == "admin"
    assert verify_password(row[1], "second-password")
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    assert _audit(conn)[-1] == ("cli", "user.password_changed")
    with pytest.raises(ChuongError, match="no user named 'nobody'"):
        set_password(conn, "nobody", "whatever-password", NOW)


def test_remove_user_ends_their_sessions(conn: sqlite3.Connection) -> None:
    add_user(conn, "officer", Role.OFFICER, "first-password", NOW)
    add_user(conn, "viewer", Role.VIEWER, "first-password", NOW)
    _session(conn, "officer", "a", "2026-01-06T07:00:00.000Z")
    _session(conn, "viewer", "b", "2026-01-06T07:00:00.000Z")
    remove_user(conn, "OFFICER", NOW)
    assert [u.username for u in list_users(conn, NOW)] == ["viewer"]
    assert [r[0] for r in conn.execute("SELECT id_hash FROM sessions")] == ["b"]
    assert _audit(conn)[-1] == ("cli", "user.removed")
    with pytest.raises(ChuongError, match="no user named 'officer'"):
        remove_user(conn, "officer", NOW)


def test_list_users_counts_live_sessions_only(conn: sqlite3.Connection) -> None:
    add_user(conn, "officer", Role.OFFICER, "first-password", NOW)
    _session(conn, "officer", "live", "2026-01-06T07:00:00.000Z")
    _session(conn, "officer", "old", "2026-01-04T07:00:00.000Z")
    (user,) = list_users(conn, NOW)
    assert (user.username, user.role, user.sessions) == ("officer", Role.OFFICER, 1)


def test_damaged_or_weaker_hashes() -> None:
    """A damaged hash never verifies (and never raises); a hash made with weaker parameters than
    today's is flagged for rehashing at the next login."""
    assert not verify_password("not-a-hash", "anything")
    assert not needs_rehash("not-a-hash")
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("first-password")
    assert verify_password(weak, "first-password")
    assert needs_rehash(weak)
    assert not needs_rehash(PasswordHasher().hash("first-password"))
