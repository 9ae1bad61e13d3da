"""Unit tests of hub/api/tokens.py: API tokens, printed once and stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.api.tokens import PREFIX, create_token, hash_token, new_token, revoke_token
from hub.domain.model import Role
from hub.errors import ChuongError
from hub.store.db import open_sync

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TOKEN_RE = re.compile(r"chuong_[A-Za-z0-9_-]{43}\Z")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "x.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_sync(db_path)
    yield connection
    connection.close()


def store_bytes(db_path: Path) -> bytes:
    """Every byte SQLite has written: the database file and its WAL."""
    return b"".join(
        path.read_bytes() for path in db_path.parent.iterdir() if path.name.startswith(db_path.name)
    )


def audit_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str, dict[str, str]]]:
    return [
        (row["ts"], row["actor"], row["action"], json.loads(row["detail"]))
        for row in conn.execute("SELECT ts, actor, action, detail FROM audit ORDER BY id")
    ]


def test_new_token_format_and_randomness() -> None:
    """A token is 'chuong_' and 43 URL-safe characters (256 bits), different every time."""
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(TOKEN_RE.match(token) for token in tokens)


def test_hash_token_is_sha256_hex() -> None:
    """hash_token is the hex SHA-256 of the token's UTF-8 bytes."""
    assert hash_token("chuong_abc") == hashlib.sha256(b"chuong_abc").hexdigest()


def test_create_returns_token_and_stores_only_its_hash(
    conn: sqlite3.Connection, db_path: Path
) -> None:
    """create_token returns the token; the store holds its hash and role, never the token."""
    token = create_token(conn, "desk-1", Role.OFFICER, NOW)
    assert token.startswith(PREFIX)
    assert TOKEN_RE.match(token)
    row = conn.execute("SELECT * FROM api_tokens WHERE name = 'desk-1'").fetchone()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert (row["role"], row["created_at"], row["revoked_at"]) == (
        "officer",
        "2026-11-22T08:00:00.000Z",
        None,
    )
    written = store_bytes(db_path)
    assert row["token_hash"].encode() in written
    assert token.encode() not in written
    assert token[len(PREFIX) :].encode() not in written


def test_token_absent_from_file_after_close(db_path: Path) -> None:
    """After the connection closes (WAL checkpointed), the file still holds no token."""
    connection = open_sync(db_path)
    token = create_token(connection, "desk-1", Role.ADMIN, NOW)
    connection.close()
    written = store_bytes(db_path)
    assert hash_token(token).encode() in written
    assert token.encode() not in written


def test_create_writes_audit_row(conn: sqlite3.Connection) -> None:
    """Creating a token is audited with its name and role (and never the token)."""
    token = create_token(conn, "phòng trực", Role.VIEWER, NOW)
    assert audit_rows(conn) == [
        (
            "2026-11-22T08:00:00.000Z",
            "cli",
            "token.created",
            {"name": "phòng trực", "role": "viewer"},
        )
    ]
    assert token not in json.dumps(audit_rows(conn))


def test_duplicate_name_is_refused(conn: sqlite3.Connection) -> None:
    """A second token under a live token's name is a ChuongError; nothing more is written."""
    create_token(conn, "desk-1", Role.OFFICER, NOW)
    with pytest.raises(ChuongError, match="exists already"):
        create_token(conn, "desk-1", Role.ADMIN, NOW)
    assert conn.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 1
    assert [row[2] for row in audit_rows(conn)] == ["token.created"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_name_is_refused(conn: sqlite3.Connection, name: str) -> None:
    """A blank name or one over 100 characters is refused before anything is stored."""
    with pytest.raises(ChuongError, match="1 to 100"):
        create_token(conn, name, Role.VIEWER, NOW)
    assert conn.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0


def test_revoke_marks_token_and_audits(conn: sqlite3.Connection) -> None:
    """Revoking sets revoked_at and writes a token.revoked audit row."""
    create_token(conn, "desk-1", Role.OFFICER, NOW)
    later = NOW + timedelta(days=2)
    revoke_token(conn, "desk-1", later)
    row = conn.execute("SELECT revoked_at FROM api_tokens WHERE name = 'desk-1'").fetchone()
    assert row[0] == "2026-11-24T08:00:00.000Z"
    assert audit_rows(conn)[-1] == (
        "2026-11-24T08:00:00.000Z",
        "cli",
        "token.revoked",
        {"name": "desk-1"},
    )


def test_revoke_twice_is_refused(conn: sqlite3.Connection) -> None:
    """A revoked token cannot be revoked again; the first revocation time is kept."""
    create_token(conn, "desk-1", Role.OFFICER, NOW)
    revoke_token(conn, "desk-1", NOW)
    with pytest.raises(ChuongError, match="no live token"):
        revoke_token(conn, "desk-1", NOW + timedelta(days=1))
    row = conn.execute("SELECT revoked_at FROM api_tokens").fetchone()
    assert row[0] == "2026-11-22T08:00:00.000Z"
    assert [r[2] for r in audit_rows(conn)] == ["token.created", "token.revoked"]


def test_revoke_unknown_is_refused(conn: sqlite3.Connection) -> None:
    """Revoking a name that has no token is a ChuongError and writes no audit row."""
    with pytest.raises(ChuongError, match="no live token named 'ghost'"):
        revoke_token(conn, "ghost", NOW)
    assert audit_rows(conn) == []


def test_revoke_touches_only_that_token(conn: sqlite3.Connection) -> None:
    """Revoking one token leaves the others live."""
    create_token(conn, "a", Role.VIEWER, NOW)
    create_token(conn, "b", Role.VIEWER, NOW)
    revoke_token(conn, "a", NOW)
    live = [row[0] for row in conn.execute("SELECT name FROM api_tokens WHERE revoked_at IS NULL")]
    assert live == ["b"]


def test_name_of_revoked_token_can_be_reused(conn: sqlite3.Connection) -> None:
    """After revoking a token, as the error message advises, its name can be given a new token."""
    first = create_token(conn, "desk-1", Role.OFFICER, NOW)
    revoke_token(conn, "desk-1", NOW)
    second = create_token(conn, "desk-1", Role.OFFICER, NOW + timedelta(minutes=1))
    assert second != first
