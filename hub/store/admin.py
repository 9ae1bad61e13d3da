"""The command line's side of the store: short-lived synchronous connections (`db.open_sync`).

Each change is one IMMEDIATE transaction with its audit entry; a running hub picks it up at its
next batch (`Store.data_version`). The functions say what happened (`False` or `None`: no such
row, or it exists already) and leave the wording of errors to the features.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.clock import iso
from hub.domain.model import Button, Role, Site
from hub.errors import StoreError
from hub.store.changes import TEST_MODE_UPDATE
from hub.store.ops import ButtonListing, TestModeKind, TokenRow, UntestedButton, UserSummary
from hub.store.rows import (
    UNTESTED_SQL,
    button_from_row,
    patterns_to_text,
    site_from_row,
    untested_from_row,
)


class RowConflict(StoreError):
    """A row could not be written because it clashes with another (a unique key)."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.detail = detail


def _audit(
    conn: sqlite3.Connection,
    now: datetime,
    actor: str,
    action: str,
    detail: dict[str, Any],
    *,
    button_id: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit (ts, actor, action, button_id, detail) VALUES (?, ?, ?, ?, ?)",
        (iso(now), actor, action, button_id, json.dumps(detail, ensure_ascii=False)),
    )


# -- users -----------------------------------------------------------------------------------------


def add_user(
    conn: sqlite3.Connection,
    name: str,
    role: Role,
    password_hash: str,
    now: datetime,
    actor: str,
    display_name: str = "",
) -> bool:
    """Create a user; False if the name is taken."""
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO users (username, role, password_hash, display_name, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, role.value, password_hash, display_name, iso(now), iso(now)),
            )
            detail: dict[str, Any] = {"username": name, "role": role.value}
            if display_name:
                detail["display_name"] = display_name
            _audit(conn, now, actor, "user.created", detail)
    except sqlite3.IntegrityError:
        return False
    return True


def set_password(
    conn: sqlite3.Connection,
    name: str,
    password_hash: str,
    role: Role | None,
    now: datetime,
    actor: str,
) -> int | None:
    """A new password (and role, if given), ending every session of the user: how many ended, or
    None if there is no such user."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT id, role FROM users WHERE username = ?", (name,)).fetchone()
        if row is None:
            return None
        new_role = role.value if role else row[1]
        conn.execute(
            "UPDATE users SET password_hash = ?, role = ?, updated_at = ? WHERE id = ?",
            (password_hash, new_role, iso(now), row[0]),
        )
        ended = conn.execute("DELETE FROM sessions WHERE user_id = ?", (row[0],)).rowcount
        _audit(conn, now, actor, "user.password_changed", {"username": name, "role": new_role})
    return int(ended)


def password_hash(conn: sqlite3.Connection, name: str) -> str | None:
    """A user's password hash; None if there is no such user."""
    row = conn.execute("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def remove_user(conn: sqlite3.Connection, name: str, now: datetime, actor: str) -> bool:
    """Remove a user and their sessions; False if there is no such user."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT id FROM users WHERE username = ?", (name,)).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (row[0],))
        conn.execute("DELETE FROM users WHERE id = ?", (row[0],))
        _audit(conn, now, actor, "user.removed", {"username": name})
    return True


def list_users(conn: sqlite3.Connection, now: datetime) -> list[UserSummary]:
    rows = conn.execute(
        "SELECT u.username, u.role, u.created_at, "
        "(SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?), "
        "u.display_name, u.disabled_at FROM users u ORDER BY u.username",
        (iso(now),),
    ).fetchall()
    return [UserSummary(row[0], Role(row[1]), row[2], int(row[3]), row[4], row[5]) for row in rows]


def set_display_name(
    conn: sqlite3.Connection, name: str, display_name: str, now: datetime, actor: str
) -> bool:
    """The name the page shows for a user; False if there is no such user."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "UPDATE users SET display_name = ?, updated_at = ? WHERE username = ?",
            (display_name, iso(now), name),
        )
        if cursor.rowcount == 0:
            return False
        _audit(conn, now, actor, "user.changed", {"username": name, "display_name": display_name})
    return True


