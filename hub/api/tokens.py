"""API tokens: printed once, stored as a SHA-256 hash.

Tokens are 256 random bits, so a fast hash is the right one (argon2 is for the low-entropy
passwords people choose). A token reads `chuong_<43 url-safe characters>`; the prefix lets secret
scanners and people recognise it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from datetime import datetime
from typing import Final

from hub.clock import iso
from hub.domain.model import Role
from hub.errors import ChuongError

PREFIX: Final = "chuong_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _audit(conn: sqlite3.Connection, now: datetime, action: str, detail: dict[str, str]) -> None:
    conn.execute(
        "INSERT INTO audit (ts, actor, action, detail) VALUES (?, 'cli', ?, ?)",
        (iso(now), action, json.dumps(detail, ensure_ascii=False)),
    )


def create_token(conn: sqlite3.Connection, name: str, role: Role, now: datetime) -> str:
    """Store a new token's hash under `name` and return the token (shown once, never stored)."""
    if not name.strip() or len(name) > 100:
        raise ChuongError("a token name must be 1 to 100 characters")
    token = new_token()
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role.value, hash_token(token), iso(now)),
            )
            _audit(conn, now, "token.created", {"name": name, "role": role.value})
    except sqlite3.IntegrityError as exc:
        raise ChuongError(
            f"a live token named {name!r} exists already; revoke it or choose another name"
        ) from exc
    return token


def revoke_token(conn: sqlite3.Connection, name: str, now: datetime) -> None:
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (iso(now), name),
        )
        if cursor.rowcount == 0:
            raise ChuongError(f"no live token named {name!r}")
        _audit(conn, now, "token.revoked", {"name": name})
