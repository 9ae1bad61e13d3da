"""API tokens: printed once, stored as a SHA-256 hash.

Tokens are 256 random bits, so a fast hash is the right one (argon2 is for the low-entropy
passwords people choose). A token reads `chuong_<43 url-safe characters>`; the prefix lets secret
scanners and people recognise it.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import datetime
from typing import Final

from hub.domain.model import Role
from hub.errors import ChuongError
from hub.store import admin

PREFIX: Final = "chuong_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: sqlite3.Connection, name: str, role: Role, now: datetime) -> str:
    """Store a new token's hash under `name` and return the token (shown once, never stored)."""
    if not name.strip() or len(name) > 100:
        raise ChuongError("a token name must be 1 to 100 characters")
    token = new_token()
    if not admin.add_token(conn, name, role, hash_token(token), now):
        raise ChuongError(
            f"a live token named {name!r} exists already; revoke it or choose another name"
        )
    return token


def revoke_token(conn: sqlite3.Connection, name: str, now: datetime) -> None:
    if not admin.revoke_token(conn, name, now):
        raise ChuongError(f"no live token named {name!r}")