# -- API tokens ------------------------------------------------------------------------------------


def add_token(
    conn: sqlite3.Connection, name: str, role: Role, token_hash: str, now: datetime
) -> bool:
    """Store a token's hash; False if a live token has this name."""
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role.value, token_hash, iso(now)),
            )
            _audit(conn, now, "cli", "token.created", {"name": name, "role": role.value})
    except sqlite3.IntegrityError:
        return False
    return True


def revoke_token(conn: sqlite3.Connection, name: str, now: datetime) -> bool:
    """Revoke the live token of this name; False if there is none."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (iso(now), name),
        )
        if cursor.rowcount == 0:
            return False
        _audit(conn, now, "cli", "token.revoked", {"name": name})
    return True


def list_tokens(conn: sqlite3.Connection) -> list[TokenRow]:
    rows = conn.execute(
        "SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name"
    ).fetchall()
    return [TokenRow(row[0], row[1], row[2], row[3]) for row in rows]


# -- the registry ----------------------------------------------------------------------------------


def set_test_mode(
    conn: sqlite3.Connection,
    kind: TestModeKind,
    subject: str,
    on: bool,
    now: datetime,
    actor: str,
    until: datetime | None = None,
) -> bool:
    """Test mode on or off for a button or a site (on until `until`, None: until turned off);
    False if there is no such one."""
    table = "buttons" if kind == "button" else "sites"
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        found = conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (subject,)).fetchone()
        if found is None:
            return False
        ends = iso(until) if on and until is not None else None
        conn.execute(TEST_MODE_UPDATE[kind], (int(on), ends, iso(now), subject))
        detail: dict[str, Any] = {"on": on} if kind == "button" else {kind: subject, "on": on}
        if ends is not None:
            detail["until"] = ends
        button = subject if kind == "button" else None
        _audit(conn, now, actor, "registry.test_mode", detail, button_id=button)
    return True


def remove_button(conn: sqlite3.Connection, button_id: str, now: datetime, actor: str) -> bool:
    """Remove a button, with its audit entry; False if there is no such button."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT site_id FROM buttons WHERE id = ?", (button_id,)).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM buttons WHERE id = ?", (button_id,))
        detail = {"button": button_id, "site": row[0]}
        _audit(conn, now, actor, "registry.button_removed", detail, button_id=button_id)
    return True


def remove_site(
    conn: sqlite3.Connection, site_id: str, now: datetime, actor: str
) -> list[str] | None:
    """Remove a site without buttons, with its audit entry. None if there is no such site; the
    ids of its buttons (and nothing removed) if it still has some; [] once removed."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT name FROM sites WHERE id = ?", (site_id,)).fetchone()
        if row is None:
            return None
        attached = [
            button[0]
            for button in conn.execute(
                "SELECT id FROM buttons WHERE site_id = ? ORDER BY id", (site_id,)
            )
        ]
        if attached:
            return attached
        conn.execute("DELETE FROM sites WHERE id = ?", (site_id,))
        _audit(conn, now, actor, "registry.site_removed", {"site": site_id, "name": row[0]})
    return []


def set_sign_key(
    conn: sqlite3.Connection,
    button_id: str,
    key: str | None,
    detail: dict[str, Any],
    now: datetime,
    actor: str,
) -> bool:
    """A button's signing key (None: none), with `detail` in the audit entry; False if there is no
    such button."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "UPDATE buttons SET sign_key = ?, updated_at = ? WHERE id = ?",
            (key, iso(now), button_id),
        )
        if cursor.rowcount == 0:
            return False
        _audit(conn, now, actor, "registry.sign_key", detail, button_id=button_id)
    return True


def all_sites(conn: sqlite3.Connection) -> list[Site]:
    return [site_from_row(row) for row in conn.execute("SELECT * FROM sites ORDER BY id")]


def all_buttons(conn: sqlite3.Connection) -> list[Button]:
    return [button_from_row(row) for row in conn.execute("SELECT * FROM buttons ORDER BY id")]


def button_listings(conn: sqlite3.Connection) -> list[ButtonListing]:
    """Every button with what the hub last heard of it, by site."""
    rows = conn.execute(
        "SELECT b.*, d.online, d.last_seen, d.battery FROM buttons AS b "
        "LEFT JOIN device_state AS d ON d.button_id = b.id ORDER BY b.site_id, b.id"
    ).fetchall()
    return [
        ButtonListing(
            button=button_from_row(row),
            online=None if row["online"] is None else bool(row["online"]),
            last_seen=row["last_seen"],
            battery=row["battery"],
        )
        for row in rows
    ]


def untested_buttons(conn: sqlite3.Connection, cutoff: datetime) -> list[UntestedButton]:
    """Buttons without a test press since `cutoff` (as `Store.untested_buttons`)."""
    return [untested_from_row(row) for row in conn.execute(UNTESTED_SQL, (iso(cutoff),))]


def _upsert_if_changed(table: str, columns: tuple[str, ...]) -> str:
    """Insert, or update only when a value differs (so `rowcount` counts real changes)."""
    names = ", ".join(columns)
    fields = columns[1:]
    return (
        f"INSERT INTO {table} ({names}, created_at, updated_at) "
        f"VALUES ({', '.join('?' for _ in columns)}, ?, ?) "
        f"ON CONFLICT(id) DO UPDATE SET "
        + ", ".join(f"{f} = excluded.{f}" for f in fields)
        + ", updated_at = excluded.updated_at "
        f"WHERE ({', '.join(f'{table}.{f}' for f in fields)}) "
        f"IS NOT ({', '.join('excluded.' + f for f in fields)})"
    )


_SITE_UPSERT = _upsert_if_changed(
    "sites", ("id", "name", "address", "phone", "lat", "lon", "test_mode")
)
_BUTTON_UPSERT = _upsert_if_changed(
    "buttons",
    (
        "id",
        "site_id",
        "label",
        "profile",
        "native_id",
        "test_mode",
        "power",
        "checkin_s",
        "kind",
        "press_patterns",
    ),
)


def site_ids(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT id FROM sites")}


def test_modes(conn: sqlite3.Connection) -> dict[str, dict[str, bool]]:
    """{"sites": {id: in test mode}, "buttons": {id: in test mode}} as the store has them."""
    return {
        "sites": {row[0]: bool(row[1]) for row in conn.execute("SELECT id, test_mode FROM sites")},
        "buttons": {
            row[0]: bool(row[1]) for row in conn.execute("SELECT id, test_mode FROM buttons")
        },
    }


def import_registry(
    conn: sqlite3.Connection,
    sites: Sequence[Site],
    buttons: Sequence[Button],
    now: datetime,
    actor: str,
) -> dict[str, int]:
    """Upsert these sites and buttons in one transaction (their signing keys untouched), with a
    `registry.imported` audit entry if anything changed; return how many of each changed.

    Raises `RowConflict` (key: the button's id) when a button clashes with another."""
    stamp = iso(now)
    changed = {"sites": 0, "buttons": 0}
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for site in sites:
            values: tuple[Any, ...] = (
                site.id,
                site.name,
                site.address,
                site.phone,
                site.lat,
                site.lon,
                int(site.test_mode),
            )
            changed["sites"] += conn.execute(_SITE_UPSERT, (*values, stamp, stamp)).rowcount
        for button in buttons:
            values = (
                button.id,
                button.site_id,
                button.label,
                button.profile,
                button.native_id,
                int(button.test_mode),
                button.power,
                button.checkin_s,
                button.kind.value,
                patterns_to_text(button.press_patterns),
            )
            try:
                changed["buttons"] += conn.execute(_BUTTON_UPSERT, (*values, stamp, stamp)).rowcount
            except sqlite3.IntegrityError as exc:
                raise RowConflict(button.id, str(exc)) from exc
        if changed["sites"] or changed["buttons"]:
            conn.execute(
                "INSERT INTO audit (ts, actor, action, detail) "
                "VALUES (?, ?, 'registry.imported', ?)",
                (stamp, actor, json.dumps(changed)),
            )
    return changed
